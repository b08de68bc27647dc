"""How far a range an API read is from the one the tap meant, in timezone terms.

When an API reads dates in a zone the tap cannot ask it for, the only evidence of a
wrong zone setting is records beyond the request (`coverage`). These helpers turn that
evidence into what a person can act on: the least shift it proves, rounded to the
quarter hours zone offsets come in, and the range of UTC offsets consistent with it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tap_exports.engine.timestamps import format_utc, parse_utc

# Zones to name when suggesting one for a UTC offset, most used first.
_KNOWN_ZONES = (
    "America/Los_Angeles", "America/Denver", "America/Chicago", "America/New_York",
    "America/Sao_Paulo", "Europe/London", "Europe/Berlin", "Europe/Helsinki",
    "Asia/Dubai", "Asia/Kolkata", "Asia/Singapore", "Asia/Tokyo", "Australia/Sydney",
    "Pacific/Auckland", "America/Anchorage", "Pacific/Honolulu",
)  # fmt: skip
_QUARTER_HOUR = timedelta(minutes=15)


def shift_shown(earliest: str, latest: str, low: datetime, high: datetime) -> timedelta:
    """At least how far the API's range was from [low, high), from the records beyond it.

    Negative: the API's range started earlier (records before `low`). Rounded away from
    zero to a quarter hour: the records seen lie inside the API's range, not at its edge.
    """
    if earliest < format_utc(low):
        gap = low.astimezone(UTC) - parse_utc(earliest)
        sign = -1
    else:
        gap = parse_utc(latest) - high.astimezone(UTC)
        sign = 1
    quarters = -(-gap // _QUARTER_HOUR)  # rounded up
    return sign * quarters * _QUARTER_HOUR


def hours(span: timedelta) -> str:
    """`+3h`, `-5h30`: a shift as people say it."""
    minutes = round(span.total_seconds() / 60)
    whole, rest = divmod(abs(minutes), 60)
    return f"{'+' if minutes >= 0 else '-'}{whole}h" + (f"{rest:02d}" if rest else "")


_EARLIEST_OFFSET = timedelta(hours=-12)
_LATEST_OFFSET = timedelta(hours=14)


def offsets_shown(configured: timedelta, shift: timedelta, at: datetime) -> str:
    """What records beyond a request prove of the zone the API read it in.

    `shift` (from `shift_shown`) is a bound, not a measure: the API's range was at least
    that far from the one meant, perhaps further. So the zone's UTC offset is at most
    (a later range) or at least (an earlier one) `configured - shift`, within the
    offsets zones have (UTC-12:00 to UTC+14:00). Zones are named only when that pins
    one offset.
    """
    bound = configured - shift
    if shift > timedelta(0):
        low, high = _EARLIEST_OFFSET, min(bound, _LATEST_OFFSET)
    else:
        low, high = max(bound, _EARLIEST_OFFSET), _LATEST_OFFSET
    if low >= high:
        names = [name for name in _KNOWN_ZONES if ZoneInfo(name).utcoffset(at) == high]
        pinned = f"{_utc(high)}"
        return f"{pinned} (for example {names[0]})" if names else pinned
    return f"a UTC offset from {_utc(low)} to {_utc(high)}"


def _utc(offset: timedelta) -> str:
    minutes = round(offset.total_seconds() / 60)
    return f"UTC{'+' if minutes >= 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
