"""A fourth provider, declared in this file alone, syncs end to end with no edit elsewhere.

The proof that a provider is its module, its sandbox folder and one registry line:
`ACME` below is what `tap_exports/providers/acme.py` would hold, `AcmeEmulator` and
`ACME_SANDBOX` what `tap_exports/sandbox/acme/` would, and the fixture's two `setitem`
calls stand for the registry line (`providers/__init__.py`) and the folder the sandbox
registry would find. Nothing in the engine, the singer-sdk layer, the sandbox server or
the settings is told about it: the config schema takes its settings and validates them,
the sandbox serves it over HTTP with presigned, expiring download URLs, and the tap
plans, creates, polls, downloads, checkpoints and resumes it like the other three.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_exports.engine.clock import Clock
from tap_exports.engine.exports.jobs import (
    ExportFile,
    ExportPort,
    JobStatus,
    StatusReport,
    StatusWords,
    completed_files,
)
from tap_exports.engine.files.decode import FileFormats
from tap_exports.engine.http.api import ApiClient
from tap_exports.engine.planning.coverage import Coverage
from tap_exports.engine.planning.slices import Slice, Window
from tap_exports.engine.timestamps import format_utc, parse_utc
from tap_exports.providers import PROVIDERS
from tap_exports.providers.base import (
    Provider,
    RateLimit,
    Setting,
    StreamSpec,
    in_utc,
    object_schema,
    timestamp,
)
from tap_exports.providers.job_api import JobApi
from tap_exports.sandbox import Sandbox, SandboxConfig
from tap_exports.sandbox.emulator import Emulator, Reply, SignUrl, StoredFile, json_object_body
from tap_exports.sandbox.plug import ProviderSandbox
from tap_exports.sandbox.registry import SANDBOXES
from tap_exports.sdk.tap import TapExports
from tests.singer import ids, sync

# -- the provider module (tap_exports/providers/acme.py) ------------------------------------

ORDERS = StreamSpec(
    "orders",
    object_schema(
        {
            "id": {"type": "integer"},
            "amount": {"type": ["number", "null"]},
            "updated_at": timestamp(required=True),
        },
        required=("id", "updated_at"),
    ),
    replication_key="updated_at",
    primary_keys=("id",),
)
JOB_API = JobApi(
    auth_scheme="Bearer",
    id_path=("job", "id"),
    words=StatusWords(
        {"running": JobStatus.PROCESSING, "done": JobStatus.COMPLETED, "bad": JobStatus.FAILED}
    ),
    message_keys=("reason",),
)


class AcmeExports:
    """Acme's export port: a job per window, its files listed by the status answer."""

    def __init__(self, client: ApiClient, config: Mapping[str, Any]) -> None:
        self._client = client
        self._currency = config.get("acme_currency") or "EUR"

    def create(self, slice: Slice) -> str:
        assert isinstance(slice, Window)
        body = {"from": format_utc(slice.start), "to": format_utc(slice.end)}
        answer = self._client.post_json("/jobs", body | {"currency": self._currency}, budget="api")
        return JOB_API.created(answer, subject=f"orders {slice}")

    def status(self, export_id: str) -> StatusReport:
        answer = self._client.get_json(f"/jobs/{export_id}", budget="api")
        files = [ExportFile(f["name"], f["url"]) for f in answer.get("files") or ()]
        return JOB_API.report(answer, subject=f"orders export {export_id}", files=files)

    def files(self, export_id: str) -> tuple[ExportFile, ...]:
        return completed_files(self.status(export_id), subject=f"orders export {export_id}")

    def covers(self, slice: Slice) -> Coverage | None:
        return None


def export_port(spec: StreamSpec, client: ApiClient, config: Mapping[str, Any]) -> ExportPort:
    return AcmeExports(client, config)


def check_connection(client: ApiClient, config: Mapping[str, Any]) -> str:
    client.get_list("/jobs", budget="api")
    return "the key was accepted (read: the jobs list)"


ACME = Provider(
    name="acme",
    default_api_url="https://api.acme.example/v2",
    streams=(ORDERS,),
    rate_limits={"api": RateLimit(50, per_seconds=1.0)},
    status_budget="api",
    create_budget="api",
    job_api=JOB_API,
    export_port=export_port,
    check_connection=check_connection,
    file_formats=FileFormats(always_gzip=True),
    planning_zone=in_utc,
    settings=(
        Setting(
            "acme_currency",
            {"type": ["string", "null"], "enum": ["EUR", "USD", None]},
            "Currency the amounts are exported in.",
            default="EUR",
        ),
    ),
    default_window_days=2,
)

# -- its sandbox (tap_exports/sandbox/acme/) ------------------------------------------------

KEY = "acme-test-key"
START = datetime(2025, 5, 1, tzinfo=UTC)


def orders(count: int) -> list[dict[str, Any]]:
    """`count` orders, one every 5 hours from START."""
    return [
        {"id": n, "amount": n * 1.5, "updated_at": format_utc(START + timedelta(hours=5 * n))}
        for n in range(count)
    ]


@dataclass
class _Job:
    rows: list[dict[str, Any]]
    ready_at: float


class AcmeEmulator:
    """Acme's export API: jobs that finish after a while, one gzip NDJSON file each."""

    name = "acme"
    api_prefix = "/v2"

    def __init__(self, rows: list[dict[str, Any]], sign_url: SignUrl, clock: Clock) -> None:
        self._rows = rows
        self._sign_url = sign_url
        self._clock = clock
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self.creates = 0

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        if headers.get("authorization") != f"Bearer {KEY}":
            return self.error_reply(401, "unknown key")
        with self._lock:
            if (method, path) == ("POST", "/jobs"):
                return self._create(json_object_body(body))
            if (method, path) == ("GET", "/jobs"):
                return Reply(200, [{"id": job_id} for job_id in self._jobs])
            job_id = path.removeprefix("/jobs/")
            job = self._jobs.get(job_id)
            if method != "GET" or job is None:
                return self.error_reply(404, f"no job {job_id}")
            if self._clock.monotonic() < job.ready_at:
                return Reply(200, {"status": "running"})
            url = self._sign_url(f"acme/{job_id}.ndjson.gz", ttl_seconds=300, born_expired=False)
            return Reply(200, {"status": "done", "files": [{"name": f"{job_id}.gz", "url": url}]})

    def _create(self, request: dict[str, Any]) -> Reply:
        if request.get("currency") not in ("EUR", "USD"):
            return self.error_reply(422, "currency must be EUR or USD")
        low, high = parse_utc(request["from"]), parse_utc(request["to"])
        rows = [r for r in self._rows if low <= parse_utc(r["updated_at"]) <= high]
        self.creates += 1
        job_id = f"job-{self.creates}"
        self._jobs[job_id] = _Job(rows, self._clock.monotonic() + 0.05)
        return Reply(201, {"job": {"id": job_id}})

    def file(self, name: str) -> StoredFile | None:
        with self._lock:
            job = self._jobs.get(name.removeprefix("acme/").removesuffix(".ndjson.gz"))
        if job is None:
            return None
        lines = b"".join(orjson.dumps(row) + b"\n" for row in job.rows)
        return StoredFile(gzip.compress(lines), "application/gzip")

    def error_reply(self, status: int, message: str) -> Reply:
        return Reply(status, {"reason": message})


def build(config: SandboxConfig, sign_url: SignUrl, clock: Clock) -> Emulator:
    """Its own config comes in `options` (SandboxConfig has no field for it)."""
    return AcmeEmulator(orders(config.options.get("acme", {}).get("orders", 10)), sign_url, clock)


ACME_SANDBOX = ProviderSandbox(name="acme", build=build, api_prefix="/v2", url_ttl_seconds=300)

# -- the proof ----------------------------------------------------------------------------


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    monkeypatch.setitem(PROVIDERS, ACME.name, ACME)  # the registry line
    monkeypatch.setitem(SANDBOXES, ACME_SANDBOX.name, ACME_SANDBOX)  # the sandbox folder
    with Sandbox(SandboxConfig(provider="acme", options={"acme": {"orders": 30}})) as served:
        yield served


def config_for(sandbox: Sandbox, **overrides: Any) -> dict[str, Any]:
    return {
        "provider": "acme",
        "api_url": sandbox.api_url,
        "api_key": KEY,
        "start_date": "2025-05-01T00:00:00Z",
        "end_date": "2025-05-08T00:00:00Z",
        "poll_interval_seconds": 0.01,
        "rate_limit_period_seconds": 1,
        **overrides,
    }


def test_a_fourth_provider_syncs_every_record_once_and_resumes_from_its_bookmark(sandbox):
    first = sync(config_for(sandbox, acme_currency="USD"))
    assert ids(first.records("orders")) == list(range(30))  # 6 days and a quarter
    assert first.final_state["bookmarks"]["orders"]["replication_key_value"] == (
        "2025-05-08T00:00:00Z"
    )
    emulator = sandbox.emulator
    assert isinstance(emulator, AcmeEmulator)
    assert emulator.creates == 4  # windows of its default 2 days over 7 days
    again = sync(config_for(sandbox, acme_currency="USD"), state=first.final_state)
    assert again.records("orders") == [] and emulator.creates == 4


def test_its_settings_join_the_config_schema_and_are_checked_like_any_other(sandbox):
    properties = TapExports.config_jsonschema["properties"]
    assert "acme" in properties["provider"]["enum"]
    assert properties["acme_currency"]["description"].startswith("(acme only) Currency")
    with pytest.raises(ConfigValidationError) as refused:
        TapExports(config=config_for(sandbox, acme_currency="GBP"), parse_env_config=False)
    assert any("'GBP' is not one of" in error for error in refused.value.errors)
    with pytest.raises(ConfigValidationError) as refused:  # another provider's setting
        TapExports(config=config_for(sandbox, timezone="UTC"), parse_env_config=False)
    assert any("timezone" in error for error in refused.value.errors)
