"""Small values the tests build again and again: UTC instants, runs of daily windows,
rows as multisets."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

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


def multiset(rows: list[dict[str, Any]]) -> Counter[bytes]:
    """Rows as a multiset: their order set aside, identical rows counted."""
    return Counter(orjson.dumps(row, option=orjson.OPT_SORT_KEYS) for row in rows)
