"""The one stream class: an incremental stream fed by export windows.

singer-sdk's own bookmarking tracks the largest replication-key value seen, which is
wrong for exports: rows inside a file are unordered, so a mid-file bookmark would skip
the earlier rows of the window on resume. Here the bookmark moves only at window
edges: when every record of a window has been written, STATE is emitted with the
window's end, so a stopped backfill resumes at the next window with nothing lost.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from singer_sdk import Stream
from singer_sdk.helpers.types import Context, Record
from typing_extensions import override

from tap_exports.engine.errors import DownloadError, ExportFailedError, ExportTimeoutError
from tap_exports.engine.progress import Progress
from tap_exports.engine.timestamps import canonical_utc, parse_utc
from tap_exports.engine.validate import record_check
from tap_exports.engine.windows import Window, split_window, sync_horizon

if TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers._batch import BaseBatchFileEncoding, BatchConfig

    from tap_exports.engine.jobs import ExportJob
    from tap_exports.providers.base import StreamSpec
    from tap_exports.tap import TapExports

logger = logging.getLogger(__name__)


class ExportStream(Stream):
    """A stream whose records come from one bulk export per window."""

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
        # Messages of skipped lines, in order; a dict, as a file downloaded again would
        # report the same lines twice.
        self._skipped: dict[str, None] = {}

    @override
    def get_records(self, context: Context | None) -> Iterable[Record]:
        services = self._exports_tap.services
        settings = services.settings
        # A bookmark from a foreign state file may carry fractions of a second: round
        # down (re-reading part of a second is safe, skipping it is not).
        start = (self.get_starting_timestamp(context) or settings.start_date).replace(microsecond=0)
        horizon = sync_horizon(services.clock.now(), settings.settle_lag, settings.end_date)
        days = self._spec.fixed_window_days or settings.window_days
        progress = Progress(self.get_context_state(context))
        plan = progress.plan(start, horizon, settings.timezone, days)
        self.logger.info(
            "%s: %d window(s) of up to %d day(s) from %s to %s",
            self.name,
            len(plan),
            days,
            start.isoformat(),
            horizon.isoformat(),
        )
        self._skipped = {}
        for planned in plan:
            yield from self._deliver(context, progress, planned.window, attach=planned.attach)
        if self._skipped:
            self.logger.warning(
                "%s: skipped %d bad line(s) (bad_record_policy=skip); the first: %s",
                self.name,
                len(self._skipped),
                next(iter(self._skipped)),
            )

    def _deliver(
        self, context: Context | None, progress: Progress, window: Window, *, attach: str | None
    ) -> Iterable[Record]:
        """Export one window, splitting it in halves if the provider keeps failing it."""
        services = self._exports_tap.services
        settings = services.settings

        def on_created(job: ExportJob) -> None:
            progress.remember_export(job.export_id, job.window)
            self._write_progress()

        try:
            records = services.runner.records(
                services.port(self.name),
                self.name,
                window,
                attach=attach,
                on_created=on_created,
                check=self._check,
                skip=self._skip if settings.skip_bad_records else None,
            )
            yield from self._window_records(records, window)
        except (ExportFailedError, ExportTimeoutError, DownloadError) as exc:
            # Given up on: the next run must create a new export, not re-attach this one.
            progress.forget_export(window)
            halves = None
            if isinstance(exc, ExportFailedError) and not self._spec.fixed_window_days:
                halves = split_window(window, settings.min_window)
            if halves is None:
                self._write_progress()
                raise
            first, second = halves
            self.logger.warning(
                "%s window %s keeps failing: splitting it in two", self.name, window
            )
            progress.remember_split(window.end, first.end - first.start)
            self._write_progress()  # one STATE for both changes: a kill cannot split them
            yield from self._deliver(context, progress, first, attach=None)
            yield from self._deliver(context, progress, second, attach=None)
            return
        self._checkpoint(context, window)

    def _skip(self, problem: str) -> None:
        self._skipped[problem] = None

    def _window_records(self, records: Iterable[Record], window: Window) -> Iterable[Record]:
        """Keep the records inside the window, with the replication key canonical.

        The decoder's check has made sure the key is present and a timestamp.
        """
        key = self._spec.replication_key
        outside = 0
        for record in records:
            stamp = record[key]
            if not window.contains(stamp):
                outside += 1
                continue
            record[key] = canonical_utc(stamp)
            yield record
        if outside:
            self.logger.debug("%s window %s: %d record(s) outside it", self.name, window, outside)

    def _write_progress(self) -> None:
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
        if self.get_batch_config(self.config) is not None:
            self._pending_bookmark = (context, window.end_text)
            return
        self._set_bookmark(context, window.end_text)
        self._write_state_message()

    @override
    def get_batches(
        self, batch_config: BatchConfig, context: Context | None = None
    ) -> Iterable[tuple[BaseBatchFileEncoding, list[str]]]:
        """Apply a window's bookmark only once the batch holding its records is announced.

        The SDK writes the BATCH message (then STATE) for each yielded manifest before
        asking for the next, so on resuming every record pulled so far is delivered.
        """
        for batch in super().get_batches(batch_config, context):
            yield batch
            self._apply_pending_bookmark()
        self._apply_pending_bookmark()

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
