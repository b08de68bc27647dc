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

from tap_exports.engine.errors import DecodeError
from tap_exports.engine.timestamps import canonical_utc
from tap_exports.engine.windows import Window, plan_windows, sync_horizon

if TYPE_CHECKING:
    from collections.abc import Iterable

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

    @override
    def get_records(self, context: Context | None) -> Iterable[Record]:
        services = self._exports_tap.services
        settings = services.settings
        start = self.get_starting_timestamp(context) or settings.start_date
        horizon = sync_horizon(services.clock.now(), settings.settle_lag, settings.end_date)
        days = self._spec.fixed_window_days or settings.window_days
        windows = plan_windows(start, horizon, settings.timezone, days)
        self.logger.info(
            "%s: %d window(s) of up to %d day(s) from %s to %s",
            self.name,
            len(windows),
            days,
            start.isoformat(),
            horizon.isoformat(),
        )
        port = services.port(self.name)
        for window in windows:
            yield from self._window_records(
                services.runner.records(port, self.name, window), window
            )
            self._checkpoint(context, window)

    def _window_records(self, records: Iterable[Record], window: Window) -> Iterable[Record]:
        """Keep the records inside the window, with the replication key canonical."""
        key = self._spec.replication_key
        outside = 0
        for line_number, record in enumerate(records, start=1):
            stamp = record.get(key)
            if not isinstance(stamp, str):
                raise DecodeError(
                    f"{self.name} window {window}, record {line_number} (id "
                    f"{record.get('id')!r}): replication key '{key}' is missing or not a string"
                )
            try:
                inside = window.contains(stamp)
            except ValueError:
                raise DecodeError(
                    f"{self.name} window {window}, record {line_number} (id "
                    f"{record.get('id')!r}): '{key}' is not a timestamp: {stamp!r}"
                ) from None
            if not inside:
                outside += 1
                continue
            record[key] = canonical_utc(stamp)
            yield record
        if outside:
            self.logger.debug("%s window %s: %d record(s) outside it", self.name, window, outside)

    def _checkpoint(self, context: Context | None, window: Window) -> None:
        """Move the bookmark to the window's end and, in RECORD mode, emit STATE now.

        Called once the generator is resumed after the window's last record, which the
        SDK has written by then. In BATCH mode those records may still sit in a batch
        file not yet announced, so STATE waits: the SDK writes it after each BATCH
        message, when everything pulled so far has been handed over.
        `_write_state_message` is private SDK API; the resume tests cover it.
        """
        state = self.get_context_state(context)
        state["replication_key"] = self._spec.replication_key
        state["replication_key_value"] = window.end_text
        self.state_manager.is_flushed = False
        if self.get_batch_config(self.config) is None:
            self._write_state_message()

    @override
    def _increment_stream_state(
        self, latest_record: dict[str, Any], *, context: Context | None = None
    ) -> None:
        """Do nothing per record: the bookmark moves at window edges only (see module)."""
