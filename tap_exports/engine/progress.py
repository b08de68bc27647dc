"""What a stream keeps in its state besides the bookmark, and the plan built from it.

Two things must outlive a run that is killed or fails:
- the export created for the window in flight (`exports_in_flight`): exports are scarce
  (5 per minute), so the next run re-attaches to it instead of creating another;
- a window split after repeated failures (`window_split`): the next run keeps cutting
  that stretch of time into the smaller windows instead of failing on the big one again.

Both live in the stream's own state dict, next to `replication_key_value`; singer-sdk
writes them out with every STATE message and reads them back from `--state`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from tap_exports.engine.timestamps import format_utc, parse_utc
from tap_exports.engine.windows import Window, plan_fixed_windows, plan_windows

IN_FLIGHT = "exports_in_flight"
SPLIT = "window_split"


@dataclass(frozen=True, slots=True)
class PlannedWindow:
    """A window to export, and the id of an export already made for it, if any."""

    window: Window
    attach: str | None = None


class Progress:
    """Reads and writes the extra keys of one stream's state dict, in place."""

    def __init__(self, state: dict[str, Any]) -> None:
        """Wrap the stream's (or partition's) writable state dict."""
        self._state = state

    def remember_export(self, export_id: str, window: Window) -> None:
        """Record an export the moment it is created (replacing one for the same window).

        Several can be in flight: in BATCH mode a window's bookmark waits for its batch.
        """
        entries = [e for e in self._state.get(IN_FLIGHT, []) if e.get("start") != window.start_text]
        entries.append({"export_id": export_id, "start": window.start_text, "end": window.end_text})
        self._state[IN_FLIGHT] = entries

    def forget_export(self, window: Window) -> None:
        """Drop the export of `window` (given up on): the next run must not re-attach it."""
        entries = [e for e in self._state.get(IN_FLIGHT, []) if e.get("start") != window.start_text]
        if entries:
            self._state[IN_FLIGHT] = entries
        else:
            self._state.pop(IN_FLIGHT, None)

    def remember_split(self, until: datetime, size: timedelta) -> None:
        """Record that windows up to `until` must not exceed `size`."""
        current = self._split()
        if current is not None:
            until, size = max(until, current[0]), min(size, current[1])
        self._state[SPLIT] = {"until": format_utc(until), "max_seconds": int(size.total_seconds())}

    def passed(self, bookmark: datetime) -> None:
        """Forget what the bookmark has moved past."""
        exports = [
            entry for entry in self._state.get(IN_FLIGHT, []) if parse_utc(entry["end"]) > bookmark
        ]
        if exports:
            self._state[IN_FLIGHT] = exports
        else:
            self._state.pop(IN_FLIGHT, None)
        split = self._split()
        if split is not None and split[0] <= bookmark:
            self._state.pop(SPLIT, None)

    def plan(
        self, start: datetime, horizon: datetime, zone: tzinfo, days: int
    ) -> list[PlannedWindow]:
        """The windows from `start` to `horizon`, honouring an in-flight export and a split."""
        planned: list[PlannedWindow] = []
        in_flight = self._in_flight_at(start, horizon)
        if in_flight is not None:
            planned.append(in_flight)
            start = in_flight.window.end
        split = self._split()
        if split is not None and start < min(split[0], horizon):
            until = min(split[0], horizon)
            planned += [PlannedWindow(w) for w in plan_fixed_windows(start, until, split[1])]
            start = until
        planned += [PlannedWindow(w) for w in plan_windows(start, horizon, zone, days)]
        return [self._with_export(p) for p in planned]

    def _with_export(self, planned: PlannedWindow) -> PlannedWindow:
        """Attach an export made earlier for exactly this window, if there is one."""
        if planned.attach is not None:
            return planned
        for entry in self._state.get(IN_FLIGHT, []):
            if (entry.get("start"), entry.get("end")) == (
                planned.window.start_text,
                planned.window.end_text,
            ):
                return PlannedWindow(planned.window, attach=str(entry.get("export_id")))
        return planned

    def _in_flight_at(self, start: datetime, horizon: datetime) -> PlannedWindow | None:
        for entry in self._state.get(IN_FLIGHT, []):
            try:
                window = Window(parse_utc(entry["start"]), parse_utc(entry["end"]))
                export_id = str(entry["export_id"])
            except (KeyError, TypeError, ValueError):
                continue  # a hand-edited state: ignore the hint, never fail on it
            if window.start == start and window.end <= horizon:
                return PlannedWindow(window, attach=export_id)
        return None

    def _split(self) -> tuple[datetime, timedelta] | None:
        split = self._state.get(SPLIT)
        if not isinstance(split, dict):
            return None
        try:
            return parse_utc(split["until"]), timedelta(seconds=int(split["max_seconds"]))
        except (KeyError, TypeError, ValueError):
            return None
