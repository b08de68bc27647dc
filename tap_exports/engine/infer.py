"""A record schema inferred from a sample, for APIs that document none.

Used at discovery: a provider fetches a few records for free (a search page) and the
stream's schema is what they show, merged with the fields the provider knows of by
other means (its filters' names). Inference errs on the side of accepting:
- every field may be null (a sample cannot prove a field is always set);
- a field seen with several JSON types gets all of them (an integer and a float make a
  number), and a field seen only as null gets no type at all (anything passes);
- a field only the sample shows that holds numbers is a number: a page of whole numbers
  says little about the rows after it (a known field keeps its known type);
- objects stay open: their inner fields are the target's to store as they come;
- fields no sample showed are not declared: singer-sdk leaves them out of the records
  (with one warning), which is safe, where guessing a type is not.
"""

from __future__ import annotations

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


def infer_schema(
    records: Iterable[Mapping[str, Any]],
    known: Mapping[str, JsonSchema],
    *,
    required: tuple[str, ...] = (),
) -> JsonSchema:
    """An object schema for `records`, over the `known` fields' schemas.

    `required` fields (the primary key) keep their known type, not nullable.
    """
    seen: dict[str, set[str]] = {}
    items: dict[str, set[str]] = {}
    for record in records:
        for name, value in record.items():
            seen.setdefault(name, set()).add(_json_type(value))
            if isinstance(value, list):
                items.setdefault(name, set()).update(_json_type(item) for item in value)
    properties: dict[str, JsonSchema] = {}
    for name in [*known, *(name for name in seen if name not in known)]:
        types = set(seen.get(name, ())) | _types(known.get(name, {}))
        if name not in known and "integer" in types:
            types.add("number")
        inferred = _property(types, items.get(name, set()), known.get(name, {}))
        properties[name] = dict(known.get(name) or inferred) if name in required else inferred
    schema: JsonSchema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def _property(types: set[str], item_types: set[str], known: JsonSchema) -> JsonSchema:
    types.discard("null")
    if {"integer", "number"} <= types:
        types.discard("integer")
    if not types:
        return {}
    prop: JsonSchema = {"type": [*sorted(types), "null"]}
    if "array" in types:
        known_items = known.get("items", {})
        item_types = (item_types | _types(known_items)) - {"null"}
        if {"integer", "number"} <= item_types:
            item_types.discard("integer")
        prop["items"] = {"type": [*sorted(item_types), "null"]} if item_types else {}
    return prop


def _types(schema: Mapping[str, Any]) -> set[str]:
    declared = schema.get("type", ())
    return {declared} if isinstance(declared, str) else set(declared)


def _json_type(value: object) -> str:
    for python_type, name in _JSON_TYPES:
        if isinstance(value, python_type):
            return name
    return "null"
