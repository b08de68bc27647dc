"""Userpilot: the tap's peak memory against the rows of one window.

One UTC day of N events in one export job (parts of --rows-per-part rows), every stream
selected (events, and users and companies from its identify rows), as a user syncs. The
tap runs as a subprocess with stdout to /dev/null; its peak RSS is the kernel's high-water
mark of the tap's own memory (`VmHWM`, read as it exits: `ru_maxrss` would count the
image of this process it was forked from). The sandbox runs in this process and makes the
whole dataset before the tap starts (so its creates answer at once), so N is bounded by
this machine's memory (about 0.9 GB of sandbox per million rows).

    .venv/bin/python benchmarks/userpilot_memory.py [--rows 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from userpilot_backfill import START, TAP_ENV, userpilot_config, userpilot_sandbox

from tap_exports.sandbox import USERPILOT_DEMO_TOKEN, UserpilotData

# The tap, which writes its memory's high-water mark to stderr as it exits.
_TAP = """
import atexit, re, sys
def peak():
    status = open("/proc/self/status").read()
    print("VMHWM_KIB=" + re.search(r"VmHWM:\\s+(\\d+)", status).group(1), file=sys.stderr)
atexit.register(peak)
from tap_exports.__main__ import main
main()
"""


def peak_rss(config: dict[str, object], workdir: Path) -> tuple[float, float]:
    """Run the tap to its end: its peak RSS in MiB and its wall seconds."""
    config_file = workdir / "config.json"
    config_file.write_text(json.dumps(config))
    command = [sys.executable, "-c", _TAP, "--config", str(config_file)]
    with (workdir / "stderr.log").open("w+b") as err:
        started = time.monotonic()
        returncode = subprocess.call(command, stdout=subprocess.DEVNULL, stderr=err, env=TAP_ENV)
        seconds = time.monotonic() - started
        err.seek(0)
        log = err.read().decode(errors="replace").strip().splitlines()
    peaks = [line for line in log if line.startswith("VMHWM_KIB=")]
    if returncode != 0 or not peaks:
        raise SystemExit(f"tap exited {returncode}:\n" + "\n".join(log[-20:]))
    return int(peaks[-1].removeprefix("VMHWM_KIB=")) / 1024, seconds


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
            box.emulator.dataset(USERPILOT_DEMO_TOKEN)  # made now, not inside the tap's create
            config = userpilot_config(box.api_url, 1, args, window_days=1)
            rss, seconds = peak_rss(config, Path(folder))
        print(f"{rows:>19,} {rss:>13.0f} {seconds:>8.1f}")


if __name__ == "__main__":
    main()
