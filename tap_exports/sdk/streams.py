"""The one stream class: records from one bulk export per slice, checkpointed per slice.

An incremental stream (with a replication key) is cut into time windows; a full
snapshot (without one) into the partitions its provider plans. `ExportStream` composes
the parts: the plan (`Progress.plan_run` for windows, `snapshots` for partitions), the
delivery of each slice's export in order (`delivery`), and the record path the sync
writes with: singer-sdk's own, the fast path (`fast_path`) or BATCH (`batch_files`), all
three reading through one `RecordPath`. Streams derived from this one's exports read the
same lines (`derived`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from singer_sdk.helpers.types import Context, Record
from typing_extensions import override

from tap_exports.engine.planning.slices import Slice
from tap_exports.engine.state.progress import PlannedSlice, Progress
from tap_exports.sdk.batch_files import (
    SliceBatches,
    as_delivered,
    can_pass_through,
    record_batches,
)
from tap_exports.sdk.declared import StreamFields
from tap_exports.sdk.delivery import SlicedStream
from tap_exports.sdk.derived import Consumers
from tap_exports.sdk.fast_path import Forwarder, sdk_path_is_a_no_op
from tap_exports.sdk.record_path import RecordPath

if TYPE_CHECKING:
    from collections.abc import Generator

    from singer_sdk import Tap

    from tap_exports.providers.base import StreamSpec
    from tap_exports.sdk.internals import BaseBatchFileEncoding, BatchConfig
    from tap_exports.sdk.run import ExportRun


class ExportStream(SlicedStream):
    """A stream whose records come from one bulk export per slice."""

    #: Write records that need no SDK processing straight to stdout (see `fast_path`).
    fast_path = True
    #: In BATCH mode, hand export files to the target as they are (see `batch_files`).
    pass_through = True
    # Whether this sync's fields were set up (`on_schema_message`).
    _started_fields = False

    def __init__(self, tap: Tap, spec: StreamSpec, run: ExportRun) -> None:
        """Declare the stream from its provider spec; `run` is the sync it takes part in."""
        super().__init__(tap, spec, run)
        # The record types, and the fields this sync declares (`declared`).
        self._fields = StreamFields(
            self,
            primary_keys=spec.primary_keys,
            replication_key=spec.replication_key,
            inferred=spec.inferred,
        )

    # -- the sync ---------------------------------------------------------------------------

    @override
    def on_schema_message(self) -> None:
        """Write SCHEMA; the sync's first also declares the fields earlier runs found.

        singer-sdk writes the first at the start of a selected stream's sync (`sync` is
        final), which is where this sync's ledger is set up (`engine/records/evolve.py`).
        """
        if not self._started_fields:
            self._started_fields = True
            self._fields.start(declare_new=self._services.settings.evolve_schema)
        super().on_schema_message()

    @override
    def on_sync_records(
        self, context: Context | None, *, write_messages: bool
    ) -> Generator[Any, Any, Any]:
        """Sync records, forwarding those that need no SDK processing directly.

        See `fast_path`; it applies when singer-sdk's per-record path would be a no-op
        (the default identity map, nothing deselected, RECORD mode, no `--test` limit).
        """
        if not (
            self.fast_path and write_messages and context is None and sdk_path_is_a_no_op(self)
        ):
            yield from super().on_sync_records(context, write_messages=write_messages)
            return
        record_counter = self.get_record_counter()
        timer = self.get_sync_timer()
        with record_counter, timer:
            record_counter.with_context({})
            timer.with_context({})
            self.write_starting_bookmark(None)
            forwarder = Forwarder(stream=self, path=self._record_path())
            for written in self._by_slice(None, forwarder):
                record_counter.increment(written)
                self.state_manager.is_flushed = False
                yield written
            self.finalize_state(self.stream_state)
        self.write_state_message()

    @override
    def get_records(self, context: Context | None) -> Iterable[Record]:
        """Deliver the scheduled slices' records in order (singer-sdk's record path)."""
        yield from self._by_slice(context, self._record_path().records)

    def _record_path(self) -> RecordPath:
        """How this stream reads records, for the path that writes them (`record_path`)."""
        return RecordPath(
            reader=self._services.reader,
            decoding=self._decoding,
            types=lambda: self._fields.types,
            evolve=self._fields.evolver(),
            replication_key=self._spec.replication_key,
            skip=self._skip if self._services.settings.skip_bad_records else None,
            notices=self._run.drain_notices,
            logger=self.logger,
        )

    # -- planning ---------------------------------------------------------------------------

    def schedule_exports(self) -> None:
        """Plan this stream's slices and queue their exports with the run's scheduler.

        See `ExportRun.start`; the sync then takes them in order (`delivery`).
        """
        self.write_starting_bookmark(None)
        self._tickets = self._services.scheduler.submit(
            self.name,
            self._services.port(self._spec),
            [(p.slice, p.attach) for p in self._plan(None)],
        )

    @override
    def _plan(self, context: Context | None) -> list[PlannedSlice]:
        progress = Progress(self.get_context_state(context))
        if self._spec.replication_key is None:
            self._consumers = Consumers.whole(source=self.selected)
            return self._snapshot.plan(progress, self.write_progress)
        settings = self._services.settings
        assert settings.start_date is not None, "required for incremental streams"
        # A bookmark from a foreign state file may carry fractions of a second: round
        # down (re-reading part of a second is safe, skipping it is not).
        own = (self.get_starting_timestamp(context) or settings.start_date).replace(microsecond=0)
        self._consumers = Consumers.of(
            own if self.selected else None, self.derived, settings.start_date, settings.raw
        )
        # Every consumer's start is a window edge (see `derived`).
        plan = progress.plan_run(
            self._consumers.starts(),
            now=self._services.clock.now(),
            settle_lag=settings.settle_lag,
            end_date=settings.end_date,
            zone=settings.zone,
            days=self._spec.window_days or settings.window_days,
        )
        self.logger.info("%s: %s", self.name, plan)
        return plan.slices

    def preview(self) -> tuple[list[Slice], list[str]]:
        """What a sync would export for this stream, and what it may cost; creates nothing.

        For `--plan`: reads state and sizes a new snapshot (free calls), writes nothing.
        """
        progress = Progress(self.get_context_state(None))
        if self._spec.replication_key is not None:
            self.write_starting_bookmark(None)  # the bookmark `_plan` starts from
            return [planned.slice for planned in self._plan(None)], []
        return self._snapshot.preview(progress)

    # -- BATCH ------------------------------------------------------------------------------

    @override
    def get_batches(
        self, batch_config: BatchConfig, context: Context | None = None
    ) -> Iterable[tuple[BaseBatchFileEncoding, list[str]]]:
        """Hand over export files as they are where possible, else the SDK's batches.

        The SDK writes the BATCH message (then STATE) for each yielded manifest before
        asking for the next, so on resuming every record pulled so far is delivered:
        that is when a slice's state may move. Files handed over as they are hold whole
        slices, so the slice's checkpoint comes right after its manifests; the SDK's
        batches cut across slices, so the change waits for the next one.
        """
        if self._passes_files_through(batch_config):
            self.write_starting_bookmark(context)  # else sdk#976: no start
            self._passing_through = True
            try:
                batches = SliceBatches(
                    tap_name=self.tap_name,
                    stream_name=self.name,
                    batch_config=batch_config,
                    path=self._record_path(),
                    delivered=as_delivered(self),
                )
                yield from self._by_slice(context, batches)
            finally:
                self._passing_through = False
            return
        # singer-sdk's path, with the records as RECORD mode writes them (`as_delivered`).
        delivered = map(as_delivered(self), self.on_sync_records(context, write_messages=False))
        records = (record for record in delivered if record is not None)
        for manifest in record_batches(self.tap_name, self.name, batch_config, records):
            yield batch_config.encoding, manifest
            self._apply_pending()
        self._apply_pending()

    def _passes_files_through(self, batch_config: BatchConfig) -> bool:
        """Whether export files can be the batch files, as they are (`batch_files`)."""
        return (
            self.pass_through
            and can_pass_through(batch_config)
            and sdk_path_is_a_no_op(self)
            # Files as they are carry no row keys, and derived streams (and the record
            # of what was exported) read lines.
            and self._spec.row_key is None
            and not self.derived
            and not self._spec.remember_exported
        )
