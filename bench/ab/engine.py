"""make bench's engine workloads, Nabla only, in this tree against another commit.

    .venv/bin/python bench/ab/engine.py 0b60a8e~1 [rounds]

Each round runs both trees once each, alternately, in a process of their own (the other
commit from a temporary git worktree); a tree's time per workload is the least over its
rounds of its median, the ratio this tree's over the other's. On a shared machine the
least is the steadiest figure: a busy moment only ever adds time.

`python -m bench.against <commit>` compares engines only: it loads the other commit's
`app/numerics` beside this one's, and both run under this tree's expression language. This
script compares whole trees, the expression language included, as a request meets them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def measure(tree: Path) -> dict[str, float]:
    """Median seconds per workload of `bench.engine.specs`, Nabla's first entry, in `tree`."""
    sys.path.insert(0, str(tree))
    from bench import engine  # (the tree given, not this one)

    medians = {}
    for spec in engine.specs(None, quick=False):
        run = engine.nabla_entries(spec)[0].run
        for _ in range(3):
            run()
        size = spec.points.size
        times = []
        for _ in range(15 if size >= 100_000 else 60 if size >= 10_000 else 400):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        times.sort()
        medians[spec.key] = times[len(times) // 2]
    return medians


def main(other: str, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "other"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--quiet", "--detach", str(tree), other],
            check=True,
        )
        try:
            best: dict[str, dict[str, float]] = {"this": {}, other: {}}
            for _ in range(rounds):
                for name, where in ((other, tree), ("this", ROOT)):
                    child = [sys.executable, __file__, "--measure", str(where)]
                    result = json.loads(
                        subprocess.run(
                            child, check=True, capture_output=True, text=True, cwd=where
                        ).stdout
                    )
                    for key, seconds in result.items():
                        best[name][key] = min(seconds, best[name].get(key, float("inf")))
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=True
            )
    print(f"| workload | this tree | {other} | ratio |\n|---|---:|---:|---:|")
    for key, seconds in best["this"].items():
        theirs = best[other][key]
        print(
            f"| {key} | {seconds * 1e3:.3f} ms | {theirs * 1e3:.3f} ms | {seconds / theirs:.3f} |"
        )


if __name__ == "__main__":
    if sys.argv[1] == "--measure":
        print(json.dumps(measure(Path(sys.argv[2]))))
    else:
        main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5)
