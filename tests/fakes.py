"""Clocks for unit tests of engine parts (nothing patched: the engine takes a clock)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

from tap_exports.engine.clock import SimulatedClock, SystemClock


class ManualClock(SimulatedClock):
    """Time moves only when someone sleeps; every sleep is kept, for assertions."""

    def __init__(self, start: datetime | None = None) -> None:
        super().__init__(start)
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.sleeps.append(seconds)
        super().sleep(seconds)


class ScaledClock(SystemClock):
    """The real clock run `factor` times faster, for threaded code that waits.

    A scheduler test can then use a provider's real intervals (a 5 s poll, an hour's
    timeout) and still take milliseconds, with nothing patched: every wait of the
    engine goes through its clock.
    """

    def __init__(self, factor: float = 1000.0) -> None:
        self.factor = factor
        self._origin = time.monotonic()

    def monotonic(self) -> float:
        return (time.monotonic() - self._origin) * self.factor

    def now(self) -> datetime:
        return datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=self.monotonic())

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds / self.factor)

    def wait(self, condition: threading.Condition, seconds: float) -> None:
        super().wait(condition, seconds / self.factor)
