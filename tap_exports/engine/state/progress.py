"""What a stream keeps in its state besides the bookmark, and the plan built from it.

Four things must outlive a run that is killed or fails:
- the export created for a slice in flight (`exports_in_flight`): exports are scarce
  (or cost money), so the next run re-attaches to it instead of creating another;
- a window split after repeated failures (`window_split`): the next run keeps cutting
  that stretch of time into the smaller windows instead of failing on the big one again;
- a full snapshot's plan of partitions and which of them were delivered (`snapshot`):
  the next run follows the same parts and skips the delivered ones. A snapshot that
  completes is forgotten, so the run after it takes a new one;
- for providers that charge only for records never exported, which records exports
  held so far (`exported`, see `exported.ExportedKeys`): estimates leave them out.

All live in the stream's own state dict, next to `replication_key_value`; singer-sdk
writes them out with every STATE message and reads them back from `--state`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from tap_exports.engine.costs.exported import ExportedKeys
from tap_exports.engine.planning.slices import Partition, Slice, Window
from tap_exports.engine.planning.windows import plan_fixed_windows, plan_windows, sync_horizon
from tap_exports.engine.timestamps import format_utc, parse_utc

IN_FLIGHT = "exports_in_flight"
SPLIT = "window_split"
SNAPSHOT = "snapshot"
EXPORTED = "exported"


@dataclass(frozen=True, slots=True)
class PlannedSlice:
    """A slice to export, and the id of an export already made for it, if any."""

    slice: Slice
    attach: str | None = None


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """An incremental stream's windows for one run, and the stretch of time they cover."""

    slices: list[PlannedSlice]
    start: datetime
    horizon: datetime
    days: int

    def __str__(self) -> str:
        """The plan in one line, as the run's log says it."""
        return (
            f"{len(self.slices)} window(s) of up to {self.days} day(s) from "
            f"{self.start.isoformat()} to {self.horizon.isoformat()}"
        )


class Progress:
    """Reads and writes the extra keys of one stream's state dict, in place."""

    def __init__(self, state: dict[str, Any]) -> None:
        """Wrap the stream's (or partition's) writable state dict."""
        self._state = state

    # -- exports in flight ----------------------------------------------------------------

    def remember_export(self, export_id: str, piece: Slice) -> None:
        """Record an export the moment it is created (replacing one for the same slice).

        Several can be in flight: in BATCH mode a window's bookmark waits for its batch.
        """
        entries = self._others(piece)
        entries.append({"export_id": export_id, **piece.state_key})
        self._state[IN_FLIGHT] = entries

    def forget_export(self, piece: Slice) -> None:
        """Drop the export of `piece` (given up on): the next run must not re-attach it."""
        self._keep_in_flight(self._others(piece))

    def forget_every_export(self) -> None:
        """Drop every export in flight: they were asked for in terms that were wrong."""
        self._keep_in_flight([])

    def _others(self, piece: Slice) -> list[dict[str, Any]]:
        """The in-flight entries for slices other than `piece`."""
        key = piece.state_key
        return [
            entry
            for entry in self._state.get(IN_FLIGHT, [])
            if any(entry.get(name) != value for name, value in key.items())
        ]

    def _keep_in_flight(self, entries: list[dict[str, Any]]) -> None:
        if entries:
            self._state[IN_FLIGHT] = entries
        else:
            self._state.pop(IN_FLIGHT, None)

    def attach(self, pieces: Sequence[Slice]) -> list[PlannedSlice]:
        """Pair each slice with the export an earlier run made for exactly it, if any."""
        return [self._with_export(PlannedSlice(piece)) for piece in pieces]

    def _with_export(self, planned: PlannedSlice) -> PlannedSlice:
        if planned.attach is not None:
            return planned
        key = planned.slice.state_key
        for entry in self._state.get(IN_FLIGHT, []):
            if all(entry.get(name) == value for name, value in key.items()):
                return PlannedSlice(planned.slice, attach=str(entry.get("export_id")))
        return planned

    # -- incremental streams: windows -----------------------------------------------------

    def remember_split(self, until: datetime, size: timedelta) -> None:
        """Record that windows up to `until` must not exceed `size`."""
        current = self._split()
        if current is not None:
            until, size = max(until, current[0]), min(size, current[1])
        self._state[SPLIT] = {"until": format_utc(until), "max_seconds": int(size.total_seconds())}

    def split_part_into(self, piece: Slice, pieces: Sequence[Slice]) -> None:
        """Record that `piece` is replaced by `pieces`: a window's size, or a part's plan.

        Windows are re-cut by size (the first piece's) from `piece` on; a snapshot's
        plan lists the parts themselves.
        """
        if isinstance(piece, Window) and pieces and isinstance(pieces[0], Window):
            self.remember_split(piece.end, pieces[0].end - pieces[0].start)
        elif isinstance(piece, Partition):
            self.split_part(piece, [part for part in pieces if isinstance(part, Partition)])

    def passed(self, bookmark: datetime) -> None:
        """Forget what the bookmark has moved past."""
        self._keep_in_flight(
            [
                entry
                for entry in self._state.get(IN_FLIGHT, [])
                if "end" not in entry or parse_utc(entry["end"]) > bookmark
            ]
        )
        split = self._split()
        if split is not None and split[0] <= bookmark:
            self._state.pop(SPLIT, None)

    def plan(
        self, start: datetime, horizon: datetime, zone: tzinfo, days: int
    ) -> list[PlannedSlice]:
        """The windows from `start` to `horizon`, re-using exports in flight, honouring a split.

        An export an earlier run created is planned as the window it was made for, and
        the plan is cut around it: windows of a run with another horizon, window size or
        split (the last window of a run ends at its horizon) still find their export
        instead of paying for, or waiting behind, a new one.
        """
        exports = self._windows_in_flight(start, horizon)
        planned: list[PlannedSlice] = []
        lower = start
        while lower < horizon:
            made = exports.pop(lower, None)
            if made is not None:
                planned.append(PlannedSlice(*made))
                lower = made[0].end
                continue
            upper = min((at for at in exports if at > lower), default=horizon)
            planned += [PlannedSlice(w) for w in self._cut(lower, upper, zone, days)]
            lower = upper
        return planned

    def plan_run(
        self,
        starts: Sequence[datetime],
        *,
        now: datetime,
        settle_lag: timedelta,
        end_date: datetime | None,
        zone: tzinfo,
        days: int,
    ) -> WindowPlan:
        """The run's windows: from the first of `starts` to the horizon, an edge at each.

        `starts` are where the run's readers of the stream start (its bookmark, and those
        of streams derived from its exports); those at or past the horizon (`end_date`,
        or now less the settle lag) have nothing to export.
        """
        horizon = sync_horizon(now, settle_lag, end_date)
        edges = [at for at in starts if at < horizon]
        planned = [
            slice
            for lower, upper in itertools.pairwise([*edges, horizon])
            for slice in self.plan(lower, upper, zone, days)
        ]
        return WindowPlan(planned, edges[0] if edges else horizon, horizon, days)

    def _cut(self, lower: datetime, upper: datetime, zone: tzinfo, days: int) -> list[Window]:
        """Windows of `days` local days from `lower` to `upper`, smaller where split."""
        windows: list[Window] = []
        split = self._split()
        if split is not None and lower < min(split[0], upper):
            until = min(split[0], upper)
            windows += plan_fixed_windows(lower, until, split[1])
            lower = until
        return windows + plan_windows(lower, upper, zone, days)

    def _windows_in_flight(
        self, start: datetime, horizon: datetime
    ) -> dict[datetime, tuple[Window, str]]:
        """The exports in flight for windows inside [start, horizon), by window start."""
        found: dict[datetime, tuple[Window, str]] = {}
        for entry in self._state.get(IN_FLIGHT, []):
            if "start" not in entry:
                continue  # a partition's
            try:
                window = Window(parse_utc(entry["start"]), parse_utc(entry["end"]))
                export_id = str(entry["export_id"])
            except (KeyError, TypeError, ValueError):
                continue  # a hand-edited state: ignore the hint, never fail on it
            if start <= window.start and window.end <= horizon:
                found.setdefault(window.start, (window, export_id))
        return found

    def _split(self) -> tuple[datetime, timedelta] | None:
        split = self._state.get(SPLIT)
        if not isinstance(split, dict):
            return None
        try:
            return parse_utc(split["until"]), timedelta(seconds=int(split["max_seconds"]))
        except (KeyError, TypeError, ValueError):
            return None

    # -- records exported before ----------------------------------------------------------

    def exported(self) -> ExportedKeys:
        """The records exports held in earlier runs (an empty set if none is kept)."""
        return ExportedKeys.from_state(self._state.get(EXPORTED))

    def keep_exported(self, keys: ExportedKeys) -> None:
        """Store the records exports held, up to now."""
        self._state[EXPORTED] = keys.to_state()

    # -- full snapshots: partitions -------------------------------------------------------

    def snapshot_left(self, source: str = "") -> list[Partition] | None:
        """The parts of an unfinished snapshot not yet delivered; None when none is open.

        `source` names what the snapshot exports (the settings that define the set): a
        snapshot of another source is not resumed, so changed filters take effect.
        """
        snapshot = self._state.get(SNAPSHOT)
        if not isinstance(snapshot, dict) or snapshot.get("source", "") != source:
            return None
        try:
            parts = [Partition.from_state(entry) for entry in snapshot["parts"]]
            done = set(snapshot.get("done", []))
        except (KeyError, TypeError, ValueError):
            return None  # a hand-edited state: plan afresh, never fail on it
        return [part for part in parts if part.key not in done]

    def start_snapshot(self, parts: Sequence[Partition], source: str = "") -> None:
        """Record a new snapshot's plan, before its first export is created.

        Exports of an earlier snapshot's parts (another source's) are forgotten: a part
        of the new plan may have the same key.
        """
        entries = [e for e in self._state.get(IN_FLIGHT, []) if "part" not in e]
        self._keep_in_flight(entries)
        plan = {"parts": [part.to_state() for part in parts], "done": []}
        self._state[SNAPSHOT] = {**plan, "source": source} if source else plan

    def split_part(self, part: Partition, halves: Sequence[Partition]) -> None:
        """Replace `part` in the plan by `halves` (it kept failing, or came back capped)."""
        snapshot = self._state[SNAPSHOT]
        entries = []
        for entry in snapshot["parts"]:
            if entry.get("key") == part.key:
                entries += [half.to_state() for half in halves]
            else:
                entries.append(entry)
        snapshot["parts"] = entries

    def part_done(self, part: Partition) -> None:
        """Record that every record of `part` was delivered."""
        self._state[SNAPSHOT]["done"].append(part.key)
        self.forget_export(part)

    def finish_snapshot(self) -> None:
        """The snapshot is complete: forget it, so the next run takes a new one."""
        self._state.pop(SNAPSHOT, None)
        self._keep_in_flight([e for e in self._state.get(IN_FLIGHT, []) if "part" not in e])
