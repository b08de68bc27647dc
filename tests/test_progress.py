"""Progress kept in state: re-attach plans, splits that outlive a run, forgetting."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from tap_exports.engine.planning.slices import Window
from tap_exports.engine.state.progress import IN_FLIGHT, SPLIT, Progress
from tests.builders import utc

NEW_YORK = ZoneInfo("America/New_York")


def test_export_in_flight_at_the_bookmark_is_planned_first_with_its_id():
    state: dict = {}
    progress = Progress(state)
    progress.remember_export("1001", Window(utc(2025, 3, 1, 5), utc(2025, 3, 3, 5)))
    plan = progress.plan(utc(2025, 3, 1, 5), utc(2025, 3, 5, 5), NEW_YORK, 30)
    assert (plan[0].slice.end, plan[0].attach) == (utc(2025, 3, 3, 5), "1001")
    assert (plan[1].slice.start, plan[1].slice.end, plan[1].attach) == (
        utc(2025, 3, 3, 5),
        utc(2025, 3, 5, 5),
        None,
    )


def test_export_made_for_a_later_window_is_attached_to_that_window_only():
    progress = Progress({})
    progress.remember_export("1001", Window(utc(2025, 3, 2, 5), utc(2025, 3, 3, 5)))
    plan = progress.plan(utc(2025, 3, 1, 5), utc(2025, 3, 5, 5), NEW_YORK, 1)
    assert [p.attach for p in plan] == [None, "1001", None, None]
    # Cut differently (2-day windows): the plan is cut around the export, which is used.
    plan = progress.plan(utc(2025, 3, 1, 5), utc(2025, 3, 5, 5), NEW_YORK, 2)
    assert [(p.slice.start.day, p.slice.end.day, p.attach) for p in plan] == [
        (1, 2, None),
        (2, 3, "1001"),
        (3, 5, None),
    ]


def test_the_last_window_of_a_stopped_run_is_reattached_under_a_later_horizon():
    """A run's last window ends at its horizon, which the next run has moved on: its
    export must still be found (else a one-job provider blocks on it, or it is paid twice)."""
    progress = Progress({})
    progress.remember_export("1001", Window(utc(2025, 3, 2, 5), utc(2025, 3, 2, 17)))
    plan = progress.plan(utc(2025, 3, 1, 5), utc(2025, 3, 3, 20), NEW_YORK, 1)
    assert [(p.slice.start, p.slice.end, p.attach) for p in plan] == [
        (utc(2025, 3, 1, 5), utc(2025, 3, 2, 5), None),
        (utc(2025, 3, 2, 5), utc(2025, 3, 2, 17), "1001"),
        (utc(2025, 3, 2, 17), utc(2025, 3, 3, 5), None),
        (utc(2025, 3, 3, 5), utc(2025, 3, 3, 20), None),
    ]


def test_export_in_flight_past_the_horizon_is_ignored():
    progress = Progress({})
    progress.remember_export("1001", Window(utc(2025, 3, 2, 5), utc(2025, 3, 3, 5)))
    plan = progress.plan(utc(2025, 3, 2, 5), utc(2025, 3, 2, 9), NEW_YORK, 1)
    assert all(p.attach is None for p in plan)


def test_split_region_is_cut_small_then_planning_goes_back_to_days():
    progress = Progress({})
    progress.remember_split(utc(2025, 3, 3, 5), timedelta(hours=12))
    plan = progress.plan(utc(2025, 3, 2, 5), utc(2025, 3, 5, 5), NEW_YORK, 30)
    assert [(p.slice.start, p.slice.end) for p in plan] == [
        (utc(2025, 3, 2, 5), utc(2025, 3, 2, 17)),
        (utc(2025, 3, 2, 17), utc(2025, 3, 3, 5)),
        (utc(2025, 3, 3, 5), utc(2025, 3, 5, 5)),
    ]


def test_nested_splits_keep_the_widest_reach_and_the_smallest_size():
    state: dict = {}
    progress = Progress(state)
    progress.remember_split(utc(2025, 3, 5), timedelta(days=2))
    progress.remember_split(utc(2025, 3, 3), timedelta(days=1))
    assert state[SPLIT] == {"until": "2025-03-05T00:00:00Z", "max_seconds": 86400}


def test_what_the_bookmark_passed_is_forgotten():
    state: dict = {}
    progress = Progress(state)
    progress.remember_export("1001", Window(utc(2025, 3, 1), utc(2025, 3, 2)))
    progress.remember_split(utc(2025, 3, 3), timedelta(hours=6))
    progress.passed(utc(2025, 3, 2))
    assert IN_FLIGHT not in state
    assert SPLIT in state
    progress.passed(utc(2025, 3, 3))
    assert SPLIT not in state


def test_a_hand_edited_state_is_ignored_not_fatal():
    state = {IN_FLIGHT: [{"export_id": 1}], SPLIT: "soon"}
    plan = Progress(state).plan(utc(2025, 3, 1, 5), utc(2025, 3, 2, 5), NEW_YORK, 1)
    assert [(p.slice.start, p.attach) for p in plan] == [(utc(2025, 3, 1, 5), None)]


def test_a_run_plans_up_to_the_settled_horizon_with_an_edge_at_every_readers_start():
    plan = Progress({}).plan_run(
        [utc(2025, 3, 1), utc(2025, 3, 3, 12)],
        now=utc(2025, 3, 5, 0, 10, 30, 999),
        settle_lag=timedelta(minutes=15),
        end_date=None,
        zone=ZoneInfo("UTC"),
        days=7,
    )
    assert (plan.start, plan.horizon) == (utc(2025, 3, 1), utc(2025, 3, 4, 23, 55, 30))
    assert [(p.slice.start, p.slice.end) for p in plan.slices] == [
        (utc(2025, 3, 1), utc(2025, 3, 3, 12)),
        (utc(2025, 3, 3, 12), utc(2025, 3, 4, 23, 55, 30)),
    ]
    assert str(plan).startswith("2 window(s) of up to 7 day(s) from 2025-03-01T00:00:00+00:00")


def test_readers_that_start_at_or_past_the_horizon_leave_nothing_to_export():
    plan = Progress({}).plan_run(
        [utc(2025, 3, 1)],
        now=utc(2025, 6, 1),
        settle_lag=timedelta(0),
        end_date=utc(2025, 3, 1),
        zone=NEW_YORK,
        days=1,
    )
    assert (plan.slices, plan.start, plan.horizon) == ([], utc(2025, 3, 1), utc(2025, 3, 1))
