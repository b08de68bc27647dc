"""What every provider module declares, and the JSON-schema fragments they share.

A provider is data plus one factory: its streams (name, replication key, schema and
how wide a window may be), its documented rate limits, how it authenticates, and how
to build the `ExportPort` that creates and polls exports for one stream.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from tap_exports.engine.api import ApiClient
from tap_exports.engine.jobs import ExportPort

JsonSchema = dict[str, Any]


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One exportable stream."""

    name: str
    replication_key: str
    schema: JsonSchema
    # Days per window when the API fixes it (Cometly events: one day); None means
    # the `window_days` setting decides.
    fixed_window_days: int | None = None
    primary_keys: tuple[str, ...] = ("id",)


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A documented limit: `requests` per `per_seconds`, per space."""

    requests: int
    per_seconds: float = 60.0


PortFactory = Callable[[str, ApiClient, ZoneInfo, Mapping[str, Any]], ExportPort]


@dataclass(frozen=True, slots=True)
class Provider:
    """Everything the tap needs to know about one export API."""

    name: str
    default_api_url: str
    streams: tuple[StreamSpec, ...]
    # Budget name -> documented limit. Endpoints name the budget they draw from.
    rate_limits: Mapping[str, RateLimit]
    auth_headers: Callable[[str], dict[str, str]]
    # Checks the provider's own settings, raising ConfigError naming the setting.
    validate_settings: Callable[[Mapping[str, Any]], None]
    # (stream name, client, space timezone, config) -> port for that stream.
    export_port: PortFactory
    # Whether export files are always gzip: then anything else is a failed download.
    gzip_files: bool = False
    # The `rate_limits` entry status reads use: the scheduler keeps one of its
    # requests free for the export the tap is waiting on.
    status_budget: str = "status"

    def stream(self, name: str) -> StreamSpec:
        """Look a stream up by name."""
        for spec in self.streams:
            if spec.name == name:
                return spec
        raise KeyError(name)


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
