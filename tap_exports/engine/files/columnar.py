"""Arrow batches rendered as JSON lines a whole batch at a time, byte for byte as `render`.

Turning every row of a Parquet or Avro file into Python objects and back into JSON is
what made them the slowest formats (about 6 and 16 µs a row). polars, when installed (the
`parquet` and `avro` extras), writes a batch's lines in Rust instead: each stretch of
columns is encoded as JSON at once and the lines are concatenated from the stretches, one
`bytes` a row at the end. Parquet batches come from pyarrow; an Avro group of blocks
(`avro_blocks`) is read by polars itself (`avro_batch`).

The lines must be the very bytes `render` writes: row keys hash them (`rowkey`), so a
different rendering would give a re-read window new keys. polars' JSON rendering of text
(escapes included), integers, booleans, dates and nulls is orjson's; timestamps are
formatted as orjson writes them (`Z`, microseconds only when not zero). A column that
holds JSON text (`render.json_text_columns`) is read in Python, value by value, as
`render` reads it. `render_batch` answers None, and the batch goes row by row through
`render` (with its errors, which name the record), whenever polars could say something
else: another type (floats, decimals, binary, nested values, times, a zone other than
UTC), a date or time Python cannot hold, text that is not UTF-8, JSON text orjson cannot
render, column names polars would read as patterns or that repeat, or a polars whose
rendering of a check batch differs from `render`'s (a new release, say).
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Iterable
from datetime import UTC, date, datetime
from functools import cache
from types import ModuleType
from typing import Any

import orjson

from tap_exports.engine.files.render import RenderedLines, json_text

# orjson's datetime: seconds, then `.ffffff` when not zero, then `Z` (see `render`).
_STAMP = "%Y-%m-%dT%H:%M:%S%.6fZ"
_UTC = frozenset({"UTC", "Etc/UTC", "+00:00"})
_CHECK_JSON = frozenset({"json"})  # the check batches' JSON-text column


class _Fallback(Exception):
    """The batch goes row by row (`render` says what is wrong, if anything)."""


@cache
def _polars() -> ModuleType | None:
    """polars, if installed and rendering as `render` does; else every batch goes row by row."""
    try:
        polars = importlib.import_module("polars")
        pyarrow = importlib.import_module("pyarrow")
    except ImportError:
        return None
    check = pyarrow.table(
        {
            "text": ['a"\\\n\x01\x7f\u2028é😀', None],
            "count": pyarrow.array([2**64 - 1, 0], type=pyarrow.uint64()),
            "flag": [True, None],
            "day": [date(1, 1, 1), date(9999, 12, 31)],
            "at": pyarrow.array(
                [datetime(2025, 3, 1, tzinfo=UTC), datetime(1969, 12, 31, 23, 59, 59, 1, UTC)],
                type=pyarrow.timestamp("us", tz="UTC"),
            ),
            "json": ['{"a": [1, 2.5, "x"]}', "no"],
        }
    )
    try:
        same = _render(polars, check, _CHECK_JSON, pyarrow.types) == _by_render(check.to_pylist())
    except Exception:
        return None
    return polars if same else None


def _plain(field: Any, types: Any) -> bool:
    """Whether polars renders this column's values as orjson would."""
    kind = field.type
    if types.is_timestamp(kind):
        return kind.tz is None or kind.tz in _UTC
    return bool(
        types.is_string(kind)
        or types.is_large_string(kind)
        or types.is_integer(kind)
        or types.is_boolean(kind)
        or types.is_date32(kind)
        or types.is_null(kind)
    )


def render_batch(table: Any, json_columns: frozenset[str], types: Any) -> list[bytes] | None:
    """The JSON lines of an Arrow table's rows, or None to render them one by one.

    `types` is `pyarrow.types`; `json_columns` hold JSON text (see `render`).
    """
    polars = _polars()
    names = table.schema.names
    if (
        polars is None
        or len(set(names)) != len(names)
        or not all(_plain(field, types) for field in table.schema)
    ):
        return None
    if table.num_rows == 0:
        return []
    try:
        _check_values(table, types)
        return _render(polars, table, json_columns, types)
    except (_Fallback, polars.exceptions.PolarsError):
        return None


def avro_batch(avro_file: bytes, json_columns: frozenset[str], records: int) -> list[bytes] | None:
    """The JSON lines of a (small) Avro file of `records` records read by polars, or None.

    None when polars is not installed or reads Avro otherwise than fastavro (`_avro_polars`),
    cannot read the file (fastavro then reads it and names what is wrong), reads another
    number of records, or `render_batch` says None.
    """
    polars = _avro_polars()
    if polars is None:
        return None
    lines = _avro_lines(polars, avro_file, json_columns)
    return lines if lines is not None and len(lines) == records else None


def _avro_lines(polars: ModuleType, avro_file: bytes, json_columns: frozenset[str]) -> Any:
    try:
        table = polars.read_avro(io.BytesIO(avro_file)).to_arrow()
    except BaseException as exc:  # polars panics on some damaged files (a pyo3 BaseException)
        if isinstance(exc, KeyboardInterrupt | SystemExit | GeneratorExit):
            raise
        return None
    return render_batch(table, json_columns, importlib.import_module("pyarrow").types)


@cache
def _avro_polars() -> ModuleType | None:
    """polars, if it reads a check file of every type `parquet_avro` gives it as fastavro does."""
    polars = _polars()
    try:
        fastavro = importlib.import_module("fastavro")
    except ImportError:
        return None
    if polars is None:
        return None
    micros, millis = "timestamp-micros", "timestamp-millis"
    fields = [
        ("count", "long", 2**63 - 1),
        ("small", "int", -(2**31)),
        ("text", "string", 'a"\\\n\u2028é😀'),
        ("flag", "boolean", True),
        ("at", _logical(micros), datetime(1969, 12, 31, 23, 59, 59, 1, UTC)),
        ("at_ms", _logical(millis), datetime(2025, 3, 1, 0, 0, 0, 5000, UTC)),
        ("local", _logical(f"local-{micros}"), datetime(2025, 3, 1, 1)),
        ("local_ms", _logical(f"local-{millis}"), datetime(2025, 3, 1)),
        ("day", _logical("date", "int"), date(9999, 12, 31)),
        ("json", "string", '{"a": [1, 2.5, "x"]}'),
    ]
    schema = {
        "type": "record",
        "name": "Check",
        "fields": [{"name": name, "type": [kind, "null"]} for name, kind, _ in fields],
    }
    records = [{name: value for name, _, value in fields}, dict.fromkeys(n for n, _, _ in fields)]
    sink = io.BytesIO()
    fastavro.writer(sink, fastavro.parse_schema(schema), records)
    by_render = _by_render(fastavro.reader(io.BytesIO(sink.getvalue())))
    return polars if _avro_lines(polars, sink.getvalue(), _CHECK_JSON) == by_render else None


def _by_render(records: Iterable[Any]) -> list[bytes]:
    """The check records' lines as `render` writes them, row by row."""
    lines = RenderedLines("check", _CHECK_JSON)
    for number, record in enumerate(records, 1):
        lines.add(record, number)
    return lines.take()


def _logical(logical: str, base: str = "long") -> dict[str, str]:
    return {"type": base, "logicalType": logical}


def _check_values(table: Any, types: Any) -> None:
    """Raise `_Fallback` for values `render` would refuse (and polars would not).

    Dates and timestamps beyond Python's years 1 to 9999 (their smallest and largest
    value are converted, as `render` would convert each), and text that is not UTF-8
    (pyarrow does not check it on reading).
    """
    pyarrow = importlib.import_module("pyarrow")
    compute = importlib.import_module("pyarrow.compute")
    for field, column in zip(table.schema, table.columns, strict=True):
        kind = field.type
        try:
            if types.is_date32(kind) or types.is_timestamp(kind):
                extremes = compute.min_max(column)
                extremes["min"].as_py(), extremes["max"].as_py()
            elif types.is_string(kind) or types.is_large_string(kind):
                for chunk in column.chunks:
                    chunk.validate(full=True)
        except (OverflowError, ValueError, pyarrow.ArrowException) as exc:
            raise _Fallback from exc


def _render(
    polars: ModuleType, table: Any, json_columns: frozenset[str], types: Any
) -> list[bytes]:
    """Render with polars: timestamps to text, stretches encoded at once, lines joined.

    Columns are renamed by position first, so no name is read as a pattern; each keeps
    its own name in the JSON through an alias.
    """
    schema = table.schema
    frame = polars.from_arrow(table.rename_columns([f"c{i}" for i in range(len(schema))]))
    frame = frame.with_columns(
        polars.col(f"c{i}").dt.to_string(_STAMP).str.replace(".000000Z", "Z", literal=True)
        for i, field in enumerate(schema)
        if types.is_timestamp(field.type)
    )
    pieces: list[Any] = []
    stretch: list[Any] = []

    def close_stretch() -> None:
        if stretch:
            encoded = polars.struct(*stretch).struct.json_encode()
            pieces.append(encoded.str.strip_prefix("{").str.strip_suffix("}"))
            stretch.clear()

    for i, field in enumerate(schema):
        text = types.is_string(field.type) or types.is_large_string(field.type)
        if not (text and field.name in json_columns):
            if pieces and not stretch:
                pieces.append(polars.lit(","))
            stretch.append(polars.col(f"c{i}").alias(field.name))
            continue
        close_stretch()
        separator = "," if pieces else ""
        pieces.append(polars.lit(separator + orjson.dumps(field.name).decode() + ":"))
        values = frame.get_column(f"c{i}").to_list()
        rendered = ["null" if value is None else _json_text_value(value) for value in values]
        pieces.append(polars.lit(polars.Series(f"j{i}", rendered, dtype=polars.String)))
    close_stretch()
    line = polars.concat_str([polars.lit("{"), *pieces, polars.lit("}")])
    lines: list[bytes] = frame.select(line.cast(polars.Binary)).to_series().to_list()
    return lines


def _json_text_value(value: str) -> str:
    """One value of a JSON-text column as `render` writes it: the object, or the text."""
    try:
        return orjson.dumps(json_text(value)).decode()
    except orjson.JSONEncodeError as exc:  # too deep: `render` names the record
        raise _Fallback from exc
