"""Shared timing for the benchmarks: the median rate of a few runs on the same input."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_rate(run: Callable[[bytes], int], data: bytes, repeat: int) -> float:
    """Items per second that `run(data)` reports, median of `repeat` runs."""
    rates = []
    for _ in range(repeat):
        started = time.perf_counter()
        count = run(data)
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates)
