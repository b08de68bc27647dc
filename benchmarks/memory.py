"""Peak memory of the tap for a 100,000- vs a 1,000,000-record export.

The export is streamed (socket -> gzip -> line -> record -> stdout), so peak RSS should
not grow with the file. The sandbox runs in a process of its own (its dataset is held in
memory), and the tap in another whose own peak RSS is what is reported.

    .venv/bin/python benchmarks/memory.py [--sizes 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from measure import sandbox_process, select_only

TAP = """
import resource, sys
from tap_exports.__main__ import main
try:
    main()
finally:
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"PEAK_RSS_KIB={peak_kib}", file=sys.stderr)
"""


def records_and_peak_rss_mib(records: int, workdir: Path) -> tuple[int, float]:
    with sandbox_process(records) as api_url:
        config = {
            "api_key": "demo-key",
            "api_url": api_url,
            "start_date": "2025-03-04T05:00:00Z",
            "end_date": "2025-03-05T05:00:00Z",
            "timezone": "America/New_York",
            "poll_interval_seconds": 0.05,
            "rate_limit_period_seconds": 1,
            "create_rate_limit": 1000,
            "status_rate_limit": 1000,
        }
        config_file = workdir / "config.json"
        config_file.write_text(json.dumps(config))
        catalog = json.loads(
            subprocess.run(
                [sys.executable, "-m", "tap_exports", "--config", str(config_file), "--discover"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        select_only(catalog, "events")
        catalog_file = workdir / "catalog.json"
        catalog_file.write_text(json.dumps(catalog))
        process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                TAP,
                "--config",
                str(config_file),
                "--catalog",
                str(catalog_file),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert process.stdout is not None and process.stderr is not None
        marker_bytes = b'{"type":"RECORD"'
        written, tail = 0, b""
        while chunk := process.stdout.read(1 << 20):
            data = tail + chunk  # a marker may straddle two reads
            written += data.count(marker_bytes)
            tail = data[-(len(marker_bytes) - 1) :]
        stderr = process.stderr.read().decode()
        process.wait()
        outcome = subprocess.CompletedProcess(process.args, process.returncode, None, stderr)
        marker = [line for line in outcome.stderr.splitlines() if line.startswith("PEAK_RSS_KIB=")]
        if outcome.returncode != 0 or not marker:
            raise SystemExit(f"tap failed:\n{outcome.stderr[-2000:]}")
        return written, int(marker[-1].split("=")[1]) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        peaks = [records_and_peak_rss_mib(size, Path(workdir)) for size in args.sizes]
    base = peaks[0][1]
    print(f"{'records written':>16}{'tap peak RSS (MiB)':>20}{'vs first':>10}")
    for written, peak in peaks:
        print(f"{written:>16,}{peak:>20.1f}{peak / base:>10.2f}")


if __name__ == "__main__":
    main()
