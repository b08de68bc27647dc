"""Userpilot's trigger request, emulated: what a create body may say and what it selects.

The OpenAPI (see docs/providers/userpilot.md) lists the body's fields and their
types but marks none required and says nothing of their semantics; where it is silent
this module picks the strict reading, so a tap that passes here relies on nothing a
lenient server might forgive:
- `from` and `to` are required, ISO 8601 instants with an offset or `Z` (a date alone,
  or a time without an offset, has no timezone to go by), and `to` must be after `from`;
- both bounds are inclusive, to the microsecond: a row stamped exactly `to` is selected,
  so a tap that asks for `[start, end]` must itself drop the rows at `end`;
- `event_type`, `user_id` and `company_id` are non-empty lists of strings; event types
  are the documented ones; `segment_id` must be one of the environment's segments;
  the filters combine with AND (a segment selects its users' rows);
- `format` defaults to `csv` when absent (the real default is undocumented): a tap that
  forgets to ask for the format it decodes notices at once;
- `emails` (a list of strings) and `exclusions` (a string) are accepted and ignored:
  nobody is mailed, and what an exclusion means is undocumented;
- any other field is refused, so a misspelt filter is not silently ignored.

It is plain logic and, like the emulator, shares no code with the tap, so a bug in the
tap's date math cannot hide by being repeated here.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tap_exports.sandbox.emulator import json_object_body
from tap_exports.sandbox.userpilot.data import EVENT_TYPES, Record, utc_micros

FORMATS = ("avro", "csv", "ndjson", "parquet")
DEFAULT_FORMAT = "csv"
_LIST_FILTERS = ("event_type", "user_id", "company_id")
_FIELDS = frozenset(("from", "to", "emails", "segment_id", "format", "exclusions", *_LIST_FILTERS))


class Rejected(Exception):
    """A 422: `field` names the offending body field (the envelope's `details`)."""

    def __init__(self, message: str, field: str = "") -> None:
        """Refuse the request with `message`, blaming `field` if one is at fault."""
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Query:
    """What one create body asks for: the bounds, the filters and the file format."""

    start: datetime
    end: datetime
    event_types: frozenset[str] | None
    user_ids: frozenset[str] | None
    company_ids: frozenset[str] | None
    segment_users: frozenset[str] | None
    format: str

    def select(self, rows: list[Record]) -> list[Record]:
        """The rows this query exports, from rows in `inserted_at` order, in that order.

        Stamps are fixed-width UTC text, so they sort as text: the bounds are found by
        bisection, which keeps a create cheap on a large dataset.
        """
        first = bisect.bisect_left(rows, utc_micros(self.start), key=_stamp)
        last = bisect.bisect_right(rows, utc_micros(self.end), key=_stamp)
        return [row for row in rows[first:last] if self._wants(row)]

    def _wants(self, row: Record) -> bool:
        return (
            _allows(self.event_types, row["event_type"])
            and _allows(self.user_ids, row["user_id"])
            and _allows(self.company_ids, row["company_id"])
            and _allows(self.segment_users, row["user_id"])
        )


def _stamp(row: Record) -> str:
    return str(row["inserted_at"])


def _allows(chosen: frozenset[str] | None, value: str | None) -> bool:
    return chosen is None or value in chosen


def parse_create(body: bytes, segments: Mapping[str, frozenset[str]]) -> Query:
    """The query a create body asks for; `Rejected` if the body is not a valid one.

    `segments` maps the environment's segment ids to their users' ids.
    """
    try:
        document = json_object_body(body)
    except ValueError as exc:
        raise Rejected(str(exc)) from None
    unknown = sorted(set(document) - _FIELDS)
    if unknown:
        raise Rejected(f"Unknown field {unknown[0]!r}.", unknown[0])
    start, end = _instant(document, "from"), _instant(document, "to")
    if end <= start:
        raise Rejected("'to' must be after 'from'.", "to")
    event_types, user_ids, company_ids = (_strings(document, name) for name in _LIST_FILTERS)
    unknown = sorted((event_types or frozenset()) - set(EVENT_TYPES))
    if unknown:
        raise Rejected(f"Unknown event type {unknown[0]!r}.", "event_type")
    segment_users = None
    if "segment_id" in document:
        segment = document["segment_id"]
        if not isinstance(segment, str) or segment not in segments:
            raise Rejected(f"Unknown segment {segment!r}.", "segment_id")
        segment_users = segments[segment]
    export_format = document.get("format", DEFAULT_FORMAT)
    if export_format not in FORMATS:
        raise Rejected(f"'format' must be one of {', '.join(FORMATS)}.", "format")
    _strings(document, "emails")
    if not isinstance(document.get("exclusions", ""), str):
        raise Rejected("'exclusions' must be a string.", "exclusions")
    return Query(start, end, event_types, user_ids, company_ids, segment_users, export_format)


def _instant(document: Mapping[str, Any], name: str) -> datetime:
    value = document.get(name)
    if value is None:
        raise Rejected(f"'{name}' is required.", name)
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
        if moment is not None and moment.tzinfo is not None:
            return moment.astimezone(UTC)
    except (ValueError, OverflowError):  # not ISO 8601; out of range once in UTC
        pass
    raise Rejected(f"'{name}' must be an ISO 8601 date-time with an offset or Z.", name)


def _strings(document: Mapping[str, Any], name: str) -> frozenset[str] | None:
    values = document.get(name)
    if values is None:
        return None
    if (
        not isinstance(values, list)
        or not values
        or not all(isinstance(value, str) for value in values)
    ):
        raise Rejected(f"'{name}' must be a non-empty list of strings.", name)
    return frozenset(values)
