"""Userpilot's bulk data export API, emulated: auth, routing, one job per token, limits.

Everything the sandbox knows about Userpilot lives in the `userpilot*` modules: this one
answers requests and keeps the jobs; `userpilot_requests` reads a create body,
`userpilot_jobs` says what a job looks like over time, `userpilot_files` renders its
parts, `userpilot_data` makes the rows and `userpilot_config` holds the knobs. Behaviour
follows the documented API (docs/providers/userpilot.md); where the docs are
silent the emulator picks a reading and says so:
- the API lives at the host's root (`api_prefix` is empty), so the tap's `api_url` is
  the bare host, as the real default `https://appex.userpilot.io`;
- `Authorization: Token <key>`; an unknown key and a plan without the export add-on
  both answer 401 "Invalid API key or insufficient permissions", as documented;
- errors use the documented envelope `{"errors": [{details, error, error_code,
  message}]}`: `error` is the HTTP reason phrase, `error_code` it in snake case;
- one job per app token: while one is neither completed nor failed, a create answers
  409 (a failed job does not block; a stuck one blocks until its retention ends); the
  409 does not say which job runs: the jobs list does;
- job ids are opaque strings in the guide's `export:jobs:…` form (the OpenAPI shows a
  UUID), so a tap must take them as they come (percent-encoded in a path, or not);
  the 201's `links` (undocumented) is the job's status path;
- presigned URLs are signed once, valid `url_ttl_seconds` from the job's completion,
  and every later status read repeats them: a URL that expired stays expired and the
  tap must create the job again (as after the documented 2 days);
- after `retention_seconds` (3 days) a job answers 404, leaves the jobs list, stops
  blocking and its files are gone; `vanished_jobs` does the same at once;
- request rates are undocumented: one limit per app token for every endpoint, 429 with
  `Retry-After` (and no `X-RateLimit-*` headers, which nothing documents);
- the jobs list is newest first, with every job of the app token not yet forgotten;
- the data faults (`faults.DATA_FAULTS`) are not emulated: they damage NDJSON records by
  their id, and Userpilot rows have none.

This module is plain logic (request in, reply out, an `emulator.Emulator`); `server.py`
puts it on HTTP. It deliberately shares no code with the tap, so a bug in the tap's
date math or job handling cannot hide by being repeated here.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

import orjson

from tap_exports.engine.clock import Clock
from tap_exports.sandbox.cometly.data import utc_text
from tap_exports.sandbox.emulator import Reply, SignUrl, StoredFile
from tap_exports.sandbox.faults import Faults
from tap_exports.sandbox.ratelimit import SlidingWindowLimiter
from tap_exports.sandbox.userpilot.config import UserpilotConfig, UserpilotEnvironment
from tap_exports.sandbox.userpilot.data import Record, generate
from tap_exports.sandbox.userpilot.files import (
    gzipped_by_default,
    missing_library,
    part_name,
    render,
)
from tap_exports.sandbox.userpilot.jobs import Job, Part
from tap_exports.sandbox.userpilot.requests import Rejected, parse_create

API_PATH = "/api/v1/analytics/exports"
_ROOT = tuple(API_PATH.strip("/").split("/"))
_INVALID_KEY = "Invalid API key or insufficient permissions"


class UserpilotEmulator:
    """Userpilot's export API for the sandbox server; thread-safe."""

    name = "userpilot"
    api_prefix = ""

    def __init__(
        self, *, config: UserpilotConfig, faults: Faults, sign_url: SignUrl, clock: Clock
    ) -> None:
        """Serve `config.environments` with its timing, files and limit; `sign_url` presigns.

        Jobs run, the limit refills and slow answers wait on `clock`.
        """
        self.config = config
        self.faults = faults
        self._clock = clock
        self._environments = {env.api_key: env for env in config.environments}
        self._limiters = {
            env.app_token: SlidingWindowLimiter(
                config.rate_limit, config.rate_period_seconds, clock=clock
            )
            for env in config.environments
        }
        self._datasets: dict[str, list[Record]] = {}
        self._jobs: dict[str, Job] = {}
        self._files: dict[str, tuple[Job, Part]] = {}
        # Files already rendered, by request and part: the same request asked again (a
        # demo or benchmark run repeated) is served without rendering its rows again.
        self._rendered: dict[tuple[Any, ...], StoredFile] = {}
        # What clients did, for tests and demos (see the properties below).
        self._created: list[tuple[str, dict[str, Any]]] = []
        self._conflicts = 0
        self._status_reads: dict[str, int] = {}
        self._downloads: dict[str, int] = {}
        self._sign_url = sign_url
        # Guards every dict and list above: server threads call in concurrently.
        self._lock = threading.Lock()

    # Introspection and control for tests and demos --------------------------------------

    @property
    def created(self) -> list[tuple[str, dict[str, Any]]]:
        """(job id, request body) of every job created over HTTP, oldest first (a snapshot).

        Ghost creates are in it (the job exists); refused creates (409, 422) are not.
        """
        with self._lock:
            return list(self._created)

    @property
    def conflicts(self) -> int:
        """How many creates were refused with 409 because a job was running."""
        with self._lock:
            return self._conflicts

    @property
    def status_reads(self) -> dict[str, int]:
        """How many admitted status reads each job id got so far (a snapshot)."""
        with self._lock:
            return dict(self._status_reads)

    @property
    def downloads(self) -> dict[str, int]:
        """How many times each job's files were served so far (a snapshot)."""
        with self._lock:
            return dict(self._downloads)

    def dataset(self, api_key: str) -> list[Record]:
        """Every row of the environment behind `api_key`, in time order (generated once)."""
        env = self._environments[api_key]
        with self._lock:
            if api_key not in self._datasets:
                self._datasets[api_key] = generate(env.data, env.app_token)
            return list(self._datasets[api_key])

    def select(self, api_key: str, body: Mapping[str, Any]) -> list[Record]:
        """The rows a create with `body` would export now; `Rejected` if it is invalid."""
        query = parse_create(orjson.dumps(body), self._environments[api_key].segments)
        return query.select(self.dataset(api_key))

    def job_rows(self, job_id: str) -> list[Record]:
        """The rows a job selected, in the order its parts hold them."""
        with self._lock:
            return list(self._jobs[job_id].rows)

    def finishes_at(self, job_id: str) -> float:
        """When a job turns completed or failed, on the monotonic time of the emulator's clock."""
        with self._lock:
            return self._jobs[job_id].ends

    def start_foreign_job(self, api_key: str, seconds: float) -> str:
        """Start another client's job on the app token behind `api_key`; its id.

        It exports every row as NDJSON, runs `seconds` and blocks the token as any job
        does; a tap can learn its id only from the jobs list. RuntimeError if a job of
        the token is already running (the other client would have got a 409 too).
        """
        env = self._environments[api_key]
        rows = self.dataset(api_key)
        with self._lock:
            if self._blocked(env.app_token, self._clock.monotonic()):
                raise RuntimeError(f"a job of {env.app_token} is already running")
            return self._new_job(env, rows, "ndjson", seconds).job_id

    def forget(self, job_id: str) -> None:
        """Forget a job at once, as the provider does after the retention."""
        with self._lock:
            self._jobs[job_id].vanished = True

    def limiter(self, api_key: str) -> SlidingWindowLimiter:
        """The request-rate limiter of the app token behind `api_key`."""
        return self._limiters[self._environments[api_key].app_token]

    # The emulator interface --------------------------------------------------------------

    def error_reply(self, status: int, message: str, details: str = "") -> Reply:
        """Userpilot's documented error envelope: one error, in `errors`."""
        phrase = HTTPStatus(status).phrase
        error = {
            "details": details,
            "error": phrase,
            "error_code": phrase.lower().replace(" ", "_"),
            "message": message,
        }
        return Reply(status, {"errors": [error]})

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one API request; `path` is the whole path (`api_prefix` is empty)."""
        scheme, _, key = headers.get("authorization", "").partition(" ")
        env = self._environments.get(key.strip()) if scheme == "Token" else None
        if env is None:
            return self.error_reply(401, _INVALID_KEY, "Send 'Authorization: Token <API key>'.")
        if not env.export_addon:
            return self.error_reply(401, _INVALID_KEY, "The plan lacks the data export add-on.")
        route = _route(method, path)
        if route is None:
            return self.error_reply(404, "Not found.")
        limiter = self._limiters[env.app_token]
        decision = limiter.decide()
        if not decision.allowed:
            retry_after = {"Retry-After": str(decision.retry_after)}
            return self.error_reply(429, "Too many requests.").with_headers(retry_after)
        if self.faults.take("rate_limit_storms"):
            limiter.refuse_admitted(seconds=1)
            return self.error_reply(429, "Too many requests.").with_headers({"Retry-After": "1"})
        if self.faults.take("server_errors"):
            return self.error_reply(503, "Service unavailable.")
        if self.faults.take("slow_responses"):
            # Slow only once admitted: a client that gave up was never told to hold.
            self._clock.sleep(self.faults.slow_seconds)
        action, job_id = route
        if action == "create":
            return self._create(env, body)
        if action == "list":
            return self._list(env)
        return self._status(env, job_id)

    def file(self, name: str) -> StoredFile | None:
        """A part's file, rendered on its first download; None once its job is gone."""
        with self._lock:
            entry = self._files.get(name)
            if entry is None or self._gone(entry[0], self._clock.monotonic()):
                return None
            job, part = entry
            self._downloads[job.job_id] = self._downloads.get(job.job_id, 0) + 1
            if part.file is None and part.render_key is not None:
                part.file = self._rendered.get(part.render_key)
            if part.file is not None:
                return part.file
        rendered = render(part.rows, job.export_format, gzipped=job.gzipped, name=name)
        with self._lock:  # two first downloads may race: the first rendering stays
            if part.file is None:
                part.file = rendered
                if part.render_key is not None:
                    self._rendered[part.render_key] = rendered
            return part.file

    # Internals ----------------------------------------------------------------------------

    def _create(self, env: UserpilotEnvironment, body: bytes) -> Reply:
        try:
            query = parse_create(body, env.segments)
        except Rejected as exc:
            return self.error_reply(422, str(exc), exc.field)
        unsupported = missing_library(query.format)
        if unsupported:
            return self.error_reply(422, unsupported, "format")
        rows = query.select(self.dataset(env.api_key))
        with self._lock:
            if self._blocked(env.app_token, self._clock.monotonic()):
                self._conflicts += 1
                return self.error_reply(
                    409,
                    "Export job already in progress",
                    "One export job per application token at a time; see the jobs list.",
                )
            job = self._new_job(
                env,
                rows,
                query.format,
                self.config.timing.processing_seconds,
                will_fail=self.faults.take("failed_exports"),
                stuck=self.faults.take("stuck_exports"),
                request=(env.app_token, query),
            )
            self._created.append((job.job_id, orjson.loads(body)))
        if self.faults.take("ghost_creates"):
            return self.error_reply(503, "Service unavailable.")
        return Reply(
            201,
            {
                "environment_app_token": env.app_token,
                "environment_name": env.name,
                "job_id": job.job_id,
                "links": f"{API_PATH}/jobs/{job.job_id}",
                "start_time": utc_text(job.created_at),
            },
        )

    def _new_job(
        self,
        env: UserpilotEnvironment,
        rows: list[Record],
        export_format: str,
        seconds: float,
        *,
        will_fail: bool = False,
        stuck: bool = False,
        request: tuple[Any, ...] | None = None,
    ) -> Job:
        """Create and keep a job of `env`'s app token (the caller holds the lock).

        `request` identifies what was asked (the same rows): its parts' renderings are
        shared with earlier jobs of the same request.
        """
        folder = uuid.uuid4().hex
        gzipped = self.config.gzip
        if gzipped is None:
            gzipped = gzipped_by_default(export_format)
        size = self.config.rows_per_part
        chunks = [rows[start : start + size] for start in range(0, len(rows), size)] or [[]]
        parts = []
        for number, chunk in enumerate(chunks, start=1):
            filename = part_name(number, export_format, gzipped)
            key = None if request is None else (*request, gzipped, size, number)
            parts.append(Part(filename, f"{folder}/{filename}", chunk, render_key=key))
        job = Job(
            job_id=f"export:jobs:{folder}",
            app_token=env.app_token,
            created_at=self._clock.now(),
            started=self._clock.monotonic(),
            duration=seconds,
            statuses=self.config.timing.statuses,
            export_format=export_format,
            gzipped=gzipped,
            rows=rows,
            parts=parts,
            will_fail=will_fail,
            stuck=stuck,
        )
        self._jobs[job.job_id] = job
        for part in parts:
            self._files[part.storage_name] = (job, part)
        return job

    def _gone(self, job: Job, now: float) -> bool:
        return job.gone(now, self.config.timing.retention_seconds)

    def _blocked(self, app_token: str, now: float) -> bool:
        """Whether a job of `app_token` still runs (the caller holds the lock)."""
        return any(
            job.app_token == app_token and not self._gone(job, now) and not job.terminal(now)
            for job in self._jobs.values()
        )

    def _list(self, env: UserpilotEnvironment) -> Reply:
        now = self._clock.monotonic()
        with self._lock:
            jobs = [
                job
                for job in self._jobs.values()
                if job.app_token == env.app_token and not self._gone(job, now)
            ]
            return Reply(200, [job.summary(now) for job in reversed(jobs)])

    def _status(self, env: UserpilotEnvironment, job_id: str) -> Reply:
        now = self._clock.monotonic()
        with self._lock:
            self._status_reads[job_id] = self._status_reads.get(job_id, 0) + 1
            job = self._jobs.get(job_id)
            if job is None or job.app_token != env.app_token or self._gone(job, now):
                return self.error_reply(404, "Export job not found.")
            if self.faults.take("vanished_jobs"):
                job.vanished = True
                return self.error_reply(404, "Export job not found.")
            body = job.view(now)
            if body["status"] == "completed":
                body["presigned_urls"] = [
                    {"filename": part.filename, "url": self._url(job, part, now)}
                    for part in job.parts
                ]
        return Reply(200, body)

    def _url(self, job: Job, part: Part, now: float) -> str:
        """A part's URL, signed once: valid `url_ttl_seconds` from the job's completion."""
        if part.url is None:
            ttl = self.config.timing.url_ttl_seconds
            left = ttl - int(now - job.ends)
            part.url = self._sign_url(
                part.storage_name,
                ttl_seconds=left if left > 0 else ttl,
                born_expired=left <= 0 or self.faults.take("expired_urls"),
            )
        return part.url


def _route(method: str, path: str) -> tuple[str, str] | None:
    """(action, job id) of a request, or None (404); a trailing slash is accepted."""
    parts = tuple(unquote(part) for part in path.strip("/").split("/"))
    if parts[: len(_ROOT)] != _ROOT:
        return None
    rest = parts[len(_ROOT) :]
    if method == "POST" and not rest:
        return "create", ""
    if method == "GET" and rest == ("jobs",):
        return "list", ""
    if method == "GET" and len(rest) == 2 and rest[0] == "jobs" and rest[1]:
        return "status", rest[1]
    return None
