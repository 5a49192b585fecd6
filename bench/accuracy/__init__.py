"""An accuracy suite: Nabla's engine and its peers on cases from public test suites and papers.

    python -m bench.accuracy            # run every runner, write summary.json and docs/accuracy.md
    python -m bench.accuracy --build    # recompute cases.jsonl (exact values) from the catalog

The modules:

- `cases`: the `Case` record and `cases.jsonl`, the suite as data;
- `sources`, `hard`: the cases, each with the test or paper it comes from; `catalog`
  numbers them all;
- `oracle`: exact derivatives (sympy on the same text, mpmath at 50 digits);
- `runners`: Nabla's engine in-process, numdifftools, scipy.differentiate, h = 1e-4;
- `metrics`: errors per component and their statistics;
- `suite`: every runner on every case, and `summary.json`;
- `report`: `docs/accuracy.md` from `summary.json` alone.

Nabla's runner needs only the app; the peers are imported when they run (`bench` extras).
"""
