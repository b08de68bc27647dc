"""A stream's schema changed in the middle of a sync, told to every part of singer-sdk.

singer-sdk fixes a stream's schema when the tap starts: the stream's own, the catalog's
(what records are conformed to) and each stream map's (built from the catalog's, and
what SCHEMA messages announce). `declare_properties` adds or widens properties in all
three, so that the next SCHEMA message and every record after it carry the field
(`engine/evolve.py` decides what to declare). This is private singer-sdk ground
(`_schema`, `_input_schema`, `_stream_maps`, `_tap.mapper`, `get_selected_schema`): it
is reached from here only, and the tests of `undeclared_fields` cover it on every
record path.

Selection needs nothing: a property the catalog does not list is selected with its
stream (singer-sdk's `SelectionMask`), and one the catalog lists is never new.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from singer_sdk import Stream
from singer_sdk.helpers._catalog import get_selected_schema

JsonSchema = dict[str, Any]


def declare_properties(stream: Stream, changes: Mapping[str, JsonSchema]) -> None:
    """Add or widen `changes` (name -> property schema) in `stream`'s schemas and maps."""
    stream._schema = _with(stream.schema, changes)
    if stream._input_schema is not None:
        stream._input_schema = _with(stream._input_schema, changes)
    # The maps see the selected properties only, as when the tap registered them.
    selected = get_selected_schema(stream.name, stream.effective_schema, stream.mask)
    stream._tap.mapper.register_raw_stream_schema(stream.name, selected, stream.primary_keys)
    stream._stream_maps = []  # read again from the mapper on next use


def _with(schema: Mapping[str, Any], changes: Mapping[str, JsonSchema]) -> JsonSchema:
    """A copy of `schema` with `changes` in its properties (a new field goes last)."""
    return {**schema, "properties": {**schema.get("properties", {}), **changes}}
