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
    budget.observe_remaining(0, used=1)  # someone else used the rest of the budget
    assert send(budget, clock, 1) == [60]


def test_our_own_request_aging_out_before_the_answer_is_not_taken_for_a_strangers():
    """The server counted 5 of ours (one sent 59.9 s ago included); by the time the
    answer is read that one has aged out here. Still no stranger: nothing is booked."""
    clock = ManualClock()
    budget = RateBudget("create", limit=5, period=60, clock=clock)
    send(budget, clock, 4)
    clock.sleep(59.9)
    with budget.slot() as used:
        clock.sleep(0.2)  # the answer comes back after the first request aged out
    budget.observe_remaining(0, used=used)
    assert used == 5
    now = clock.monotonic()
    assert send(budget, clock, 4) == [now] * 4  # the four first have aged out: no wait


def test_server_count_lower_than_ours_means_another_client_shares_the_key():
    clock = ManualClock()
    budget = RateBudget("create", limit=5, period=60, clock=clock)
    send(budget, clock, 1)
    budget.observe_remaining(1, used=1)  # the server has seen 4 requests, we sent 1
    assert send(budget, clock, 2) == [0, 60]


def test_a_guessed_limit_learns_from_the_first_refusal_a_documented_one_does_not():
    clock = ManualClock()
    guessed = RateBudget("api", limit=10, period=60.0, clock=clock, learns=True)
    documented = RateBudget("create", limit=10, period=60.0, clock=clock)
    guessed.refused(1)  # the period's first request: another client, or a penalty
    assert guessed.limit == 10
    for budget in (guessed, documented):
        budget.refused(7)  # the 7th request of the period got a 429
    assert (guessed.limit, documented.limit) == (6, 10)
    guessed.refused(9)  # learnt once: never raised again,
    guessed.refused(3)  # nor lowered by a later refusal
    assert guessed.limit == 6
