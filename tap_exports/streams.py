"""The one stream class: an incremental stream fed by export windows.

singer-sdk's own bookmarking tracks the largest replication-key value seen, which is
wrong for exports: rows inside a file are unordered, so a mid-file bookmark would skip
the earlier rows of the window on resume. Here the bookmark moves only at window
edges: when every record of a window has been written, STATE is emitted with the
window's end, so a stopped backfill resumes at the next window with nothing lost.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import orjson
from singer_sdk import Stream
from singer_sdk.helpers._typing import _warn_unmapped_properties
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.helpers.types import Context, Record
from singer_sdk.mapper import SameRecordTransform
from typing_extensions import override

from tap_exports.batch_files import WindowBatches, can_pass_through
from tap_exports.engine.bulk import LineSorter, row_type
from tap_exports.engine.decode import decode_line
from tap_exports.engine.errors import DownloadError, ExportFailedError, ExportTimeoutError
from tap_exports.engine.progress import PlannedWindow, Progress
from tap_exports.engine.timestamps import canonical_utc, parse_utc
from tap_exports.engine.validate import record_check, unchanged_by_conformance
from tap_exports.engine.windows import Window, split_window, sync_horizon

if TYPE_CHECKING:
    from collections.abc import Generator

    from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig

    from tap_exports.engine.jobs import ExportJob, ExportPort, StatusReport
    from tap_exports.engine.scheduler import Ticket
    from tap_exports.providers.base import StreamSpec
    from tap_exports.tap import TapExports

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
# Reads one window's completed export: its records, or its BATCH manifests.
_WindowReader = Callable[["ExportPort", "ExportJob", "StatusReport"], Iterable[_T]]


class ExportStream(Stream):
    """A stream whose records come from one bulk export per window."""

    #: Write records that need no SDK processing straight to stdout (see `_sync_records`).
    fast_path = True
    #: In BATCH mode, hand export files to the target as they are (see `batch_files`).
    pass_through = True

    def __init__(self, tap: TapExports, spec: StreamSpec) -> None:
        """Declare the stream from its provider spec."""
        super().__init__(tap, schema=spec.schema, name=spec.name)
        self.primary_keys = list(spec.primary_keys)
        self.replication_key = spec.replication_key
        self._exports_tap = tap
        self._spec = spec
        self._pending_bookmark: tuple[Context | None, str] | None = None
        self._check = record_check(
            spec.schema, primary_keys=spec.primary_keys, replication_key=spec.replication_key
        )
        row = functools.partial(
            row_type,
            spec.schema,
            primary_keys=spec.primary_keys,
            replication_key=spec.replication_key,
        )
        self._file_row = row(exact=False)  # BATCH files: see `batch_files`
        exact, dropping = row(exact=True), row(exact=True, drop_unknown=True)
        self._exact_rows = (exact, dropping) if exact and dropping else None
        self._passing_through = False
        # Messages of skipped lines, in order; a dict, as a file downloaded again would
        # report the same lines twice.
        self._skipped: dict[str, None] = {}
        # This run's exports, queued by `schedule_exports`; None when not scheduled.
        self._tickets: list[Ticket] | None = None

    @override
    def _sync_records(
        self, context: Context | None = None, *, write_messages: bool = True
    ) -> Generator[Any, Any, Any]:
        """Sync records, forwarding those that need no SDK processing directly.

        singer-sdk's per-record path (selection, type conformance, stream maps, its JSON
        writer) costs several times what decoding does. When it would be a no-op (the
        default identity map, nothing deselected, RECORD mode, no `--test` limit), the
        lines of a file that already conform are forwarded inside RECORD messages
        without being parsed and dumped again (`bulk.LineSorter` decides, a run of
        lines at a time); other lines are parsed, and a record that conforms except for
        undeclared keys is written with orjson; anything else goes through the SDK.
        The tests comparing both paths' messages keep them identical.
        """
        if not (
            self.fast_path and write_messages and context is None and self._sdk_path_is_a_no_op()
        ):
            yield from super()._sync_records(context, write_messages=write_messages)
            return
        record_counter = self.get_record_counter()
        timer = self.get_sync_timer()
        with record_counter, timer:
            record_counter.with_context({})
            timer.with_context({})
            self._write_starting_replication_value(None)
            for written in self._by_window(None, self._forwarded(_RecordWriter(self.name))):
                record_counter.increment(written)
                self.state_manager.is_flushed = False
                yield written
            self._finalize_state(self.stream_state)
        self._write_state_message()

    def _forwarded(self, writer: _RecordWriter) -> _WindowReader[int]:
        """A window reader that writes RECORD messages itself and yields how many."""
        services = self._exports_tap.services
        skip = self._skip if services.settings.skip_bad_records else None
        # The schema the SDK conforms to is the catalog's, which may differ from ours:
        # then no line is forwarded unparsed.
        unchanged = unchanged_by_conformance(self.effective_schema)
        exact_rows = self._exact_rows if self.effective_schema == self._spec.schema else None
        key = self._spec.replication_key

        def warn(unknown: tuple[str, ...]) -> None:
            _warn_unmapped_properties(self.name, unknown, self.logger)

        def read(port: ExportPort, job: ExportJob, report: StatusReport) -> Iterator[int]:
            sorter = None
            if exact_rows is not None:
                sorter = LineSorter(exact_rows, key, job.window, on_unknown=warn)
            for run in services.reader.line_runs(port, job, report):
                self._drain_notices()
                plan = sorter.sort(run.lines) if sorter is not None else range(len(run.lines))
                if plan is run.lines:
                    writer.write_lines(run.lines)
                    yield len(run.lines)
                    continue
                written = 0
                forward: list[bytes] = []
                for item in plan:
                    if isinstance(item, bytes):
                        forward.append(item)
                        continue
                    written += writer.write_lines(forward)
                    forward = []
                    record = decode_line(
                        run.lines[item],
                        run.first_line + item,
                        source=str(job),
                        check=self._check,
                        skip=skip,
                    )
                    if record is not None and self._keep(record, job.window):
                        self._write_parsed(record, writer, unchanged)
                        written += 1
                yield written + writer.write_lines(forward)

        return read

    def _write_parsed(
        self,
        record: Record,
        writer: _RecordWriter,
        unchanged: Callable[[Record], tuple[bool, list[str]]],
    ) -> None:
        """Write a parsed record with orjson if conformance would only drop keys, else via SDK."""
        as_is, unknown = unchanged(record)
        if not as_is:
            self._write_record_message(record)
            return
        for key in unknown:
            del record[key]
        if unknown:
            _warn_unmapped_properties(self.name, tuple(unknown), self.logger)
        writer.write_lines([orjson.dumps(record)])

    def _sdk_path_is_a_no_op(self) -> bool:
        maps = self.stream_maps
        return (
            self.ABORT_AT_RECORD_COUNT is None
            and self._stream_version is None  # RECORDs would need a `version`
            and self.partitions is None
            and type(self).post_process is Stream.post_process
            and not self.child_streams
            and self.TYPE_CONFORMANCE_LEVEL is TypeConformanceLevel.RECURSIVE
            and len(maps) == 1
            and type(maps[0]) is SameRecordTransform
            and not maps[0].flattening_enabled
            and all(self.mask.values())
        )

    def schedule_exports(self) -> None:
        """Plan this stream's windows and queue their exports with the run's scheduler.

        See `TapExports.schedule_exports`; `get_records` then takes them in order.
        """
        self._write_starting_replication_value(None)
        services = self._exports_tap.services
        plan = self._plan(None)
        self._tickets = services.scheduler.submit(
            self.name, services.port(self.name), [(p.window, p.attach) for p in plan]
        )

    def _plan(self, context: Context | None) -> list[PlannedWindow]:
        services = self._exports_tap.services
        settings = services.settings
        # A bookmark from a foreign state file may carry fractions of a second: round
        # down (re-reading part of a second is safe, skipping it is not).
        start = (self.get_starting_timestamp(context) or settings.start_date).replace(microsecond=0)
        horizon = sync_horizon(services.clock.now(), settings.settle_lag, settings.end_date)
        days = self._spec.fixed_window_days or settings.window_days
        plan = Progress(self.get_context_state(context)).plan(
            start, horizon, settings.timezone, days
        )
        self.logger.info(
            "%s: %d window(s) of up to %d day(s) from %s to %s",
            self.name,
            len(plan),
            days,
            start.isoformat(),
            horizon.isoformat(),
        )
        return plan

    @override
    def get_records(self, context: Context | None) -> Iterable[Record]:
        """Deliver the scheduled windows' records in order."""
        yield from self._by_window(context, self._window_records)

    def _by_window(self, context: Context | None, read: _WindowReader[_T]) -> Iterator[_T]:
        """Take each window's export in order, `read` it, and checkpoint after it.

        With a record limit (`--test`, dry runs) nothing is queued ahead: each window's
        export is created only when the previous one has been read.
        """
        progress = Progress(self.get_context_state(context))
        self._skipped = {}
        if self._tickets is None and self.ABORT_AT_RECORD_COUNT is None and context is None:
            self._exports_tap.schedule_exports(self)
        tickets, self._tickets = self._tickets, None
        try:
            if tickets is None:
                services = self._exports_tap.services
                port = services.port(self.name)
                for planned in self._plan(context):
                    (ticket,) = services.scheduler.submit(
                        self.name, port, [(planned.window, planned.attach)]
                    )
                    yield from self._deliver(context, progress, ticket, read)
            else:
                for ticket in tickets:
                    yield from self._deliver(context, progress, ticket, read)
        except BaseException:
            # Failed or stopped: later streams will not be synced by this run, so their
            # exports need no more polling. Those created stay in state for the next run,
            # written now if possible (stdout may be what failed: then the error stands).
            scheduler = self._exports_tap.services.scheduler
            scheduler.abandon()
            with contextlib.suppress(Exception):
                scheduler.drain_notices(self._exports_tap.remember_export)
            raise
        if self._skipped:
            self.logger.warning(
                "%s: skipped %d bad line(s) (bad_record_policy=skip); the first: %s",
                self.name,
                len(self._skipped),
                next(iter(self._skipped)),
            )

    def _deliver(
        self, context: Context | None, progress: Progress, ticket: Ticket, read: _WindowReader[_T]
    ) -> Iterator[_T]:
        """Read one window's export, splitting the window if the provider keeps failing it."""
        services = self._exports_tap.services
        settings = services.settings
        scheduler = services.scheduler
        window = ticket.window
        try:
            job, report = scheduler.take(ticket, self._exports_tap.remember_export)
            yield from read(ticket.port, job, report)
        except (ExportFailedError, ExportTimeoutError, DownloadError) as exc:
            # Given up on: the next run must create a new export, not re-attach this one.
            progress.forget_export(window)
            halves = None
            if isinstance(exc, ExportFailedError) and not self._spec.fixed_window_days:
                halves = split_window(window, settings.min_window)
            if halves is None:
                scheduler.release(ticket)
                self.write_progress()
                raise
            self.logger.warning(
                "%s window %s keeps failing: splitting it in two", self.name, window
            )
            progress.remember_split(window.end, halves[0].end - halves[0].start)
            self.write_progress()  # one STATE for both changes: a kill cannot split them
            for half in scheduler.replace(ticket, halves):
                yield from self._deliver(context, progress, half, read)
            return
        scheduler.release(ticket)
        self._checkpoint(context, window)

    def _skip(self, problem: str) -> None:
        self._skipped[problem] = None

    def _window_records(
        self, port: ExportPort, job: ExportJob, report: StatusReport
    ) -> Iterator[Record]:
        """Read the export's records inside its window, with the replication key canonical.

        The decoder's check has made sure the key is present and a timestamp.
        """
        services = self._exports_tap.services
        records = services.reader.records(
            port,
            job,
            report,
            check=self._check,
            skip=self._skip if services.settings.skip_bad_records else None,
        )
        yield from self.in_window(records, job.window)

    def in_window(self, records: Iterable[Record], window: Window) -> Iterator[Record]:
        """Keep the records inside `window`, with the replication key made canonical."""
        outside = 0
        for record in records:
            self._drain_notices()
            if self._keep(record, window):
                yield record
            else:
                outside += 1
        if outside:
            self.logger.debug("%s window %s: %d record(s) outside it", self.name, window, outside)

    def _keep(self, record: Record, window: Window) -> bool:
        """Tell whether `record` is inside `window`; if so, make its key canonical.

        The decoder's check has made sure the key is present and a timestamp.
        """
        key = self._spec.replication_key
        stamp = record[key]
        if not window.contains(stamp):
            return False
        record[key] = canonical_utc(stamp)
        return True

    def _drain_notices(self) -> None:
        """Put exports created meanwhile into STATE now (cheap when there are none)."""
        scheduler = self._exports_tap.services.scheduler
        if scheduler.notices:
            scheduler.drain_notices(self._exports_tap.remember_export)

    def write_progress(self) -> None:
        """Emit STATE now, so an export id or a split reaches the state store at once.

        The bookmark in it is whatever was already safe; only the extra keys changed.
        """
        self.state_manager.is_flushed = False
        self._write_state_message()

    def _checkpoint(self, context: Context | None, window: Window) -> None:
        """Move the bookmark to the window's end: now in RECORD mode, later in BATCH mode.

        Called once the generator is resumed after the window's last record, which the
        SDK has written by then. `_write_state_message` is private SDK API; the resume
        tests cover it. In BATCH mode those records may still sit in a batch file not
        yet announced, so the bookmark waits in `_pending_bookmark` (see `get_batches`):
        even the state the SDK writes on SIGTERM must not pass them.
        """
        if self.get_batch_config(self.config) is not None and not self._passing_through:
            self._pending_bookmark = (context, window.end_text)
            return
        self._set_bookmark(context, window.end_text)
        self._write_state_message()

    @override
    def get_batches(
        self, batch_config: BatchConfig, context: Context | None = None
    ) -> Iterable[tuple[BaseBatchFileEncoding, list[str]]]:
        """Hand over export files as they are where possible, else the SDK's batches.

        The SDK writes the BATCH message (then STATE) for each yielded manifest before
        asking for the next, so on resuming every record pulled so far is delivered:
        that is when a window's bookmark may move. Files handed over as they are hold
        whole windows, so the window's checkpoint comes right after its manifest; the
        SDK's batches cut across windows, so the bookmark waits for the next one.
        """
        if self.pass_through and can_pass_through(batch_config) and self._sdk_path_is_a_no_op():
            self._write_starting_replication_value(context)  # else sdk#976: no start
            self._passing_through = True
            try:
                yield from self._by_window(context, self._window_batches(batch_config))
            finally:
                self._passing_through = False
            return
        for batch in super().get_batches(batch_config, context):
            yield batch
            self._apply_pending_bookmark()
        self._apply_pending_bookmark()

    def _window_batches(self, batch_config: BatchConfig) -> WindowBatches:
        services = self._exports_tap.services
        return WindowBatches(
            tap_name=self.tap_name,
            stream_name=self.name,
            batch_config=batch_config,
            reader=services.reader,
            row=self._file_row,
            replication_key=self._spec.replication_key,
            record_path=self.in_window,
            check=self._check,
            skip=self._skip if services.settings.skip_bad_records else None,
            require_gzip=services.settings.lifecycle.require_gzip,
        )

    def _apply_pending_bookmark(self) -> None:
        if self._pending_bookmark is not None:
            self._set_bookmark(*self._pending_bookmark)
            self._pending_bookmark = None

    def _set_bookmark(self, context: Context | None, value: str) -> None:
        state = self.get_context_state(context)
        state["replication_key"] = self._spec.replication_key
        state["replication_key_value"] = value
        Progress(state).passed(parse_utc(value))
        self.state_manager.is_flushed = False

    @override
    def _increment_stream_state(
        self, latest_record: dict[str, Any], *, context: Context | None = None
    ) -> None:
        """Do nothing per record: the bookmark moves at window edges only (see module)."""


class _RecordWriter:
    """Writes RECORD messages as singer-sdk would, around records already serialised.

    Bytes go to stdout's binary buffer; singer-sdk writes STATE through the text layer
    and flushes it, which flushes these bytes first, so message order is kept.
    `time_extracted` is read at most once a second rather than for every record.
    """

    def __init__(self, stream: str) -> None:
        self._head = b'{"type":"RECORD","stream":' + orjson.dumps(stream) + b',"record":'
        self._out = sys.stdout
        self._binary = getattr(self._out, "buffer", None)
        self._tail = b""
        self._read_at = float("-inf")

    def write_lines(self, records: list[bytes]) -> int:
        """Write one RECORD message per serialised record; return how many."""
        if not records:
            return 0
        now = time.monotonic()
        if now - self._read_at >= 1.0:
            extracted = datetime.now(UTC).isoformat()
            self._tail = b',"time_extracted":"' + extracted.encode() + b'"}\n'
            self._read_at = now
        data = self._head + (self._tail + self._head).join(records) + self._tail
        if self._binary is not None:
            self._binary.write(data)
        else:  # a text-only stdout (a test capturing output)
            self._out.write(data.decode())
        return len(records)
