"""Cometly's export requests, emulated: what a create body may say and what it selects.

The emulator (`cometly.py`) routes a create request here: this module checks the body
against Cometly's documented vocabulary (event names, sources, attribution models and
windows, fields, query modes), raises `Rejected` with Cometly's 422 message when it does
not fit, and otherwise returns the selection, the function that picks and shapes the
export's records from a space's dataset. Behaviour follows the documented API
(docs/providers/cometly.md); where the docs are silent it picks the strict
reading and says so:
- wall-clock bounds are read like PHP does, an ambiguous local time as its first
  occurrence, and both bounds are inclusive to the second;
- `include_all_emails` adds the list under `emails`.

It is plain logic and, like the emulator, deliberately shares no code with the tap, so a
bug in the tap's date math cannot hide by being repeated here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from tap_exports.sandbox.cometly.data import Dataset, Record
from tap_exports.sandbox.emulator import json_object_body

WALL_CLOCK_FORMAT = "%Y-%m-%d %H:%M:%S"
_EVENT_FIELDS = (
    "event_name", "configured_name", "profile_id", "company_id", "space_id", "amount",
    "is_upsell", "order_id", "order_name", "event_url",
)  # fmt: skip
_TOUCHPOINT_FIELDS = (
    "ad_id", "ad_name", "adset_id", "adset_name", "campaign_id", "campaign_name",
    "account_id", "account_name",
)  # fmt: skip
_QUERY_MODES = ("profile", "company")
_ATTRIBUTION_MODELS = (
    "first_touch", "last_touch", "linear", "first_platform_touch", "last_platform_touch",
    "linear_paid", "u_shaped", "last_non_direct_touch",
)  # fmt: skip
_ATTRIBUTION_WINDOWS = (0, 1, 7, 14, 30, 60, 90)
_KNOWN_EVENT_NAMES = frozenset(
    (
        "add_payment_info", "add_to_cart", "complete_registration", "contact",
        "initiate_checkout", "lead_generated", "purchase", "schedule", "sign_up",
        "start_trial", "submit_application", "subscribe", "upsell_purchase", "view_content",
        "webinar_registration", *(f"custom_event_{n}" for n in range(1, 51)),
    )
)  # fmt: skip
_PLATFORMS = (
    "facebook", "google", "linkedin", "tiktok", "youtube", "instagram", "bing", "yahoo",
    "pinterest", "reddit", "snapchat", "telegram", "twitch", "x", "quora", "duckduckgo",
)  # fmt: skip
_KNOWN_SOURCES = frozenset(
    (
        *(f"{p}_ads" for p in _PLATFORMS), *(f"{p}_organic" for p in _PLATFORMS),
        "messenger_organic", "brave_organic", "threads_organic", "ai_chat_gpt",
        "ai_perplexity", "ai_copilot", "ai_claude", "ai_grok", "ai_gemini", "ai_deepseek",
        "email", "sms", "referral", "direct", "shop_app", "substack", "capterra", "trustpilot",
        "g2", "yelp",
    )
)  # fmt: skip

Selection = Callable[[Dataset], list[Record]]
"""Picks and shapes an export's records from its space's dataset."""


class Rejected(Exception):
    """A 422 with Cometly's `{"message"}` body."""


def json_object(body: bytes) -> dict[str, Any]:
    """The create request's body as a JSON object; `Rejected` if it is not one."""
    try:
        return json_object_body(body)
    except ValueError as exc:
        raise Rejected(str(exc)) from None


def _parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _wall_clock(body: Mapping[str, Any], name: str, zone: ZoneInfo) -> datetime:
    value = body.get(name)
    label = name.replace("_", " ")
    if value is None:
        raise Rejected(f"The {label} field is required.")
    try:
        wall = datetime.strptime(str(value), WALL_CLOCK_FORMAT)
    except ValueError:
        raise Rejected(f"The {label} field must match the format Y-m-d H:i:s.") from None
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, 0)
    if value not in (0, 1, True, False, "0", "1"):
        raise Rejected(f"The {name} field must be true or false.")
    return value in (1, True, "1")


def range_selection(stream: str, body: Mapping[str, Any], zone: ZoneInfo) -> Selection:
    """What a `companies` or `contacts` create body selects; `Rejected` if it is invalid."""
    start = _wall_clock(body, "start_date", zone)
    end = _wall_clock(body, "end_date", zone)
    if end <= start:
        raise Rejected("The end date field must be a date after start date.")
    tokens = stream == "contacts" and _flag(body, "include_comet_tokens")
    all_emails = stream == "contacts" and _flag(body, "include_all_emails")

    def select(dataset: Dataset) -> list[Record]:
        chosen = []
        for record in dataset.stream(stream):
            if start <= _parse_instant(record["created_at"]) <= end:
                row = dict(record)
                if stream == "contacts":
                    comet_tokens = row.pop("comet_tokens")
                    emails = row.pop("emails")
                    if tokens:
                        row["comet_tokens"] = comet_tokens[:5]
                    if all_emails:
                        row["emails"] = emails
                chosen.append(row)
        return chosen

    return select


def event_selection(body: Mapping[str, Any], zone: ZoneInfo) -> Selection:
    """What an `events` create body selects; `Rejected` if it is invalid."""
    day_text = body.get("date")
    if day_text is None:
        raise Rejected("The date field is required.")
    try:
        day = datetime.strptime(str(day_text), "%Y-%m-%d")
    except ValueError:
        raise Rejected("The date field must match the format Y-m-d.") from None
    start = day.replace(tzinfo=zone).astimezone(UTC)
    end = (day + timedelta(days=1)).replace(tzinfo=zone).astimezone(UTC)
    mode = body.get("query_mode", "profile")
    if mode not in _QUERY_MODES:
        raise Rejected("The selected query mode is invalid.")
    names = _string_list(body, "event_names", _KNOWN_EVENT_NAMES, most=10)
    sources = _string_list(body, "sources", _KNOWN_SOURCES, most=15)
    fields = _string_list(
        body, "fields", frozenset(("id", "event_time_utc", *_EVENT_FIELDS, *_TOUCHPOINT_FIELDS))
    )
    if sources is not None:
        if body.get("attribution_model") not in _ATTRIBUTION_MODELS:
            raise Rejected("The attribution model field is required when sources is present.")
        if body.get("attribution_window") not in _ATTRIBUTION_WINDOWS:
            raise Rejected("The attribution window field is required when sources is present.")
    elif fields and any(name in _TOUCHPOINT_FIELDS for name in fields):
        raise Rejected("Touchpoint fields require sources.")

    def select(dataset: Dataset) -> list[Record]:
        chosen = []
        for record in dataset.events:
            if not start <= _parse_instant(record["event_time_utc"]) < end:
                continue
            if mode == "company" and record["company_id"] is None:
                continue
            if names is not None and record["event_name"] not in names:
                continue
            touchpoints = [
                point
                for point in record["touchpoints"]
                if sources is None or point["source"] in sources
            ]
            if sources is not None and not touchpoints:
                continue
            chosen.append(_project_event(record, fields, touchpoints if sources else None))
        return chosen

    return select


def _project_event(
    record: Record, fields: list[str] | None, touchpoints: list[Record] | None
) -> Record:
    extra = {key: value for key, value in record.items() if key == "x_legacy_score"}
    if fields is None:
        row = {key: record[key] for key in ("id", "event_time_utc", *_EVENT_FIELDS)} | extra
    else:
        row = {"id": record["id"], "event_time_utc": record["event_time_utc"]}
        row |= {name: record.get(name) for name in fields if name in _EVENT_FIELDS}
    if touchpoints:
        first = touchpoints[0]
        row |= {
            "ad_id": f"ad_{record['id'] % 7}",
            "ad_name": first["ad_name"],
            "adset_id": f"adset_{record['id'] % 5}",
            "adset_name": first["adset_name"],
            "campaign_id": f"cmp_{record['id'] % 3}",
            "campaign_name": first["campaign_name"],
            "account_id": "acct_1",
            "account_name": first["account_name"],
            "touchpoints": touchpoints,
        }
    return row


def _string_list(
    body: Mapping[str, Any], name: str, allowed: frozenset[str], most: int = 100
) -> list[str] | None:
    values = body.get(name)
    if values is None:
        return None
    if not isinstance(values, list) or not 1 <= len(values) <= most:
        raise Rejected(f"The {name} field must be an array of 1 to {most} items.")
    if len(set(values)) != len(values):
        raise Rejected(f"The {name} field has a duplicate value.")
    for index, value in enumerate(values):
        if value not in allowed:
            raise Rejected(f"The selected {name}.{index} is invalid.")
    return list(values)
