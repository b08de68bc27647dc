"""Time as a dependency: the engine waits and reads the time only through a `Clock`.

Injecting the clock is what lets the unit tests of pacing and polling run instantly
without patching `time.sleep`; production and the integration tests use `SystemClock`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Monotonic time for intervals, wall time for dates, and a way to wait."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    def now(self) -> datetime:
        """The current wall-clock time, timezone-aware (UTC)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block for `seconds` (no-op for zero or less)."""
        ...

    def wait(self, condition: threading.Condition, seconds: float) -> None:
        """Wait on `condition` (held by the caller) until notified or `seconds` pass."""
        ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """Read `time.monotonic`."""
        return time.monotonic()

    def now(self) -> datetime:
        """Read the wall clock in UTC."""
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        """Sleep for a positive duration; in a `cancellable` block, until cancelled.

        Raises:
            Cancelled: the block's event was set before or during the sleep.
        """
        stop = getattr(_scope, "stop", None)
        if stop is not None:
            if stop.wait(max(seconds, 0.0)):
                raise Cancelled
        elif seconds > 0:
            time.sleep(seconds)

    def wait(self, condition: threading.Condition, seconds: float) -> None:
        """Wait on the condition for at most `seconds` of real time."""
        condition.wait(max(seconds, 0.0))


class SimulatedClock:
    """Time that passes only when someone waits: for replaying pacing without waiting.

    A plan's wall-time floor replays a rate budget on one (`budget.least_seconds`), and
    unit tests drive engine parts with one.
    """

    def __init__(self, start: datetime | None = None) -> None:
        """Start at `start` (wall time), zero on the monotonic clock."""
        self.elapsed = 0.0
        self._start = start or datetime(2025, 1, 1, tzinfo=UTC)

    def monotonic(self) -> float:
        """Seconds waited so far."""
        return self.elapsed

    def now(self) -> datetime:
        """The start plus the seconds waited."""
        return self._start + timedelta(seconds=self.elapsed)

    def sleep(self, seconds: float) -> None:
        """Let `seconds` pass at once (nothing for zero or less)."""
        if seconds > 0:
            self.elapsed += seconds

    def wait(self, condition: threading.Condition, seconds: float) -> None:
        """Let `seconds` pass: nobody else can notify a simulated wait."""
        self.sleep(seconds)


class Cancelled(Exception):
    """The work was called off (see `cancellable`)."""


_scope = threading.local()


@contextmanager
def cancellable(stop: threading.Event) -> Iterator[None]:
    """Let this thread's waits end early once `stop` is set (they raise `Cancelled`).

    The scheduler runs its worker threads' requests inside one, so that a run that
    stops does not leave them sending requests (or sleeping through a `Retry-After`)
    behind it. Waits of other threads are not affected.
    """
    _scope.stop = stop
    try:
        yield
    finally:
        _scope.stop = None


def raise_if_cancelled() -> None:
    """Raise `Cancelled` if this thread's `cancellable` event is set.

    Raises:
        Cancelled: it is.
    """
    stop = getattr(_scope, "stop", None)
    if stop is not None and stop.is_set():
        raise Cancelled
