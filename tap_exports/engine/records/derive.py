"""Streams made from some rows of another stream's export: the latest row per key.

Some APIs export one log from which other entities follow (an event log whose identify
rows carry each user's properties). Such a stream has no export of its own: while the
source stream's export of a slice is read, every line is shown to a `LatestRows`, which
keeps, per key, the newest row it picks inside that slice. When the slice is done they
are delivered before the source's checkpoint, so a stopped run delivers them again with
the slice (harmless: they are keyed) and never skips them.

A byte `marker` every wanted line contains keeps the cost off the hot path: only lines
holding it are parsed, once, here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from tap_exports.engine.planning.slices import Slice

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class DerivedRows:
    """Which rows of the source a derived stream takes, and how it keys them.

    `pick` turns a source row (its replication key canonical) into the derived record,
    or None for rows it does not take; `key` names the derived record's key fields and
    `newest_by` the field whose canonical UTC stamp orders two rows of one key.
    """

    marker: bytes
    pick: Callable[[Record], Record | None]
    key: tuple[str, ...]
    newest_by: str


def join_lines(lines: list[bytes]) -> bytes:
    """A run of lines as `LatestRows.feed` takes it (lines never hold a line break)."""
    return b"\n".join(lines)


class LatestRows:
    """One derived stream's rows within one slice of the source: the newest per key."""

    def __init__(self, rows: DerivedRows, piece: Slice, source_key: str | None) -> None:
        """Take rows of `piece` only, placed by the source's replication key `source_key`."""
        self._rows = rows
        self._piece = piece
        self._source_key = source_key
        self._latest: dict[tuple[Any, ...], tuple[str, Record]] = {}

    def feed(self, joined: bytes) -> None:
        """Look at a run of the source's lines, joined by line breaks (see `join_lines`).

        Lines come in any order, each exactly once. The marker is searched for in the
        whole run at once, so only the lines holding it cost Python work. A line that
        does not parse, or a row outside the slice, is not taken: the source stream
        reports bad lines, and the row outside belongs to another slice.
        """
        marker = self._rows.marker
        find, rfind = joined.find, joined.rfind
        at = find(marker)
        while at >= 0:
            start = rfind(b"\n", 0, at) + 1
            end = find(b"\n", at)
            if end < 0:
                end = len(joined)
            self._take(joined[start:end])
            at = find(marker, end)

    def _take(self, line: bytes) -> None:
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError:
            return
        if not isinstance(row, dict):
            return
        if self._source_key is not None:
            stamp = row.get(self._source_key)
            try:
                placed = self._piece.place(stamp) if isinstance(stamp, str) else None
            except ValueError:
                return
            if placed is None:
                return
            row[self._source_key] = placed
        record = self._rows.pick(row)
        if record is None:
            return
        key = tuple(record.get(name) for name in self._rows.key)
        if None in key:
            return
        # Newest first by instant, then by content, so that which of two rows of one
        # instant wins does not depend on the order the files were read in.
        stamp = _sortable(record.get(self._rows.newest_by))
        kept = self._latest.get(key)
        if kept is None or stamp > kept[0] or (stamp == kept[0] and _later(record, kept[1])):
            self._latest[key] = (stamp, record)

    def records(self) -> Iterator[Record]:
        """The newest record of each key, ordered by key (a stable order for a stable key)."""
        for key in sorted(self._latest, key=repr):
            yield self._latest[key][1]


_SORTED = orjson.OPT_SORT_KEYS


def _later(record: Record, kept: Record) -> bool:
    """Of two rows of one key and instant, the one whose content sorts last wins."""
    return orjson.dumps(record, option=_SORTED) > orjson.dumps(kept, option=_SORTED)


def _sortable(stamp: object) -> str:
    """A canonical stamp padded so that text order is time order (`.5Z` vs `Z`)."""
    if not isinstance(stamp, str) or not stamp.endswith("Z"):
        return ""
    whole, _, fraction = stamp[:-1].partition(".")
    return f"{whole}.{fraction:0<6}"
