"""Time as a dependency: the engine waits and reads the time only through a `Clock`.

Injecting the clock is what lets the unit tests of pacing and polling run instantly
without patching `time.sleep`; production and the integration tests use `SystemClock`.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
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


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        """Read `time.monotonic`."""
        return time.monotonic()

    def now(self) -> datetime:
        """Read the wall clock in UTC."""
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        """Sleep for a positive duration."""
        if seconds > 0:
            time.sleep(seconds)
