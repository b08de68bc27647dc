"""What every provider module declares, and the JSON-schema fragments they share.

A provider is data plus one factory. It declares:
- its streams (name, schema, replication key or none for a full snapshot, keys);
- its own settings (merged into the tap's config schema, each marked as applying to
  this provider only; setting one for another provider is a start-up error);
- its rate budgets by name (each overridable with a `<name>_rate_limit` setting), and
  which one status reads use;
- how many export jobs may run at once, its status words, how its HTTP errors are
  classified, what its export files may be, the timezone it reads dates in, and the
  host its key belongs to (`api_url`'s default: the key is only ever sent there);
- streams made from rows of another stream's exports (`derived`), if any;
- for APIs that document no record schema, how to infer one from a sample;
- `export_port`, which builds the object that creates exports, reads their status and
  fetches their files' URLs, for one stream;
- `check_connection`, what `--test` asks of the API: calls that create and charge nothing.

The engine knows none of these facts by name; it reads them from here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any

from tap_exports.engine.exports.jobs import ExportPort
from tap_exports.engine.files.decode import FileFormats
from tap_exports.engine.http.api import ApiClient, ErrorRule
from tap_exports.engine.records.derive import DerivedRows
from tap_exports.providers.job_api import JobApi

JsonSchema = dict[str, Any]


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One exportable stream.

    `replication_key` None makes it a full snapshot: every run exports it whole, cut
    into partitions the port plans. `primary_keys` has no default: rows without an id
    must say so (and how a row delivered twice is made harmless). `window_days` fixes
    the window size when the API does (an export of at most one day); `splittable`
    says whether a slice the provider keeps failing may be halved.
    """

    name: str
    schema: JsonSchema
    replication_key: str | None
    primary_keys: tuple[str, ...]
    window_days: int | None = None
    splittable: bool = True
    # For rows without an id: the field the engine adds a content key in (`rowkey`).
    row_key: str | None = None
    # Exports charge for records never exported before: state keeps which were (by
    # primary key, see `engine/costs/exported.py`) so estimates can leave them out.
    remember_exported: bool = False
    # Fields whose schema was inferred from a sample, not documented (`engine/records/infer.py`):
    # a value of another type widens them instead of being a bad record.
    inferred: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DerivedSpec:
    """A stream made from rows of another stream's exports, with no export of its own.

    See `engine.derive`: per slice of `source`, the newest row of each key is delivered
    before the source's checkpoint. The stream keeps its own bookmark (the source's
    slice edges), so selecting it later reads the source's history again for it alone.
    """

    name: str
    schema: JsonSchema
    primary_keys: tuple[str, ...]
    source: str
    rows: DerivedRows
    # Raises ConfigError when the settings leave the stream nothing to read (a filter
    # that drops its rows): its bookmark would pass history it never saw.
    check: Callable[[Mapping[str, Any]], None] = lambda config: None


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A limit: `requests` per `per_seconds`, per account or key.

    `guessed`: the API documents no limit, so this is a polite guess; the first 429
    teaches the budget what the server allowed (see `RateBudget.refused`).
    """

    requests: int
    per_seconds: float = 60.0
    guessed: bool = False
    # The user set it (`<budget>_rate_limit`): a limit the server advertises may lower
    # it, never raise it.
    fixed: bool = False


@dataclass(frozen=True, slots=True)
class Setting:
    """A setting only this provider reads: its JSON schema, description and default.

    Kept without a default in the config schema (singer-sdk would fill it in for every
    provider); the provider applies `default` itself.
    """

    name: str
    schema: JsonSchema
    description: str
    default: Any = None
    secret: bool = False


# (stream, API client, config) -> the port that creates and reads that stream's exports.
PortFactory = Callable[[StreamSpec, ApiClient, Mapping[str, Any]], ExportPort]
# (stream, API client, config) -> the stream's schema, read from the API.
SchemaProbe = Callable[[StreamSpec, ApiClient, Mapping[str, Any]], JsonSchema]
# (API client, config) -> what `--test` checked, in a few words; raises what it found wrong.
ConnectionCheck = Callable[[ApiClient, Mapping[str, Any]], str]


@dataclass(frozen=True)
class Provider:
    """Everything the tap needs to know about one export API."""

    name: str
    default_api_url: str
    streams: tuple[StreamSpec, ...]
    # Budget name -> documented limit. Endpoints name the budget they draw from.
    rate_limits: Mapping[str, RateLimit]
    # The generic half of its port: the key's header, the created job's id, status reads.
    job_api: JobApi
    export_port: PortFactory
    file_formats: FileFormats
    # The timezone the API reads the dates it is sent in (from the config if it is the
    # account's own, which some APIs cannot report).
    planning_zone: Callable[[Mapping[str, Any]], tzinfo]
    # `--test`: the key, the plan and the account, through calls that create and charge
    # nothing.
    check_connection: ConnectionCheck
    settings: tuple[Setting, ...] = ()
    # Checks the provider's own settings, raising ConfigError naming the setting.
    validate_settings: Callable[[Mapping[str, Any]], None] = lambda config: None
    # What `validate_settings` refuses to start without, as Meltano's
    # settings_group_validation: one tuple per valid combination (a search or a saved
    # list, say). `provider`, the schema's required settings and, for a provider with an
    # incremental stream, `start_date` come on top. tests/test_hub_definition.py starts
    # the settings check on every group, so this cannot drift from the check.
    required_settings: tuple[tuple[str, ...], ...] = ((),)
    # The `rate_limits` entry status reads use: the scheduler keeps one of its
    # requests free for the export the tap is waiting on.
    status_budget: str = "status"
    # Export jobs the API lets run at once for one key (None: no documented limit).
    max_running_jobs: int | None = None
    # HTTP status -> error class and advice, over the engine's defaults.
    error_rules: Mapping[int, ErrorRule] = field(default_factory=dict)
    default_window_days: int = 365
    derived: tuple[DerivedSpec, ...] = ()
    # The `rate_limits` entry creates use (a plan's floor of the wall time comes from it).
    create_budget: str = "create"
    # For records the API does not document: a stream's schema from a free sample, at
    # discovery (`engine/records/infer.py`); None keeps each StreamSpec's schema.
    discover_schema: SchemaProbe | None = None

    def stream(self, name: str) -> StreamSpec:
        """Look a stream up by name."""
        for spec in self.streams:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def setting(self, name: str) -> Setting | None:
        """The provider's own setting `name`, if it has one."""
        return next((setting for setting in self.settings if setting.name == name), None)


def in_utc(config: Mapping[str, Any]) -> tzinfo:
    """The planning zone of an API that reads UTC instants (or no dates at all)."""
    return UTC


def options_from(config: Mapping[str, Any], **body_keys: str) -> dict[str, Any]:
    """The request-body options the settings set: setting name -> body key, unset left out."""
    return {key: config[name] for name, key in body_keys.items() if config.get(name) is not None}


def nullable(*types: str) -> JsonSchema:
    """A property of the given JSON types that may also be null."""
    return {"type": [*types, "null"]}


def timestamp(*, required: bool = False) -> JsonSchema:
    """An ISO 8601 date-time (a replication key is never null)."""
    return {"type": "string" if required else ["string", "null"], "format": "date-time"}


def string_array() -> JsonSchema:
    """A nullable list of strings."""
    return {"type": ["array", "null"], "items": {"type": "string"}}


def object_schema(
    properties: Mapping[str, JsonSchema], *, required: tuple[str, ...] = ()
) -> JsonSchema:
    """An object with the given properties."""
    schema: JsonSchema = {"type": "object", "properties": dict(properties)}
    if required:
        schema["required"] = list(required)
    return schema


# Ids are typed as integers in export samples but as strings in the REST reference:
# accept both rather than fail a sync on the first record that disagrees.
ID = {"type": ["integer", "string"]}
OPTIONAL_ID = nullable("integer", "string")
