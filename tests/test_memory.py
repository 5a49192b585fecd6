"""app/memory.py: a compute process keeps its working set between tasks, and gives a big
task's memory back."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
import time

import numpy as np

from app.memory import KEEP_RSS
from app.processes import ComputePool

MIB = 1 << 20


def _churn(arrays: int, megabytes: int) -> tuple[tuple[int, int], list[bytes]]:
    """Allocate and free `arrays` arrays of `megabytes` each, as an answer's would be:
    (page faults it took, its process id)."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    held = [np.ones(megabytes * MIB // 8) for _ in range(arrays)]
    del held
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before, os.getpid()), []


def _resident(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_compute_process_reuses_its_arrays_memory_from_one_task_to_the_next() -> None:
    # 16 MB arrays, as a 1000×1000 field's gradient: with glibc's defaults each one is
    # mapped afresh and every page faulted in again (3,000 a task for 48 MB); kept, none.
    pool = ComputePool()
    pool.grow(1)
    try:
        (first, _), _ = pool.run(60, _churn, 3, 16)
        (again, _), _ = pool.run(60, _churn, 3, 16)
        (third, _), _ = pool.run(60, _churn, 3, 16)
    finally:
        pool.close()
    assert first > 1_000  # the pages were touched: the measure sees them
    assert again < first / 10
    assert third < first / 10


def test_a_compute_process_gives_a_big_tasks_memory_back() -> None:
    pool = ComputePool()
    pool.grow(1)
    try:
        (_, pid), _ = pool.run(60, _churn, 24, 16)  # 384 MB the heap keeps, then frees
        deadline = time.monotonic() + 5
        while _resident(pid) > KEEP_RSS and time.monotonic() < deadline:
            time.sleep(0.05)  # it gives back right after sending its answer
        assert _resident(pid) <= KEEP_RSS
    finally:
        pool.close()


def test_a_heap_that_keeps_its_working_set_gives_it_back_over_the_limit() -> None:
    script = textwrap.dedent(
        """
        import numpy as np
        from app.memory import keep_working_set, resident_bytes, trim_if_over
        keep_working_set()
        base = resident_bytes()
        held = [np.ones(2 << 20) for _ in range(6)]  # 6 arrays of 16 MB
        del held
        kept = resident_bytes() - base
        trim_if_over(base + (200 << 20))  # under this limit: nothing given back
        still = resident_bytes() - base
        trim_if_over(base + (32 << 20))
        print(kept >> 20, still >> 20, (resident_bytes() - base) >> 20)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    kept, still, after = (int(n) for n in done.stdout.split())
    assert kept > 80  # 96 MB freed, kept for the next task
    assert still > 80
    assert after < 32
