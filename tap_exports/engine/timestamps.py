"""One canonical text form for UTC instants, so bookmarks and record values compare.

singer-sdk and most targets compare bookmark strings, and `...Z`, `...+00:00` and
fractional seconds order wrongly as text. Everything the tap writes (bookmarks and
record replication keys) uses `YYYY-MM-DDTHH:MM:SSZ`, with `.ffffffZ` only when a
source value carries sub-second precision.
"""

from __future__ import annotations

from datetime import UTC, datetime

_CANONICAL_LENGTH = len("2024-01-15T10:23:45Z")


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


def is_canonical_whole_second(text: str) -> bool:
    """Tell, cheaply, whether `text` already has the canonical whole-second shape.

    This is the hot path: export files write `2024-01-15T10:23:45Z`, and such values
    can be compared as strings without parsing.
    """
    return len(text) == _CANONICAL_LENGTH and text[19] == "Z" and text[10] == "T"


def canonical_utc(text: str) -> str:
    """Return `text` in the canonical form (unchanged when it already is)."""
    if is_canonical_whole_second(text):
        return text
    return format_utc(parse_utc(text))
