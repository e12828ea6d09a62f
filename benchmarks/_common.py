"""Shared set-up for the benchmarks: one thread everywhere, best-of-k timing, optional peers."""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import time  # noqa: E402
from collections.abc import Callable  # noqa: E402


def best_of(fn: Callable[[], object], repeats: int, clock: Callable[[], float] = time.perf_counter) -> float:
    """The smallest time of ``repeats`` calls of ``fn``, in seconds: wall time, or ``clock``'s
    (``time.process_time`` for CPU time)."""
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best


def import_torch():
    """PyTorch on one CPU thread, or None when it is not installed."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch
