"""How a stream's sync takes its slices: in order, each export read, then checkpointed.

`SlicedStream` is the delivery half of `ExportStream`: it owns the stream's part in the
run (its scheduled exports, who reads its windows, its snapshot) and the loop that
takes each slice's export from the scheduler, reads it with whichever record path the
sync uses (`read`), hands the rows to the derived streams, and moves state. A slice the
provider keeps failing is replaced as `engine/exports/failing.after_failure` decides.
What belongs to one sync (its progress lines, its skipped lines) lives in a `SyncPass`,
not on the stream.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar, cast

from tap_exports.engine.errors import NothingToExportError
from tap_exports.engine.exports.failing import SLICE_FAILURES, GiveUp, after_failure
from tap_exports.engine.files.decode import column_types
from tap_exports.engine.files.reader import FileDecoding
from tap_exports.engine.planning.eta import ProgressLog
from tap_exports.engine.state.progress import PlannedSlice, Progress
from tap_exports.sdk.checkpoints import SliceCheckpoints
from tap_exports.sdk.derived import Consumers, DerivedStream, SliceReaders
from tap_exports.sdk.snapshots import SnapshotParts

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_exports.engine.exports.jobs import CompletedExport, SnapshotPort
    from tap_exports.engine.exports.tickets import Ticket
    from tap_exports.providers.base import StreamSpec
    from tap_exports.sdk.run import ExportRun, SyncServices

_T = TypeVar("_T")
# Reads one slice's completed export: its records, or its BATCH manifests; each run of
# lines is shown to the observer, if any (see `derived`).
Observer = Callable[[list[bytes]], None]
SliceReader = Callable[["CompletedExport", "Observer | None"], Iterable[_T]]


@dataclass
class SyncPass:
    """One sync of one stream: its state, its progress lines, the bad lines it skipped."""

    context: Context | None
    progress: Progress
    log: ProgressLog
    # Messages of skipped lines, in order; a dict, as a file downloaded again would
    # report the same lines twice.
    skipped: dict[str, None] = field(default_factory=dict)

    def counted(self, delivered: Iterable[_T]) -> Iterator[_T]:
        """Count what a slice delivers for the progress lines: records, or counts of them."""
        for item in delivered:
            if isinstance(item, int):  # the fast path yields how many it wrote
                self.log.records(item)
            elif isinstance(item, dict):
                self.log.records(1)
            yield item


class SlicedStream(SliceCheckpoints):
    """A stream delivered one slice's export at a time (see the module)."""

    def __init__(self, tap: Tap, spec: StreamSpec, run: ExportRun) -> None:
        """Declare the stream from its provider spec; `run` is the sync it takes part in."""
        super().__init__(tap, schema=spec.schema, name=spec.name)
        self.primary_keys = list(spec.primary_keys)
        self.replication_key = spec.replication_key
        self._run = run
        self._spec = spec
        self._columns = column_types(spec.schema)
        # This run's exports, queued by `schedule_exports`; None when not scheduled.
        self._tickets: list[Ticket] | None = None
        # Streams made from this one's exports (see `derived`), and who reads what.
        self.derived: list[DerivedStream] = []
        self._consumers = Consumers(source_from=None, derived=[])
        self._has_run = False
        self._pass: SyncPass | None = None
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

    @abc.abstractmethod
    def _plan(self, context: Context | None) -> list[PlannedSlice]:
        """Plan the run's slices, each with the export already made for it, if any."""

    @abc.abstractmethod
    def schedule_exports(self) -> None:
        """Plan the slices and queue their exports with the run's scheduler, ahead."""

    def _skip(self, problem: str) -> None:
        """Note a bad line skipped (`bad_record_policy: skip`); reported once, at the end."""
        if self._pass is not None:
            self._pass.skipped[problem] = None

    def _by_slice(self, context: Context | None, read: SliceReader[_T]) -> Iterator[_T]:
        """Take each slice's export in order, `read` it, and checkpoint after it.

        With a record limit (`--test`, dry runs) nothing is queued ahead: each slice's
        export is created only when the previous one has been read.
        """
        self._has_run = True
        if self._tickets is None and self.ABORT_AT_RECORD_COUNT is None and context is None:
            self._run.start(self)
        tickets, self._tickets = self._tickets, None
        sync = self._pass = SyncPass(
            context, Progress(self.get_context_state(context)), self._new_progress_log()
        )
        try:
            if tickets is None:
                scheduler = self._services.scheduler
                port = self._services.port(self._spec)
                plan = self._plan(context)
                sync.log.planned(len(plan))
                for planned in plan:
                    (ticket,) = scheduler.submit(self.name, port, [(planned.slice, planned.attach)])
                    yield from sync.counted(self._deliver(sync, ticket, read))
            else:
                sync.log.planned(len(tickets))
                for ticket in tickets:
                    yield from sync.counted(self._deliver(sync, ticket, read))
        except BaseException:
            # Failed or stopped: later streams will not be synced by this run. Exports
            # created stay in state for the next run, written now if possible (stdout
            # may be what failed: then the error stands).
            with contextlib.suppress(Exception):
                self._run.close()
            raise
        if self._spec.replication_key is None:
            self._finish_snapshot(sync.progress)
        sync.log.finished()
        self._run.finished(self)
        if sync.skipped:
            self.logger.warning(
                "%s: skipped %d bad line(s) (bad_record_policy=skip); the first: %s",
                self.name,
                len(sync.skipped),
                next(iter(sync.skipped)),
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

    def _deliver(
        self, sync: SyncPass, ticket: Ticket, read: SliceReader[_T], *, fetched_again: bool = False
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
        export: CompletedExport | None
        try:
            export = scheduler.take(ticket, self._run.remember)
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
            export = None  # nothing to read: the slice is done
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
            sync.progress.forget_export(piece)
            if isinstance(step, GiveUp):
                scheduler.release(ticket)
                self.write_progress()
                raise
            self.logger.warning("%s", step.message)
            if not step.recreated:
                sync.log.planned(len(step.parts) - 1)
                sync.progress.split_part_into(piece, step.parts)
            self.write_progress()  # one STATE for both changes: a kill cannot split them
            for part in scheduler.replace(ticket, step.parts):
                yield from self._deliver(sync, part, read, fetched_again=step.recreated)
            return
        self._slice_read(sync, ticket, readers, export)

    def _slice_read(
        self,
        sync: SyncPass,
        ticket: Ticket,
        readers: SliceReaders,
        export: CompletedExport | None,
    ) -> None:
        """A slice's export was read (or had nothing): deliver what depends on it, move state.

        Unless records lay beyond what the export was asked for: then the run stops
        with the provider's explanation, and nothing of the slice moves.
        """
        piece = ticket.slice
        coverage = export.coverage if export is not None else None
        if coverage is not None and coverage.beyond:
            # Every export made so far was asked for in the same wrong terms: none may be
            # re-attached once the setting is fixed.
            self._run.forget_exports()
            coverage.check()
        self._services.scheduler.release(ticket)
        readers.deliver()
        self._snapshot.delivered(sync.progress)
        sync.log.slice_done()
        if self._consumers.source_wants(piece):
            self._checkpoint(sync.context, piece)
        elif readers:
            sync.progress.forget_export(piece)  # read for the derived streams: done with it
            self.write_progress()  # and their bookmarks

    def _read_for_derived(self, export: CompletedExport, observe: Observer | None) -> None:
        """Read an export only for the streams derived from this one."""
        for _ in self._services.reader.line_runs(export, self._decoding, observe=observe):
            self._run.drain_notices()
