"""A token-bucket rate limiter, for providers that document one (Cornect does).

A bucket holds at most `limit` tokens and refills steadily at `limit / period` per
second; a request takes one token or is refused. Unlike a sliding window it allows a
full burst after a quiet spell and then one request per `period / limit` seconds: a
client that paces itself to the window's average passes both, one that only counts
requests per minute does not.

As in `ratelimit.SlidingWindowLimiter`: a refused request takes no token, its answer
carries `Retry-After` (whole seconds until a token is there, at least 1), and any
request that arrives before that time is a *violation*: the tap must never send what
the server told it to hold.
"""

from __future__ import annotations

import math

from tap_exports.engine.clock import Clock
from tap_exports.sandbox.ratelimit import Decision, Limiter

# Refilling is float arithmetic: a client that waited exactly as told must not miss its
# token by a rounding error.
_EPSILON = 1e-9


class TokenBucketLimiter(Limiter):
    """One bucket, shared by every request of one token to one endpoint; thread-safe."""

    def __init__(self, limit: int, period: float, *, clock: Clock) -> None:
        """A bucket of `limit` tokens (full at first) refilling `limit` per `period` of `clock`."""
        if limit < 1 or period <= 0:
            raise ValueError(f"need limit >= 1 and period > 0, got {limit} per {period}")
        super().__init__(limit, period, clock=clock)
        self._rate = limit / period
        self._tokens = float(limit)
        self._updated = clock.monotonic()

    def _admit(self, now: float) -> Decision:
        self._tokens = min(self.limit, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens >= 1 - _EPSILON:
            self._tokens = max(0.0, self._tokens - 1)
            return Decision(True, self.limit, int(self._tokens + _EPSILON), 0)
        wait = (1 - self._tokens) / self._rate
        return Decision(False, self.limit, 0, max(1, math.ceil(wait - _EPSILON)))

    def _give_back(self) -> None:
        self._tokens = min(float(self.limit), self._tokens + 1)
