"""The tap's config schema: the common settings, then each provider's own.

What `--about` shows and Meltano's settings come from; generated from the provider
registry, so a provider's settings and rate budgets appear here without an edit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from singer_sdk import typing as th

from tap_exports.providers import PROVIDERS
from tap_exports.providers.base import Provider, Setting
from tap_exports.settings import (
    DEFAULT_PROGRESS_INTERVAL_SECONDS,
    DEFAULT_REQUEST_TIMEOUT_SECONDS,
    DEFAULT_SETTLE_LAG_MINUTES,
)


class RegistrySchema:
    """The tap's `config_jsonschema`: the schema of the providers registered when it is read.

    Read from the class (`--about`) and from a tap (validation). Built again only when
    the registry has changed since the last read, as when a test registers a provider of
    its own: that provider's settings are then validated like any other's.
    """

    def __init__(self) -> None:
        """Nothing built yet."""
        self._built: tuple[tuple[Provider, ...], dict[str, Any]] | None = None

    def __get__(self, instance: object, owner: type) -> dict[str, Any]:
        """The schema of `PROVIDERS` as they are now.

        The providers it was built from are kept and compared by identity: a provider
        registered anew is a new object, even where an old one's memory is reused.
        """
        providers = tuple(PROVIDERS.values())
        built = self._built
        if (
            built is not None
            and len(built[0]) == len(providers)
            and all(old is new for old, new in zip(built[0], providers, strict=True))
        ):
            return built[1]
        schema = config_schema(providers)
        self._built = (providers, schema)
        return schema


def _per_provider(
    providers: Sequence[Provider],
    describe: Callable[[Provider], object],
    *,
    windowed: bool = False,
) -> str:
    """Describe a value per provider ("name: X; other: Y") for a setting's description.

    `windowed`: only providers with time windows (a stream with a replication key).
    """
    return "; ".join(
        f"{provider.name}: {describe(provider)}"
        for provider in providers
        if not windowed or any(spec.replication_key for spec in provider.streams)
    )


def _with_provider_settings(
    schema: dict[str, Any], providers: Sequence[Provider]
) -> dict[str, Any]:
    """Add every provider's own settings, each saying which providers read it.

    A name several providers declare is one property: its allowed values are all of
    theirs (each provider checks its own), its description each one's, by name.
    """
    properties = schema["properties"]
    common = set(properties)
    readers: dict[str, list[Setting]] = {}
    for provider in providers:
        for setting in provider.settings:
            if setting.name in common:
                raise ValueError(f"{provider.name} redeclares the common '{setting.name}'")
            readers.setdefault(setting.name, []).append(setting)
    readers_of = {
        name: [p.name for p in providers if p.setting(name) is not None] for name in readers
    }
    for name, settings in readers.items():
        entry: dict[str, Any] = {**settings[0].schema}
        if any("enum" in setting.schema for setting in settings):
            values = [v for setting in settings for v in setting.schema.get("enum", ())]
            entry["enum"] = [*sorted({v for v in values if v is not None}), None]
        described = [f"{setting.description}{_default(setting)}" for setting in settings]
        if len(settings) > 1:
            described = [
                f"{who}: {text}" for who, text in zip(readers_of[name], described, strict=True)
            ]
        entry["description"] = f"({', '.join(readers_of[name])} only) {' '.join(described)}"
        if any(setting.secret for setting in settings):
            entry |= {"secret": True, "writeOnly": True}
        properties[name] = entry
    budgets = sorted({name for p in providers for name in p.rate_limits})
    for budget in budgets:
        owners = [p for p in providers if budget in p.rate_limits]
        defaults = "; ".join(
            f"{p.name}: {p.rate_limits[budget].requests}"
            + (
                " (undocumented: a guess, halved by a 429, regained one per clean period)"
                if p.rate_limits[budget].guessed
                else ""
            )
            for p in owners
        )
        owned_by = ", ".join(p.name for p in owners)
        properties[f"{budget}_rate_limit"] = {
            "type": ["integer", "null"],
            "description": (
                f"({owned_by} only) Requests of the '{budget}' budget allowed per period. "
                f"Default: {defaults}."
            ),
        }
    return schema


def _default(setting: Setting) -> str:
    return "" if setting.default is None else f" Default: {json.dumps(setting.default)}."


def config_schema(providers: Sequence[Provider]) -> dict[str, Any]:
    """The config schema: the common settings, then those of `providers`."""
    return _with_provider_settings(_common_settings(providers), providers)


def _common_settings(providers: Sequence[Provider]) -> dict[str, Any]:
    """The settings every provider reads."""
    return th.PropertiesList(
        th.Property(
            "provider",
            th.StringType,
            default=providers[0].name,
            allowed_values=sorted(provider.name for provider in providers),
            description="Which export API to read.",
        ),
        th.Property(
            "api_key",
            th.StringType,
            required=True,
            secret=True,
            description="The provider's API key (kept out of every log line).",
        ),
        th.Property(
            "api_url",
            th.StringType,
            description=(
                "Base URL of the API; the key is sent to this host only. Default: the "
                f"provider's ({_per_provider(providers, lambda p: p.default_api_url)}). "
                "Point it at the sandbox for demos and tests."
            ),
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            description=(
                "Earliest record creation/event time to export (ISO 8601 with offset); "
                "required for providers with incremental streams."
            ),
        ),
        th.Property(
            "end_date",
            th.DateTimeType,
            description="Stop before this time (exclusive). Default: now minus the settle lag.",
        ),
        th.Property(
            "window_days",
            th.IntegerType,
            description=(
                "Days per export where the API does not fix it; a window the API keeps "
                "failing is split in halves. Default: "
                f"{_per_provider(providers, lambda p: p.default_window_days, windowed=True)}."
            ),
        ),
        th.Property(
            "settle_lag_minutes",
            th.IntegerType,
            default=DEFAULT_SETTLE_LAG_MINUTES,
            description="Leave the most recent minutes for the next run, so late writes land.",
        ),
        th.Property(
            "poll_interval_seconds",
            th.NumberType,
            default=5,
            description="Seconds between status checks of a running export.",
        ),
        th.Property(
            "export_timeout_seconds",
            th.NumberType,
            default=3600,
            description="Give up on an export that has not completed after this long.",
        ),
        th.Property(
            "max_export_attempts",
            th.IntegerType,
            default=3,
            description="Exports created per slice before a failing slice stops the sync.",
        ),
        th.Property(
            "max_exports_in_flight",
            th.IntegerType,
            default=25,
            description=(
                "Exports created ahead of the download, across streams, processing while "
                "earlier slices download. To keep the create budget busy it must exceed "
                "creations per minute x minutes an export takes."
            ),
        ),
        th.Property(
            "export_retry_cooldown_seconds",
            th.NumberType,
            default=60,
            description="Wait before creating a failed or stuck export again.",
        ),
        th.Property(
            "min_window_minutes",
            th.IntegerType,
            default=60,
            description=(
                "Smallest window a repeatedly failing export is split down to (halving each time)."
            ),
        ),
        th.Property(
            "bad_record_policy",
            th.StringType,
            default="fail",
            allowed_values=["fail", "skip"],
            description=(
                "fail: stop at a line that is not a valid record (export id and line in the "
                "message), bookmark untouched. skip: leave such lines out and report the count."
            ),
        ),
        th.Property(
            "undeclared_fields",
            th.StringType,
            default="evolve",
            allowed_values=["evolve", "drop"],
            description=(
                "Fields an export carries that the schema does not declare. evolve: "
                "declare each in a new SCHEMA message before the first record holding "
                "it (typed from its values; remembered in state for later runs), so "
                "targets add a column. drop: leave them out, with one warning."
            ),
        ),
        th.Property(
            "request_max_attempts",
            th.IntegerType,
            default=6,
            description="Tries per API request on 5xx, connection errors and read timeouts.",
        ),
        th.Property(
            "request_retry_max_seconds",
            th.NumberType,
            default=300,
            description="Total time one API request may spend retrying (429 waits included).",
        ),
        th.Property(
            "request_timeout_seconds",
            th.NumberType,
            default=DEFAULT_REQUEST_TIMEOUT_SECONDS,
            description="Connect/read timeout of each HTTP request, downloads included.",
        ),
        th.Property(
            "progress_interval_seconds",
            th.NumberType,
            default=DEFAULT_PROGRESS_INTERVAL_SECONDS,
            description=(
                "Seconds between a stream's progress lines (slices done of planned, "
                "records, time left); 0 logs one per slice."
            ),
        ),
        th.Property(
            "rate_limit_period_seconds",
            th.NumberType,
            description="Length of a rate-limit period (default 60; the sandbox can use less).",
        ),
    ).to_dict()
