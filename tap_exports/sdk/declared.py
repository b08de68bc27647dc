"""A stream's fields declared during a sync, told to every part of singer-sdk that needs them.

`StreamFields` owns what an `ExportStream` derives from its schema: the record types
every record path checks with (`engine/records/record_types.py`) and, from the start of the
sync, the ledger of fields records need declared or widened (`engine/records/evolve.py`). When
records bring a change, it writes a SCHEMA message with it before they go out, logs one
line per field, and keeps it in the stream's state for later runs.

singer-sdk fixes a stream's schema when the tap starts: the stream's own, the catalog's
(what records are conformed to) and each stream map's (built from the catalog's selected
properties, and what SCHEMA messages announce). `declare_properties` adds or widens
properties in all three (`InternalsStream.declare_properties`: private singer-sdk
ground, reached through `internals`); the tests of `undeclared_fields` cover it on every
record path. Selection needs nothing:
a property the catalog does not list is selected with its stream (singer-sdk's
`SelectionMask`), and one the catalog lists is known, never new.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from tap_exports.engine.records.evolve import FieldLedger, describe, remember, remembered
from tap_exports.engine.records.record_types import RecordTypes
from tap_exports.sdk.internals import InternalsStream

JsonSchema = dict[str, Any]
Record = dict[str, Any]


class StreamFields:
    """The record types of one stream's schema, and the fields its sync declares."""

    def __init__(
        self,
        stream: InternalsStream,
        *,
        primary_keys: tuple[str, ...],
        replication_key: str | None,
        inferred: frozenset[str],
    ) -> None:
        """`inferred`: fields whose schema was inferred from a sample (they may widen)."""
        self._stream = stream
        self._primary_keys = primary_keys
        self._replication_key = replication_key
        self._widenable = inferred
        self._ledger: FieldLedger | None = None
        self.types = self._record_types()

    def evolver(self) -> Callable[[Iterable[Record]], bool] | None:
        """`evolve` for the record paths, or None when nothing can change."""
        return self.evolve if self._ledger is not None else None

    def start(self, *, declare_new: bool) -> None:
        """Set the sync up: the catalog is applied, and state read.

        Fields earlier runs declared (kept in state) are declared now, before the
        sync's first SCHEMA message, unless the schema already knows them.
        """
        stream = self._stream
        declared = stream.effective_schema.get("properties", {})
        # A field of our schema that the catalog's leaves out was left out on purpose:
        # it is known, not new.
        known = {**stream.schema.get("properties", {}), **declared}
        self.types = self._record_types()
        if not declare_new and not self._widenable:
            return  # `drop`, and nothing inferred: the schema stays as it is
        ledger = FieldLedger(known, widenable=self._widenable, declare_new=declare_new)
        self._ledger = ledger
        found = remembered(stream.get_context_state(None)) if declare_new else {}
        changes = {
            name: schema
            for name, schema in found.items()
            if name not in known or (name in self._widenable and declared.get(name) != schema)
        }
        if changes:
            self._declare(ledger, changes, reason="declared by an earlier run")

    def evolve(self, records: Iterable[Record]) -> bool:
        """Declare what `records` need the schema to gain; True if it changed.

        The SCHEMA message with the change is written now: before the records, which
        the caller writes after this returns.
        """
        ledger = self._ledger
        if ledger is None:
            return False
        changes = ledger.changes(records)
        if not changes:
            return False
        self._declare(ledger, changes, reason="undeclared_fields=evolve")
        self._stream.write_schema_message()
        return True

    def _declare(self, ledger: FieldLedger, changes: dict[str, JsonSchema], *, reason: str) -> None:
        stream = self._stream
        declared = stream.effective_schema.get("properties", {})
        for name, schema in changes.items():
            verb = "widened to" if name in declared else "new field, declared as"
            stream.logger.info(
                "%s: '%s' %s %s (%s)", stream.name, name, verb, describe(schema), reason
            )
        stream.declare_properties(changes)
        ledger.declare(changes)
        self._widenable = self._widenable | frozenset(changes)
        self.types = self._record_types()
        remember(stream.get_context_state(None), changes)

    def _record_types(self) -> RecordTypes:
        return RecordTypes.of(
            self._stream.schema,
            primary_keys=self._primary_keys,
            replication_key=self._replication_key,
            widenable=self._widenable,
            conformed=self._stream.effective_schema,
        )
