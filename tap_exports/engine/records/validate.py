"""Is a decoded line a usable record? Cheap checks that name what is wrong.

A record must carry its primary key and (in an incremental stream) a replication key
that is a real timestamp, and each top-level field must have one of the JSON types its
schema allows. Nested
values are left to the target: checking them would cost more than the whole decode.
The check returns a description of the first problem, or None; the decoder turns that
into an error naming the export and line, or a skipped line under `bad_record_policy`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from operator import contains
from typing import Any

RecordCheck = Callable[[Mapping[str, Any]], str | None]

# Key orders remembered per check. Files repeat a handful; a file whose keys vary line by
# line (dynamic custom fields) must not grow memory, so past this the work is redone.
_SHAPES_KEPT = 1024

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "array": (list,),
    "object": (dict,),
}


class _AnyType:
    """Stands for "any type" (an undeclared field) in a row of allowed-type sets."""

    def __contains__(self, item: object) -> bool:
        return True


_ANY_TYPE = _AnyType()


def record_check(
    schema: Mapping[str, Any], *, primary_keys: Sequence[str], replication_key: str | None
) -> RecordCheck:
    """Build the check for records of one stream's schema.

    Lines of one export share a few key orders ("shapes"); for each shape the allowed
    type sets are looked up once, so checking a record's types is one pass of `map`
    and `all` in C rather than a Python loop with a lookup per field.
    """
    allowed = {
        name: frozenset(
            python_type for json_type in _types(spec) for python_type in _PYTHON_TYPES[json_type]
        )
        for name, spec in schema.get("properties", {}).items()
        if _types(spec)
    }
    rows: dict[tuple[str, ...], tuple[Any, ...]] = {}

    def types_ok(record: Mapping[str, Any]) -> bool:
        shape = tuple(record)
        row = rows.get(shape)
        if row is None:
            row = tuple(allowed.get(name, _ANY_TYPE) for name in shape)
            if len(rows) < _SHAPES_KEPT:
                rows[shape] = row
        return all(map(contains, row, map(type, record.values())))

    def check(record: Mapping[str, Any]) -> str | None:
        for key in primary_keys:
            if record.get(key) is None:
                return f"primary key '{key}' is missing"
        if replication_key is not None:
            stamp = record.get(replication_key)
            if not isinstance(stamp, str):
                return f"replication key '{replication_key}' is missing or not a string"
            try:
                datetime.fromisoformat(stamp)
            except ValueError:
                return f"replication key '{replication_key}' is not a timestamp: {stamp[:40]!r}"
        if types_ok(record):
            return None
        # `types_ok` found a mismatch: name the first. Exact types: a bool is not an
        # integer here, whatever Python's subclassing says.
        name, value = next(
            (name, value)
            for name, value in record.items()
            if name in allowed and type(value) not in allowed[name]
        )
        return f"field '{name}' is {type(value).__name__}, schema allows {_names(allowed[name])}"

    return check


def _types(spec: Mapping[str, Any]) -> list[str]:
    declared = spec.get("type", [])
    listed = [declared] if isinstance(declared, str) else list(declared)
    return [name for name in listed if name in _PYTHON_TYPES]


def _names(types: frozenset[type]) -> str:
    return "/".join(sorted(python_type.__name__ for python_type in types))


NestedCheck = Callable[[Any], bool]


def unchanged_by_conformance(
    schema: Mapping[str, Any],
) -> Callable[[Mapping[str, Any]], tuple[bool, list[str]]]:
    """Build a test: would singer-sdk's recursive type conformance leave a record as is.

    For values decoded from JSON, that conformance changes three things only: it drops
    properties the schema does not declare, it coerces values of boolean-only fields
    to booleans, and it nulls NaN (which JSON cannot carry). The test answers
    `(nested parts unchanged, unknown top-level keys)`: a record whose only difference
    is unknown top-level keys can drop them itself and still match the SDK's output.
    """
    properties = schema.get("properties", {})
    open_ended = bool(schema.get("additionalProperties"))
    nested = {name: _nested_check(spec) for name, spec in properties.items()}
    # Per key order: the undeclared keys, and the (key, check) pairs worth running.
    shapes: dict[tuple[str, ...], tuple[list[str], list[tuple[str, NestedCheck]]]] = {}

    def test(record: Mapping[str, Any]) -> tuple[bool, list[str]]:
        shape = tuple(record)
        known = shapes.get(shape)
        if known is None:
            unknown = [] if open_ended else [key for key in shape if key not in properties]
            checks = [(key, check) for key in shape if (check := nested.get(key)) is not None]
            known = (unknown, checks)
            if len(shapes) < _SHAPES_KEPT:
                shapes[shape] = known
        unknown, checks = known
        for key, check in checks:
            if not check(record[key]):
                return False, list(unknown)
        return True, list(unknown)

    return test


def _nested_check(spec: Mapping[str, Any]) -> NestedCheck | None:
    """What a value of this property must satisfy to pass conformance unchanged."""
    if _boolean_only(spec):
        return lambda value: value is None or type(value) is bool
    items = spec.get("items")
    if isinstance(items, dict):
        item_check = _nested_check(items)
        if item_check is None:
            return None
        return lambda value: not isinstance(value, list) or all(map(item_check, value))
    if "properties" in spec and "object" in _types(spec):
        object_test = unchanged_by_conformance(spec)

        def object_check(value: Any) -> bool:
            if not isinstance(value, dict):
                return True
            unchanged, unknown = object_test(value)
            return unchanged and not unknown

        return object_check
    return None


def _boolean_only(spec: Mapping[str, Any]) -> bool:
    return set(_types(spec)) - {"null"} == {"boolean"}
