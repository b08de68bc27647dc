"""Streams made from another stream's exports, and who reads each window of that export.

A derived stream (`providers.base.DerivedSpec`: users from an event log's identify rows)
has no export of its own. Its source stream's export of each window is read once, and
every *consumer* takes what it needs from it: the source its records, each derived
stream the newest row per key (`engine.derive.LatestRows`).

Each consumer keeps its own bookmark, so selecting one later does not skip history,
and deselecting one does not move its bookmark:
- the source plans windows from the earliest bookmark of the consumers that are
  selected, cut at every other consumer's bookmark, so each bookmark is a window edge;
- a window goes to the consumers whose bookmark it is at or after;
- a derived stream's rows of a window are written, and its bookmark moved, right
  before the source's checkpoint of that window. Stopped in between, the next run
  delivers the window again to both: harmless, as derived rows are keyed.

Derived streams always go out as RECORD messages (they are small: one row per key per
window), whatever the source's mode.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from typing_extensions import override

from tap_exports.engine.planning.slices import Slice, Window
from tap_exports.engine.records.derive import LatestRows, join_lines
from tap_exports.engine.timestamps import parse_utc
from tap_exports.sdk.internals import InternalsStream

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_exports.providers.base import DerivedSpec


class DerivedStream(InternalsStream):
    """A stream delivered by its source's sync, from the source's export files."""

    def __init__(self, tap: Tap, spec: DerivedSpec, source: SourceStream) -> None:
        """Declare the stream; `source` is the stream whose exports hold its rows."""
        super().__init__(tap, schema=spec.schema, name=spec.name)
        self.primary_keys = list(spec.primary_keys)
        self.replication_key = spec.rows.newest_by
        self.spec = spec
        self._source = source
        self._schema_written = False

    @override
    def get_records(self, context: Context | None) -> list[dict[str, Any]]:
        """Nothing of its own: its records are written during the source's sync.

        If the catalog deselects the source, singer-sdk skips it: its sync runs from
        here instead (once, whichever derived stream comes first).
        """
        self._source.sync_for_derived()
        return []

    def bookmark(self) -> datetime | None:
        """The end of the last window delivered to this stream, if any."""
        value = self.get_context_state(None).get("replication_key_value")
        return parse_utc(value).replace(microsecond=0) if isinstance(value, str) else None

    def deliver(self, rows: LatestRows, piece: Slice, *, move_bookmark: bool = True) -> None:
        """Write one window's rows, then move the bookmark to its end (STATE follows).

        Without `move_bookmark` (a window read only in part, under a record limit) at
        most the stream's record limit is written, and the bookmark stays.
        """
        if not self._schema_written:
            self.write_schema_message()
            self._schema_written = True
        records = rows.records()
        if not move_bookmark:
            records = itertools.islice(records, self.ABORT_AT_RECORD_COUNT)
        for record in records:
            self.write_record_message(record)
        if move_bookmark and isinstance(piece, Window):
            state = self.get_context_state(None)
            state["replication_key"] = self.replication_key
            state["replication_key_value"] = piece.end_text


class SourceStream(Protocol):
    """What a derived stream needs of its source (`ExportStream`)."""

    def sync_for_derived(self) -> None:
        """Sync now if deselected and not yet synced in this run; else do nothing."""
        ...


@dataclass
class Consumers:
    """Who reads the source's windows in this run, and from when (see the module)."""

    source_from: datetime | None  # None: the source's own records are not wanted
    derived: list[tuple[DerivedStream, datetime]]

    @classmethod
    def of(
        cls,
        source: datetime | None,
        derived: list[DerivedStream],
        start_date: datetime,
        config: Mapping[str, Any],
    ) -> Consumers:
        """The selected consumers and their starts.

        `source` is the source's start if it is selected (else None); a derived stream
        without a bookmark starts at `start_date`.

        Raises:
            ConfigError: `config` leaves a selected derived stream nothing to read.
        """
        selected = [stream for stream in derived if stream.selected]
        for stream in selected:
            stream.spec.check(config)
        return cls(
            source_from=source,
            derived=[(stream, stream.bookmark() or start_date) for stream in selected],
        )

    @classmethod
    def whole(cls, *, source: bool) -> Consumers:
        """A snapshot's consumers: the source alone, for every part, if selected."""
        return cls(source_from=datetime.min.replace(tzinfo=UTC) if source else None, derived=[])

    def starts(self) -> list[datetime]:
        """Every consumer's start, earliest first, without repeats."""
        found = {at for _, at in self.derived}
        if self.source_from is not None:
            found.add(self.source_from)
        return sorted(found)

    def source_wants(self, piece: Slice) -> bool:
        """Whether the source's own records of `piece` are delivered."""
        if self.source_from is None:
            return False
        return not isinstance(piece, Window) or piece.start >= self.source_from

    def readers(self, piece: Slice, source_key: str | None) -> SliceReaders:
        """A fresh collector for each derived stream that takes `piece`."""
        return SliceReaders(
            piece,
            [
                (stream, LatestRows(stream.spec.rows, piece, source_key))
                for stream, since in self.derived
                if not isinstance(piece, Window) or piece.start >= since
            ],
        )


class SliceReaders:
    """The derived streams reading one slice of the source's export."""

    def __init__(self, piece: Slice, readers: list[tuple[DerivedStream, LatestRows]]) -> None:
        """`readers`: each derived stream and its collector for `piece`."""
        self._piece = piece
        self._readers = readers
        # What the source's reader calls with each run of lines (None: nobody reads).
        self.observe = self._feed if readers else None

    def __bool__(self) -> bool:
        """Whether any derived stream reads this slice."""
        return bool(self._readers)

    def _feed(self, lines: list[bytes]) -> None:
        joined = join_lines(lines)
        for _, rows in self._readers:
            rows.feed(joined)

    def deliver(self, *, move_bookmarks: bool = True) -> None:
        """Write each derived stream's rows of the slice; move its bookmark unless told not to."""
        for stream, rows in self._readers:
            stream.deliver(rows, self._piece, move_bookmark=move_bookmarks)
