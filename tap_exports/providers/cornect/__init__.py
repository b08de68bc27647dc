"""Cornect's company exports (cornect.io/docs/api): a search or a saved list, paid in credits.

Facts this provider relies on (see docs/providers/cornect.md); `exports.py` holds its
port, this module the rest:
- `Authorization: Bearer cornect_…` on `https://api.cornect.io/api/v1`; a `read` token
  can search, poll and download, only a `read_write` one can create exports (403
  `INSUFFICIENT_SCOPE`). Errors come as `{"detail": {"code", "message"}}` (some as a
  plain string, a 422 possibly as a FastAPI list: the engine reads all three).
- An export is defined by search filters or a saved list, never by time: the stream
  `companies` is a full snapshot each run, primary key `id`.
- Creating one charges 1 credit per company the workspace never exported before; it
  holds at most 10,000 companies (`capped_at_10k`: the rest silently absent). So a
  search is sized first with the free search `total` and cut into parts of at most
  10,000 by narrowing `employee_count`, then `founded_year` (`engine/planning/partition.py`),
  and every create is held to `max_credits` (`engine/costs/spending.py`): its worst case is
  the part's size now, every company taken as new.
- A short balance is documented both as 402 (no job) and as a partial export
  (`would_skip`): the first stops the run; so does the second, without reading the
  export, as its rows are incomplete.
- Status words `pending | processing | completed | failed` are documented in full: an
  unknown one is an error. URLs come from `POST /exports/{id}/download`, asked again
  whenever one is needed; files are CSV or JSON (array or NDJSON), gzip or not.
- The record schema is undocumented: discovery infers it from a free search page
  (`infer_schema`), over the fields the filters name.
- Limits per token: search 60/min, credits 60, create 5, status 120, download 30
  (company detail, 120, is not used); 429 carries `Retry-After`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tap_exports.engine.errors import (
    ApiError,
    AuthenticationError,
    ConfigError,
    OutOfCreditsError,
    PermissionDeniedError,
    RequestRejectedError,
)
from tap_exports.engine.exports.jobs import ExportPort
from tap_exports.engine.files.decode import FileFormats
from tap_exports.engine.http.api import ApiClient, ErrorRule
from tap_exports.engine.records.infer import infer_schema
from tap_exports.providers.base import (
    ID,
    JsonSchema,
    Provider,
    RateLimit,
    Setting,
    StreamSpec,
    in_utc,
    nullable,
    object_schema,
    string_array,
)
from tap_exports.providers.cornect.exports import DIMENSIONS, JOB_API, CornectExports

API_URL = "https://api.cornect.io/api/v1"
FORMATS = ("json", "csv")

_TEXT = nullable("string")
# The fields the search filters name: a guess at the record, refined by a sample.
KNOWN_FIELDS: dict[str, JsonSchema] = {
    "id": ID,
    "name": _TEXT,
    "description": _TEXT,
    "country": _TEXT,
    "state": _TEXT,
    "city": _TEXT,
    "industry": _TEXT,
    "naics_code": _TEXT,
    "technologies": string_array(),
    "employee_count": nullable("integer"),
    "founded_year": nullable("integer"),
    # Open objects (what a connection holds is undocumented); array items must declare
    # `properties` for singer-sdk's conformance to read them.
    "connections": {
        "type": ["array", "null"],
        "items": {"type": ["object", "null"], "properties": {}, "additionalProperties": True},
    },
}

COMPANIES = StreamSpec(
    name="companies",
    schema=object_schema(KNOWN_FIELDS, required=("id",)),
    replication_key=None,
    primary_keys=("id",),
    # A part is sized under the cap before its create: an export that keeps failing is
    # not made to succeed by halving the part (and a list cannot be cut at all).
    splittable=False,
    remember_exported=True,
)

SETTINGS = (
    Setting(
        "search_filters",
        {"type": ["object", "null"]},
        "Export the companies this Search Companies filter matches ({} for every company), "
        'for example {"countries": ["Germany"], "employee_count_min": 50}. Give this '
        "or list_id.",
    ),
    Setting(
        "list_id",
        {"type": ["string", "null"]},
        "Export this saved list (its UUID) instead of a search. A list of more than "
        "10,000 companies cannot be split: use search_filters for those.",
    ),
    Setting(
        "export_format",
        {"type": ["string", "null"], "enum": [*FORMATS, None]},
        "File format asked of the API: json (default) or csv.",
        default="json",
    ),
    Setting(
        "max_credits",
        {"type": ["integer", "null"], "minimum": 0},
        "Required: the most credits one run may spend. A run whose worst case (every "
        "company new) is more stops before creating anything; 0 allows only companies "
        "already exported before, which are free.",
    ),
)


def validate_settings(config: Mapping[str, Any]) -> None:
    """One source, a known format, and a spending limit: checked before any request."""
    filters, list_id = config.get("search_filters"), config.get("list_id")
    if filters is not None and list_id is not None:
        raise ConfigError("list_id", "give search_filters or list_id, not both")
    if filters is None and list_id is None:
        raise ConfigError(
            "search_filters",
            "give search_filters (Search Companies filters; {} for every company) or list_id",
        )
    if filters is not None:
        if not isinstance(filters, Mapping):
            raise ConfigError("search_filters", "must be an object of Search Companies filters")
        if "cursor" in filters:
            raise ConfigError("search_filters", "'cursor' is not a filter: remove it")
        for dim in DIMENSIONS:
            for key in (dim.low_key, dim.high_key):
                if key in filters and not isinstance(filters[key], int):
                    raise ConfigError("search_filters", f"{key} must be a whole number")
    if list_id is not None and not str(list_id).strip():
        raise ConfigError("list_id", "is empty: give a saved list's id or leave it out")
    export_format = config.get("export_format") or "json"
    if export_format not in FORMATS:
        raise ConfigError("export_format", f"{export_format!r} is not one of: json, csv")
    limit = config.get("max_credits")
    if limit is None:
        raise ConfigError(
            "max_credits",
            "is required for cornect: the most credits one run may spend (exports cost "
            "1 credit per company not exported before)",
        )
    if limit < 0:
        raise ConfigError("max_credits", f"must be at least 0, got {limit}")


def export_port(spec: StreamSpec, client: ApiClient, config: Mapping[str, Any]) -> ExportPort:
    """Build the companies port from the settings."""
    assert spec.name == COMPANIES.name, "Cornect exports companies only"
    return CornectExports(client, config)


def discover_schema(spec: StreamSpec, client: ApiClient, config: Mapping[str, Any]) -> JsonSchema:
    """The companies schema: the fields a free search page shows, over the filters' fields."""
    sample = CornectExports(client, config).sample()
    return infer_schema(sample, KNOWN_FIELDS, required=("id",))


# `--test`'s scope probe: an export request that cannot be carried out (see below).
_NOTHING_TO_EXPORT = {"source_type": "list", "list_id": "tap-exports-connection-test"}
_REFUSED_FOR_WHAT_IT_ASKS = frozenset({400, 404, 422})


def check_connection(client: ApiClient, config: Mapping[str, Any]) -> str:
    """`--test`: the token, its scope, the balance and the filters; nothing created or paid.

    The balance (`GET /credits`) proves the token and its workspace; a search counts
    the filters' companies for free. The scope is asked by an export request that can
    export nothing: it lacks the required `name` (a read_write token is answered 422,
    a read token refused 403 before its fields are read), and even if taken it names a
    saved list by an id no list has (no UUID), which matches no company to charge for.
    """
    exports = CornectExports(client, config)
    balance = exports.balance()
    try:
        client.post_json("/exports", _NOTHING_TO_EXPORT, budget="create", once=True)
    except ApiError as exc:
        # Refused for what it asks (400, 404, 422), not for who asks: the token may create.
        if exc.status not in _REFUSED_FOR_WHAT_IT_ASKS:
            raise
    else:
        raise ApiError("Cornect accepted an export request with no name for no list; stopping")
    found = exports.matched()
    what = "the list's companies" if found is None else f"the filters match {found:,} companies"
    return (
        f"the token was accepted with the read_write scope; balance {balance:,} credits; "
        f"{what} (nothing created or charged)"
    )


CORNECT = Provider(
    name="cornect",
    default_api_url=API_URL,
    streams=(COMPANIES,),
    rate_limits={
        "search": RateLimit(60),
        "credits": RateLimit(60),
        "create": RateLimit(5),
        "status": RateLimit(120),
        "download": RateLimit(30),
    },
    job_api=JOB_API,
    export_port=export_port,
    check_connection=check_connection,
    discover_schema=discover_schema,
    file_formats=FileFormats(formats=frozenset({"json", "ndjson", "csv"})),
    planning_zone=in_utc,
    settings=SETTINGS,
    validate_settings=validate_settings,
    required_settings=(("search_filters", "max_credits"), ("list_id", "max_credits")),
    error_rules={
        401: ErrorRule(
            AuthenticationError,
            "The token was not accepted: create one under Account → API tokens in Cornect "
            "(a workspace token, not expired) and set it as 'api_key'",
        ),
        402: ErrorRule(
            OutOfCreditsError,
            "Nothing was charged for it; top up credits at app.cornect.io/account/credits "
            "and run again",
        ),
        422: ErrorRule(
            RequestRejectedError,
            "Cornect refused the fields of the request: check 'search_filters' (the Search "
            "Companies filter shape; countries as full names)",
        ),
        403: ErrorRule(
            PermissionDeniedError,
            "Creating exports needs a read_write token (a read token can only search and "
            "download): create one under Account → API tokens and set it as 'api_key'",
        ),
    },
)
