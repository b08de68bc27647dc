"""msgspec types built from a stream's JSON schema: the record checks, in C.

`bulk` decodes whole runs of export lines with these types, so that checking them
costs one C call per run instead of Python code per record. A type encodes what
`validate.record_check` checks (top-level types, keys present) and, for the exact
variant, everything singer-sdk's type conformance would change: a line that decodes
with it is one the per-record path would leave exactly as it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union

import msgspec

# Integers orjson also reads as integers (beyond 64 bits it reads floats): a line the
# record path would see differently is never forwarded. (msgspec bounds stop at int64;
# the few integers above go the record path's way.)
_INT = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)]

# A stream's exact row type, and the same dropping undeclared keys (`row_type`).
RowTypes = tuple[type[msgspec.Struct], type[msgspec.Struct]]

_MSGSPEC_TYPES: dict[str, Any] = {
    "string": str,
    "integer": _INT,
    "number": _INT | float,  # each decoded, and encoded again, as it was written
    "boolean": bool,
    "null": None,
    "array": list[msgspec.Raw],  # nested values are left to the target, as per record
    "object": dict[str, msgspec.Raw],
}


def row_type(
    schema: Mapping[str, Any],
    *,
    primary_keys: Sequence[str],
    replication_key: str | None,
    exact: bool,
    drop_unknown: bool = False,
) -> type[msgspec.Struct] | None:
    """A msgspec type for one line: the checks of `validate.record_check`, in C.

    Keys other than the primary and replication keys may be missing, as in
    `record_check`, and top-level types are enforced. With `exact`, a line also has to
    be one that singer-sdk's conformance would leave unchanged: no undeclared key (at
    any depth), nested values of the declared types; with `drop_unknown` as well,
    undeclared keys are accepted and left out when the row is encoded again, which is
    what conformance does to them. Without `exact`, undeclared keys pass and nested
    values are not looked into (BATCH files carry what the stream yields). None when
    the schema has what msgspec cannot express unambiguously: then lines are always
    read one by one.
    """
    properties = schema.get("properties", {})
    if replication_key is not None and replication_key not in properties:
        return None
    build = _RowBuilder(exact=exact, drop_unknown=drop_unknown)
    required: list[tuple[str, Any]] = []
    optional: list[tuple[str, Any, Any]] = []
    try:
        for name, spec in properties.items():
            python_type: Any = str  # the replication key: its form is checked afterwards
            if name != replication_key:
                try:
                    python_type = build.value(spec)
                except _Inexpressible:
                    if exact:
                        raise
                    python_type = msgspec.Raw  # not enforced, as for an untyped field
            if name in primary_keys or name == replication_key:
                required.append((field_name(name), python_type))
            else:
                optional.append(build.optional(name, python_type))
        required += [(field_name(k), msgspec.Raw) for k in primary_keys if k not in properties]
        row: type[msgspec.Struct] = build.struct(
            [*required, *optional], [*properties, *primary_keys], schema
        )
        return row
    except _Inexpressible:
        return None


class _Inexpressible(Exception):
    """The schema has what msgspec cannot express unambiguously."""


class _RowBuilder:
    """Turns JSON-schema properties into msgspec types (see `row_type`)."""

    def __init__(self, *, exact: bool, drop_unknown: bool) -> None:
        self._exact = exact
        self._drop_unknown = drop_unknown

    def value(self, spec: Any) -> Any:
        """The msgspec type of one property's values."""
        if not isinstance(spec, Mapping):
            raise _Inexpressible
        types = spec.get("type")
        types = [types] if isinstance(types, str) else types
        combines = any(key in spec for key in ("anyOf", "oneOf", "allOf", "not", "$ref"))
        if not types:
            if self._exact and ("properties" in spec or "items" in spec or combines):
                raise _Inexpressible
            return msgspec.Raw  # untyped: any value passes, as in `record_check`
        if any(t not in _MSGSPEC_TYPES for t in types) or (self._exact and combines):
            raise _Inexpressible
        members = []
        for json_type in types:
            member = _MSGSPEC_TYPES[json_type]
            if self._exact and json_type == "array" and spec.get("items"):
                member = list[self.value(spec["items"])]  # type: ignore[misc]
            elif (
                self._exact
                and json_type == "object"
                and "properties" in spec
                # An open object keeps whatever it holds: a struct would drop the rest
                # when a row is encoded again.
                and not spec.get("additionalProperties")
            ):
                member = self.struct(
                    [
                        self.optional(name, self.value(sub))
                        for name, sub in spec["properties"].items()
                    ],
                    list(spec["properties"]),
                    spec,
                )
            members.append(member)
        return Union[tuple(members)]  # noqa: UP007

    @staticmethod
    def optional(name: str, python_type: Any) -> tuple[str, Any, Any]:
        """A field that may be missing: left out again when the row is encoded."""
        return (field_name(name), Union[python_type, msgspec.UnsetType], msgspec.UNSET)  # noqa: UP007

    def struct(
        self, fields: Sequence[tuple[Any, ...]], names: Sequence[str], schema: Mapping[str, Any]
    ) -> Any:
        """A struct of `fields`, decoding and encoding the JSON keys `names`."""
        forbid = self._exact and not self._drop_unknown and not schema.get("additionalProperties")
        try:
            return msgspec.defstruct(
                "Row",
                fields,
                rename={field_name(n): n for n in names},
                forbid_unknown_fields=forbid,
            )
        except TypeError:  # a union msgspec cannot decode unambiguously
            raise _Inexpressible from None


def json_array(lines: list[bytes]) -> bytes:
    """A run of JSON lines as one JSON array, for one decode of the whole run.

    Joined in one call: `b"[" + ... + b"]"` would copy the whole run twice more.
    """
    return b"".join((b"[", b",".join(lines), b"]"))


def field_name(name: str) -> str:
    """A valid identifier for any JSON key (msgspec renames it back when decoding)."""
    return "f_" + name.encode().hex()
