"""Canonical UTC text: bookmarks and record keys compare correctly as strings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tap_exports.engine.timestamps import canonical_utc, format_utc, parse_utc


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("2024-01-15T10:23:45Z", "2024-01-15T10:23:45Z"),
        ("2024-01-15T10:23:45+00:00", "2024-01-15T10:23:45Z"),
        ("2024-01-15T05:23:45-05:00", "2024-01-15T10:23:45Z"),
        ("2024-01-15T10:23:45.120000Z", "2024-01-15T10:23:45.120000Z"),
        ("2024-01-15T10:23:45", "2024-01-15T10:23:45Z"),
        # Microseconds kept exactly as sent, whatever their number of digits.
        ("2025-05-11T07:45:30.123456Z", "2025-05-11T07:45:30.123456Z"),
        ("2025-05-11T07:45:30.5Z", "2025-05-11T07:45:30.5Z"),
        # What merely looks canonical is written anew: a week date, seven digits.
        ("2025-W10-3T10:23:45Z", "2025-03-05T10:23:45Z"),
        ("2025-05-11T07:45:30.1234567Z", "2025-05-11T07:45:30.123456Z"),
    ],
)
def test_canonical_form(given: str, canonical: str):
    assert canonical_utc(given) == canonical


def test_format_and_parse_round_trip():
    moment = datetime(2025, 3, 9, 7, 0, 1, tzinfo=timezone(timedelta(hours=-4)))
    assert parse_utc(format_utc(moment)) == moment.astimezone(UTC)


def test_not_a_timestamp_raises_value_error():
    with pytest.raises(ValueError):
        canonical_utc("yesterday")
