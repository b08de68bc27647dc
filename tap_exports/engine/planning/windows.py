"""Window planning: cut [bookmark, horizon) into export windows that tile time exactly.

A window is a half-open interval [start, end) of UTC instants. Consecutive windows
share an edge, so together they cover every instant once; a record is delivered by the
window whose interval contains its timestamp, whatever the API puts in the file.

Interior edges are local midnights in the timezone the provider reads dates in: the
account's own zone for an API that reads dates as local days, UTC for one that takes
UTC instants. Providers that take wall-clock bounds ask for a range that *covers* the
window, widened where a DST fold makes a wall-clock time ambiguous, and the records
are filtered on the instants (`slices.StampBounds`).
That keeps exactly-once delivery independent of how the API reads an ambiguous time or
whether its bounds are inclusive.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo

from tap_exports.engine.planning.slices import Window
from tap_exports.engine.timestamps import format_utc

_WALL_CLOCK_STEP = timedelta(minutes=15)
_WALL_CLOCK_MAX_STEPS = 16  # four hours: wider than any DST shift on record


def plan_windows(start: datetime, end: datetime, zone: tzinfo, days: int) -> list[Window]:
    """Cut [start, end) into windows whose interior edges are local midnights.

    Each window spans `days` local days, except the first (which starts at `start`,
    usually a bookmark) and the last (which stops at `end`). DST days are simply
    23 or 25 hours long: edges are computed per local date, never by adding hours.
    """
    if days < 1:
        raise ValueError(f"window size must be at least one day, got {days}")
    windows: list[Window] = []
    edge_date = start.astimezone(zone).date()
    lower = start
    while lower < end:
        edge_date += timedelta(days=days)
        upper = min(start_of_local_day(edge_date, zone), end)
        if upper > lower:
            windows.append(Window(lower, upper))
            lower = upper
    return windows


def start_of_local_day(day: date, zone: tzinfo) -> datetime:
    """Return the first instant (UTC) whose local date in `zone` is `day`.

    Usually local midnight. Where midnight falls in a DST gap (some zones shift at
    00:00) the day starts at the end of the gap; where midnight is repeated, at its
    first occurrence. A date the zone skipped entirely (Pacific/Apia, 2011-12-30) has
    no instant: its start is the next date's, so its window is empty.
    """
    wall = datetime.combine(day, time())
    readings = (wall.replace(tzinfo=zone, fold=fold).astimezone(UTC) for fold in (0, 1))
    on_day = [instant for instant in readings if instant.astimezone(zone).date() == day]
    if not on_day:
        return start_of_local_day(day + timedelta(days=1), zone)
    return min(on_day)


def is_unambiguous_wall_clock(wall: datetime, zone: tzinfo) -> bool:
    """Tell whether a naive local time names exactly one instant in `zone`.

    A time in a DST fold names two instants and one in a gap names none; in both
    cases the two fold readings disagree.
    """
    first = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    return first == second


def wall_clock_at_or_before(instant: datetime, zone: tzinfo) -> datetime:
    """Return an unambiguous naive local time that is no later than `instant`.

    Used for a request's lower bound: however the API reads it, the range it names
    starts at or before the window.
    """
    return _step_to_unambiguous(instant, zone, -_WALL_CLOCK_STEP)


def wall_clock_at_or_after(instant: datetime, zone: tzinfo) -> datetime:
    """Return an unambiguous naive local time that is no earlier than `instant`.

    Used for a request's upper bound, so the range covers the window's end.
    """
    return _step_to_unambiguous(instant, zone, _WALL_CLOCK_STEP)


def _step_to_unambiguous(instant: datetime, zone: tzinfo, step: timedelta) -> datetime:
    wall = instant.astimezone(zone).replace(tzinfo=None, microsecond=0)
    for _ in range(_WALL_CLOCK_MAX_STEPS):
        if is_unambiguous_wall_clock(wall, zone):
            return wall
        wall += step
    raise ValueError(f"no unambiguous local time near {format_utc(instant)} in {zone}")


def sync_horizon(now: datetime, settle_lag: timedelta, end_date: datetime | None) -> datetime:
    """Return where this run's windows stop: `end_date`, but never past now minus the lag.

    The lag leaves the API time to make recent records visible; what is newer than
    the horizon is picked up by the next run. Truncated to whole seconds so the
    bookmark has the canonical form.
    """
    settled = (now - settle_lag).replace(microsecond=0)
    return settled if end_date is None else min(end_date, settled)


def plan_fixed_windows(start: datetime, end: datetime, size: timedelta) -> list[Window]:
    """Cut [start, end) into windows of `size` (the last one shorter).

    Used where earlier splits made the usual day-aligned windows too big to export.
    """
    step = max(timedelta(seconds=int(size.total_seconds())), timedelta(seconds=1))
    windows = []
    lower = start
    while lower < end:
        upper = min(lower + step, end)
        windows.append(Window(lower, upper))
        lower = upper
    return windows
