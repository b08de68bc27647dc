"""Files in the typed formats the tests build, and the lines `render` makes of records."""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import Any

import fastavro

from tap_exports.engine.files.render import RenderedLines


def avro_file(schema: dict[str, Any], records: list[dict[str, Any]], **options: Any) -> bytes:
    """An Avro object container file of `records`, written by fastavro."""
    sink = io.BytesIO()
    fastavro.writer(sink, fastavro.parse_schema(schema), records, **options)
    return sink.getvalue()


def rendered(records: Iterable[dict[str, Any]], json_columns: frozenset[str]) -> list[bytes]:
    """The lines the row-by-row path writes for `records` (`render.RenderedLines`)."""
    lines = RenderedLines("test", json_columns)
    for number, record in enumerate(records, 1):
        lines.add(record, number)
    return lines.take()
