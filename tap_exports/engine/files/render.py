"""Render records read from CSV, Parquet or Avro as lines of JSON, one way for all.

Typed values become JSON as follows (orjson's own rendering where it has one):

- datetimes: RFC 3339 in UTC ending in `Z`, with microseconds when not zero; one
  without a zone is taken as UTC (`OPT_NAIVE_UTC`);
- dates `YYYY-MM-DD`, times `HH:MM:SS[.ffffff]`, UUIDs in their canonical text;
- decimals: a JSON number with exactly the decimal's digits (through float they
  would lose some), which is what a "number" column expects;
- bytes: base64 text (standard alphabet, padded), the usual way to carry binary in JSON;
- float NaN and infinities: null, JSON having no such numbers.

A value of any other type (a duration, say) is a `DecodeError` naming the record.

A text value in a column the stream's schema declares as an object or a list (and not
as text) is JSON text, as files with a fixed column type write a field whose shape
changes from row to row: it is read back into the object or list.

Lines are rendered into one buffer and split from it a run at a time, because each
`orjson.dumps` result keeps a 4 KiB allocation however short it is: a run of
separate results would take many times its size (and fresh memory is slow to get).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from tap_exports.engine.errors import DecodeError

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


def json_text_columns(columns: Mapping[str, tuple[str, ...]] | None) -> frozenset[str]:
    """The columns declared as an object or a list but not as text: JSON text there."""
    return frozenset(
        name
        for name, types in (columns or {}).items()
        if {"object", "array"} & set(types) and "string" not in types
    )


class RenderedLines:
    """Records rendered as JSON lines, gathered until taken as a run."""

    def __init__(self, source: str, json_columns: frozenset[str] = frozenset()) -> None:
        """`source` names the export in errors; `json_columns` hold JSON text."""
        self._source = source
        self._json_columns = json_columns
        self._buffer = bytearray()

    def __len__(self) -> int:
        """Bytes gathered so far."""
        return len(self._buffer)

    def add(self, record: Any, number: int) -> None:
        """Render record `number` (1-based, for errors) after those gathered.

        Raises:
            DecodeError: a value has no JSON rendering.
        """
        for name in self._json_columns.intersection(record):
            value = record[name]
            if isinstance(value, str):
                record[name] = json_text(value)
        try:
            self._buffer += orjson.dumps(record, default=_default, option=_OPTIONS)
        except orjson.JSONEncodeError as exc:
            raise DecodeError(
                f"{self._source}, record {number}: cannot render as JSON ({exc})"
            ) from None
        self._buffer += b"\n"  # orjson escapes any in values

    def take(self) -> list[bytes]:
        """The lines gathered so far, which are then forgotten."""
        text = bytes(self._buffer)
        self._buffer.clear()  # before splitting, so as not to hold the bytes three times
        lines = text.split(b"\n")
        lines.pop()  # what follows the last line break
        return lines


def json_text(text: str) -> Any:
    """The object or list `text` holds; the text itself when it holds neither.

    Left as text, a value that is not JSON of those kinds fails the record check, which
    names the record and the field.
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return value if isinstance(value, dict | list) else text


def _default(value: Any) -> Any:
    """Render the values orjson has no JSON for (see the module docstring)."""
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value).encode())
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(type(value).__name__)
