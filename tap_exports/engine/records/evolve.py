"""Fields an export carries beyond its schema: declared as they arrive, typed by their values.

Export APIs add fields without notice, and a bulk-export tap exists to move all of the
data. With `undeclared_fields: evolve` (the default) a stream's `FieldLedger` looks at
the records on their way out and says what the schema must gain before they go:
- a top-level field no schema declares, typed from the values that brought it
  (`infer.infer_property`); a field seen only as null waits for a value;
- a field the tap inferred (at discovery, or here) whose value has a type the schema
  lacks, widened to take it (`infer.widened`) rather than failing the record. A
  documented field is never widened: a value of another type there is a bad record.

The stream writes a SCHEMA message with the change before the record (a target adds the
column) and keeps what it declared in its state (`DECLARED`), so later runs declare it
from the start. Fields inside a declared object keep the object's schema: only what the
schema leaves open passes. With `drop` nothing is declared (inferred fields still
widen): conformance leaves the field out, as singer-sdk does, with one warning.

The common case costs one dict lookup per record: records are grouped by their key
order ("shape"), and a shape with no field worth looking at is remembered as such.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import msgspec
import orjson

from tap_exports.engine.records.infer import JsonSchema, infer_property, widened
from tap_exports.engine.records.rows import json_array

# The stream state key holding the fields declared by earlier runs: name -> schema.
DECLARED = "declared_fields"
# Key orders remembered; past this (records whose keys vary line by line) the work is
# redone rather than grow memory.
_SHAPES_KEPT = 1024


class FieldLedger:
    """What a stream's records need its schema to gain (see the module)."""

    def __init__(
        self,
        properties: Mapping[str, JsonSchema],
        *,
        widenable: Iterable[str],
        declare_new: bool,
    ) -> None:
        """Start from the schema's `properties`; only `widenable` ones may widen."""
        self._properties = dict(properties)
        self._widenable = set(widenable) & set(properties)
        self._declare_new = declare_new
        self._shapes: dict[tuple[str, ...], tuple[str, ...]] = {}

    def changes(self, records: Iterable[Mapping[str, Any]]) -> dict[str, JsonSchema]:
        """The properties `records` need added or widened (name -> new schema)."""
        found: dict[str, JsonSchema] = {}
        new: dict[str, list[Any]] = {}
        for record in records:
            for name in self._worth_a_look(record):
                value = record[name]
                if name in self._properties:
                    wider = widened(found.get(name) or self._properties[name], value)
                    if wider is not None:
                        found[name] = wider
                else:
                    new.setdefault(name, []).append(value)
        for name, values in new.items():
            inferred = infer_property(values)
            if inferred is not None:
                found[name] = inferred
        return found

    def declare(self, changes: Mapping[str, JsonSchema]) -> None:
        """The schema now has `changes`: they may widen later, and shapes are looked at anew."""
        self._properties.update(changes)
        self._widenable.update(changes)
        self._shapes.clear()

    def _worth_a_look(self, record: Mapping[str, Any]) -> tuple[str, ...]:
        """The record's fields that are undeclared (when declaring) or widenable."""
        shape = tuple(record)
        names = self._shapes.get(shape)
        if names is None:
            names = tuple(
                name
                for name in shape
                if (name in self._widenable) or (self._declare_new and name not in self._properties)
            )
            if len(self._shapes) < _SHAPES_KEPT:
                self._shapes[shape] = names
        return names


def remembered(state: Mapping[str, Any]) -> dict[str, JsonSchema]:
    """The fields earlier runs declared, from a stream's state."""
    declared = state.get(DECLARED)
    if not isinstance(declared, dict):
        return {}
    return {name: schema for name, schema in declared.items() if isinstance(schema, dict)}


def remember(state: dict[str, Any], changes: Mapping[str, JsonSchema]) -> None:
    """Keep `changes` in a stream's state, for later runs to declare from the start."""
    state[DECLARED] = {**remembered(state), **changes}


def describe(schema: Mapping[str, Any]) -> str:
    """A property's type in a few words, for the log line that announces it."""
    declared = schema.get("type", "any")
    types = [declared] if isinstance(declared, str) else [t for t in declared if t != "null"]
    text = "/".join(types) or "any"
    return f"{text} ({schema['format']})" if "format" in schema else text


_TOP_LEVEL_KEYS = msgspec.json.Decoder(list[dict[str, msgspec.Raw]])


def lines_with_new_keys(lines: list[bytes], known: frozenset[str]) -> list[bytes]:
    """The lines whose record has a top-level key not in `known` (in C, values unparsed).

    Lines with undeclared keys only inside objects (which are never declared) are not
    parsed again and again; any line that is not one record keeps every line in.
    """
    try:
        rows = _TOP_LEVEL_KEYS.decode(json_array(lines))
    except msgspec.DecodeError:
        return lines
    if len(rows) != len(lines):
        return lines
    return [line for line, row in zip(lines, rows, strict=True) if not known.issuperset(row)]


def records_in(lines: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The records of export lines that are JSON objects, for the ledger to look at.

    Used only on lines known to carry undeclared keys; a line that is not a record is
    skipped here, and named by the record path that reads it.
    """
    for line in lines:
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(value, dict):
            yield value
