"""Slices: what one export covers, and the one rule for whether a record belongs to it.

An export API cuts its data one of two ways, and a slice is either:
- a `Window`: the half-open interval [start, end) of UTC instants of an incremental
  stream (whose records carry a replication key), or
- a `Partition`: a named set of filters of a full-snapshot stream (no replication key;
  every record of the export belongs to it).

Membership is decided in one place, `StampBounds`, which the record path, the bulk
checks of RECORD mode and the BATCH file checks all call. Window edges are whole
seconds, so whether a canonical stamp (`YYYY-MM-DDTHH:MM:SS[.ffffff]Z`) lies in a window
depends only on its first 19 characters, and comparing the stamp *as text* with the
edges' 19-character prefixes gives the answer for any number of fraction digits: a
longer text with an equal prefix sorts after the prefix, and the prefix is what the
edge means. No stamp is parsed on the hot path.

Each slice also knows its key in state (which export was created for it) and how to
cut itself in two when the provider keeps failing it.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import orjson

from tap_exports.engine.timestamps import canonical_utc, format_utc

_WHOLE_SECOND = len("2024-01-15T10:23:45")
_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class StampBounds:
    """The canonical stamps in [low, high): the membership rule, in text form."""

    low: str
    high: str

    def admits(self, stamp: str) -> bool:
        """Tell whether one canonical stamp lies inside."""
        return self.low <= stamp < self.high

    def admits_all(self, stamps: Sequence[str]) -> bool:
        """Tell whether every canonical stamp lies inside (two C-level passes)."""
        return not stamps or (min(stamps) >= self.low and max(stamps) < self.high)

    def count_outside(self, stamps: Sequence[str]) -> int:
        """How many canonical stamps lie outside."""
        if self.admits_all(stamps):
            return 0
        ordered = sorted(stamps)
        return bisect_left(ordered, self.low) + len(ordered) - bisect_left(ordered, self.high)

    def keep(self, items: Sequence[_T], stamps: Sequence[str]) -> list[_T]:
        """The items whose stamp (same position) lies inside, in order."""
        low, high = self.low, self.high
        return [item for item, stamp in zip(items, stamps, strict=True) if low <= stamp < high]


@dataclass(frozen=True, slots=True)
class Window:
    """The half-open interval [start, end) of UTC instants one export covers."""

    start: datetime
    end: datetime
    start_text: str = field(init=False, repr=False, compare=False)
    end_text: str = field(init=False, repr=False, compare=False)
    bounds: StampBounds = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the bounds and keep their canonical text for cheap comparisons."""
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("window bounds must be timezone-aware")
        if self.start.microsecond or self.end.microsecond:
            # Whole seconds are what makes the text rule of `StampBounds` exact.
            raise ValueError("window bounds must be whole seconds")
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} is not after its start {self.start}")
        start_text, end_text = format_utc(self.start), format_utc(self.end)
        object.__setattr__(self, "start_text", start_text)
        object.__setattr__(self, "end_text", end_text)
        bounds = StampBounds(start_text[:_WHOLE_SECOND], end_text[:_WHOLE_SECOND])
        object.__setattr__(self, "bounds", bounds)

    def place(self, stamp: str) -> str | None:
        """The stamp (any ISO 8601 form) made canonical if it falls in this window, else None.

        The record path's form of the rule; the bulk paths use `bounds` directly.
        """
        canonical = canonical_utc(stamp)
        return canonical if self.bounds.admits(canonical) else None

    @property
    def state_key(self) -> dict[str, str]:
        """How state names this window (next to the export created for it)."""
        return {"start": self.start_text, "end": self.end_text}

    def split(self, smallest: timedelta) -> tuple[Window, Window] | None:
        """Halve the window; None when halves would be shorter than `smallest`.

        The cut is rounded down to a whole second so both halves keep whole-second edges.
        """
        if self.end - self.start < 2 * smallest:
            return None
        middle = (self.start + (self.end - self.start) / 2).replace(microsecond=0)
        return Window(self.start, middle), Window(middle, self.end)

    def __str__(self) -> str:
        """Show the interval the way log lines and errors quote it."""
        return f"window [{self.start_text}, {self.end_text})"


@dataclass(frozen=True, slots=True)
class IntRange:
    """An inclusive integer range of one filter dimension, as two filter keys."""

    low_key: str
    high_key: str
    low: int
    high: int


@dataclass(frozen=True, slots=True)
class Partition:
    """One export of a full snapshot: a set of filters, named by `key`.

    `ranges` are the integer dimensions the partition may be halved along (for
    example a size range), tried in order; `filters` hold everything else the
    provider sends. Every record of its export belongs to it.
    """

    key: str
    filters: Mapping[str, Any] = field(default_factory=dict)
    ranges: tuple[IntRange, ...] = ()
    bounds: None = field(default=None, init=False, repr=False, compare=False)

    def place(self, stamp: str) -> str:
        """Every record belongs to its partition: the stamp, unchanged."""
        return stamp

    @property
    def state_key(self) -> dict[str, str]:
        """How state names this partition."""
        return {"part": self.key}

    def request_filters(self) -> dict[str, Any]:
        """The filters to send: the fixed ones plus each range's two bounds."""
        sent = dict(self.filters)
        for dimension in self.ranges:
            sent[dimension.low_key] = dimension.low
            sent[dimension.high_key] = dimension.high
        return sent

    def split(self, smallest: timedelta | None = None) -> tuple[Partition, Partition] | None:
        """Halve the first range that holds more than one value; None when none does.

        `smallest` is accepted for a common signature with `Window.split` and unused:
        a range of one value is the smallest partition.
        """
        for index, dimension in enumerate(self.ranges):
            if dimension.high > dimension.low:
                middle = dimension.low + (dimension.high - dimension.low) // 2
                lower = replace(dimension, high=middle)
                upper = replace(dimension, low=middle + 1)
                return self._with(index, lower, "a"), self._with(index, upper, "b")
        return None

    def _with(self, index: int, dimension: IntRange, suffix: str) -> Partition:
        ranges = (*self.ranges[:index], dimension, *self.ranges[index + 1 :])
        return Partition(f"{self.key}.{suffix}", self.filters, ranges)

    def to_state(self) -> dict[str, Any]:
        """The partition as JSON, so a resumed run follows the same plan."""
        return {
            "key": self.key,
            "filters": dict(self.filters),
            "ranges": [[d.low_key, d.high_key, d.low, d.high] for d in self.ranges],
        }

    @classmethod
    def from_state(cls, entry: Mapping[str, Any]) -> Partition:
        """Read back what `to_state` wrote.

        Raises:
            ValueError: the entry is not a partition `to_state` wrote.
        """
        try:
            ranges = tuple(
                IntRange(str(low_key), str(high_key), int(low), int(high))
                for low_key, high_key, low, high in entry.get("ranges", [])
            )
            return cls(str(entry["key"]), dict(entry.get("filters", {})), ranges)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a partition: {orjson.dumps(entry)[:80]!r}") from exc

    def __str__(self) -> str:
        """Name the partition the way log lines and errors quote it."""
        return f"part {self.key}"


Slice = Window | Partition
