"""Arrow batches rendered as JSON lines a whole batch at a time, byte for byte as `render`.

Turning every row of a Parquet file into Python objects and back into JSON is what made
Parquet the slowest format (about 6 µs a row). polars, when installed (the `parquet`
extra), writes a batch's lines in Rust instead: each stretch of columns is encoded as JSON
at once and the lines are concatenated from the stretches, one `bytes` a row at the end.

The lines must be the very bytes `render` writes: row keys hash them (`rowkey`), so a
different rendering would give a re-read window new keys. polars' JSON rendering of text
(escapes included), integers, booleans, dates and nulls is orjson's; timestamps are
formatted as orjson writes them (`Z`, microseconds only when not zero). A column that
holds JSON text (`render.json_text_columns`) is read in Python, value by value, as
`render` reads it. A batch with any other type (floats, decimals, binary, nested values,
times, a zone other than UTC) is left to `render`: `render_batch` answers None.
"""

from __future__ import annotations

import importlib
from functools import cache
from types import ModuleType
from typing import Any

import orjson

from tap_exports.engine.files.render import json_text

# orjson's datetime: seconds, then `.ffffff` when not zero, then `Z` (see `render`).
_STAMP = "%Y-%m-%dT%H:%M:%S%.6fZ"
_UTC = frozenset({"UTC", "utc", "Etc/UTC", "+00:00", "Z"})


@cache
def _polars() -> ModuleType | None:
    """polars, if installed; without it every batch goes through `render`."""
    try:
        return importlib.import_module("polars")
    except ImportError:
        return None


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

    `types` is `pyarrow.types`; `json_columns` hold JSON text (see `render`). Timestamps
    become their text first; each stretch of columns between two JSON-text columns is
    then encoded in one go, and the lines are concatenated from the stretches.
    """
    polars = _polars()
    if polars is None or not all(_plain(field, types) for field in table.schema):
        return None
    if table.num_rows == 0:
        return []
    frame = polars.from_arrow(table).with_columns(
        polars.col(field.name).dt.to_string(_STAMP).str.replace(".000000Z", "Z", literal=True)
        for field in table.schema
        if types.is_timestamp(field.type)
    )
    texts = {
        field.name
        for field in table.schema
        if field.name in json_columns
        and (types.is_string(field.type) or types.is_large_string(field.type))
    }
    pieces: list[Any] = []
    stretch: list[str] = []

    def close_stretch() -> None:
        if stretch:
            encoded = polars.struct(*stretch).struct.json_encode()
            pieces.append(encoded.str.strip_prefix("{").str.strip_suffix("}"))
            stretch.clear()

    for field in table.schema:
        if field.name not in texts:
            if pieces and not stretch:
                pieces.append(polars.lit(","))
            stretch.append(field.name)
            continue
        close_stretch()
        separator = "," if pieces else ""
        pieces.append(polars.lit(separator + orjson.dumps(field.name).decode() + ":"))
        rendered = [_json_text_value(value) for value in frame.get_column(field.name).to_list()]
        pieces.append(polars.lit(polars.Series(field.name, rendered, dtype=polars.String)))
    close_stretch()
    line = polars.concat_str([polars.lit("{"), *pieces, polars.lit("}")])
    lines: list[bytes] = frame.select(line.cast(polars.Binary)).to_series().to_list()
    return lines


def _json_text_value(value: str | None) -> str:
    """One value of a JSON-text column as `render` writes it: the object, or the text."""
    if value is None:
        return "null"
    return orjson.dumps(json_text(value)).decode()
