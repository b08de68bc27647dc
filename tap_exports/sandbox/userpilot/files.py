"""Userpilot's export files, rendered: one part of a job, in the format the job asked for.

The docs name the four formats and show NDJSON rows; the rest is undocumented, so each
format gets its most common shape, and the typed ones are typed:
- NDJSON: one JSON object per line, the row as it is (a field a row lacks is absent).
- CSV: a header row, RFC 4180 quoting (cells with commas, quotes or line breaks are
  quoted) and CRLF line ends; null is an empty cell, and so is the empty string (CSV
  cannot tell them apart); `metadata` is JSON text.
- Parquet (snappy inside) and Avro (deflate inside): `screen_width` and `screen_height`
  are 64-bit integers, `inserted_at` a UTC timestamp in microseconds, every column is
  nullable, and `metadata` is JSON text, as its shape varies row by row and both formats
  want one schema per file.
In the three formats with columns every row has every column: the documented ones, in
the documented order, then any undeclared field some row of the part carries, which is
null on the rows without it.

Whether files are compressed is undocumented (community scripts gunzip every part): by
default NDJSON and CSV parts are gzipped (`.gz` added to the name) and Parquet and Avro
parts are not, as they compress inside and a gzip around them is unusual; the tap must
tell by the bytes, not the name. pyarrow and fastavro are optional extras of the project,
imported only when a part needs one. The same rows and name always give the same bytes,
so a download resumed with `Range` continues the file it started.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib
import importlib.util
import io
from datetime import datetime
from typing import Any

import orjson

from tap_exports.sandbox.emulator import StoredFile
from tap_exports.sandbox.userpilot.data import COLUMNS, Record

_INTEGERS = frozenset(("screen_width", "screen_height"))
_LIBRARIES = {"parquet": ("pyarrow", "parquet"), "avro": ("fastavro", "avro")}
_CONTENT_TYPES = {
    "ndjson": "application/x-ndjson",
    "csv": "text/csv",
    "parquet": "application/octet-stream",
    "avro": "application/octet-stream",
}


def gzipped_by_default(export_format: str) -> bool:
    """Whether parts of `export_format` are gzipped unless the sandbox is told otherwise."""
    return export_format in ("ndjson", "csv")


def part_name(number: int, export_format: str, gzipped: bool) -> str:
    """A part's file name as the status answer gives it: `export-part1.ndjson.gz`."""
    return f"export-part{number}.{export_format}" + (".gz" if gzipped else "")


def missing_library(export_format: str) -> str | None:
    """Why this sandbox cannot write `export_format` (its extra is not installed), or None."""
    module, extra = _LIBRARIES.get(export_format, ("", ""))
    if not module or importlib.util.find_spec(module) is not None:
        return None
    return f"This sandbox cannot write {export_format} files: pip install 'tap-exports[{extra}]'"


def render(rows: list[Record], export_format: str, *, gzipped: bool, name: str) -> StoredFile:
    """One part's file; `name` (its storage name) seeds what must vary between files."""
    if export_format == "ndjson":
        content = b"".join(orjson.dumps(row) + b"\n" for row in rows)
    elif export_format == "csv":
        content = _csv(rows)
    elif export_format == "parquet":
        content = _parquet(rows)
    else:
        content = _avro(rows, hashlib.md5(name.encode()).digest())
    if gzipped:
        return StoredFile(gzip.compress(content, compresslevel=5, mtime=0), "application/gzip")
    return StoredFile(content, _CONTENT_TYPES[export_format])


def _columns(rows: list[Record]) -> list[str]:
    extras = sorted({key for row in rows for key in row} - set(COLUMNS))
    return [*COLUMNS, *extras]


def _with_json_metadata(column: str, value: Any) -> Any:
    """A cell's value in a format with columns: `metadata` as JSON text, the rest as is."""
    if column == "metadata" and value is not None:
        return orjson.dumps(value).decode()
    return value


def _typed(column: str, value: Any) -> Any:
    """A cell's value for Parquet and Avro, which hold the stamp as a timestamp."""
    if column == "inserted_at" and value is not None:
        return datetime.fromisoformat(value)
    return _with_json_metadata(column, value)


def _csv(rows: list[Record]) -> bytes:
    columns = _columns(rows)
    text = io.StringIO()
    writer = csv.writer(text)  # RFC 4180: minimal quoting, CRLF
    writer.writerow(columns)
    for row in rows:
        cells = (_with_json_metadata(column, row.get(column)) for column in columns)
        writer.writerow("" if cell is None else cell for cell in cells)
    return text.getvalue().encode()


def _parquet(rows: list[Record]) -> bytes:
    pyarrow = importlib.import_module("pyarrow")
    parquet = importlib.import_module("pyarrow.parquet")

    def arrow_type(column: str) -> Any:
        if column in _INTEGERS:
            return pyarrow.int64()
        if column == "inserted_at":
            return pyarrow.timestamp("us", tz="UTC")
        return pyarrow.string()

    table = pyarrow.table(
        {
            column: pyarrow.array(
                [_typed(column, row.get(column)) for row in rows], type=arrow_type(column)
            )
            for column in _columns(rows)
        }
    )
    buffer = io.BytesIO()
    parquet.write_table(table, buffer, compression="snappy")
    return buffer.getvalue()


def _avro(rows: list[Record], sync_marker: bytes) -> bytes:
    fastavro = importlib.import_module("fastavro")

    def avro_type(column: str) -> Any:
        if column in _INTEGERS:
            return "long"
        if column == "inserted_at":
            return {"type": "long", "logicalType": "timestamp-micros"}
        return "string"

    columns = _columns(rows)
    schema = {
        "type": "record",
        "name": "Event",
        "namespace": "io.userpilot.export",
        "fields": [
            {"name": column, "type": ["null", avro_type(column)], "default": None}
            for column in columns
        ],
    }
    records = [{column: _typed(column, row.get(column)) for column in columns} for row in rows]
    buffer = io.BytesIO()
    # A fixed sync marker (fastavro picks a random one) keeps the bytes reproducible.
    fastavro.writer(
        buffer, fastavro.parse_schema(schema), records, codec="deflate", sync_marker=sync_marker
    )
    return buffer.getvalue()
