"""Shared timing for the benchmarks: the median rate of a few runs on the same input."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any


def median_rate(run: Callable[[bytes], int], data: bytes, repeat: int) -> float:
    """Items per second that `run(data)` reports, median of `repeat` runs."""
    rates = []
    for _ in range(repeat):
        started = time.perf_counter()
        count = run(data)
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates)


def select_only(catalog: dict[str, Any], stream: str) -> dict[str, Any]:
    """Mark `stream` selected and every other stream deselected, in place."""
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] == stream
    return catalog
