"""One canonical text form for UTC instants, so bookmarks and record values compare.

singer-sdk and most targets compare bookmark strings, and `...Z`, `...+00:00` and
fractional seconds order wrongly as text. Everything the tap writes (bookmarks and
record replication keys) uses `YYYY-MM-DDTHH:MM:SSZ`, with a fraction of one to six
digits only when a source value carries sub-second precision. A value already in that
form is kept exactly as sent (`.5Z` stays `.5Z`): membership is decided on its
whole-second prefix (`slices.StampBounds`), so the digits need no normalising.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

# The canonical form, with a real month, day, hour, minute and second (what a pattern
# cannot tell, such as February 30, the callers' timestamp check has refused).
_DATE_AND_TIME = (
    r"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
)
CANONICAL_STAMP = _DATE_AND_TIME + r"(?:\.[0-9]{1,6})?Z"
# The same without a fraction: always 20 characters, which bulk checks exploit.
WHOLE_SECOND_STAMP = _DATE_AND_TIME + "Z"
_CANONICAL = re.compile(CANONICAL_STAMP)


def format_utc(instant: datetime) -> str:
    """Render an aware datetime in the canonical UTC form."""
    utc = instant.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


def parse_utc(text: str) -> datetime:
    """Parse an ISO 8601 timestamp; a value without an offset is taken as UTC.

    Raises:
        ValueError: `text` is not an ISO 8601 timestamp.
    """
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def is_canonical(text: str) -> bool:
    """Tell, cheaply, whether a timestamp already has the canonical form.

    Export files write `2024-01-15T10:23:45Z` or `2025-05-11T07:45:30.123456Z`, and
    such values compare as strings without parsing. Anything else ISO 8601 allows (an
    offset, a week date, no seconds) is parsed and written anew.
    """
    return _CANONICAL.fullmatch(text) is not None


def canonical_utc(text: str) -> str:
    """Return `text` in the canonical form (unchanged when it already is)."""
    if is_canonical(text):
        return text
    return format_utc(parse_utc(text))
