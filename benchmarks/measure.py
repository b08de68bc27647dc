"""Shared parts of the benchmarks: median rates, catalog selection, a sandbox process."""

from __future__ import annotations

import contextlib
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

# One day (2025-03-04) of `sys.argv[1]` events in the demo space (`sys.argv[2]` of them
# with a field no schema declares), with limits that never bind; generated before its URL
# is printed.
_SANDBOX = """
import sys, threading
from datetime import date
from tap_exports.sandbox import DEMO_KEY, DataSpec, Limits, Sandbox, SandboxConfig, Space, Timing
spec = DataSpec(start=date(2025, 3, 4), days=1, companies_per_day=0, contacts_per_day=0,
                events_per_day=int(sys.argv[1]), undeclared_share=float(sys.argv[2]))
config = SandboxConfig(spaces=[Space(api_key=DEMO_KEY, data=spec)],
                       timing=Timing(0.0, 0.0, 900), limits=Limits(1000, 1000, 1))
with Sandbox(config) as sandbox:
    sandbox.emulator.dataset(DEMO_KEY)
    print(sandbox.api_url, flush=True)
    threading.Event().wait()
"""


@contextlib.contextmanager
def sandbox_process(events: int, undeclared_share: float = 0.15) -> Iterator[str]:
    """Run a sandbox with one day of `events` in a process of its own; yield its API URL.

    `undeclared_share` of the events carry a field no schema declares (the sandbox's
    default share, as in real exports; 0: files a BATCH run can hand over as they are).

    Its own process, so that serving files does not compete for the GIL of the process
    being measured.
    """
    process = subprocess.Popen(
        [sys.executable, "-c", _SANDBOX, str(events), str(undeclared_share)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield process.stdout.readline().strip()
    finally:
        process.terminate()
        process.wait()


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
