"""Small values the unit tests build again and again: UTC instants, runs of daily windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tap_exports.engine.planning.slices import Slice, Window


def utc(*parts: int) -> datetime:
    """`datetime(*parts)` in UTC."""
    return datetime(*parts, tzinfo=UTC)


def daily_windows(count: int) -> list[tuple[Slice, str | None]]:
    """`count` one-day windows from 2025-03-01 UTC, as the scheduler takes them (no export)."""
    start = utc(2025, 3, 1)
    return [
        (Window(start + timedelta(days=i), start + timedelta(days=i + 1)), None)
        for i in range(count)
    ]
