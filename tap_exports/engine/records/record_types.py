"""What the record paths derive from a stream's schema, as one value rebuilt when it changes.

The per-record check (`validate`), the row types that check lines in bulk (`rows`) and
the test of what conformance would change (`validate.unchanged_by_conformance`) all
come from the schema. A schema that gains a field (`evolve`) gets a new `RecordTypes`;
the paths reading a file ask for the current one at each run of lines, so no path
keeps checking against the schema a file started with.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from tap_exports.engine.records.rows import RowTypes, row_type
from tap_exports.engine.records.validate import RecordCheck, record_check, unchanged_by_conformance


@dataclass(frozen=True, slots=True)
class RecordTypes:
    """A stream schema's checks and row types (see the module)."""

    # Per record: primary and replication keys present, top-level types allowed. Fields
    # that may widen (`evolve`) pass with any type: a new type widens them instead.
    check: RecordCheck
    # BATCH files: top-level types only (`batch_files`); None: not checkable in bulk.
    file_row: type[msgspec.Struct] | None
    # Exact rows, and the same dropping undeclared keys (`bulk`); None: not expressible.
    exact_rows: RowTypes | None
    # (nested parts unchanged by conformance, undeclared top-level keys) of a record.
    unchanged: Callable[[Mapping[str, Any]], tuple[bool, list[str]]]
    # Every field either schema declares: a key outside them is new.
    known: frozenset[str]

    @classmethod
    def of(
        cls,
        schema: Mapping[str, Any],
        *,
        primary_keys: Sequence[str],
        replication_key: str | None,
        widenable: frozenset[str] = frozenset(),
        conformed: Mapping[str, Any] | None = None,
    ) -> RecordTypes:
        """Build the check from `schema`, the rest from `conformed` (default: `schema`).

        `conformed` is the schema singer-sdk conforms records to (a catalog's): a line
        goes on as it is only if it conforms to that one. `widenable` fields are not
        type-checked per record.
        """
        target = schema if conformed is None else conformed
        checked = {
            **schema,
            "properties": {
                name: ({} if name in widenable else spec)
                for name, spec in schema.get("properties", {}).items()
            },
        }

        def row(*, exact: bool, drop_unknown: bool = False) -> type[msgspec.Struct] | None:
            return row_type(
                target,
                primary_keys=primary_keys,
                replication_key=replication_key,
                exact=exact,
                drop_unknown=drop_unknown,
            )

        exact, dropping = row(exact=True), row(exact=True, drop_unknown=True)
        return cls(
            check=record_check(checked, primary_keys=primary_keys, replication_key=replication_key),
            file_row=row(exact=False),
            exact_rows=(exact, dropping) if exact and dropping else None,
            unchanged=unchanged_by_conformance(target),
            known=frozenset(schema.get("properties", {})) | frozenset(target.get("properties", {})),
        )
