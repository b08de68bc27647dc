"""Request pacing: never send a request the API's limit would refuse.

APIs document limits as "N per minute", often without saying whether the window is
fixed or sliding, or refill a token bucket. `RateBudget` keeps a log of when its
recent requests *finished* and allows at most `limit` in any `period`: that satisfies
a sliding window, and therefore a fixed one too (and a token bucket that holds
`limit` tokens and refills at `limit` per `period`), and
stamping completion rather than sending time absorbs network latency (the server
counted the request no later than we saw its answer).

Within that, requests are spread over the period rather than sent all at its start
and followed by a long wait: a bucket of `burst` tokens (half the limit, rounded up)
refills at `limit` per `period`, and each request takes one. The first half of a
period's requests go at once (a small sync waits for nothing), the rest one every
`period / limit` seconds. A server whose own bucket is smaller than its documented
per-minute count then refuses nothing, its load is even, and the long-run pace is the
same `limit` per `period`.

A budget whose limit is a guess (the API documents none) adapts both ways, as TCP and
the AWS SDKs' adaptive retry mode do: a 429 halves it (once per period however many
429s the burst holds, never below one request), and each period without a 429 adds one
back, up to the guess. Each change is logged with the new pace. A documented limit, or
one the user set, is never lowered by a 429. A server that advertises its limit
(`X-RateLimit-Limit`, as raised quotas are) is taken at its word: the budget paces at
that limit, never above it, unless the user set the limit (then it only goes down).

On top of its own log, a budget obeys the server: `Retry-After` on a 429 holds every
request of the budget for that long, and no longer; a reset the server announces
(`X-RateLimit-Reset` or `RateLimit-Reset`, seconds or an epoch) ends its window, so the
budget never waits past it for requests of the window before; and an
`X-RateLimit-Remaining` lower than the budget expects, on an answer that is not a 429,
means another client is using the same key: the difference is logged as spent now, so
the budget slows down before the server has to refuse anything. (On a 429, `Remaining:
0` is the refusal itself, which `Retry-After` already prices.) The
scheduler's threads share a budget, and it lets one request out at a time: the answer
to a request in flight may be a 429 whose hold a request sent meanwhile would break.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from tap_exports.engine.clock import Clock, SimulatedClock

logger = logging.getLogger(__name__)

# How soon a caller looks again while another caller's request is in flight.
_BUSY_RECHECK_SECONDS = 0.002
# The share of a period's requests that may go at once (see the module).
BURST_SHARE = 0.5
# Refilling is float arithmetic: a caller that waited exactly as told must get its token.
_EPSILON = 1e-9


def burst_of(limit: int) -> int:
    """How many requests of a `limit` per period may go at once (at least one)."""
    return max(1, math.ceil(limit * BURST_SHARE))


class RateBudget:
    """At most `limit` requests in any `period` seconds, shared by every caller."""

    def __init__(
        self,
        name: str,
        *,
        limit: int,
        period: float,
        clock: Clock,
        learns: bool = False,
        fixed: bool = False,
    ) -> None:
        """Create an empty budget; `name` appears in log lines about waiting.

        `learns`: the limit is a guess (the API documents none), lowered by a 429.
        `fixed`: the user set the limit: an advertised one may lower it, not raise it.
        """
        if limit < 1 or period <= 0:
            raise ValueError(f"budget {name!r} needs limit >= 1 and period > 0")
        self.name = name
        self.limit = limit
        self.period = period
        self._clock = clock
        self._finished: deque[float] = deque()
        self._in_flight = 0
        self._hold_until = 0.0
        self._learns = learns
        self._guess = limit
        # When the limit last went down (a 429) or up (a clean period): AIMD's clock.
        self._changed_at = float("-inf")
        self._reset_at: float | None = None
        # The request in flight was answered 429 (one request at a time: see `_acquire`).
        self._refused_in_flight = False
        self._fixed = fixed
        # Whether a limit the server advertised is in force (see `observe_limit`).
        self._advertised = False
        # The pacing bucket (see the module): full at first, refilled as time passes.
        self._tokens = float(burst_of(limit))
        self._filled_at = clock.monotonic()
        self._lock = threading.Lock()

    @contextmanager
    def slot(self) -> Iterator[int]:
        """Wait for a free slot, hold it while the request runs, then log its end.

        Yields how many requests of the period this budget had counted when the request
        was sent, itself included: what to compare the server's count with (see
        `observe_remaining`).
        """
        used = self._acquire()
        try:
            yield used
        finally:
            with self._lock:
                self._in_flight -= 1
                if self._refused_in_flight:
                    # Refused: not served, so neither counted nor paced.
                    self._refused_in_flight = False
                    self._tokens = min(float(burst_of(self.limit)), self._tokens + 1)
                else:
                    self._finished.append(self._clock.monotonic())

    def wait_time(self, *, spare: int = 0) -> float:
        """Seconds until a request could start while leaving `spare` slots for others.

        A caller that must never delay a more urgent one asks with `spare=1` before
        taking a slot (a budget of one slot has nothing to spare and is not reserved).
        """
        with self._lock:
            return self._wait_time_locked(self._clock.monotonic(), spare=spare)

    def hold_for(self, seconds: float) -> None:
        """Send nothing on this budget for `seconds` (a server's `Retry-After`)."""
        with self._lock:
            self._hold_until = max(self._hold_until, self._clock.monotonic() + seconds)

    def refused(self, used: int) -> None:
        """A 429 answered the request sent as number `used` of the period.

        A guessed limit halves, once per period whatever the burst (see the module). A
        refusal of the period's first request says nothing about the limit (another
        client, or a penalty), and a documented limit is kept.
        """
        with self._lock:
            # What was refused was not served: its slot is not taken for a period (the
            # server's Retry-After, held by `hold_for`, prices it).
            self._refused_in_flight = self._in_flight > 0
            now = self._clock.monotonic()
            if not self._learns or used <= 1 or now - self._changed_at < self.period:
                return
            halved = max(1, self.limit // 2)
            if halved == self.limit:
                return
            self._changed_at = now
            logger.warning(
                "budget %r: the server refused request %d of the last %gs; pacing at %d "
                "per %gs, back up by one each period without a 429 (the '%s_rate_limit' "
                "setting fixes it)",
                self.name,
                used,
                self.period,
                halved,
                self.period,
                self.name,
            )
            self._set_limit_locked(halved)

    def observe_reset(self, seconds: float) -> None:
        """The server's window ends in `seconds`: requests before then stop counting."""
        with self._lock:
            if seconds >= 0:
                self._reset_at = self._clock.monotonic() + seconds

    def observe_limit(self, advertised: int) -> None:
        """The server's answer states its limit for this budget: pace at it (see the module).

        A budget several endpoints share may hear several limits: it keeps the strictest
        it has heard, so it never goes back up. Logged when the limit changes.
        """
        with self._lock:
            if advertised < 1 or advertised == self.limit:
                return
            raising = advertised > self.limit
            if raising and (self._fixed or self._advertised):
                return  # a limit the user set, or a stricter one heard before
            self._advertised = True
            logger.info(
                "budget %r: the server advertises %d requests per period; pacing at that "
                "(was %d per %gs)",
                self.name,
                advertised,
                self.limit,
                self.period,
            )
            self._set_limit_locked(advertised)

    def observe_remaining(self, remaining: int, *, used: int) -> None:
        """Count requests the server saw but this budget did not (another client's).

        `used` is this budget's count when the request was sent (from `slot`). The
        server counted between sending and answering, so comparing with the count at
        the answer instead would take one of ours that aged out meanwhile for a
        stranger's, and book a request that never happened for a whole period.
        """
        with self._lock:
            now = self._clock.monotonic()
            for _ in range(self.limit - used - max(remaining, 0)):
                self._finished.append(now)

    def _acquire(self) -> int:
        while True:
            with self._lock:
                now = self._clock.monotonic()
                wait = self._wait_time_locked(now)
                if wait <= 0:
                    self._in_flight += 1
                    self._tokens = max(0.0, self._tokens - 1)
                    return len(self._finished) + self._in_flight
            self._clock.sleep(wait)

    def _set_limit_locked(self, limit: int) -> None:
        """Pace at `limit` from now: a larger burst is there at once, a smaller one caps."""
        grown = burst_of(limit) - burst_of(self.limit)
        self.limit = limit
        self._tokens = min(float(burst_of(limit)), self._tokens + max(grown, 0))

    def _refill_locked(self, now: float) -> None:
        burst = burst_of(self.limit)
        elapsed = now - self._filled_at
        self._tokens = min(float(burst), self._tokens + elapsed * self.limit / self.period)
        self._filled_at = now

    def _recover_locked(self, now: float) -> None:
        """A guessed limit lowered by a 429 gains one back per period without one."""
        if self._learns and self.limit < self._guess and now - self._changed_at >= self.period:
            self._changed_at = now
            self._set_limit_locked(self.limit + 1)
            logger.info(
                "budget %r: no 429 for %gs; pacing at %d per %gs",
                self.name,
                self.period,
                self.limit,
                self.period,
            )

    def _wait_time_locked(self, now: float, *, spare: int = 0) -> float:
        self._recover_locked(now)
        if self._reset_at is not None and now >= self._reset_at:
            # The server's window ended: what was sent in it no longer counts there.
            reset_at, self._reset_at = self._reset_at, None
            self._finished = deque(stamp for stamp in self._finished if stamp >= reset_at)
            self._tokens = float(burst_of(self.limit))
        self._refill_locked(now)
        while self._finished and self._finished[0] <= now - self.period:
            self._finished.popleft()
        wait = max(0.0, self._hold_until - now)
        if self._in_flight:
            # One request at a time: the answer to the one in flight may be a 429 whose
            # hold a request sent meanwhile would break.
            wait = max(wait, _BUSY_RECHECK_SECONDS)
        # The pacing bucket: wait for a token, and for `spare` more if asked (see `wait_time`).
        needed = 1 + min(spare, burst_of(self.limit) - 1)
        if self._tokens < needed - _EPSILON:
            refilled_at = now + (needed - self._tokens) * self.period / self.limit
            if self._reset_at is not None:
                refilled_at = min(refilled_at, self._reset_at)  # a reset fills it
            wait = max(wait, refilled_at - now)
        limit = self.limit - min(spare, self.limit - 1)
        used = len(self._finished) + self._in_flight
        if used >= limit:
            if len(self._finished) > used - limit:
                # The slot frees when enough finished requests age out of the period,
                # or when the server's window resets, if it said so and that is sooner.
                frees_at = self._finished[used - limit] + self.period
                if self._reset_at is not None:
                    frees_at = min(frees_at, self._reset_at)
                wait = max(wait, frees_at - now)
            else:
                # Every slot is taken by requests still running: check back shortly.
                wait = max(wait, min(self.period / self.limit, 0.05))
        return wait


def least_seconds(requests: int, *, limit: int, period: float) -> float:
    """When the last of `requests` can start at the soonest, on a fresh budget.

    What a plan quotes as the floor a rate limit puts under the wall time: the budget
    itself is replayed on a clock that only moves when it waits, so the figure follows
    the pacing rules above and cannot drift from them.
    """
    clock = SimulatedClock()
    budget = RateBudget("replay", limit=limit, period=period, clock=clock)
    for _ in range(requests):
        with budget.slot():
            pass
    return clock.monotonic()
