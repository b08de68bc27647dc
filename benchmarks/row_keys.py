"""Row keys at volume: peak memory and rows/s of keying one export of N rows.

Each figure comes from a fresh process (`ru_maxrss` is a process's peak), which keys N
Userpilot-like NDJSON lines (about 600 bytes, one in a thousand a copy of an earlier
line) in runs of 5,000, as the reader does, with the counts:
- bounded: the tap's default (in memory up to `occurrences.MEMORY_ROWS`, then on disk);
- in memory: every count in a dict, however many rows (the tap before the bound).
The lines are made run by run and dropped, so what grows is the keying's bookkeeping.
Printed: peak RSS (MiB) and rows/s per N and mode, and the bounded/in-memory ratios.

    .venv/bin/python benchmarks/row_keys.py [--rows 100000 1000000 10000000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

from tap_exports.engine.records.rowkey import RowKeys

RUN = 5_000
_TEMPLATE = (
    b'{"inserted_at":"2025-03-01T%02d:%02d:%02d.%06dZ","event_type":"track",'
    b'"event_name":"feature_clicked","user_id":"user-%d","company_id":"company-%d",'
    b'"hostname":"app.example.com","pathname":"/settings/billing","source":"web-client",'
    b'"country_code":"DE","device_type":"desktop","operating_system":"macOS",'
    b'"browser":"Chrome","browser_version":"131.0","screen_width":1728,'
    b'"screen_height":1117,"metadata":{"plan":"growth","seats":%d,"trial":false},'
    b'"properties":{"button":"upgrade","variant":"b","position":%d,"page":"billing"}}'
)


def line(n: int) -> bytes:
    """The n-th line; every thousandth repeats the one before it (a true copy)."""
    n -= n % 1000 == 999
    seconds, micros = divmod(n, 1_000_000)
    return _TEMPLATE % (
        seconds // 3600 % 24,
        seconds // 60 % 60,
        seconds % 60,
        micros,
        n % 50_000,
        n % 900,
        n % 40,
        n % 7,
    )


def key_rows(rows: int, bounded: bool) -> dict[str, float]:
    """Key `rows` lines in this process; its peak RSS and rows/s."""
    keys = RowKeys("_row_key") if bounded else RowKeys("_row_key", memory_rows=rows + 1)
    started = time.perf_counter()
    for start in range(0, rows, RUN):
        keys.add([line(n) for n in range(start, min(start + RUN, rows))])
    seconds = time.perf_counter() - started
    keys.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {"rss_mib": peak, "rows_per_s": rows / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--child", nargs=2, metavar=("ROWS", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(key_rows(int(args.child[0]), args.child[1] == "bounded")))
        return
    print(f"{'rows':>11} {'mode':>10} {'peak RSS MiB':>13} {'rows/s':>10}")
    for rows in args.rows:
        figures = {}
        for mode in ("in-memory", "bounded"):
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(rows), mode],
                capture_output=True,
                text=True,
                check=True,
            )
            figures[mode] = json.loads(done.stdout)
            shown = figures[mode]
            print(f"{rows:>11,} {mode:>10} {shown['rss_mib']:>13.0f} {shown['rows_per_s']:>10,.0f}")
        ratio = figures["bounded"]["rows_per_s"] / figures["in-memory"]["rows_per_s"]
        memory = figures["bounded"]["rss_mib"] / figures["in-memory"]["rss_mib"]
        print(f"{'':>11} {'ratio':>10} {memory:>13.2f} {ratio:>10.2f}   (bounded / in memory)")


if __name__ == "__main__":
    main()
