"""Userpilot: the tap's peak memory against the rows of one window.

One UTC day of N events in one export job (parts of --rows-per-part rows), every stream
selected (events, and users and companies from its identify rows), as a user syncs. The
tap runs as a subprocess with stdout to /dev/null; its peak RSS is the kernel's
(`wait4`'s `ru_maxrss`). The sandbox runs in this process and makes the whole dataset
before the tap starts, so N is bounded by this machine's memory (about 1.5 GB of
sandbox per million rows); `row_keys.py` measures the keying alone at 10 million.

    .venv/bin/python benchmarks/userpilot_memory.py [--rows 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from userpilot_backfill import START, TAP_ENV, userpilot_config, userpilot_sandbox

from tap_exports.sandbox import UserpilotData


def peak_rss(config: dict[str, object], workdir: Path) -> tuple[float, float, str]:
    """Run the tap to its end: its peak RSS in MiB, its wall seconds, its last log line."""
    config_file = workdir / "config.json"
    config_file.write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_exports", "--config", str(config_file)]
    with (workdir / "stderr.log").open("w+b") as err:
        started = time.monotonic()
        tap = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env=TAP_ENV)
        _, status, usage = os.wait4(tap.pid, 0)
        seconds = time.monotonic() - started
        tap.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        log = err.read().decode(errors="replace").strip().splitlines()
    if tap.returncode != 0:
        raise SystemExit(f"tap exited {tap.returncode}:\n" + "\n".join(log[-20:]))
    return usage.ru_maxrss / 1024, seconds, log[-1] if log else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--rows-per-part", type=int, default=50_000)
    parser.add_argument("--poll-seconds", type=float, default=0.05)
    parser.add_argument("--rate-limit", type=int, default=600)
    parser.add_argument("--rate-period", type=float, default=60.0)
    args = parser.parse_args()
    print(f"{'rows in the window':>19} {'peak RSS MiB':>13} {'wall s':>8}")
    for rows in args.rows:
        data = UserpilotData(start=START, days=1, events_per_day=rows)
        with tempfile.TemporaryDirectory() as folder, userpilot_sandbox(args, data, 0.0) as box:
            config = userpilot_config(box.api_url, 1, args, window_days=1)
            rss, seconds, _ = peak_rss(config, Path(folder))
        print(f"{rows:>19,} {rss:>13.0f} {seconds:>8.1f}")


if __name__ == "__main__":
    main()
