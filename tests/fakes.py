"""A manual clock for unit tests of pure engine parts (no patching of `time`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class ManualClock:
    """Time moves only when someone sleeps."""

    def __init__(self, start: datetime | None = None) -> None:
        self.elapsed = 0.0
        self.sleeps: list[float] = []
        self._start = start or datetime(2025, 1, 1, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.elapsed

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.elapsed)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.sleeps.append(seconds)
            self.elapsed += seconds
