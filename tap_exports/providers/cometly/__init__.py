"""Cometly's export API (docs.cometly.com), for companies, contacts and events.

Facts this provider relies on (see docs/providers/cometly.md); `streams.py` holds its
records' schemas, `exports.py` its port, this module the rest:
- Bearer key per space. Every date *sent* is read in the space's timezone, which the
  REST API cannot report, so the tap takes it from the `timezone` setting. Timestamps
  *received* are UTC with a `Z`.
- Companies and contacts: `start_date`/`end_date` as `YYYY-MM-DD HH:MM:SS`, filtered
  on creation time. Events: one local `date` per export.
- Status words queued/processing/completed/failed; a completed export carries a
  presigned gzip NDJSON URL valid for 15 minutes from the status request.
- Limits per space per minute: 5 export creations, 30 status reads. Whether each
  endpoint has its own budget is not clear from the docs, so all three create
  endpoints share one budget and all three status endpoints another: the reading
  that can never exceed a limit.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from tap_exports.engine.errors import ConfigError, NotFoundError, PermissionDeniedError
from tap_exports.engine.files.decode import FileFormats
from tap_exports.engine.http.api import ApiClient, ErrorRule
from tap_exports.providers.base import Provider, RateLimit, Setting
from tap_exports.providers.cometly.exports import JOB_API, export_port, space_zone
from tap_exports.providers.cometly.streams import COMPANIES, CONTACTS, EVENTS

API_URL = "https://app.cometly.com/public-api/v1"

QUERY_MODES = ("profile", "company")
EVENT_NAMES = (
    "add_payment_info",
    "add_to_cart",
    "complete_registration",
    "contact",
    "initiate_checkout",
    "lead_generated",
    "purchase",
    "schedule",
    "sign_up",
    "start_trial",
    "submit_application",
    "subscribe",
    "upsell_purchase",
    "view_content",
    "webinar_registration",
    *(f"custom_event_{n}" for n in range(1, 51)),
)
_PLATFORMS = (
    "facebook", "google", "linkedin", "tiktok", "youtube", "instagram", "bing", "yahoo",
    "pinterest", "reddit", "snapchat", "telegram", "twitch", "x", "quora", "duckduckgo",
)  # fmt: skip
SOURCES = (
    *(f"{platform}_ads" for platform in _PLATFORMS),
    *(f"{platform}_organic" for platform in _PLATFORMS),
    "messenger_organic", "brave_organic", "threads_organic",
    "ai_chat_gpt", "ai_perplexity", "ai_copilot", "ai_claude", "ai_grok", "ai_gemini",
    "ai_deepseek",
    "email", "sms", "referral", "direct", "shop_app", "substack", "capterra", "trustpilot",
    "g2", "yelp",
)  # fmt: skip
ATTRIBUTION_MODELS = (
    "first_touch",
    "last_touch",
    "linear",
    "first_platform_touch",
    "last_platform_touch",
    "linear_paid",
    "u_shaped",
    "last_non_direct_touch",
)
ATTRIBUTION_WINDOWS = (0, 1, 7, 14, 30, 60, 90)
MAX_EVENT_NAMES = 10
MAX_SOURCES = 15

SETTINGS = (
    Setting(
        "timezone",
        {"type": ["string", "null"]},
        "IANA timezone of the Cometly space, e.g. America/New_York (required). The API "
        "reads every date it is sent in this timezone and cannot report it.",
    ),
    Setting(
        "events_query_mode",
        {"type": ["string", "null"], "enum": [*QUERY_MODES, None]},
        "profile (contact-level events, the API's default) or company.",
    ),
    Setting(
        "events_event_names",
        {"type": ["array", "null"], "items": {"type": ["string"]}},
        f"Only these event names (1-{MAX_EVENT_NAMES}). Default: all.",
    ),
    Setting(
        "events_fields",
        {"type": ["array", "null"], "items": {"type": ["string"]}},
        "Event fields to export; id and event_time_utc are always included.",
    ),
    Setting(
        "events_sources",
        {"type": ["array", "null"], "items": {"type": ["string"]}},
        f"Attribution sources (1-{MAX_SOURCES}); needs the two attribution settings.",
    ),
    Setting(
        "events_attribution_model",
        {"type": ["string", "null"], "enum": [*ATTRIBUTION_MODELS, None]},
        "Attribution model, required with events_sources.",
    ),
    Setting(
        "events_attribution_window",
        {"type": ["integer", "null"], "enum": [*ATTRIBUTION_WINDOWS, None]},
        "Attribution window in days (0 = lifetime), required with events_sources.",
    ),
    Setting(
        "contacts_include_comet_tokens",
        {"type": ["boolean", "null"]},
        "Add each contact's last 5 comet tokens.",
        default=False,
    ),
    Setting(
        "contacts_include_all_emails",
        {"type": ["boolean", "null"]},
        "Add all emails of each contact, merged profiles included.",
        default=False,
    ),
)


def validate_settings(config: Mapping[str, Any]) -> None:
    """Check the timezone, and the event-export options the API would refuse with a 422."""
    space_zone(config)
    _check_choice(config, "events_query_mode", QUERY_MODES)
    _check_list(config, "events_event_names", EVENT_NAMES, MAX_EVENT_NAMES)
    _check_list(config, "events_sources", SOURCES, MAX_SOURCES)
    fields = config.get("events_fields")
    if fields is not None and (not fields or len(set(fields)) != len(fields)):
        raise ConfigError("events_fields", "give at least one field name, without duplicates")
    if config.get("events_sources"):
        for setting in ("events_attribution_model", "events_attribution_window"):
            if config.get(setting) is None:
                raise ConfigError(setting, "is required when 'events_sources' is set")
    _check_choice(config, "events_attribution_model", ATTRIBUTION_MODELS)
    _check_choice(config, "events_attribution_window", ATTRIBUTION_WINDOWS)


def _check_choice(config: Mapping[str, Any], setting: str, allowed: tuple[Any, ...]) -> None:
    value = config.get(setting)
    if value is not None and value not in allowed:
        shown = ", ".join(str(choice) for choice in allowed)
        raise ConfigError(setting, f"{value!r} is not one of: {shown}")


def _check_list(
    config: Mapping[str, Any], setting: str, allowed: tuple[str, ...], most: int
) -> None:
    values = config.get(setting)
    if values is None:
        return
    if not 1 <= len(values) <= most or len(set(values)) != len(values):
        raise ConfigError(setting, f"give 1 to {most} values, without duplicates")
    unknown = [value for value in values if value not in allowed]
    if unknown:
        raise ConfigError(setting, f"unknown value(s): {', '.join(map(str, unknown))}")


def check_connection(client: ApiClient, config: Mapping[str, Any]) -> str:
    """`--test`: the key and the space's API access, by the status read of no export.

    A wrong key answers 401, an inactive subscription 403 (each raised with its advice);
    an accepted one 404 for an export that does not exist. One status request; nothing
    is created.
    """
    with contextlib.suppress(NotFoundError):
        client.get_json("/events/exports/0", budget="status")
    return (
        "the key was accepted and the space's API access is active (read: the status of no export)"
    )


COMETLY = Provider(
    name="cometly",
    default_api_url=API_URL,
    streams=(COMPANIES, CONTACTS, EVENTS),
    rate_limits={"create": RateLimit(5), "status": RateLimit(30)},
    job_api=JOB_API,
    export_port=export_port,
    check_connection=check_connection,
    # "gzipped NDJSON" on every export page: anything else is a failed download.
    file_formats=FileFormats(formats=frozenset({"ndjson"}), always_gzip=True),
    planning_zone=space_zone,
    settings=SETTINGS,
    validate_settings=validate_settings,
    required_settings=(("timezone",),),
    error_rules={
        403: ErrorRule(
            PermissionDeniedError,
            "The key lacks permission or the Cometly subscription is inactive",
        )
    },
    # Exports are scarce (5 per minute) and an export holds 100,000+ records: big
    # windows by default; a window the API keeps failing is split.
    default_window_days=365,
)
