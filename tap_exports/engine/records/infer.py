"""Schemas inferred from values, for APIs that document none and for fields they add.

Two callers: discovery (a provider fetches a few records for free, a search page, and
the stream's schema is what they show over the fields it knows by other means) and
`undeclared_fields: evolve` (`evolve.py`: a field no schema declares, typed from the
values of the records that brought it). Both produce schemas every singer-sdk path can
use (conformance, selection, stream maps, flattening, BATCH) and a target can type:
- every inferred field may be null (a sample cannot prove a field is always set);
- whole numbers are `integer`, a float among them makes a `number`; strings stay
  strings (a code like "00501" is not a number), and a string field whose every value
  is an ISO 8601 instant gets `format: date-time`, so targets make a timestamp column;
- a field seen only as null gets no type at all (anything passes);
- an object stays open (`additionalProperties`): its inner fields are the target's to
  store as they come. A top-level object declares no `properties` (flattening then
  writes it as one JSON column instead of columns the records would not match); an
  object inside an array declares empty `properties`, which singer-sdk's conformance
  of array items requires;
- a value of a type the inferred schema lacks widens it (`widened`) rather than fail;
- a known field declared as a choice of types (an id: integer or string) keeps those
  the sample shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

JsonSchema = dict[str, Any]

_JSON_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "boolean"),  # before int: a bool is an int in Python
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)
# An instant: a date, a time and an offset (or Z). Dates alone and local times are not
# instants; they stay plain strings.
_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})", re.ASCII
)
_DATE_TIME = "date-time"


def infer_schema(
    records: Iterable[Mapping[str, Any]],
    known: Mapping[str, JsonSchema],
    *,
    required: tuple[str, ...] = (),
) -> JsonSchema:
    """An object schema for `records`, over the `known` fields' schemas.

    A known field keeps its known schema; `required` fields (the primary key) are not
    nullable. A field only the sample shows is inferred from its values.
    """
    seen: dict[str, list[Any]] = {}
    for record in records:
        for name, value in record.items():
            seen.setdefault(name, []).append(value)
    properties = {
        name: _narrowed(schema, seen.get(name, ()))
        if name in required
        else _merged(schema, seen.get(name, ()))
        for name, schema in known.items()
    }
    for name, values in seen.items():
        if name not in known:
            properties[name] = infer_property(values) or {}
    schema: JsonSchema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def _merged(known: JsonSchema, values: Iterable[Any]) -> JsonSchema:
    """A known field's schema, nullable and widened to the types the sample shows."""
    inferred = infer_property(values) or {}
    types = (_types(known) | _types(inferred)) - {"null"}
    if not types:
        return dict(known)
    if {"integer", "number"} <= types:
        types.discard("integer")
    # What the provider knows of the field (a format, its items' shape) stays; the
    # sample only adds types.
    merged: JsonSchema = {**known, "type": [*sorted(types), "null"]}
    if "array" in types:
        items = dict(known.get("items") or inferred.get("items") or {})
        item_types = (_types(items) | _types(inferred.get("items") or {})) - {"null"}
        if {"integer", "number"} <= item_types:
            item_types.discard("integer")
        if item_types:
            items["type"] = [*sorted(item_types), "null"]
        merged["items"] = items
    return merged


def _narrowed(known: JsonSchema, values: Iterable[Any]) -> JsonSchema:
    """A known field's schema, its types narrowed to those the sample shows.

    A field known only as "one of these types" (an id: integer or string) takes the
    ones the sample holds; a sample that shows none of them, or only nulls, changes
    nothing.
    """
    declared = _types(known)
    shown = {json_type_of(value) for value in values} - {"null"}
    if "number" in declared and "integer" in shown:
        shown = (shown - {"integer"}) | {"number"}
    kept = declared & shown
    if len(declared - {"null"}) < 2 or not kept or shown - kept:
        return dict(known)
    types = sorted(kept, key=list(known["type"]).index)
    nullable = ["null"] if "null" in declared else []
    return {**known, "type": types[0] if len(types) == 1 and not nullable else [*types, *nullable]}


def infer_property(values: Iterable[Any], *, top_level: bool = True) -> JsonSchema | None:
    """The schema of a field holding `values`; None when every value is null.

    `top_level`: a field of the record itself (else an array's items, see the module).
    """
    types: set[str] = set()
    items: list[Any] = []
    instants = True
    for value in values:
        json_type = json_type_of(value)
        types.add(json_type)
        if json_type == "array":
            items.extend(value)
        elif json_type == "string" and instants:
            instants = bool(_INSTANT.fullmatch(value))
    types.discard("null")
    if not types:
        return None
    return _schema(types, items, instants=instants, top_level=top_level)


def widened(schema: JsonSchema, value: Any) -> JsonSchema | None:
    """The schema widened to take `value` too; None when it already does.

    Only what `infer_property` produces is widened: an integer field takes a float as
    a number, a date-time field a string that is no instant as a plain string, a field
    of one type a value of another as both, and an array's items the same way. What
    objects hold is the target's (they are open).
    """
    json_type = json_type_of(value)
    declared = _types(schema)
    if not declared or json_type == "null":
        return None  # untyped (anything passes), or null (always nullable)
    if json_type in declared or (json_type == "integer" and "number" in declared):
        if json_type == "array" and isinstance(schema.get("items"), dict):
            items = schema["items"]
            for item in value:
                items = widened(items, item) or items
            return None if items is schema["items"] else {**schema, "items": items}
        if json_type != "string" or schema.get("format") != _DATE_TIME:
            return None
        if _INSTANT.fullmatch(value):
            return None
        return {key: part for key, part in schema.items() if key != "format"}
    types = (declared - {"null"}) | {json_type}
    items = value if json_type == "array" else []
    # A date-time field that also holds other types is no timestamp column any more.
    wider = _schema(types, items, instants=False, top_level="properties" not in schema)
    if "array" in declared and "items" in schema:
        wider["items"] = schema["items"]
    return wider


def _schema(types: set[str], items: list[Any], *, instants: bool, top_level: bool) -> JsonSchema:
    if {"integer", "number"} <= types:
        types.discard("integer")
    prop: JsonSchema = {"type": [*sorted(types), "null"]}
    if "string" in types and instants:
        prop["format"] = _DATE_TIME
    if "array" in types:
        prop["items"] = infer_property(items, top_level=False) or {}
    if "object" in types:
        prop["additionalProperties"] = True
        if not top_level:
            prop["properties"] = {}
    return prop


def _types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type", ())
    return {declared} if isinstance(declared, str) else set(declared)


def json_type_of(value: object) -> str:
    """The JSON type name of a decoded JSON value."""
    for python_type, name in _JSON_TYPES:
        if isinstance(value, python_type):
            return name
    return "null"
