"""Cometly's export API (docs.cometly.com), for companies, contacts and events.

Facts this module relies on (see docs/providers/cometly.md):
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
import functools
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tap_exports.engine.errors import ConfigError, NotFoundError, PermissionDeniedError
from tap_exports.engine.exports.jobs import (
    ExportFile,
    ExportPort,
    JobStatus,
    StatusReport,
    StatusWords,
    completed_files,
)
from tap_exports.engine.files.decode import FileFormats
from tap_exports.engine.http.api import ApiClient, ErrorRule
from tap_exports.engine.planning.coverage import Coverage
from tap_exports.engine.planning.slices import Slice, StampBounds, Window
from tap_exports.engine.planning.windows import wall_clock_at_or_after, wall_clock_at_or_before
from tap_exports.engine.planning.zones import hours, offsets_shown, shift_shown
from tap_exports.engine.timestamps import format_utc, parse_utc
from tap_exports.providers.base import (
    ID,
    OPTIONAL_ID,
    Provider,
    RateLimit,
    Setting,
    StreamSpec,
    nullable,
    object_schema,
    options_from,
    string_array,
    timestamp,
)
from tap_exports.providers.job_api import JobApi

API_URL = "https://app.cometly.com/public-api/v1"
WALL_CLOCK_FORMAT = "%Y-%m-%d %H:%M:%S"
_WHOLE_SECOND = len("2024-01-15T10:23:45")

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

JOB_API = JobApi(
    auth_scheme="Bearer",
    id_path=("export_id",),
    # The documented enum, in full: an unknown word means the API changed, so it stops the run.
    words=StatusWords(
        {
            "queued": JobStatus.QUEUED,
            "processing": JobStatus.PROCESSING,
            "completed": JobStatus.COMPLETED,
            "failed": JobStatus.FAILED,
        }
    ),
)

_TOUCHPOINT = object_schema(
    {
        "source": nullable("string"),
        "ad_name": nullable("string"),
        "adset_name": nullable("string"),
        "campaign_name": nullable("string"),
        "account_name": nullable("string"),
        "event_time_utc": timestamp(),
    }
)

COMPANIES = StreamSpec(
    name="companies",
    replication_key="created_at",
    primary_keys=("id",),
    schema=object_schema(
        {
            "id": ID,
            "domain": nullable("string"),
            "name": nullable("string"),
            "created_at": timestamp(required=True),
        },
        required=("id", "created_at"),
    ),
)
CONTACTS = StreamSpec(
    name="contacts",
    replication_key="created_at",
    primary_keys=("id",),
    schema=object_schema(
        {
            "id": ID,
            "email": nullable("string"),
            "name": nullable("string"),
            "phone": nullable("string"),
            "location": nullable("string"),
            "created_at": timestamp(required=True),
            "comet_tokens": string_array(),
            # The key `include_all_emails` adds is not documented for exports; `emails`
            # is what the contact endpoints call the same list.
            "emails": string_array(),
        },
        required=("id", "created_at"),
    ),
)
EVENTS = StreamSpec(
    name="events",
    replication_key="event_time_utc",
    primary_keys=("id",),
    window_days=1,  # "Maximum 1 day per export"
    splittable=False,  # a local day is the API's unit: it cannot take half of one
    schema=object_schema(
        {
            "id": ID,
            "event_time_utc": timestamp(required=True),
            "event_name": nullable("string"),
            "configured_name": nullable("string"),
            "profile_id": OPTIONAL_ID,
            "company_id": OPTIONAL_ID,
            "space_id": OPTIONAL_ID,
            "amount": nullable("number"),
            "is_upsell": nullable("boolean"),
            "order_id": OPTIONAL_ID,
            "order_name": nullable("string"),
            "event_url": nullable("string"),
            "ad_id": OPTIONAL_ID,
            "ad_name": nullable("string"),
            "adset_id": OPTIONAL_ID,
            "adset_name": nullable("string"),
            "campaign_id": OPTIONAL_ID,
            "campaign_name": nullable("string"),
            "account_id": OPTIONAL_ID,
            "account_name": nullable("string"),
            "touchpoints": {"type": ["array", "null"], "items": _TOUCHPOINT},
        },
        required=("id", "event_time_utc"),
    ),
)


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


def space_zone(config: Mapping[str, Any]) -> ZoneInfo:
    """The space's timezone, which every date sent is read in (from the setting).

    Raises:
        ConfigError: the setting is missing or not an IANA name.
    """
    value = config.get("timezone")
    if not value:
        raise ConfigError(
            "timezone",
            "is required: the IANA name of the Cometly space's timezone (e.g. "
            "'America/New_York'), because the API reads every date it is sent in that "
            "timezone and cannot report it",
        )
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("timezone", f"{value!r} is not an IANA timezone name") from None


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


class _CometlyExports:
    """Create and read exports of one stream; the request body is the stream's part."""

    def __init__(
        self, client: ApiClient, stream: str, zone: ZoneInfo, options: dict[str, Any]
    ) -> None:
        self._client = client
        self._stream = stream
        self._zone = zone
        self._options = options

    def create(self, slice: Slice) -> str:
        assert isinstance(slice, Window), "Cometly exports time windows"
        body = {**self._window_body(slice), **self._options}
        answer = self._client.post_json(f"/{self._stream}/exports", body, budget="create")
        return JOB_API.created(answer, subject=f"{self._stream} {slice}")

    def status(self, export_id: str) -> StatusReport:
        answer = self._client.get_json(f"/{self._stream}/exports/{export_id}", budget="status")
        url = answer.get("download_url")
        expires_at = answer.get("expires_at")
        files: tuple[ExportFile, ...] = ()
        if isinstance(url, str):
            # One file per export; the URL is issued anew (15 minutes) on every read.
            expiry = parse_utc(expires_at) if isinstance(expires_at, str) else None
            files = (ExportFile(f"{self._stream}-{export_id}.ndjson.gz", url, expiry),)
        return JOB_API.report(answer, subject=f"{self._stream} export {export_id}", files=files)

    def files(self, export_id: str) -> tuple[ExportFile, ...]:
        subject = f"{self._stream} export {export_id}"
        return completed_files(self.status(export_id), subject=subject)

    def covers(self, slice: Slice) -> Coverage | None:
        """The instants the request names in the configured zone (both ends included).

        Records beyond them show Cometly read the dates in another zone: the space's,
        which the `timezone` setting does not name (see `_wrong_zone`).
        """
        assert isinstance(slice, Window), "Cometly exports time windows"
        if self._stream == EVENTS.name:  # one whole local date, whatever part is the window
            day = slice.start.astimezone(self._zone).date()
            low = datetime.combine(day, time(), tzinfo=self._zone)
            high = datetime.combine(day + timedelta(days=1), time(), tzinfo=self._zone)
        else:
            low = wall_clock_at_or_before(slice.start, self._zone).replace(tzinfo=self._zone)
            last = wall_clock_at_or_after(slice.end, self._zone).replace(tzinfo=self._zone)
            high = last.astimezone(UTC) + timedelta(seconds=1)  # the end second is included
        bounds = StampBounds(format_utc(low)[:_WHOLE_SECOND], format_utc(high)[:_WHOLE_SECOND])
        return Coverage(
            bounds, functools.partial(self._wrong_zone, window=slice, low=low, high=high)
        )

    def _wrong_zone(
        self,
        earliest: str,
        latest: str,
        count: int,
        *,
        window: Window,
        low: datetime,
        high: datetime,
    ) -> ConfigError:
        """The line that stops a run whose exports hold records beyond their request."""
        shift = shift_shown(earliest, latest, low, high)
        edge, found = (
            ("before", f"from {earliest}") if shift < timedelta(0) else ("after", f"up to {latest}")
        )
        configured = window.start.astimezone(self._zone).utcoffset() or timedelta(0)
        return ConfigError(
            "timezone",
            f"the {self._stream} export for {window} holds {count} record(s) {edge} what was "
            f"asked for in {self._zone.key} ({found}): Cometly read its dates in a zone at "
            f"least {hours(-shift)} from it, and records would be lost. Set 'timezone' to the "
            f"space's own: the data shows "
            f"{offsets_shown(configured, shift, window.start)}. "
            "The bookmark did not move: this window's records already sent come again",
        )

    def _window_body(self, window: Window) -> dict[str, str]:
        if self._stream == EVENTS.name:
            return {"date": window.start.astimezone(self._zone).date().isoformat()}
        return {
            "start_date": _wall(wall_clock_at_or_before(window.start, self._zone)),
            "end_date": _wall(wall_clock_at_or_after(window.end, self._zone)),
        }


def _wall(moment: datetime) -> str:
    return moment.strftime(WALL_CLOCK_FORMAT)


def export_port(spec: StreamSpec, client: ApiClient, config: Mapping[str, Any]) -> ExportPort:
    """Build the port for a stream, with the options its create endpoint accepts."""
    stream = spec.name
    options: dict[str, Any] = {}
    if stream == EVENTS.name:
        options = options_from(
            config,
            events_query_mode="query_mode",
            events_event_names="event_names",
            events_fields="fields",
            events_sources="sources",
            events_attribution_model="attribution_model",
            events_attribution_window="attribution_window",
        )
    elif stream == CONTACTS.name:
        for setting, key in (
            ("contacts_include_comet_tokens", "include_comet_tokens"),
            ("contacts_include_all_emails", "include_all_emails"),
        ):
            if config.get(setting):
                options[key] = 1
    return _CometlyExports(client, stream, space_zone(config), options)


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
