"""Per-space, per-endpoint-family rate limiting, as strict as the docs allow.

A sliding-window log: at most `limit` requests in any `period`. A client that passes
this also passes a fixed-window server. A refused request does not count (as in
Laravel's throttle), gets `Retry-After`, and any request that arrives before that
time is recorded as a *violation*: the tap must never send what the server said to hold.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

from tap_exports.engine.clock import Clock


@dataclass(frozen=True, slots=True)
class Decision:
    """The limiter's answer for one request."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # whole seconds, as the HTTP header carries them


class Limiter:
    """What every limiter shares: its limit and period, its counts, and the hold a 429 asks.

    Subclasses decide admission (`_admit`); refusals, violations and holds are counted
    here, under one lock.
    """

    def __init__(self, limit: int, period: float, *, clock: Clock) -> None:
        """At most `limit` requests per `period` seconds of `clock`, as the subclass reads that."""
        self.limit = limit
        self.period = period
        self.violations = 0
        self.refusals = 0
        self._hold_until = 0.0
        self._clock = clock
        self._lock = threading.Lock()

    def refuse_admitted(self, *, seconds: float) -> None:
        """Refuse the request just admitted after all, holding clients for `seconds`.

        A 429 sent for another reason (a storm of the server's): like every refusal it
        does not count against the limit, and its `Retry-After` is the hold. Not counted
        in `refusals`, which are the client's overruns.
        """
        with self._lock:
            self._give_back()
            self._hold_until = max(self._hold_until, self._clock.monotonic() + seconds)

    def decide(self) -> Decision:
        """Admit or refuse a request arriving now."""
        with self._lock:
            now = self._clock.monotonic()
            if now < self._hold_until:
                self.violations += 1
            decision = self._admit(now)
            if not decision.allowed:
                self.refusals += 1
                self._hold_until = max(self._hold_until, now + decision.retry_after)
            return decision

    def _admit(self, now: float) -> Decision:
        """The decision for a request arriving at `now` (the lock is held)."""
        raise NotImplementedError

    def _give_back(self) -> None:
        """Uncount the last request admitted (the lock is held)."""
        raise NotImplementedError


class SlidingWindowLimiter(Limiter):
    """One limit, shared by every request of one space and family."""

    def __init__(self, limit: int, period: float, *, clock: Clock) -> None:
        """At most `limit` requests in any `period` seconds of `clock`."""
        super().__init__(limit, period, clock=clock)
        self._times: deque[float] = deque()

    def _admit(self, now: float) -> Decision:
        while self._times and self._times[0] <= now - self.period:
            self._times.popleft()
        if len(self._times) < self.limit:
            self._times.append(now)
            return Decision(True, self.limit, self.limit - len(self._times), 0)
        wait = self._times[0] + self.period - now
        return Decision(False, self.limit, 0, max(1, math.ceil(wait)))

    def _give_back(self) -> None:
        self._times.pop()
