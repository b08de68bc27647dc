"""Rate budget: never more than `limit` per period, server holds obeyed."""

from __future__ import annotations

from tap_exports.engine.budget import RateBudget
from tests.fakes import ManualClock


def send(budget: RateBudget, clock: ManualClock, count: int) -> list[float]:
    times = []
    for _ in range(count):
        with budget.slot():
            times.append(clock.monotonic())
    return times


def test_never_more_than_limit_in_any_period():
    clock = ManualClock()
    budget = RateBudget("create", limit=5, period=60, clock=clock)
    times = send(budget, clock, 17)
    for index in range(len(times) - 5):
        assert times[index + 5] - times[index] >= 60


def test_first_requests_go_out_without_waiting():
    clock = ManualClock()
    budget = RateBudget("status", limit=30, period=60, clock=clock)
    send(budget, clock, 30)
    assert clock.sleeps == []


def test_retry_after_holds_the_whole_budget():
    clock = ManualClock()
    budget = RateBudget("status", limit=30, period=60, clock=clock)
    budget.hold_for(7)
    assert send(budget, clock, 1) == [7]


def test_server_reporting_zero_remaining_waits_out_the_period():
    clock = ManualClock()
    budget = RateBudget("create", limit=5, period=60, clock=clock)
    send(budget, clock, 1)
    budget.observe_remaining(0)  # someone else used the rest of the budget
    assert send(budget, clock, 1) == [60]


def test_server_count_lower_than_ours_means_another_client_shares_the_key():
    clock = ManualClock()
    budget = RateBudget("create", limit=5, period=60, clock=clock)
    send(budget, clock, 1)
    budget.observe_remaining(1)  # the server has seen 4 requests, we sent 1
    assert send(budget, clock, 2) == [0, 60]
