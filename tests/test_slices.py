"""Slices: the one membership rule, windows and partitions, and snapshot plans in state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tap_exports.engine.planning.slices import IntRange, Partition, Window
from tap_exports.engine.state.progress import IN_FLIGHT, SNAPSHOT, Progress

WINDOW = Window(datetime(2025, 5, 11, tzinfo=UTC), datetime(2025, 5, 12, tzinfo=UTC))


@pytest.mark.parametrize(
    ("stamp", "inside"),
    [
        ("2025-05-11T00:00:00Z", True),
        ("2025-05-11T00:00:00.000000Z", True),
        ("2025-05-11T00:00:00.5Z", True),
        ("2025-05-11T23:59:59.999999Z", True),
        ("2025-05-10T23:59:59.999999Z", False),
        ("2025-05-12T00:00:00Z", False),
        ("2025-05-12T00:00:00.000001Z", False),
    ],
)
def test_a_canonical_stamp_of_any_precision_is_placed_by_its_whole_second(stamp, inside):
    assert WINDOW.bounds.admits(stamp) is inside
    assert (WINDOW.place(stamp) is not None) is inside
    if inside:
        assert WINDOW.place(stamp) == stamp  # canonical already: kept as sent


def test_the_bulk_forms_of_the_rule_agree_with_the_single_one():
    stamps = [
        "2025-05-10T23:59:59.999999Z",
        "2025-05-11T00:00:00Z",
        "2025-05-11T12:00:00.123Z",
        "2025-05-12T00:00:00Z",
    ]
    bounds = WINDOW.bounds
    kept = [stamp for stamp in stamps if bounds.admits(stamp)]
    assert bounds.keep(stamps, stamps) == kept
    assert bounds.count_outside(stamps) == len(stamps) - len(kept) == 2
    assert not bounds.admits_all(stamps) and bounds.admits_all(kept)


def test_non_canonical_stamps_are_parsed_before_the_rule():
    assert WINDOW.place("2025-05-11T02:00:00+02:00") is not None
    assert not (WINDOW.place("2025-05-12T01:00:00+01:00") is not None)  # the end, in another zone


def test_a_partition_admits_everything_and_splits_its_first_wide_range():
    part = Partition(
        "us",
        {"countries": ["United States"]},
        (IntRange("employee_count_min", "employee_count_max", 1, 100),),
    )
    assert part.bounds is None and part.place("anything") == "anything"
    lower, upper = part.split() or pytest.fail("a range of 100 values splits")
    assert lower.request_filters() == {
        "countries": ["United States"],
        "employee_count_min": 1,
        "employee_count_max": 50,
    }
    assert upper.request_filters()["employee_count_min"] == 51
    assert (lower.key, upper.key) == ("us.a", "us.b")
    assert Partition("one", {}, (IntRange("lo", "hi", 7, 7),)).split() is None
    assert Partition.from_state(lower.to_state()) == lower


def test_a_partition_with_nothing_to_split_on_does_not_split():
    assert Partition("all").split() is None


def test_a_snapshot_plan_survives_a_stop_and_resumes_with_the_parts_left():
    state: dict = {}
    progress = Progress(state)
    parts = [Partition("a"), Partition("b"), Partition("c")]
    assert progress.snapshot_left() is None
    progress.start_snapshot(parts)
    progress.remember_export("exp-b", parts[1])
    progress.part_done(parts[0])
    resumed = Progress(dict(state))  # a new run, from the state written
    left = resumed.snapshot_left()
    assert left == parts[1:]
    assert [p.attach for p in resumed.attach(left or [])] == ["exp-b", None]
    progress.finish_snapshot()
    assert SNAPSHOT not in state and IN_FLIGHT not in state


def test_a_split_part_is_replaced_by_its_halves_in_the_plan():
    state: dict = {}
    progress = Progress(state)
    wide = Partition("all", {}, (IntRange("lo", "hi", 0, 9),))
    progress.start_snapshot([wide, Partition("z")])
    halves = wide.split()
    assert halves is not None
    progress.split_part(wide, halves)
    assert [p.key for p in progress.snapshot_left() or []] == ["all.a", "all.b", "z"]


def test_an_export_for_a_window_and_one_for_a_part_are_told_apart_in_state():
    state: dict = {}
    progress = Progress(state)
    progress.remember_export("w", WINDOW)
    progress.remember_export("p", Partition("a"))
    progress.forget_export(WINDOW)
    assert state[IN_FLIGHT] == [{"export_id": "p", "part": "a"}]


def test_a_hand_edited_snapshot_is_planned_afresh_not_fatal():
    assert Progress({SNAPSHOT: {"parts": [{"nokey": 1}]}}).snapshot_left() is None
    assert Progress({SNAPSHOT: "later"}).snapshot_left() is None


def test_window_split_keeps_whole_second_edges():
    window = Window(datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, 0, 0, 3, tzinfo=UTC))
    halves = window.split(timedelta(seconds=1))
    assert halves is not None
    assert halves[0].end == datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC)
