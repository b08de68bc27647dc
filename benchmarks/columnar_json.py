"""Parquet, Avro and CSV to JSON lines: the tap's converters against batch converters in Rust.

Issue "Userpilot at volume" asks for Parquet and Avro at least as fast as NDJSON, which
means rendering a batch of rows at a time outside Python's per-row loop. This measures
the candidates on the same file before one is chosen, on one Userpilot part of --rows
events as the sandbox writes them (uncompressed Parquet and Avro, a gzip-free NDJSON of
the same rows for the floor):
- floor: the NDJSON bytes split into lines (what the NDJSON path starts from);
- tap: the tap's own readers with the events stream's column types, as a sync reads a
  file (`engine/files/parquet_avro.py`, `csv_rows.py`; `metadata` read as JSON text);
- polars: the file read into a DataFrame, written 10,000 rows at a time as NDJSON;
- pyarrow batches -> polars: the tap's streaming read, each batch written by polars;
- duckdb: `to_json` of each row of the Parquet file, fetched.
A library not installed is skipped: `pip install polars duckdb` into the virtualenv to
compare them. Printed: rows/s (best of --repeat) per converter and format.

    .venv/bin/python benchmarks/columnar_json.py [--rows 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import IO

from tap_exports.engine.files.csv_rows import column_types, iter_csv_records
from tap_exports.engine.files.parquet_avro import iter_avro_records, iter_parquet_records
from tap_exports.engine.files.render import json_text_columns
from tap_exports.providers.userpilot import USERPILOT
from tap_exports.sandbox.userpilot.data import UserpilotData, generate
from tap_exports.sandbox.userpilot.files import render

_SLICE = 10_000


def tap(kind: str) -> Callable[[Path], int]:
    (events,) = (spec for spec in USERPILOT.streams if spec.name == "events")
    columns = column_types(events.schema)
    json_columns = json_text_columns(columns)

    def runs(file: IO[bytes], source: str) -> Iterator[list[bytes]]:
        if kind == "csv":
            return iter_csv_records(file, source=source, columns=columns, run_bytes=1 << 20)
        read = iter_parquet_records if kind == "parquet" else iter_avro_records
        return read(file, source=source, run_bytes=1 << 20, json_columns=json_columns)

    def convert(path: Path) -> int:
        with path.open("rb") as file:
            return sum(len(run) for run in runs(file, path.name))

    return convert


def polars_whole(kind: str) -> Callable[[Path], int]:
    def convert(path: Path) -> int:
        import polars  # noqa: PLC0415 (an optional library, measured if installed)

        frame = polars.read_parquet(path) if kind == "parquet" else polars.read_avro(path)
        lines = 0
        for part in frame.iter_slices(_SLICE):
            out = io.BytesIO()
            part.write_ndjson(out)
            lines += out.getvalue().count(b"\n")
        return lines

    return convert


def arrow_batches_polars(path: Path) -> int:
    import polars  # noqa: PLC0415 (an optional library, measured if installed)
    import pyarrow.parquet  # noqa: PLC0415

    lines = 0
    for batch in pyarrow.parquet.ParquetFile(path).iter_batches(batch_size=_SLICE):
        out = io.BytesIO()
        polars.from_arrow(batch).write_ndjson(out)  # type: ignore[union-attr]
        lines += out.getvalue().count(b"\n")
    return lines


def duckdb_rows(path: Path) -> int:
    import duckdb  # noqa: PLC0415 (an optional library, measured if installed)

    query = f"SELECT to_json(t)::VARCHAR FROM read_parquet('{path}') t"
    return len(duckdb.connect().execute(query).fetchall())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = generate(UserpilotData(start=date(2025, 3, 1), days=1, events_per_day=args.rows), "X")
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for kind in ("ndjson", "csv", "parquet", "avro"):
            paths[kind] = Path(folder) / f"part.{kind}"
            paths[kind].write_bytes(render(rows, kind, gzipped=False, name=kind).content)
        converters: list[tuple[str, str, Callable[[Path], int]]] = [
            ("floor: NDJSON split", "ndjson", lambda p: p.read_bytes().count(b"\n")),
            ("tap", "csv", tap("csv")),
            ("tap", "parquet", tap("parquet")),
            ("tap", "avro", tap("avro")),
            ("polars", "parquet", polars_whole("parquet")),
            ("polars", "avro", polars_whole("avro")),
            ("pyarrow batches -> polars", "parquet", arrow_batches_polars),
            ("duckdb to_json", "parquet", duckdb_rows),
        ]
        print(f"{len(rows):,} Userpilot rows; best of {args.repeat}")
        for name, kind, convert in converters:
            try:
                best = float("inf")
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    count = convert(paths[kind])
                    best = min(best, time.perf_counter() - started)
            except ImportError as exc:
                print(f"  {name:<28} {kind:<8} skipped ({exc.name} is not installed)")
                continue
            print(f"  {name:<28} {kind:<8} {count / best:>12,.0f} rows/s")


if __name__ == "__main__":
    main()
