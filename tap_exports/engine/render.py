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

Lines are rendered into one buffer and split from it a run at a time, because each
`orjson.dumps` result keeps a 4 KiB allocation however short it is: a run of
separate results would take many times its size (and fresh memory is slow to get).
"""

from __future__ import annotations

import base64
from decimal import Decimal
from typing import Any

import orjson

from tap_exports.engine.errors import DecodeError

_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC


class RenderedLines:
    """Records rendered as JSON lines, gathered until taken as a run."""

    def __init__(self, source: str) -> None:
        """`source` names the export in errors."""
        self._source = source
        self._buffer = bytearray()

    def __len__(self) -> int:
        """Bytes gathered so far."""
        return len(self._buffer)

    def add(self, record: Any, number: int) -> None:
        """Render record `number` (1-based, for errors) after those gathered.

        Raises:
            DecodeError: a value has no JSON rendering.
        """
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


def _default(value: Any) -> Any:
    """Render the values orjson has no JSON for (see the module docstring)."""
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value).encode())
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(type(value).__name__)
