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


def test_a_guessed_limit_halves_on_a_429_once_per_burst_and_a_documented_one_does_not():
    clock = ManualClock()
    guessed = RateBudget("api", limit=10, period=60.0, clock=clock, learns=True)
    documented = RateBudget("create", limit=10, period=60.0, clock=clock)
    guessed.refused(1)  # the period's first request: another client, or a penalty
    assert guessed.limit == 10
    for budget in (guessed, documented):
        budget.refused(7)  # the 7th request of the period got a 429
        budget.refused(8)  # the same burst: not halved again
    assert (guessed.limit, documented.limit) == (5, 10)


def test_a_guessed_limit_climbs_back_one_per_clean_period_up_to_the_guess():
    clock = ManualClock()
    budget = RateBudget("api", limit=4, period=10.0, clock=clock, learns=True)
    budget.refused(3)
    assert budget.limit == 2
    limits = []
    for _ in range(4):
        clock.sleep(10)
        budget.wait_time()
        limits.append(budget.limit)
    assert limits == [3, 4, 4, 4]  # additive increase, never above the guess
    budget.refused(4)  # a later 429 halves it again
    assert budget.limit == 2


def test_a_429s_retry_after_is_the_hold_and_its_remaining_zero_holds_no_period():
    """A 429 with `Retry-After: 2` and `Remaining: 0` costs 2 s, not the period."""
    clock = ManualClock()
    budget = RateBudget("create", limit=5, period=60, clock=clock)
    send(budget, clock, 1)
    budget.hold_for(2)  # the 429's Retry-After; its Remaining is not booked (api.py)
    assert send(budget, clock, 3) == [2, 2, 2]


def test_a_reset_the_server_announces_bounds_the_wait():
    clock = ManualClock()
    budget = RateBudget("create", limit=2, period=60, clock=clock)
    send(budget, clock, 2)
    budget.observe_reset(5)  # the server's window ends in 5 s, not 60
    assert send(budget, clock, 2) == [5, 5]


def test_a_refused_request_takes_no_slot_for_the_period():
    clock = ManualClock()
    budget = RateBudget("create", limit=2, period=60, clock=clock)
    send(budget, clock, 1)
    with budget.slot() as used:
        budget.hold_for(1)  # answered 429, Retry-After 1
        budget.refused(used)
    assert send(budget, clock, 1) == [1]  # the hold, not the period: one slot was left
