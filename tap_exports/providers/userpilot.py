"""Userpilot's bulk data export API (docs.userpilot.com), for events, users and companies.

Facts this module relies on (see docs/providers/userpilot.md):
- `Authorization: Token <key>` on `https://appex.userpilot.io` (the tap's `api_url` is the
  host; paths start at `/api/v1/analytics/exports`).
- One export job per application token at a time: a second create answers 409 while
  one runs, ours or another client's (or ours created behind a 5xx). The jobs list says
  which runs; the tap waits it out (the engine paces creates) and never adopts it, as
  nothing tells another client's job from a ghost of ours.
- `from`/`to` are ISO 8601; whether `to` is inclusive is undocumented, so the tap asks
  for [start, end] and keeps rows in [start, end): a row at `end` goes to the next window.
- Status words: `pending` and `completed` documented, `failed` seen in the field; the
  enum is not documented, so an unknown word means "not finished yet" (warned once).
  A job is kept 3 days (then 404: created again); its URLs live 2 days (refused: the
  job is created again).
- A job hands out several files (`presigned_urls: [{filename, url}]`) in one of four
  formats, gzip or not (undocumented: the decoder sniffs both).
- Rows have no id: the engine adds `_row_key` (see `engine/records/rowkey.py`). Users and
  companies have no export of their own: they are the newest `identify_user` /
  `identify_company` row of each id in each window of the events export.
- Request-rate limits are undocumented: one polite budget for every call, overridable
  with `api_rate_limit`; a 429's `Retry-After` is obeyed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import quote

from tap_exports.engine.errors import ApiError, AuthenticationError, BusyError, ConfigError
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
from tap_exports.engine.planning.slices import Slice, Window
from tap_exports.engine.records.derive import DerivedRows
from tap_exports.engine.timestamps import format_utc
from tap_exports.providers.base import (
    DerivedSpec,
    JsonSchema,
    Provider,
    RateLimit,
    Setting,
    StreamSpec,
    in_utc,
    nullable,
    object_schema,
    options_from,
    timestamp,
)
from tap_exports.providers.job_api import JobApi

API_URL = "https://appex.userpilot.io"
EXPORTS = "/api/v1/analytics/exports"
ROW_KEY = "_row_key"
FORMATS = ("ndjson", "csv", "parquet", "avro")
EVENT_TYPES = (
    "identify_user", "identify_company", "interaction", "track", "track_feature",
    "page_view", "session_start",
)  # fmt: skip
# Status words of a job that no longer blocks the token.
_ENDED = frozenset({"completed", "failed"})
# Which Python module each typed format needs, and the extra that installs it.
_FORMAT_MODULES = {"parquet": ("pyarrow", "parquet"), "avro": ("fastavro", "avro")}

JOB_API = JobApi(
    auth_scheme="Token",
    id_path=("job_id",),
    words=StatusWords(
        {
            "pending": JobStatus.QUEUED,
            "queued": JobStatus.QUEUED,
            "running": JobStatus.PROCESSING,
            "processing": JobStatus.PROCESSING,
            "in_progress": JobStatus.PROCESSING,
            "completed": JobStatus.COMPLETED,
            "failed": JobStatus.FAILED,
        },
        unknown_means_running=True,
    ),
    message_keys=("message", "error"),
)

_TEXT = nullable("string")
# Custom attributes, shaped by each account: open objects, kept whole.
_PROPERTIES = {"type": ["object", "null"], "additionalProperties": True}

EVENTS = StreamSpec(
    name="events",
    replication_key="inserted_at",
    # No documented id: a content key, paired with the instant (see engine/records/rowkey.py).
    primary_keys=("inserted_at", ROW_KEY),
    row_key=ROW_KEY,
    schema=object_schema(
        {
            ROW_KEY: {"type": "string"},
            "app_token": _TEXT,
            "event_type": _TEXT,
            "event_name": _TEXT,
            "user_id": _TEXT,
            "company_id": _TEXT,
            "source": _TEXT,
            "inserted_at": timestamp(required=True),
            "hostname": _TEXT,
            "pathname": _TEXT,
            "screen_width": nullable("integer"),
            "screen_height": nullable("integer"),
            "device_type": _TEXT,
            "user_agent": _TEXT,
            "operating_system": _TEXT,
            "browser": _TEXT,
            "browser_language": _TEXT,
            "session": _TEXT,
            "country_code": _TEXT,
            "metadata": _PROPERTIES,
        },
        required=(ROW_KEY, "inserted_at"),
    ),
)


def _identified_stream(
    name: str, event_type: str, key: str, extra: Mapping[str, JsonSchema]
) -> DerivedSpec:
    """A stream of the newest `event_type` row per `key`: its metadata as `properties`."""

    def pick(row: dict[str, Any]) -> dict[str, Any] | None:
        if row.get("event_type") != event_type or not isinstance(row.get(key), str):
            return None
        metadata = row.get("metadata")
        return {
            key: row[key],
            **{field: row.get(field) for field in extra},
            "app_token": row.get("app_token"),
            "identified_at": row["inserted_at"],
            "properties": metadata if isinstance(metadata, dict) else None,
        }

    def check(config: Mapping[str, Any]) -> None:
        chosen = config.get("event_types")
        if chosen is not None and event_type not in chosen:
            raise ConfigError(
                "event_types",
                f"leaves out {event_type}, which the selected stream '{name}' is made of: "
                f"add it, or deselect '{name}'",
            )

    return DerivedSpec(
        name=name,
        primary_keys=(key,),
        source=EVENTS.name,
        check=check,
        rows=DerivedRows(f'"{event_type}"'.encode(), pick, (key,), "identified_at"),
        schema=object_schema(
            {
                key: {"type": "string"},
                **extra,
                "app_token": _TEXT,
                "identified_at": timestamp(required=True),
                "properties": _PROPERTIES,
            },
            required=(key, "identified_at"),
        ),
    )


USERS = _identified_stream("users", "identify_user", "user_id", {"company_id": _TEXT})
COMPANIES = _identified_stream("companies", "identify_company", "company_id", {})

_STRINGS = {"type": ["array", "null"], "items": {"type": "string"}}
SETTINGS = (
    Setting(
        "export_format",
        {"type": ["string", "null"], "enum": [*FORMATS, None]},
        "File format asked of the API: ndjson (default, fastest), csv, parquet (needs the "
        "'parquet' extra) or avro (needs the 'avro' extra). Row keys depend on it: do not "
        "change it once rows are loaded.",
        default="ndjson",
    ),
    Setting(
        "event_types",
        _STRINGS,
        f"Only these event types ({', '.join(EVENT_TYPES)}). Default: all. Users and "
        "companies come from identify_user / identify_company rows: leave those in.",
    ),
    Setting("user_ids", _STRINGS, "Only the rows of these user ids. Default: all."),
    Setting("company_ids", _STRINGS, "Only the rows of these company ids. Default: all."),
    Setting(
        "segment_id",
        {"type": ["string", "null"]},
        "Only the rows of this segment's users (ids from the segments lookup).",
    ),
)


def validate_settings(config: Mapping[str, Any]) -> None:
    """Check what the API would refuse with a 422, and that a typed format can be read."""
    export_format = config.get("export_format") or "ndjson"
    if export_format not in FORMATS:
        raise ConfigError("export_format", f"{export_format!r} is not one of: {', '.join(FORMATS)}")
    if export_format in _FORMAT_MODULES:
        module, extra = _FORMAT_MODULES[export_format]
        try:
            __import__(module)
        except ImportError:
            raise ConfigError(
                "export_format",
                f"{export_format} files need {module}: pip install 'tap-exports[{extra}]'",
            ) from None
    for setting in ("event_types", "user_ids", "company_ids"):
        values = config.get(setting)
        if values is not None and (not values or len(set(values)) != len(values)):
            raise ConfigError(setting, "give at least one value, without duplicates")
    unknown = sorted(set(config.get("event_types") or ()) - set(EVENT_TYPES))
    if unknown:
        raise ConfigError("event_types", f"unknown event type(s): {', '.join(unknown)}")
    if config.get("segment_id") == "":
        raise ConfigError("segment_id", "is empty: give a segment id or leave it out")


class _UserpilotExports:
    """Create and read export jobs of events; the body is the window plus the filters."""

    def __init__(self, client: ApiClient, options: dict[str, Any]) -> None:
        self._client = client
        self._options = options

    def create(self, slice: Slice) -> str:
        assert isinstance(slice, Window), "Userpilot exports time windows"
        # `to` may be inclusive: the row at `end` comes back and is left to the next window.
        body = {"from": format_utc(slice.start), "to": format_utc(slice.end), **self._options}
        try:
            answer = self._client.post_json(EXPORTS, body, budget="api")
        except BusyError as exc:
            raise BusyError(f"{exc} ({self._running_job()})", status=exc.status) from None
        return JOB_API.created(answer, subject=f"events {slice}")

    def _running_job(self) -> str:
        """What the jobs list says runs: the job a 409 waits for (never adopted)."""
        try:
            jobs = self._client.get_list(f"{EXPORTS}/jobs", budget="api")
        except ApiError as exc:
            return f"the jobs list could not be read: {exc}"
        for job in jobs:
            if isinstance(job, dict) and job.get("status") not in _ENDED:
                return (
                    f"job {job.get('job_id')} of this app token is {job.get('status')}, "
                    f"{job.get('progress') or '?'} done, started {job.get('start_time')}; "
                    "waiting for it"
                )
        return "the jobs list shows no running job; creating again"

    def status(self, export_id: str) -> StatusReport:
        answer = self._client.get_json(f"{EXPORTS}/jobs/{quote(export_id, safe=':')}", budget="api")
        report = JOB_API.report(answer, subject=f"events export {export_id}")
        if report.status is not JobStatus.COMPLETED:
            return report
        files = tuple(
            ExportFile(str(entry["filename"]), str(entry["url"]))
            for entry in answer.get("presigned_urls") or ()
            if isinstance(entry, dict) and entry.get("filename") and entry.get("url")
        )
        return replace(report, files=files)

    def files(self, export_id: str) -> tuple[ExportFile, ...]:
        return completed_files(self.status(export_id), subject=f"events export {export_id}")

    def covers(self, slice: Slice) -> Coverage | None:
        """UTC instants are read as sent: records beyond them mean nothing to fix here."""
        return None


def export_port(spec: StreamSpec, client: ApiClient, config: Mapping[str, Any]) -> ExportPort:
    """Build the events port with the format and filters the settings ask for."""
    assert spec.name == EVENTS.name, "Userpilot exports events only"
    filters = options_from(
        config,
        event_types="event_type",
        user_ids="user_id",
        company_ids="company_id",
        segment_id="segment_id",
    )
    return _UserpilotExports(client, {"format": config.get("export_format") or "ndjson", **filters})


def check_connection(client: ApiClient, config: Mapping[str, Any]) -> str:
    """`--test`: the token and its export add-on, by reading the jobs list (creates nothing).

    A job running now is said: the next sync waits for it (one job per token).
    """
    jobs = client.get_list(f"{EXPORTS}/jobs", budget="api")
    running = [job for job in jobs if isinstance(job, dict) and job.get("status") not in _ENDED]
    busy = (
        f"job {running[0].get('job_id')} is {running[0].get('status')}: a sync waits for it"
        if running
        else "no job running"
    )
    return f"the token was accepted with the export add-on (read the jobs list: {busy})"


USERPILOT = Provider(
    name="userpilot",
    default_api_url=API_URL,
    streams=(EVENTS,),
    derived=(USERS, COMPANIES),
    rate_limits={"api": RateLimit(30, guessed=True)},
    status_budget="api",
    create_budget="api",
    job_api=JOB_API,
    export_port=export_port,
    check_connection=check_connection,
    file_formats=FileFormats(formats=frozenset({"ndjson", "csv", "parquet", "avro"})),
    planning_zone=in_utc,
    settings=SETTINGS,
    validate_settings=validate_settings,
    max_running_jobs=1,
    error_rules={
        401: ErrorRule(
            AuthenticationError,
            "The key was not accepted: check 'api_key' (the Environment page's export key; "
            "the plan needs the data export add-on)",
        ),
        # The busy message names the job that runs (see `_UserpilotExports.create`).
        409: ErrorRule(BusyError),
    },
    # Jobs run one at a time, each with a fixed cost: a week per job by default. The
    # row keys of a window take flat memory (`engine/records/occurrences.py`).
    default_window_days=7,
)
