"""Cometly's export API, emulated: auth, routing, limits, job states and files.

Everything the sandbox knows about Cometly lives here and in `cometly_requests.py`: this
module has the path prefix, the error envelope, the demo keys, the budgets and the file
format; that one has the request vocabulary, its validation and the record selection.
Behaviour follows the documented API (docs/providers/cometly.md); where the
docs are silent the emulator picks the strict reading and says so:
- one rate budget per space for all create endpoints and one for all status endpoints;
- request bodies are read strictly too (see `cometly_requests.py`).

This module is plain logic (request in, reply out, an `emulator.Emulator`); `server.py`
puts it on HTTP.
It deliberately shares no code with the tap, so a bug in the tap's date math cannot
hide by being repeated here.
"""

from __future__ import annotations

import gzip
import itertools
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from tap_exports.engine.clock import Clock
from tap_exports.sandbox.cometly.data import Dataset, DataSpec, generate, utc_text
from tap_exports.sandbox.cometly.requests import (
    Rejected,
    Selection,
    event_selection,
    json_object,
    range_selection,
)
from tap_exports.sandbox.emulator import Reply, SignUrl, StoredFile
from tap_exports.sandbox.faults import DATA_FAULTS, Faults
from tap_exports.sandbox.ratelimit import SlidingWindowLimiter

API_PREFIX = "/public-api/v1"
DEMO_KEY = "demo-key"
INACTIVE_KEY = "inactive-key"
_STREAMS = ("companies", "contacts", "events")
_FILE_SUFFIX, _FILE_TYPE = ".json.gz", "application/gzip"  # gzip NDJSON, one file per export


@dataclass
class Space:
    """One Cometly space: its key, timezone, subscription state and data."""

    api_key: str
    timezone: str = "America/New_York"
    active: bool = True
    data: DataSpec = field(default_factory=DataSpec)


def default_spaces() -> list[Space]:
    """A demo space in New York time (DST starts 2025-03-09) and an inactive one."""
    return [Space(api_key=DEMO_KEY), Space(api_key=INACTIVE_KEY, active=False)]


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


@dataclass
class _Export:
    export_id: int
    api_key: str
    stream: str
    created_at: datetime
    ready_at: float
    will_fail: bool
    stuck: bool
    selection: Selection
    query: bytes
    file_name: str = field(default_factory=lambda: f"{uuid.uuid4()}{_FILE_SUFFIX}")
    content: bytes | None = None


class CometlyEmulator:
    """Cometly's API for the sandbox server; thread-safe."""

    name = "cometly"
    api_prefix = API_PREFIX

    def __init__(
        self,
        *,
        spaces: list[Space],
        timing: Timing,
        limits: Limits,
        faults: Faults,
        sign_url: SignUrl,
        clock: Clock,
    ) -> None:
        """Serve `spaces` with these timings, budgets and faults; `sign_url` presigns files.

        Exports run, budgets refill and slow answers wait on `clock`.
        """
        self.timing = timing
        self.faults = faults
        self._clock = clock
        self._spaces = {space.api_key: space for space in spaces}
        self._datasets: dict[str, Dataset] = {}
        self._zones = {space.api_key: ZoneInfo(space.timezone) for space in spaces}
        self._limiters = {
            (space.api_key, family): SlidingWindowLimiter(limit, limits.period_seconds, clock=clock)
            for space in spaces
            for family, limit in (("create", limits.create), ("status", limits.status))
        }
        self._exports: dict[int, _Export] = {}
        self._rendered: dict[bytes, bytes] = {}
        # What clients asked for, for tests and demos (see `created` and `status_reads`).
        self._created: list[tuple[str, dict[str, Any]]] = []
        self._status_reads: dict[int, int] = {}
        self._files: dict[str, _Export] = {}
        self._ids = itertools.count(1001)
        self._sign_url = sign_url
        # Guards every dict and list above: server threads call in concurrently.
        self._lock = threading.Lock()

    # Introspection for tests and demos -------------------------------------------------

    @property
    def created(self) -> list[tuple[str, dict[str, Any]]]:
        """(stream, body) of every export created so far, oldest first (a snapshot)."""
        with self._lock:
            return list(self._created)

    @property
    def status_reads(self) -> dict[int, int]:
        """How many admitted status reads each export id got so far (a snapshot)."""
        with self._lock:
            return dict(self._status_reads)

    def dataset(self, api_key: str) -> Dataset:
        """All records of the space behind `api_key` (generated on first use)."""
        with self._lock:
            if api_key not in self._datasets:
                space = self._spaces[api_key]
                self._datasets[api_key] = generate(space.data, self._zones[api_key])
            return self._datasets[api_key]

    def exports_created(self, api_key: str, stream: str | None = None) -> int:
        """How many exports the space has created (of `stream`, if given)."""
        with self._lock:
            return sum(
                1
                for export in self._exports.values()
                if export.api_key == api_key and stream in (None, export.stream)
            )

    def completed_at(self, export_id: int) -> float:
        """When the export turns `completed`, on the monotonic time of the emulator's clock.

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

    # The emulator interface --------------------------------------------------------------

    def error_reply(self, status: int, message: str) -> Reply:
        """Cometly's documented error body: `{"message": ...}` and nothing else."""
        return Reply(status, {"message": message})

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one API request; `path` is relative to `API_PREFIX`."""
        space = self._space_for(headers.get("authorization", ""))
        if space is None:
            return self.error_reply(401, "Unauthenticated.")
        if not space.active:
            return self.error_reply(403, "Your Cometly subscription is inactive.")
        route = self._route(method, path)
        if route is None:
            return self.error_reply(404, "Not found.")
        family, stream, export_id = route
        decision = self._limiters[(space.api_key, family)].decide()
        rate_headers = {
            "X-RateLimit-Limit": str(decision.limit),
            "X-RateLimit-Remaining": str(decision.remaining),
        }
        if not decision.allowed:
            retry_after = {"Retry-After": str(decision.retry_after)}
            return self.error_reply(429, "Too Many Attempts.").with_headers(
                rate_headers | retry_after
            )
        if self.faults.take("rate_limit_storms"):
            self._limiters[(space.api_key, family)].refuse_admitted(seconds=1)
            # As a refusing server says it: nothing remains, come back in a second.
            storm = rate_headers | {"Retry-After": "1", "X-RateLimit-Remaining": "0"}
            return self.error_reply(429, "Too Many Attempts.").with_headers(storm)
        if self.faults.take("server_errors"):
            return self.error_reply(503, "Service Unavailable").with_headers(rate_headers)
        if self.faults.take("slow_responses"):
            # Slow only after the request was admitted: a hold (429) is only ever set by an
            # answer, so a client that gave up waiting was never told to hold anything.
            self._clock.sleep(self.faults.slow_seconds)
        try:
            if export_id is None:
                reply = self._create(space, stream, json_object(body))
            else:
                reply = self._status(space, stream, export_id)
        except Rejected as exc:
            reply = self.error_reply(422, str(exc))
        return reply.with_headers(rate_headers)

    def file(self, name: str) -> StoredFile | None:
        """The gzip NDJSON file behind a download name, rendered once."""
        with self._lock:
            export = self._files.get(name)
        if export is None:
            return None
        dataset = self.dataset(export.api_key)
        with self._lock:
            if export.content is None:
                export.content = self._render(export, dataset)
            return StoredFile(export.content, _FILE_TYPE)

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
            selection = event_selection(body, zone)
        else:
            selection = range_selection(stream, body, zone)
        now = self._clock.monotonic()
        with self._lock:
            export = _Export(
                export_id=next(self._ids),
                api_key=space.api_key,
                stream=stream,
                created_at=self._clock.now().replace(microsecond=0),
                ready_at=now + self.timing.queued_seconds + self.timing.processing_seconds,
                will_fail=self.faults.take("failed_exports"),
                stuck=self.faults.take("stuck_exports"),
                selection=selection,
                query=orjson.dumps([space.api_key, stream, body], option=orjson.OPT_SORT_KEYS),
            )
            self._exports[export.export_id] = export
            self._files[export.file_name] = export
            self._created.append((stream, dict(body)))
        return Reply(202, {"export_id": export.export_id, "status": "queued"})

    def _status(self, space: Space, stream: str, export_id: int) -> Reply:
        with self._lock:
            self._status_reads[export_id] = self._status_reads.get(export_id, 0) + 1
            export = self._exports.get(export_id)
        if export is None or export.api_key != space.api_key or export.stream != stream:
            return self.error_reply(404, "Export not found.")
        body: dict[str, Any] = {
            "export_id": export.export_id,
            "created_at": utc_text(export.created_at),
        }
        remaining = export.ready_at - self._clock.monotonic()
        running = {"message": "Export is being processed. Please check back in a few minutes."}
        if remaining > self.timing.processing_seconds:
            body |= {"status": "queued", **running}
        elif remaining > 0 or export.stuck:
            body |= {"status": "processing", **running}
        elif export.will_fail:
            body |= {"status": "failed", "message": "Export failed. Please try again in a "
                     "few minutes. If the problem persists, contact support."}  # fmt: skip
        else:
            now = self._clock.now().replace(microsecond=0)
            completed = export.created_at + timedelta(
                seconds=self.timing.queued_seconds + self.timing.processing_seconds
            )
            body |= {
                "status": "completed",
                "completed_at": utc_text(completed),
                "download_url": self._sign_url(
                    export.file_name,
                    ttl_seconds=self.timing.url_ttl_seconds,
                    born_expired=self.faults.take("expired_urls"),
                ),
                "expires_at": utc_text(now + timedelta(seconds=self.timing.url_ttl_seconds)),
            }
        return Reply(200, body)


def _gzip_lines(lines: list[bytes]) -> bytes:
    return gzip.compress(b"".join(line + b"\n" for line in lines), compresslevel=5, mtime=0)
