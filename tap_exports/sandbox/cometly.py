"""Cometly's export API, emulated: auth, validation, limits, job states and files.

Behaviour follows the documented API (shared/docs/providers.md, section 1); where the
docs are silent the emulator picks the strict reading and says so:
- one rate budget per space for all create endpoints and one for all status endpoints;
- wall-clock bounds are read like PHP does, an ambiguous local time as its first
  occurrence, and both bounds are inclusive to the second;
- `include_all_emails` adds the list under `emails`.

This module is plain logic (request in, response out); `server.py` puts it on HTTP.
It deliberately shares no code with the tap, so a bug in the tap's date math cannot
hide by being repeated here.
"""

from __future__ import annotations

import gzip
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from tap_exports.sandbox.data import Dataset, DataSpec, Record, generate
from tap_exports.sandbox.faults import DATA_FAULTS, Faults
from tap_exports.sandbox.ratelimit import SlidingWindowLimiter

WALL_CLOCK_FORMAT = "%Y-%m-%d %H:%M:%S"
_STREAMS = ("companies", "contacts", "events")
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


@dataclass
class Space:
    """One Cometly space: its key, timezone, subscription state and data."""

    api_key: str
    timezone: str = "America/New_York"
    active: bool = True
    data: DataSpec = field(default_factory=DataSpec)


@dataclass
class Timing:
    """How long exports take and how long download URLs live."""

    queued_seconds: float = 0.2
    processing_seconds: float = 0.5
    url_ttl_seconds: int = 900


@dataclass
class Limits:
    """Per-space budgets: `create` and `status` requests per `period_seconds`."""

    create: int = 5
    status: int = 30
    period_seconds: float = 60.0


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer: status, JSON-able body and extra headers."""

    status: int
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _Export:
    export_id: int
    api_key: str
    stream: str
    created_at: datetime
    ready_at: float
    will_fail: bool
    stuck: bool
    selection: Callable[[Dataset], list[Record]]
    query: bytes
    file_name: str = field(default_factory=lambda: f"{uuid.uuid4()}.json.gz")
    content: bytes | None = None


class _Rejected(Exception):
    """A 422 with Cometly's `{"message"}` body."""


class CometlyEmulator:
    """The API side of the sandbox; thread-safe."""

    def __init__(
        self,
        *,
        spaces: list[Space],
        timing: Timing,
        limits: Limits,
        faults: Faults,
        sign_url: Callable[[str, bool], str],
    ) -> None:
        """`sign_url(file_name, born_expired)` returns a presigned download URL."""
        self.timing = timing
        self.faults = faults
        self._spaces = {space.api_key: space for space in spaces}
        self._datasets: dict[str, Dataset] = {}
        self._zones = {space.api_key: ZoneInfo(space.timezone) for space in spaces}
        self._limiters = {
            (space.api_key, family): SlidingWindowLimiter(limit, limits.period_seconds)
            for space in spaces
            for family, limit in (("create", limits.create), ("status", limits.status))
        }
        self._exports: dict[int, _Export] = {}
        self._rendered: dict[bytes, bytes] = {}
        # What clients asked for, for tests and demos: (stream, body) per export created,
        # and how many status reads each export id got.
        self.created: list[tuple[str, dict[str, Any]]] = []
        self.status_reads: dict[int, int] = {}
        self._files: dict[str, _Export] = {}
        self._ids = itertools.count(1001)
        self._sign_url = sign_url
        self._lock = threading.Lock()

    # Introspection for tests and demos -------------------------------------------------

    def dataset(self, api_key: str) -> Dataset:
        """All records of the space behind `api_key` (generated on first use)."""
        with self._lock:
            if api_key not in self._datasets:
                space = self._spaces[api_key]
                self._datasets[api_key] = generate(space.data, self._zones[api_key])
            return self._datasets[api_key]

    def exports_created(self, api_key: str, stream: str | None = None) -> int:
        """How many exports the space has created (of `stream`, if given)."""
        return sum(
            1
            for export in self._exports.values()
            if export.api_key == api_key and stream in (None, export.stream)
        )

    def completed_at(self, export_id: int) -> float:
        """When the export turns `completed`, on `time.monotonic()`'s clock.

        Its creation plus the queued and processing time; for a failed or stuck export,
        when it would have completed.
        """
        with self._lock:
            return self._exports[export_id].ready_at

    def forget(self, export_id: int) -> None:
        """Drop an export, as the provider does after its (undocumented) retention."""
        with self._lock:
            export = self._exports.pop(export_id)
            self._files.pop(export.file_name, None)

    def limiter(self, api_key: str, family: str) -> SlidingWindowLimiter:
        """The `create` or `status` limiter of a space."""
        return self._limiters[(api_key, family)]

    # HTTP entry points --------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one API request; `path` is relative to `/public-api/v1`."""
        space = self._space_for(headers.get("Authorization", ""))
        if space is None:
            return Reply(401, {"message": "Unauthenticated."})
        if not space.active:
            return Reply(403, {"message": "Your Cometly subscription is inactive."})
        route = self._route(method, path)
        if route is None:
            return Reply(404, {"message": "Not found."})
        family, stream, export_id = route
        decision = self._limiters[(space.api_key, family)].decide()
        rate_headers = {
            "X-RateLimit-Limit": str(decision.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
        }
        if not decision.allowed:
            rate_headers["Retry-After"] = str(decision.retry_after)
            return Reply(429, {"message": "Too Many Attempts."}, rate_headers)
        if self.faults.take("rate_limit_storms"):
            self._limiters[(space.api_key, family)].hold(seconds=1)
            storm = {**rate_headers, "Retry-After": "1"}
            return Reply(429, {"message": "Too Many Attempts."}, storm)
        if self.faults.take("server_errors"):
            return Reply(503, {"message": "Service Unavailable"}, rate_headers)
        if self.faults.take("slow_responses"):
            # Slow only after the request was admitted: a hold (429) is only ever set by an
            # answer, so a client that gave up waiting was never told to hold anything.
            time.sleep(self.faults.slow_seconds)
        try:
            if export_id is None:
                reply = self._create(space, stream, _json_object(body))
            else:
                reply = self._status(space, stream, export_id)
        except _Rejected as exc:
            reply = Reply(422, {"message": str(exc)})
        return Reply(reply.status, reply.body, {**rate_headers, **reply.headers})

    def file(self, file_name: str) -> bytes | None:
        """The gzip NDJSON content behind a download file name, rendered once."""
        export = self._files.get(file_name)
        if export is None:
            return None
        dataset = self.dataset(export.api_key)
        with self._lock:
            if export.content is None:
                export.content = self._render(export, dataset)
            return export.content

    def _render(self, export: _Export, dataset: Dataset) -> bytes:
        """The export's file; the same query gives the same file, rendered once."""
        clean = self._rendered.get(export.query)
        if clean is None:
            lines = [orjson.dumps(record) for record in export.selection(dataset)]
            clean = _gzip_lines(lines)
            self._rendered[export.query] = clean
        if not self.faults.may_strike(DATA_FAULTS):
            return clean  # the common case: no need to look inside
        lines = gzip.decompress(clean).splitlines()
        if self._damage(lines, export.stream):
            return _gzip_lines(lines)
        return clean

    def _damage(self, lines: list[bytes], stream: str) -> bool:
        """Apply the data faults to a file, each on a line of its own; True if any struck."""
        if len(lines) < 3:
            return False
        key = b'"event_time_utc"' if stream == "events" else b'"created_at"'
        third = len(lines) // 3
        damaged = False
        if self.faults.take("records_missing_keys"):
            lines[third] = lines[third].replace(key, b'"x_renamed"')
            damaged = True
        if self.faults.take("mistyped_fields"):
            lines[2 * third] = orjson.dumps({**orjson.loads(lines[2 * third]), "id": True})
            damaged = True
        if self.faults.take("garbled_lines"):
            lines.insert(len(lines) // 2, b'{"id": 1, "trunc')
            damaged = True
        return damaged

    # Internals ----------------------------------------------------------------------------

    def _space_for(self, authorization: str) -> Space | None:
        scheme, _, key = authorization.partition(" ")
        if scheme != "Bearer":
            return None
        return self._spaces.get(key.strip())

    @staticmethod
    def _route(method: str, path: str) -> tuple[str, str, int | None] | None:
        parts = path.strip("/").split("/")
        if len(parts) < 2 or parts[0] not in _STREAMS or parts[1] != "exports":
            return None
        if method == "POST" and len(parts) == 2:
            return "create", parts[0], None
        if method == "GET" and len(parts) == 3 and parts[2].isdigit():
            return "status", parts[0], int(parts[2])
        return None

    def _create(self, space: Space, stream: str, body: dict[str, Any]) -> Reply:
        zone = self._zones[space.api_key]
        if stream == "events":
            selection = _event_selection(body, zone)
        else:
            selection = _range_selection(stream, body, zone)
        now = time.monotonic()
        with self._lock:
            export = _Export(
                export_id=next(self._ids),
                api_key=space.api_key,
                stream=stream,
                created_at=datetime.now(UTC).replace(microsecond=0),
                ready_at=now + self.timing.queued_seconds + self.timing.processing_seconds,
                will_fail=self.faults.take("failed_exports"),
                stuck=self.faults.take("stuck_exports"),
                selection=selection,
                query=orjson.dumps([space.api_key, stream, body], option=orjson.OPT_SORT_KEYS),
            )
            self._exports[export.export_id] = export
            self._files[export.file_name] = export
            self.created.append((stream, dict(body)))
        return Reply(202, {"export_id": export.export_id, "status": "queued"})

    def _status(self, space: Space, stream: str, export_id: int) -> Reply:
        self.status_reads[export_id] = self.status_reads.get(export_id, 0) + 1
        export = self._exports.get(export_id)
        if export is None or export.api_key != space.api_key or export.stream != stream:
            return Reply(404, {"message": "Export not found."})
        body: dict[str, Any] = {
            "export_id": export.export_id,
            "created_at": _utc_text(export.created_at),
        }
        remaining = export.ready_at - time.monotonic()
        running = {"message": "Export is being processed. Please check back in a few minutes."}
        if remaining > self.timing.processing_seconds:
            body |= {"status": "queued", **running}
        elif remaining > 0 or export.stuck:
            body |= {"status": "processing", **running}
        elif export.will_fail:
            body |= {"status": "failed", "message": "Export failed. Please try again in a "
                     "few minutes. If the problem persists, contact support."}  # fmt: skip
        else:
            now = datetime.now(UTC).replace(microsecond=0)
            completed = export.created_at + timedelta(
                seconds=self.timing.queued_seconds + self.timing.processing_seconds
            )
            body |= {
                "status": "completed",
                "completed_at": _utc_text(completed),
                "download_url": self._sign_url(export.file_name, self.faults.take("expired_urls")),
                "expires_at": _utc_text(now + timedelta(seconds=self.timing.url_ttl_seconds)),
            }
        return Reply(200, body)


def _gzip_lines(lines: list[bytes]) -> bytes:
    return gzip.compress(b"".join(line + b"\n" for line in lines), compresslevel=5, mtime=0)


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise _Rejected("The request body must be valid JSON.") from None
    if not isinstance(document, dict):
        raise _Rejected("The request body must be a JSON object.")
    return document


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _wall_clock(body: Mapping[str, Any], name: str, zone: ZoneInfo) -> datetime:
    value = body.get(name)
    label = name.replace("_", " ")
    if value is None:
        raise _Rejected(f"The {label} field is required.")
    try:
        wall = datetime.strptime(str(value), WALL_CLOCK_FORMAT)
    except ValueError:
        raise _Rejected(f"The {label} field must match the format Y-m-d H:i:s.") from None
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, 0)
    if value not in (0, 1, True, False, "0", "1"):
        raise _Rejected(f"The {name} field must be true or false.")
    return value in (1, True, "1")


def _range_selection(
    stream: str, body: Mapping[str, Any], zone: ZoneInfo
) -> Callable[[Dataset], list[Record]]:
    start = _wall_clock(body, "start_date", zone)
    end = _wall_clock(body, "end_date", zone)
    if end <= start:
        raise _Rejected("The end date field must be a date after start date.")
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


def _event_selection(body: Mapping[str, Any], zone: ZoneInfo) -> Callable[[Dataset], list[Record]]:
    day_text = body.get("date")
    if day_text is None:
        raise _Rejected("The date field is required.")
    try:
        day = datetime.strptime(str(day_text), "%Y-%m-%d")
    except ValueError:
        raise _Rejected("The date field must match the format Y-m-d.") from None
    start = day.replace(tzinfo=zone).astimezone(UTC)
    end = (day + timedelta(days=1)).replace(tzinfo=zone).astimezone(UTC)
    mode = body.get("query_mode", "profile")
    if mode not in _QUERY_MODES:
        raise _Rejected("The selected query mode is invalid.")
    names = _string_list(body, "event_names", _KNOWN_EVENT_NAMES, most=10)
    sources = _string_list(body, "sources", _KNOWN_SOURCES, most=15)
    fields = _string_list(
        body, "fields", frozenset(("id", "event_time_utc", *_EVENT_FIELDS, *_TOUCHPOINT_FIELDS))
    )
    if sources is not None:
        if body.get("attribution_model") not in _ATTRIBUTION_MODELS:
            raise _Rejected("The attribution model field is required when sources is present.")
        if body.get("attribution_window") not in _ATTRIBUTION_WINDOWS:
            raise _Rejected("The attribution window field is required when sources is present.")
    elif fields and any(name in _TOUCHPOINT_FIELDS for name in fields):
        raise _Rejected("Touchpoint fields require sources.")

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
        raise _Rejected(f"The {name} field must be an array of 1 to {most} items.")
    if len(set(values)) != len(values):
        raise _Rejected(f"The {name} field has a duplicate value.")
    for index, value in enumerate(values):
        if value not in allowed:
            raise _Rejected(f"The selected {name}.{index} is invalid.")
    return list(values)
