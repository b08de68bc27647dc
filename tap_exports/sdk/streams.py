"""The one stream class: records from one bulk export per slice, checkpointed per slice.

An incremental stream (with a replication key) is cut into time windows; a full
snapshot (without one) into the partitions its provider plans. Each slice's export is
taken in order and read (RECORD, the fast path, or BATCH); its state moves only at slice
edges (`checkpoints`). Streams derived from this one's exports read the same lines
(`derived`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar, cast

from singer_sdk.helpers.types import Context, Record
from typing_extensions import override

from tap_exports.engine.errors import NothingToExportError
from tap_exports.engine.exports.failing import SLICE_FAILURES, GiveUp, after_failure
from tap_exports.engine.files.decode import column_types
from tap_exports.engine.files.reader import FileDecoding
from tap_exports.engine.planning.coverage import Coverage
from tap_exports.engine.planning.eta import ProgressLog
from tap_exports.engine.planning.slices import Slice
from tap_exports.engine.planning.windows import sync_horizon
from tap_exports.engine.state.progress import PlannedSlice, Progress
from tap_exports.engine.timestamps import canonical_utc
from tap_exports.sdk.batch_files import (
    SliceBatches,
    as_delivered,
    can_pass_through,
    record_batches,
)
from tap_exports.sdk.checkpoints import SliceCheckpoints
from tap_exports.sdk.declared import StreamFields
from tap_exports.sdk.derived import Consumers, DerivedStream, SliceReaders
from tap_exports.sdk.fast_path import Forwarder, sdk_path_is_a_no_op
from tap_exports.sdk.record_path import RecordPath
from tap_exports.sdk.snapshots import SnapshotParts

if TYPE_CHECKING:
    from collections.abc import Generator

    from singer_sdk import Tap
    from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig

    from tap_exports.engine.exports.jobs import CompletedExport, SnapshotPort
    from tap_exports.engine.exports.tickets import Ticket
    from tap_exports.providers.base import StreamSpec
    from tap_exports.sdk.run import ExportRun, SyncServices

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
# Reads one slice's completed export: its records, or its BATCH manifests; each run of
# lines is shown to the observer, if any (see `derived`).
_Observer = Callable[[list[bytes]], None]
_SliceReader = Callable[["CompletedExport", "_Observer | None"], Iterable[_T]]


class ExportStream(SliceCheckpoints):
    """A stream whose records come from one bulk export per slice."""

    #: Write records that need no SDK processing straight to stdout (see `fast_path`).
    fast_path = True
    #: In BATCH mode, hand export files to the target as they are (see `batch_files`).
    pass_through = True
    # Whether this sync's fields were set up (`_write_schema_message`).
    _started_fields = False

    def __init__(self, tap: Tap, spec: StreamSpec, run: ExportRun) -> None:
        """Declare the stream from its provider spec; `run` is the sync it takes part in."""
        super().__init__(tap, schema=spec.schema, name=spec.name)
        self.primary_keys = list(spec.primary_keys)
        self.replication_key = spec.replication_key
        self._run = run
        self._spec = spec
        # The record types, and the fields this sync declares (`declared`).
        self._fields = StreamFields(
            self,
            primary_keys=spec.primary_keys,
            replication_key=spec.replication_key,
            inferred=spec.inferred,
        )
        self._columns = column_types(spec.schema)
        # Messages of skipped lines, in order; a dict, as a file downloaded again would
        # report the same lines twice.
        self._skipped: dict[str, None] = {}
        # This run's exports, queued by `schedule_exports`; None when not scheduled.
        self._tickets: list[Ticket] | None = None
        # Streams made from this one's exports (see `derived`), and who reads what.
        self.derived: list[DerivedStream] = []
        self._consumers = Consumers(source_from=None, derived=[])
        self._has_run = False
        self._snapshot = SnapshotParts(
            spec, lambda: cast("SnapshotPort", self._services.port(spec)), self.logger
        )

    @property
    def takes_part(self) -> bool:
        """Whether this run exports for it: it or a stream derived from it is selected."""
        return self.selected or any(stream.selected for stream in self.derived)

    def sync_for_derived(self) -> None:
        """Sync now for the derived streams when the catalog deselects this one."""
        if not self.selected and not self._has_run:
            self.sync()

    @property
    def _services(self) -> SyncServices:
        return self._run.services

    @property
    def _decoding(self) -> FileDecoding:
        formats = self._services.settings.provider.file_formats
        return FileDecoding(formats, self._columns, self._spec.row_key)

    # -- the sync ---------------------------------------------------------------------------

    @override
    def _write_schema_message(self) -> None:
        """Write SCHEMA; the sync's first also declares the fields earlier runs found.

        singer-sdk writes the first at the start of a selected stream's sync (`sync` is
        final), which is where this sync's ledger is set up (`engine/records/evolve.py`).
        """
        if not self._started_fields:
            self._started_fields = True
            self._fields.start(declare_new=self._services.settings.evolve_schema)
        super()._write_schema_message()

    @override
    def _sync_records(
        self, context: Context | None = None, *, write_messages: bool = True
    ) -> Generator[Any, Any, Any]:
        """Sync records, forwarding those that need no SDK processing directly.

        See `fast_path`; it applies when singer-sdk's per-record path would be a no-op
        (the default identity map, nothing deselected, RECORD mode, no `--test` limit).
        """
        if not (
            self.fast_path and write_messages and context is None and sdk_path_is_a_no_op(self)
        ):
            yield from super()._sync_records(context, write_messages=write_messages)
            return
        record_counter = self.get_record_counter()
        timer = self.get_sync_timer()
        with record_counter, timer:
            record_counter.with_context({})
            timer.with_context({})
            self._write_starting_replication_value(None)
            for written in self._by_slice(None, self._forwarder()):
                record_counter.increment(written)
                self.state_manager.is_flushed = False
                yield written
            self._finalize_state(self.stream_state)
        self._write_state_message()

    def _forwarder(self) -> Forwarder:
        return Forwarder(
            stream=self,
            path=self._record_path(),
            keep=self._keep,
            between_runs=self._run.drain_notices,
        )

    def _record_path(self) -> RecordPath:
        """How this stream reads records, for the path that writes them (`record_path`)."""
        return RecordPath(
            reader=self._services.reader,
            decoding=self._decoding,
            types=lambda: self._fields.types,
            evolve=self._fields.evolver(),
            replication_key=self._spec.replication_key,
            skip=self._skip_policy(),
        )

    # -- planning ---------------------------------------------------------------------------

    def schedule_exports(self) -> None:
        """Plan this stream's slices and queue their exports with the run's scheduler.

        See `ExportRun.start`; `get_records` then takes them in order.
        """
        self._write_starting_replication_value(None)
        self._tickets = self._services.scheduler.submit(
            self.name,
            self._services.port(self._spec),
            [(p.slice, p.attach) for p in self._plan(None)],
        )

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
        horizon = sync_horizon(self._services.clock.now(), settings.settle_lag, settings.end_date)
        days = self._spec.window_days or settings.window_days
        # Every consumer's start is a window edge (see `derived`); none before the
        # horizon: nothing to export.
        starts = [at for at in self._consumers.starts() if at < horizon]
        start = starts[0] if starts else horizon
        plan = progress.plan_from(starts, horizon, settings.zone, days)
        self.logger.info(
            "%s: %d window(s) of up to %d day(s) from %s to %s",
            self.name,
            len(plan),
            days,
            start.isoformat(),
            horizon.isoformat(),
        )
        return plan

    def preview(self) -> tuple[list[Slice], list[str]]:
        """What a sync would export for this stream, and what it may cost; creates nothing.

        For `--plan`: reads state and sizes a new snapshot (free calls), writes nothing.
        """
        progress = Progress(self.get_context_state(None))
        if self._spec.replication_key is not None:
            self._write_starting_replication_value(None)  # the bookmark `_plan` starts from
            return [planned.slice for planned in self._plan(None)], []
        return self._snapshot.preview(progress)

    # -- delivery ---------------------------------------------------------------------------

    @override
    def get_records(self, context: Context | None) -> Iterable[Record]:
        """Deliver the scheduled slices' records in order."""
        yield from self._by_slice(context, self._slice_records)

    def _by_slice(self, context: Context | None, read: _SliceReader[_T]) -> Iterator[_T]:
        """Take each slice's export in order, `read` it, and checkpoint after it.

        With a record limit (`--test`, dry runs) nothing is queued ahead: each slice's
        export is created only when the previous one has been read.
        """
        progress = Progress(self.get_context_state(context))
        self._skipped = {}
        self._has_run = True
        if self._tickets is None and self.ABORT_AT_RECORD_COUNT is None and context is None:
            self._run.start(self)
        tickets, self._tickets = self._tickets, None
        self._progress_log = self._new_progress_log()
        try:
            if tickets is None:
                scheduler = self._services.scheduler
                port = self._services.port(self._spec)
                plan = self._plan(context)
                self._progress_log.planned(len(plan))
                for planned in plan:
                    (ticket,) = scheduler.submit(self.name, port, [(planned.slice, planned.attach)])
                    yield from self._counted(self._deliver(context, progress, ticket, read))
            else:
                self._progress_log.planned(len(tickets))
                for ticket in tickets:
                    yield from self._counted(self._deliver(context, progress, ticket, read))
        except BaseException:
            # Failed or stopped: later streams will not be synced by this run. Exports
            # created stay in state for the next run, written now if possible (stdout
            # may be what failed: then the error stands).
            with contextlib.suppress(Exception):
                self._run.close()
            raise
        if self._spec.replication_key is None:
            self._finish_snapshot(progress)
        self._progress_log.finished()
        self._run.finished(self)
        if self._skipped:
            self.logger.warning(
                "%s: skipped %d bad line(s) (bad_record_policy=skip); the first: %s",
                self.name,
                len(self._skipped),
                next(iter(self._skipped)),
            )

    def _new_progress_log(self) -> ProgressLog:
        settings = self._services.settings
        creates = settings.rate_limits[settings.provider.create_budget]
        return ProgressLog(
            name=self.name,
            noun="windows" if self._spec.replication_key else "parts",
            clock=self._services.clock,
            logger=self.logger,
            every=settings.progress_interval_seconds,
            seconds_per_create=creates.per_seconds / creates.requests,
        )

    def _counted(self, delivered: Iterator[_T]) -> Iterator[_T]:
        """Count what a slice delivers for the progress lines: records, or counts of them."""
        for item in delivered:
            if isinstance(item, int):  # the fast path yields how many it wrote
                self._progress_log.records(item)
            elif isinstance(item, dict):
                self._progress_log.records(1)
            yield item

    def _deliver(
        self,
        context: Context | None,
        progress: Progress,
        ticket: Ticket,
        read: _SliceReader[_T],
        *,
        fetched_again: bool = False,
    ) -> Iterator[_T]:
        """Read one slice's export, splitting the slice if the provider keeps failing it.

        An export whose files cannot be fetched (URLs expired for good, files gone, or
        damaged on every download) is created again once in this run: a new export has
        new files. What was already sent of the slice is sent again (as on a resume).
        """
        scheduler = self._services.scheduler
        piece = ticket.slice
        readers = self._consumers.readers(piece, self._spec.replication_key)
        observe = self._snapshot.observer(readers.observe)
        coverage = None  # what the export was asked for (`engine/planning/coverage.py`)
        try:
            export = scheduler.take(ticket, self._run.remember)
            coverage = export.coverage
            if self._consumers.source_wants(piece):
                yield from read(export, observe)
            else:
                self._read_for_derived(export, observe)
        except GeneratorExit:
            # Stopped by a record limit (`--test`, the SDK's dry runs) or by a failure
            # downstream. Under a limit the derived streams get the rows read so far,
            # their bookmarks unmoved: a dry run shows every stream's records.
            if self.ABORT_AT_RECORD_COUNT is not None:
                readers.deliver(move_bookmarks=False)
            raise
        except NothingToExportError as exc:
            self.logger.info("%s", exc)
        except SLICE_FAILURES as exc:
            step = after_failure(
                exc,
                piece,
                stream=self.name,
                fetched_again=fetched_again,
                splittable=self._spec.splittable,
                smallest=self._services.settings.min_window,
            )
            # Given up on or replaced: the next run must not re-attach this export.
            progress.forget_export(piece)
            if isinstance(step, GiveUp):
                scheduler.release(ticket)
                self.write_progress()
                raise
            self.logger.warning("%s", step.message)
            if not step.recreated:
                self._progress_log.planned(len(step.parts) - 1)
                progress.split_part_into(piece, step.parts)
            self.write_progress()  # one STATE for both changes: a kill cannot split them
            for part in scheduler.replace(ticket, step.parts):
                yield from self._deliver(
                    context, progress, part, read, fetched_again=step.recreated
                )
            return
        self._slice_read(context, progress, ticket, readers, coverage)

    def _slice_read(
        self,
        context: Context | None,
        progress: Progress,
        ticket: Ticket,
        readers: SliceReaders,
        coverage: Coverage | None,
    ) -> None:
        """A slice's export was read: deliver what depends on it, then move its state.

        Unless records lay beyond what the export was asked for: then the run stops
        with the provider's explanation, and nothing of the slice moves.
        """
        piece = ticket.slice
        if coverage is not None and coverage.beyond:
            # Every export made so far was asked for in the same wrong terms: none may be
            # re-attached once the setting is fixed.
            self._run.forget_exports()
            coverage.check()
        self._services.scheduler.release(ticket)
        readers.deliver()
        self._snapshot.delivered(progress)
        self._progress_log.slice_done()
        if self._consumers.source_wants(piece):
            self._checkpoint(context, piece)
        elif readers:
            progress.forget_export(piece)  # read for the derived streams: done with it
            self.write_progress()  # and their bookmarks

    def _read_for_derived(
        self, export: CompletedExport, observe: Callable[[list[bytes]], None] | None
    ) -> None:
        """Read an export only for the streams derived from this one."""
        for _ in self._services.reader.line_runs(export, self._decoding, observe=observe):
            self._run.drain_notices()

    def _skip_policy(self) -> Callable[[str], None] | None:
        return self._skip if self._services.settings.skip_bad_records else None

    def _skip(self, problem: str) -> None:
        self._skipped[problem] = None

    def _slice_records(
        self, export: CompletedExport, observe: Callable[[list[bytes]], None] | None
    ) -> Iterator[Record]:
        """Read the export's records inside its slice, with the replication key canonical.

        A run of lines is decoded whole, so the fields its records bring are declared
        before the first of them goes out (one SCHEMA message for the run, not a
        change of columns halfway through it).
        """
        path = self._record_path()
        for records in path.reader.record_runs(
            export, path.decoding, check=path.types().check, skip=path.skip, observe=observe
        ):
            if path.evolve is not None:
                path.evolve(records)
            yield from self.in_slice(records, export)

    def in_slice(self, records: Iterable[Record], export: CompletedExport) -> Iterator[Record]:
        """Keep the records inside the export's slice, with the replication key canonical."""
        piece = export.job.slice
        outside = 0
        for record in records:
            self._run.drain_notices()
            if self._keep(record, export):
                yield record
            else:
                outside += 1
        if outside:
            self.logger.debug("%s %s: %d record(s) outside it", self.name, piece, outside)

    def _keep(self, record: Record, export: CompletedExport) -> bool:
        """Tell whether `record` is inside the export's slice; if so, make its key canonical.

        A record outside is shown to the export's coverage (`engine/planning/coverage.py`).

        The decoder's check has made sure the key is present and a timestamp.
        """
        key = self._spec.replication_key
        if key is None:
            return True
        placed = export.job.slice.place(record[key])
        if placed is None:
            if export.coverage is not None:
                export.coverage.see_outside([canonical_utc(record[key])])
            return False
        record[key] = placed
        return True

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
        if (
            self.pass_through
            and can_pass_through(batch_config)
            and sdk_path_is_a_no_op(self)
            # Files as they are carry no row keys, and derived streams (and the record
            # of what was exported) read lines.
            and self._spec.row_key is None
            and not self.derived
            and not self._spec.remember_exported
        ):
            self._write_starting_replication_value(context)  # else sdk#976: no start
            self._passing_through = True
            try:
                yield from self._by_slice(context, self._slice_batches(batch_config))
            finally:
                self._passing_through = False
            return
        # singer-sdk's path, with the records as RECORD mode writes them (`as_delivered`).
        delivered = map(as_delivered(self), self._sync_records(context, write_messages=False))
        records = (record for record in delivered if record is not None)
        for manifest in record_batches(self.tap_name, self.name, batch_config, records):
            yield batch_config.encoding, manifest
            self._apply_pending()
        self._apply_pending()

    def _slice_batches(self, batch_config: BatchConfig) -> SliceBatches:
        return SliceBatches(
            tap_name=self.tap_name,
            stream_name=self.name,
            batch_config=batch_config,
            path=self._record_path(),
            record_path=self.in_slice,
            delivered=as_delivered(self),
        )
