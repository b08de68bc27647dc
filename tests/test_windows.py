"""Window planning: exact tiling, local-midnight edges, DST days, wall-clock bounds."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tap_exports.engine.planning.slices import Window
from tap_exports.engine.planning.windows import (
    is_unambiguous_wall_clock,
    plan_fixed_windows,
    plan_windows,
    start_of_local_day,
    sync_horizon,
    wall_clock_at_or_after,
    wall_clock_at_or_before,
)
from tap_exports.engine.planning.zones import offsets_shown
from tests.builders import utc

NEW_YORK = ZoneInfo("America/New_York")


def test_windows_tile_the_range_without_gap_or_overlap():
    start, end = utc(2025, 2, 27, 13, 7, 9), utc(2025, 4, 3, 2, 0, 1)
    windows = plan_windows(start, end, NEW_YORK, 7)
    assert windows[0].start == start
    assert windows[-1].end == end
    for before, after in itertools.pairwise(windows):
        assert before.end == after.start


def test_interior_edges_are_local_midnights_across_dst_changes():
    windows = plan_windows(utc(2025, 3, 1, 5), utc(2025, 11, 10, 5), NEW_YORK, 1)
    for window in windows[1:]:
        local = window.start.astimezone(NEW_YORK)
        assert (local.hour, local.minute, local.second) == (0, 0, 0)


def test_dst_days_are_23_and_25_hours_long():
    spring = plan_windows(utc(2025, 3, 9, 5), utc(2025, 3, 10, 4), NEW_YORK, 1)
    autumn = plan_windows(utc(2025, 11, 2, 4), utc(2025, 11, 3, 5), NEW_YORK, 1)
    assert [w.end - w.start for w in spring] == [timedelta(hours=23)]
    assert [w.end - w.start for w in autumn] == [timedelta(hours=25)]


def test_multi_day_windows_span_that_many_local_days():
    windows = plan_windows(utc(2025, 3, 1, 5), utc(2025, 4, 1, 4), NEW_YORK, 10)
    local_starts = [w.start.astimezone(NEW_YORK).date() for w in windows]
    assert local_starts == [
        date(2025, 3, 1),
        date(2025, 3, 11),
        date(2025, 3, 21),
        date(2025, 3, 31),
    ]


def test_empty_range_gives_no_window():
    assert plan_windows(utc(2025, 3, 1), utc(2025, 3, 1), NEW_YORK, 1) == []


def test_record_exactly_at_an_edge_belongs_to_the_later_window_only():
    first, second = plan_windows(utc(2025, 3, 1, 5), utc(2025, 3, 3, 5), NEW_YORK, 1)
    edge = "2025-03-02T05:00:00Z"
    assert not (first.place(edge) is not None)
    assert second.place(edge) is not None
    assert first.place("2025-03-02T04:59:59Z") is not None


def test_contains_orders_non_canonical_stamps_correctly():
    window = Window(utc(2025, 3, 1, 5), utc(2025, 3, 2, 5))
    assert window.place("2025-03-02T04:59:59.999999Z") is not None
    assert not (window.place("2025-03-02T05:00:00.000001+00:00") is not None)
    assert window.place("2025-03-01T00:00:00-05:00") is not None
    assert not (window.place("2025-03-01T04:59:59.5Z") is not None)


def test_start_of_day_when_midnight_falls_in_a_dst_gap():
    # Santiago moved clocks from 24:00 to 01:00 on 2024-09-08: that day starts at 01:00.
    santiago = ZoneInfo("America/Santiago")
    start = start_of_local_day(date(2024, 9, 8), santiago)
    assert start.astimezone(santiago).date() == date(2024, 9, 8)
    assert start.astimezone(santiago).hour == 1
    assert start - timedelta(seconds=1) < start
    assert (start - timedelta(seconds=1)).astimezone(santiago).date() == date(2024, 9, 7)


def test_wall_clock_bounds_step_out_of_an_ambiguous_hour():
    # 2025-11-02 01:30 happens twice in New York; 05:30Z is the first, 06:30Z the second.
    for instant in (utc(2025, 11, 2, 5, 30), utc(2025, 11, 2, 6, 30)):
        lower = wall_clock_at_or_before(instant, NEW_YORK)
        upper = wall_clock_at_or_after(instant, NEW_YORK)
        assert is_unambiguous_wall_clock(lower, NEW_YORK)
        assert is_unambiguous_wall_clock(upper, NEW_YORK)
        assert lower.replace(tzinfo=NEW_YORK) <= instant <= upper.replace(tzinfo=NEW_YORK)


def test_wall_clock_bounds_are_exact_on_ordinary_times():
    instant = utc(2025, 3, 9, 7, 0, 0)  # 03:00 EDT, just after the spring gap
    assert wall_clock_at_or_before(instant, NEW_YORK) == datetime(2025, 3, 9, 3, 0, 0)
    assert wall_clock_at_or_after(instant, NEW_YORK) == datetime(2025, 3, 9, 3, 0, 0)


def test_horizon_is_now_minus_lag_unless_end_date_is_earlier():
    now = utc(2025, 6, 1, 12, 0, 0, 500)
    assert sync_horizon(now, timedelta(minutes=15), None) == utc(2025, 6, 1, 11, 45)
    assert sync_horizon(now, timedelta(0), utc(2025, 1, 1)) == utc(2025, 1, 1)


@pytest.mark.parametrize("days", [0, -1])
def test_window_size_must_be_positive(days: int):
    with pytest.raises(ValueError, match="at least one day"):
        plan_windows(utc(2025, 1, 1), utc(2025, 2, 1), NEW_YORK, days)


def test_a_date_the_zone_skipped_gives_an_empty_day_not_a_crash():
    # Samoa jumped from 2011-12-29 to 2011-12-31: the 30th never happened there.
    apia = ZoneInfo("Pacific/Apia")
    assert start_of_local_day(date(2011, 12, 30), apia) == start_of_local_day(
        date(2011, 12, 31), apia
    )
    windows = plan_windows(utc(2011, 12, 28, 10), utc(2012, 1, 1, 10), apia, 1)
    assert [w.start.astimezone(apia).date() for w in windows] == [
        date(2011, 12, 28),
        date(2011, 12, 29),
        date(2011, 12, 31),
        date(2012, 1, 1),
    ]


def test_window_bounds_must_be_whole_seconds():
    with pytest.raises(ValueError, match="whole seconds"):
        Window(utc(2025, 1, 1).replace(microsecond=500_000), utc(2025, 1, 2))


def test_split_halves_a_window_on_whole_seconds_down_to_a_minimum():
    window = Window(utc(2025, 3, 1, 5), utc(2025, 3, 1, 6, 0, 1))
    first, second = window.split(timedelta(minutes=10))
    assert (first.start, first.end, second.end) == (
        window.start,
        utc(2025, 3, 1, 5, 30),
        window.end,
    )
    assert window.split(timedelta(minutes=31)) is None


def test_fixed_windows_tile_the_range():
    windows = plan_fixed_windows(utc(2025, 3, 1), utc(2025, 3, 1, 10, 30), timedelta(hours=4))
    assert [(w.start.hour, w.end.hour, w.end.minute) for w in windows] == [
        (0, 4, 0),
        (4, 8, 0),
        (8, 10, 30),
    ]


@pytest.mark.parametrize(
    ("configured", "shift", "shown"),
    [
        # Berlin set, the space in New York: records 3h15 beyond prove only "west of -2:15".
        (1, 3.25, "a UTC offset from UTC-12:00 to UTC-02:15"),
        (-5, 3, "a UTC offset from UTC-12:00 to UTC-08:00"),
        (-5, -2, "a UTC offset from UTC-03:00 to UTC+14:00"),
        # A bound at the last offset zones have pins it.
        (2, 14, "UTC-12:00"),
        (9, -5, "UTC+14:00"),
    ],
)
def test_the_offsets_a_shift_proves_are_a_range_and_pinned_only_at_the_ends(
    configured: float, shift: float, shown: str
):
    at = datetime(2025, 3, 1, tzinfo=UTC)
    assert offsets_shown(timedelta(hours=configured), timedelta(hours=shift), at) == shown
