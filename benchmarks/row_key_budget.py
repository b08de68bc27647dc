"""Where the time of a Userpilot row's key goes, step by step, on the sandbox's own lines.

Issue "Userpilot at volume" asks Userpilot NDJSON to run at 0.9 of Cometly's path per byte,
row key included; without the key the two paths cost about the same per byte, so the
ratio is set by what the key costs a row. This times `RowKeys.add` on --rows Userpilot
events as the sandbox writes them (about 550 bytes a line before the key), in runs of the
reader's size (`decode._RUN_BYTES`), and each of its steps alone on the same runs:
- checksums: CRC-32 and Adler-32 of each line, made one 64-bit digest (the key's hash),
  from the library the tap uses (`engine/compression.py`: zlib-ng if installed, printed);
- counts: how many copies of each digest came before (`occurrences`), with the tap's
  bounds (a dict of 50,000, then sorted runs, then disk) and with every count in one dict;
- starts: each line's new start (`{"_row_key":"<key>","`), formatted by one call a run;
- splice: each line's `{"` replaced by its start (the one copy of the line).
Printed: µs a row, best of --repeat, per step and for the whole.

    .venv/bin/python benchmarks/row_key_budget.py [--rows 300000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import date
from itertools import repeat
from operator import lshift, or_

from tap_exports.engine.compression import GzipFile, adler32, crc32
from tap_exports.engine.files.decode import _RUN_BYTES
from tap_exports.engine.records.occurrences import MEMORY_ROWS, Occurrences
from tap_exports.engine.records.rowkey import RowKeys
from tap_exports.sandbox.userpilot.data import UserpilotData, generate
from tap_exports.sandbox.userpilot.files import render

_FIRSTS = b'{"_row_key":"%016x-0","\n'


def digests_of(lines: list[bytes]) -> list[int]:
    return list(map(or_, map(lshift, map(crc32, lines), repeat(32)), map(adler32, lines)))


def counted(runs: list[list[int]], memory_rows: int) -> None:
    seen = Occurrences(memory_rows=memory_rows)
    for digests in runs:
        seen.copies_before(digests)
    seen.close()


def keyed(runs: list[list[bytes]], memory_rows: int) -> None:
    keys = RowKeys("_row_key", memory_rows=memory_rows)
    for lines in runs:
        keys.add(lines)
    keys.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = generate(UserpilotData(start=date(2025, 3, 1), days=1, events_per_day=args.rows), "X")
    lines = render(rows, "ndjson", gzipped=False, name="events").content.split(b"\n")[:-1]
    size = len(lines) and sum(map(len, lines)) // len(lines)
    per_run = max(1, _RUN_BYTES // max(size, 1))
    runs = [lines[i : i + per_run] for i in range(0, len(lines), per_run)]
    digests = [digests_of(run) for run in runs]
    starts = [(_FIRSTS * len(d) % tuple(d)).split(b"\n") for d in digests]
    everything = len(lines) + 1
    steps: list[tuple[str, Callable[[], object]]] = [
        ("checksums", lambda: [digests_of(run) for run in runs]),
        ("counts, the tap's bounds", lambda: counted(digests, MEMORY_ROWS)),
        ("counts, all in one dict", lambda: counted(digests, everything)),
        ("starts", lambda: [(_FIRSTS * len(d) % tuple(d)).split(b"\n") for d in digests]),
        (
            "splice",
            lambda: [
                list(map(bytes.replace, run, repeat(b'{"'), start, repeat(1)))
                for run, start in zip(runs, starts, strict=True)
            ],
        ),
        ("RowKeys.add, the tap's bounds", lambda: keyed(runs, MEMORY_ROWS)),
        ("RowKeys.add, all in one dict", lambda: keyed(runs, everything)),
    ]
    library = "zlib-ng" if GzipFile.__module__.startswith("zlib_ng") else "the standard library"
    print(
        f"{len(lines):,} Userpilot lines of {size} bytes, runs of {per_run}, checksums by "
        f"{library}, best of {args.repeat}:"
    )
    for label, step in steps:
        best = float("inf")
        for _ in range(args.repeat):
            started = time.perf_counter()
            step()
            best = min(best, time.perf_counter() - started)
        print(f"  {label:<32} {best / len(lines) * 1e6:6.3f} µs a row")


if __name__ == "__main__":
    main()
