"""The Singer tap: settings, stream discovery, and routing signals to the run.

Thin on purpose: the config schema is the common settings plus each provider's own
(`providers/`), discovery declares one `ExportStream` per stream of the chosen
provider, and everything a sync does lives in the streams and the `ExportRun` they
share (`sdk/run.py`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import click
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, TapCapabilities
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

from tap_exports.engine.errors import ConfigError
from tap_exports.engine.http.redact import install_log_redaction
from tap_exports.providers import PROVIDERS
from tap_exports.providers.base import Provider, Setting, StreamSpec
from tap_exports.sdk.derived import DerivedStream
from tap_exports.sdk.plan import describe_plan
from tap_exports.sdk.run import ExportRun
from tap_exports.sdk.streams import ExportStream
from tap_exports.settings import (
    DEFAULT_PROGRESS_INTERVAL_SECONDS,
    DEFAULT_PROVIDER,
    DEFAULT_REQUEST_TIMEOUT_SECONDS,
    DEFAULT_SETTLE_LAG_MINUTES,
    parse_settings,
    read_text_values,
)

if TYPE_CHECKING:
    from types import FrameType

    from singer_sdk.streams import Stream


# How long a stopped run waits for a create already sent (its id must reach STATE).
_LATE_EXPORT_SECONDS = 5.0


def _per_provider(describe: Callable[[Provider], object], *, windowed: bool = False) -> str:
    """Describe a value per provider ("cometly: X; other: Y") for a setting's description.

    `windowed`: only providers with time windows (a stream with a replication key).
    """
    return "; ".join(
        f"{provider.name}: {describe(provider)}"
        for provider in PROVIDERS.values()
        if not windowed or any(spec.replication_key for spec in provider.streams)
    )


def _with_provider_settings(schema: dict[str, Any]) -> dict[str, Any]:
    """Add every provider's own settings, each saying which providers read it.

    A name several providers declare is one property: its allowed values are all of
    theirs (each provider checks its own), its description each one's, by name.
    """
    properties = schema["properties"]
    common = set(properties)
    readers: dict[str, list[Setting]] = {}
    for provider in PROVIDERS.values():
        for setting in provider.settings:
            if setting.name in common:
                raise ValueError(f"{provider.name} redeclares the common '{setting.name}'")
            readers.setdefault(setting.name, []).append(setting)
    readers_of = {
        name: [p.name for p in PROVIDERS.values() if p.setting(name) is not None]
        for name in readers
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
    budgets = sorted({name for p in PROVIDERS.values() for name in p.rate_limits})
    for budget in budgets:
        owners = [p for p in PROVIDERS.values() if budget in p.rate_limits]
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


class TapExports(Tap):
    """Singer tap for asynchronous bulk-export APIs."""

    name = "tap-exports"
    #: singer-sdk's, and `test`: `--test` checks the connection without syncing.
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        *Tap.capabilities,
        TapCapabilities.TEST,
    ]

    config_jsonschema = _with_provider_settings(
        th.PropertiesList(
            th.Property(
                "provider",
                th.StringType,
                default=DEFAULT_PROVIDER,
                allowed_values=sorted(PROVIDERS),
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
                    f"provider's ({_per_provider(lambda p: p.default_api_url)}). Point it at "
                    "the sandbox for demos and tests."
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
                    f"{_per_provider(lambda p: p.default_window_days, windowed=True)}."
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
                    "Smallest window a repeatedly failing export is split down to (halving "
                    "each time)."
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
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Create the tap; its one `ExportRun` is shared by the streams discovered."""
        self.run = ExportRun(lambda: self.config)
        super().__init__(*args, **kwargs)

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Scrub the key from every log line, then check what a JSON schema cannot.

        The one place log redaction is installed: the config is known and singer-sdk's
        CLI has set its log handlers up, and no validation message is logged before.
        """
        key = str(self.config.get("api_key") or "")
        install_log_redaction([key, key.strip()])  # the stripped one is what is sent
        read_text_values(self._config, self.config_jsonschema)
        errors = super()._validate_config(raise_errors=raise_errors)
        if errors:
            return errors
        try:
            parse_settings(self.config)
        except ConfigError as exc:
            if raise_errors:
                raise ConfigValidationError(
                    "Config validation failed", errors=[str(exc)], schema=self.config_jsonschema
                ) from None
            return [str(exc)]
        return []

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Write the last safe STATE (the SDK does), then exit 128 + signal, not 0.

        singer-sdk exits 0 on SIGTERM/SIGINT, which tells a scheduler an interrupted
        sync succeeded. The run's workers are called off first, so an export created by
        then is in the state written (the next run re-attaches to it); that state
        otherwise holds only fully delivered slices. A create still in flight gets a
        few seconds to answer, and its id is written in one more STATE.
        """
        self.run.close(wait=0)
        with contextlib.suppress(SystemExit):
            super()._handle_termination(signum, frame)
        self.run.close(wait=_LATE_EXPORT_SECONDS)
        name = signal.Signals(signum).name
        self.logger.error("Interrupted by %s: state saved; run again to resume", name)
        # Leave now, everything written flushed, not by raising SystemExit from wherever
        # the signal landed: inside a lock wait that ends as "cannot release un-acquired
        # lock" and exit status 1.
        logging.shutdown()
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
        os._exit(128 + signum)

    def check_connection(self) -> str:
        """`--test`: the key, the plan and the account, checked by calls that cost nothing.

        singer-sdk's own test syncs a record per stream: here that would create an
        export (which may cost credits, or hold a one-job-per-token API busy). The
        provider's free calls say instead (`Provider.check_connection`); what they find
        wrong is raised with its advice (one line, exit 1).
        """
        services = self.run.services
        provider = services.settings.provider
        return (
            f"{provider.name}: {provider.check_connection(services.client, services.settings.raw)}"
        )

    @classmethod
    @override
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """`--test` checks the connection (see `check_connection`); `--test=schema` as ever."""
        if value != CliTestOptionValue.All.value:
            super().cb_test(ctx, param, value)
            return
        config = ctx.params.get("config")
        tap = cls(
            config=None if config is None else config.config,
            parse_env_config=False if config is None else config.parse_env,
            validate_config=True,
        )
        print(tap.check_connection(), flush=True)
        ctx.exit()

    @override
    def discover_streams(self) -> list[Stream]:
        provider = PROVIDERS.get(str(self.config.get("provider") or DEFAULT_PROVIDER))
        if provider is None:  # reported by config validation; discovery shows nothing
            return []
        streams = {spec.name: ExportStream(self, spec, self.run) for spec in self._specs(provider)}
        for stream in streams.values():
            self.run.join(stream)
        discovered: list[Stream] = list(streams.values())
        for spec in provider.derived:
            source = streams[spec.source]
            derived = DerivedStream(self, spec, source)
            source.derived.append(derived)
            discovered.append(derived)
        return discovered

    def _specs(self, provider: Provider) -> list[StreamSpec]:
        """The provider's streams, with schemas read from the API where it documents none."""
        probe = provider.discover_schema
        if probe is None:
            return list(provider.streams)
        try:
            services = self.run.services
        except ConfigError as exc:  # discovery without a usable config: the known fields
            self.logger.warning("No sample of the records (%s): declaring known fields only", exc)
            return list(provider.streams)
        specs = []
        for spec in provider.streams:
            schema = probe(spec, services.client, services.settings.raw)
            known = spec.schema.get("properties", {})
            # What the sample showed (new fields, known ones narrowed or widened by it)
            # is a guess that a later value may widen.
            inferred = frozenset(
                name
                for name, prop in schema.get("properties", {}).items()
                if known.get(name) != prop
            )
            specs.append(replace(spec, schema=schema, inferred=inferred))
        return specs

    # -- plan mode --------------------------------------------------------------------------

    @classmethod
    @override
    def get_singer_command(cls) -> click.Command:
        """The SDK's command plus `--plan`."""
        command = super().get_singer_command()
        for option in command.params:
            if option.name == "test" and isinstance(option, click.Option):
                option.help = (
                    "Check the key, the plan and the account with calls that create and "
                    "charge nothing, and exit. --test=schema prints the schemas."
                )
        command.params.append(
            click.Option(
                ["--plan"],
                is_flag=True,
                help=(
                    "Print what a sync would do (windows or parts, exports, cost, the "
                    "rate-limit floor of the wall time) and exit; creates nothing."
                ),
            )
        )
        return command

    @classmethod
    @override
    def invoke(cls, *, plan: bool = False, **kwargs: Any) -> None:
        """Sync, or with `--plan` print the plan of a sync from `--config` and `--state`.

        A target that dies closes the pipe the tap writes to: that is said in so many
        words (the target's own log says why), and the exit status is 1.
        """
        if not plan:
            try:
                super().invoke(**kwargs)
            except BrokenPipeError:
                # Nothing more reaches the target: keep Python's flush at exit from failing.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                cls.logger.error(
                    "The target closed the pipe the tap writes to (it stopped or failed: see "
                    "its log); the next run resumes from the last state it confirmed"
                )
                sys.exit(1)
            return
        config, state, catalog = kwargs.get("config"), kwargs.get("state"), kwargs.get("catalog")
        if config is None or not config.config:
            raise ConfigError("config", "--plan needs --config (and --state to plan from it)")
        tap = cls(
            config=config.config,
            state=None if state is None else json.loads(state.read()),
            catalog=None if catalog is None else json.loads(catalog.read()),
            parse_env_config=config.parse_env,
            validate_config=True,
        )
        settings = tap.run.services.settings
        streams = [stream for stream in tap.streams.values() if isinstance(stream, ExportStream)]
        lines = describe_plan(settings.provider, settings.api_url, settings.rate_limits, streams)
        print("\n".join(lines), flush=True)
