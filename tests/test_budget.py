"""Rate budget: never more than `limit` per period, server holds obeyed."""

from __future__ import annotations

from tap_exports.engine.http.budget import RateBudget
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


def test_half_a_period_goes_at_once_and_the_rest_is_spread_over_it():
    clock = ManualClock()
    budget = RateBudget("status", limit=30, period=60, clock=clock)
    times = send(budget, clock, 90)
    assert times[:15] == [0] * 15  # a small sync waits for nothing
    assert times[15:30] == [2.0 * step for step in range(1, 16)]  # then one per 60 s / 30
    # Never more than the limit in a period, and the limit's pace in the long run: each
    # period starts with a burst of 15 (the first ones age out) and spreads the rest.
    assert all(times[index + 30] - times[index] >= 60 for index in range(len(times) - 30))
    assert times[30:45] == [60] * 15 and times[45:60] == [60 + 2.0 * s for s in range(1, 16)]
    assert times[-1] == 150


def test_a_lowered_limit_paces_at_its_own_rate_and_a_raised_one_bursts_at_once():
    clock = ManualClock()
    lowered = RateBudget("api", limit=8, period=60.0, clock=clock)
    lowered.observe_limit(4)  # the server advertises 4 per minute
    assert send(lowered, clock, 4) == [0, 0, 15, 30]  # a burst of 2, then one per 15 s
    clock = ManualClock()
    raised = RateBudget("create", limit=4, period=60.0, clock=clock)
    send(raised, clock, 2)
    raised.observe_limit(40)  # the server advertises 40: a burst of 20 is there at once
    assert send(raised, clock, 18) == [0] * 18


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
    budget = RateBudget("create", limit=10, period=60, clock=clock)
    send(budget, clock, 4)
    clock.sleep(59.9)
    with budget.slot() as used:
        clock.sleep(0.2)  # the answer comes back after the first request aged out
    budget.observe_remaining(5, used=used)
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
    budget = RateBudget("create", limit=10, period=60, clock=clock)
    send(budget, clock, 1)
    budget.hold_for(2)  # the 429's Retry-After; its Remaining is not booked (api.py)
    assert send(budget, clock, 3) == [2, 2, 2]


def test_a_reset_the_server_announces_bounds_the_wait():
    clock = ManualClock()
    budget = RateBudget("create", limit=2, period=60, clock=clock)
    assert send(budget, clock, 2) == [0, 30]  # a burst of one, then one per 30 s
    budget.observe_reset(5)  # the server's window ends in 5 s, not 30 s later
    # At the reset nothing before it counts and the pace starts afresh.
    assert send(budget, clock, 2) == [35, 65]


def test_a_refused_request_takes_no_slot_for_the_period():
    clock = ManualClock()
    budget = RateBudget("create", limit=2, period=60, clock=clock)
    send(budget, clock, 1)
    with budget.slot() as used:  # paced: one per 30 s
        budget.hold_for(1)  # answered 429, Retry-After 1
        budget.refused(used)
    # The hold and no more: the refused request took neither its slot nor its turn.
    assert send(budget, clock, 1) == [31]
