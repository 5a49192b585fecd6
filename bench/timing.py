"""Wall-clock medians with warm-up, interleaved rounds, and the CPU cores each run used."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

SLOW = 2.0  # seconds: an entry slower than this on its first timed run is timed once
ROUND_BUDGET = 3.0  # seconds of timed rounds per workload, for the fast entries
MIN_REPEATS = 5
MAX_REPEATS = 25


@dataclass
class Entry:
    """One peer on one workload: `run` is timed, `extract` turns its result into the
    common layout ((N,) for derivatives, (N, d) for gradients) outside the timer."""

    peer: str
    run: Callable[[], Any]
    extract: Callable[[Any], Any]
    exact: Any  # the analytic derivative on the points `run` covers, common layout
    warmup: Callable[[], Any] | None = None  # a small input, for peers too slow to run twice
    scale: float = 1.0  # `run` covers 1/scale of the points: its time is multiplied by this
    note: str = ""


@dataclass
class Sample:
    wall: float
    cpu: float


@dataclass
class Timing:
    peer: str
    seconds: float  # median wall time, already multiplied by the entry's scale
    repeats: int
    cores: float  # CPU seconds per wall second (median): > 1 means several threads worked
    note: str = ""
    result: Any = field(default=None, repr=False)


def once(run: Callable[[], Any]) -> tuple[Sample, Any]:
    cpu = time.process_time()
    start = time.perf_counter()
    result = run()
    wall = time.perf_counter() - start
    return Sample(wall, time.process_time() - cpu), result


def measure(entries: Sequence[Entry], *, quick: bool = False) -> list[Timing]:
    """Warm every entry up, time each once, then repeat the fast ones in interleaved rounds.

    Interleaving (A B C, A B C, ...) spreads the load of a shared machine over all peers
    alike instead of penalizing whichever ran while a neighbour was busy.
    """
    for entry in entries:
        for _ in range(1 if entry.warmup is not None else 2):
            (entry.warmup or entry.run)()
    samples: dict[str, list[Sample]] = {}
    results: dict[str, Any] = {}
    for entry in entries:
        sample, results[entry.peer] = once(entry.run)
        samples[entry.peer] = [sample]
    fast = [e for e in entries if samples[e.peer][0].wall < SLOW]
    per_round = sum(samples[e.peer][0].wall for e in fast) or 1e-9
    budget = ROUND_BUDGET / 3 if quick else ROUND_BUDGET
    low = 3 if quick else MIN_REPEATS
    rounds = min(MAX_REPEATS, max(low, int(budget / per_round))) - 1
    for _ in range(rounds):
        for entry in fast:
            sample, results[entry.peer] = once(entry.run)
            samples[entry.peer].append(sample)
    return [_summary(e, samples[e.peer], results[e.peer]) for e in entries]


def _summary(entry: Entry, samples: list[Sample], result: Any) -> Timing:
    wall = statistics.median(s.wall for s in samples)
    cores = statistics.median(s.cpu / s.wall for s in samples if s.wall > 0)
    return Timing(entry.peer, wall * entry.scale, len(samples), cores, entry.note, result)
