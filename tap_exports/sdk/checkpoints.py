"""Where a stream's state moves: at slice edges only, and never past undelivered records.

singer-sdk's own bookmarking tracks the largest replication-key value seen, which is
wrong for exports: rows inside a file are unordered, so a mid-file bookmark would skip
the earlier rows of the window on resume. A `SliceCheckpoints` stream instead:
- writes STATE with a window's end once every record of the window is written, so a
  stopped backfill resumes at the next window with nothing lost;
- for a snapshot, records each part delivered, and forgets the snapshot once complete;
- puts a just-created export's id into STATE at once (the next run re-attaches it);
- in BATCH mode, holds each change until the batch holding the records before it has
  been announced (`apply_pending`, called by the stream after each batch).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from typing_extensions import override

from tap_exports.engine.planning.slices import Slice, Window
from tap_exports.engine.state.progress import Progress
from tap_exports.sdk.internals import InternalsStream

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_exports.engine.exports.jobs import ExportJob


class SliceCheckpoints(InternalsStream):
    """A stream whose state moves at slice edges (see the module)."""

    # Nothing moves per record: the bookmark moves at slice edges only (see module).
    moves_bookmark_per_record = False

    # A state change to apply once the records before it are in a BATCH message.
    _pending: Callable[[], None] | None = None
    # True while export files are handed over as they are (each holds whole slices).
    _passing_through = False
    # Whether this run has written the stream's starting bookmark (see below).
    _started = False

    @override
    def on_starting_bookmark(self, context: Context | None) -> None:
        """Write the starting bookmark once per run (the SDK logs each time it is written).

        The run writes it when it plans the stream's exports, ahead of the stream's own
        sync, where the SDK writes it again: the bookmark cannot move in between, as
        only the stream's sync moves it, so the second write is skipped (and its log line).
        """
        if context is None and self._started:
            return
        super().on_starting_bookmark(context)
        self._started = context is None

    def remember_export(self, job: ExportJob) -> None:
        """Put a just-created export's id in this stream's state and emit STATE at once.

        Runs on the main thread only (the scheduler hands ids over as notices through
        the run), so state is never changed while it is being written.
        """
        Progress(self.get_context_state(None)).remember_export(job.export_id, job.slice)
        self.write_progress()

    def forget_exports(self) -> None:
        """Drop every export in flight from this stream's state, and emit STATE."""
        Progress(self.get_context_state(None)).forget_every_export()
        self.write_progress()

    def write_progress(self) -> None:
        """Emit STATE now, so an export id or a split reaches the state store at once.

        The bookmark in it is whatever was already safe; only the extra keys changed.
        """
        self.state_manager.is_flushed = False
        self.write_state_message()

    def _checkpoint(self, context: Context | None, piece: Slice) -> None:
        """Record `piece` as delivered: now in RECORD mode, after its batch in BATCH mode.

        Called once the generator is resumed after the slice's last record, which the
        SDK has written by then. In BATCH mode those records may still sit in a batch
        file not yet announced, so the change waits in `_pending` (see `get_batches`):
        even the state the SDK writes on SIGTERM must not pass them.
        """
        state = self.get_context_state(context)
        if isinstance(piece, Window):
            self._when_delivered(functools.partial(self._set_bookmark, state, piece))
        else:
            self._when_delivered(functools.partial(Progress(state).part_done, piece))

    def _finish_snapshot(self, progress: Progress) -> None:
        """Every part delivered: forget the snapshot, so the next run takes a new one."""
        self._when_delivered(progress.finish_snapshot)

    def _when_delivered(self, change: Callable[[], None]) -> None:
        """Apply a state change once the records before it are delivered.

        In RECORD mode (and for files handed over as they are) that is now. The SDK's
        own batches are announced later, so the change waits in `_pending`, after any
        change already waiting.
        """
        if self.get_batch_config(self.config) is None or self._passing_through:
            change()
            self.write_progress()
            return
        earlier = self._pending

        def both() -> None:
            if earlier is not None:
                earlier()
            change()

        self._pending = both

    def _set_bookmark(self, state: dict[str, Any], window: Window) -> None:
        """Move the bookmark to a window's end; forget what it has passed."""
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = window.end_text
        Progress(state).passed(window.end)

    def _apply_pending(self) -> None:
        """Apply the changes waiting for a batch: it has just been announced."""
        if self._pending is not None:
            self._pending()
            self._pending = None
            self.state_manager.is_flushed = False
