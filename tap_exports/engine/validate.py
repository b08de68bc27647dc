"""Is a decoded line a usable record? Cheap checks that name what is wrong.

A record must carry its primary key and a replication key that is a real timestamp,
and each top-level field must have one of the JSON types its schema allows. Nested
values are left to the target: checking them would cost more than the whole decode.
The check returns a description of the first problem, or None; the decoder turns that
into an error naming the export and line, or a skipped line under `bad_record_policy`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

RecordCheck = Callable[[Mapping[str, Any]], str | None]

_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "array": (list,),
    "object": (dict,),
}


def record_check(
    schema: Mapping[str, Any], *, primary_keys: Sequence[str], replication_key: str
) -> RecordCheck:
    """Build the check for records of one stream's schema."""
    allowed = {
        name: frozenset(
            python_type for json_type in _types(spec) for python_type in _PYTHON_TYPES[json_type]
        )
        for name, spec in schema.get("properties", {}).items()
        if _types(spec)
    }

    def check(record: Mapping[str, Any]) -> str | None:
        for key in primary_keys:
            if record.get(key) is None:
                return f"primary key '{key}' is missing"
        stamp = record.get(replication_key)
        if not isinstance(stamp, str):
            return f"replication key '{replication_key}' is missing or not a string"
        try:
            datetime.fromisoformat(stamp)
        except ValueError:
            return f"replication key '{replication_key}' is not a timestamp: {stamp[:40]!r}"
        for name, value in record.items():
            types = allowed.get(name)
            # Exact type: a bool is not an integer here, whatever Python's subclassing says.
            if types is not None and type(value) not in types:
                return f"field '{name}' is {type(value).__name__}, schema allows {_names(types)}"
        return None

    return check


def _types(spec: Mapping[str, Any]) -> list[str]:
    declared = spec.get("type", [])
    listed = [declared] if isinstance(declared, str) else list(declared)
    return [name for name in listed if name in _PYTHON_TYPES]


def _names(types: frozenset[type]) -> str:
    return "/".join(sorted(python_type.__name__ for python_type in types))
