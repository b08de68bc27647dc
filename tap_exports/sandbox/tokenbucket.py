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
import threading
import time

from tap_exports.sandbox.ratelimit import Decision

# Refilling is float arithmetic: a client that waited exactly as told must not miss its
# token by a rounding error.
_EPSILON = 1e-9


class TokenBucketLimiter:
    """One bucket, shared by every request of one token to one endpoint; thread-safe."""

    def __init__(self, limit: int, period: float) -> None:
        """A bucket of `limit` tokens (full at first) refilling `limit` per `period` seconds."""
        if limit < 1 or period <= 0:
            raise ValueError(f"need limit >= 1 and period > 0, got {limit} per {period}")
        self.limit = limit
        self.period = period
        self.violations = 0
        self.refusals = 0
        self._rate = limit / period
        self._tokens = float(limit)
        self._updated = time.monotonic()
        self._hold_until = 0.0
        self._lock = threading.Lock()

    def hold(self, *, seconds: float) -> None:
        """Tell clients to hold for `seconds` (a 429 sent for another reason)."""
        with self._lock:
            self._hold_until = max(self._hold_until, time.monotonic() + seconds)

    def decide(self) -> Decision:
        """Admit a request arriving now (taking a token) or refuse it."""
        with self._lock:
            now = time.monotonic()
            if now < self._hold_until:
                self.violations += 1
            self._tokens = min(self.limit, self._tokens + (now - self._updated) * self._rate)
            self._updated = now
            if self._tokens >= 1 - _EPSILON:
                self._tokens = max(0.0, self._tokens - 1)
                return Decision(True, self.limit, int(self._tokens + _EPSILON), 0)
            self.refusals += 1
            wait = (1 - self._tokens) / self._rate
            retry_after = max(1, math.ceil(wait - _EPSILON))
            self._hold_until = max(self._hold_until, now + retry_after)
            return Decision(False, self.limit, 0, retry_after)
