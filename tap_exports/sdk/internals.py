"""Every private singer-sdk name the tap relies on, reached from this module only.

singer-sdk keeps part of what an export tap needs behind underscores: the hooks that
write SCHEMA, RECORD and STATE messages and the starting bookmark, the per-record
bookmark it must not move, its batch and catalog helpers, the schemas a stream map
was built from, and the tap's config check and signal handler. Each is overridden or
called here and reached elsewhere under a public name, so an upgrade of singer-sdk
(pinned in pyproject.toml) is checked against this one file. The tests that exercise
these names: tests/test_sdk_features.py (maps, flattening, deselection, BATCH),
tests/test_schema_evolution.py (`declare_properties`), tests/test_reliability.py and
tests/test_sync.py (state, resume, signals), tests/test_standard.py (the SDK's own).
"""

from __future__ import annotations

from collections.abc import Generator, Mapping
from types import FrameType
from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig, BatchFileFormat
from singer_sdk.helpers._catalog import get_selected_schema, pop_deselected_record_properties
from singer_sdk.helpers._typing import _warn_unmapped_properties, conform_record_data_types
from singer_sdk.helpers.types import Context
from typing_extensions import override

__all__ = [
    "BaseBatchFileEncoding",
    "BatchConfig",
    "BatchFileFormat",
    "InternalsStream",
    "InternalsTap",
    "conform_record_data_types",
    "pop_deselected_record_properties",
    "warn_unmapped_properties",
]

JsonSchema = dict[str, Any]
warn_unmapped_properties = _warn_unmapped_properties


class InternalsStream(Stream):
    """A stream whose private singer-sdk hooks have public names.

    singer-sdk calls the private hooks; they forward to the `on_*` methods, which a
    subclass overrides (calling `super()` for singer-sdk's own behaviour). The
    `write_*` methods are how the tap asks singer-sdk to write a message itself.
    """

    #: singer-sdk moves the bookmark to the largest replication key seen; False: only
    #: the stream moves it (at slice edges, see `checkpoints`).
    moves_bookmark_per_record = True

    # -- hooks singer-sdk calls -------------------------------------------------------------

    @override
    def _write_schema_message(self) -> None:
        self.on_schema_message()

    def on_schema_message(self) -> None:
        """Write a SCHEMA message for the stream (as singer-sdk does)."""
        super()._write_schema_message()

    @override
    def _sync_records(
        self, context: Context | None = None, *, write_messages: bool = True
    ) -> Generator[Any, Any, Any]:
        return self.on_sync_records(context, write_messages=write_messages)

    def on_sync_records(
        self, context: Context | None, *, write_messages: bool
    ) -> Generator[Any, Any, Any]:
        """Sync the stream's records (as singer-sdk does: RECORD messages, or records)."""
        return super()._sync_records(context, write_messages=write_messages)

    @override
    def _write_starting_replication_value(self, context: Context | None) -> None:
        self.on_starting_bookmark(context)

    def on_starting_bookmark(self, context: Context | None) -> None:
        """Note where the sync starts from (as singer-sdk does, logging it)."""
        super()._write_starting_replication_value(context)

    @override
    def _increment_stream_state(
        self, latest_record: dict[str, Any], *, context: Context | None = None
    ) -> None:
        if self.moves_bookmark_per_record:
            super()._increment_stream_state(latest_record, context=context)

    # -- what the tap asks singer-sdk to do -------------------------------------------------

    def write_schema_message(self) -> None:
        """Write SCHEMA now (through `on_schema_message`)."""
        self._write_schema_message()

    def write_record_message(self, record: dict[str, Any]) -> None:
        """Write one record through singer-sdk: maps, conformance, RECORD messages."""
        self._write_record_message(record)

    def write_state_message(self) -> None:
        """Write the tap's STATE now."""
        self._write_state_message()

    def write_starting_bookmark(self, context: Context | None) -> None:
        """Note where the sync starts from (through `on_starting_bookmark`)."""
        self._write_starting_replication_value(context)

    def finalize_state(self, state: dict[str, Any]) -> None:
        """Close the stream's state at the end of its sync (progress markers made final)."""
        self._finalize_state(state)

    @property
    def stream_version(self) -> int | None:
        """The `version` RECORD messages must carry (full-table syncs), if any."""
        return self._stream_version

    def declare_properties(self, changes: Mapping[str, JsonSchema]) -> None:
        """Add or widen properties (name -> schema) in the stream's schemas and its maps.

        singer-sdk fixes a stream's schema at start-up in three places: the stream's
        own, the catalog's (what records are conformed to) and each stream map's (built
        from the catalog's selected properties: what SCHEMA messages announce).
        """
        self._schema = _with(self.schema, changes)
        if self._input_schema is not None:
            self._input_schema = _with(self._input_schema, changes)
        # The maps see the selected properties only, as when the tap registered them.
        selected = get_selected_schema(self.name, self.effective_schema, self.mask)
        self._tap.mapper.register_raw_stream_schema(self.name, selected, self.primary_keys)
        self._stream_maps = []  # read again from the mapper on next use


class InternalsTap(Tap):
    """A tap whose private singer-sdk hooks have public names (see `InternalsStream`)."""

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        return self.on_validate_config(raise_errors=raise_errors)

    def on_validate_config(self, *, raise_errors: bool) -> list[str]:
        """Check the config against the JSON schema (singer-sdk's check)."""
        return super()._validate_config(raise_errors=raise_errors)

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        self.on_termination(signum, frame)

    def on_termination(self, signum: int, frame: FrameType | None) -> None:
        """SIGTERM or SIGINT: write the last STATE and exit (singer-sdk's handler)."""
        super()._handle_termination(signum, frame)

    @property
    def config_to_edit(self) -> dict[str, Any]:
        """The config dict itself (`config` is a read-only view of it)."""
        return self._config


def _with(schema: Mapping[str, Any], changes: Mapping[str, JsonSchema]) -> JsonSchema:
    """A copy of `schema` with `changes` in its properties (a new field goes last)."""
    return {**schema, "properties": {**schema.get("properties", {}), **changes}}
