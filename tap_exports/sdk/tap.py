"""The Singer tap: settings, stream discovery, and routing signals to the run.

Thin on purpose: the config schema is the common settings plus each provider's own
(`config_schema.py`), discovery declares one `ExportStream` per stream of the chosen
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
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import click
from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, TapCapabilities
from singer_sdk.tap_base import CliTestOptionValue
from typing_extensions import override

from tap_exports.engine.errors import ConfigError
from tap_exports.engine.http.redact import install_log_redaction
from tap_exports.providers import PROVIDERS
from tap_exports.providers.base import Provider, StreamSpec
from tap_exports.sdk.config_schema import RegistrySchema
from tap_exports.sdk.derived import DerivedStream
from tap_exports.sdk.internals import InternalsTap
from tap_exports.sdk.plan import describe_plan
from tap_exports.sdk.run import ExportRun
from tap_exports.sdk.streams import ExportStream
from tap_exports.settings import (
    DEFAULT_PROVIDER,
    parse_settings,
    read_text_values,
)

if TYPE_CHECKING:
    from types import FrameType

    from singer_sdk.streams import Stream


# How long a stopped run waits for a create already sent (its id must reach STATE).
_LATE_EXPORT_SECONDS = 5.0


class TapExports(InternalsTap):
    """Singer tap for asynchronous bulk-export APIs."""

    name = "tap-exports"
    #: singer-sdk's, and `test`: `--test` checks the connection without syncing.
    capabilities: ClassVar[list[CapabilitiesEnum]] = [
        *Tap.capabilities,
        TapCapabilities.TEST,
    ]

    config_jsonschema = RegistrySchema()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Create the tap; its one `ExportRun` is shared by the streams discovered."""
        self.run = ExportRun(lambda: self.config)
        super().__init__(*args, **kwargs)

    @override
    def on_validate_config(self, *, raise_errors: bool) -> list[str]:
        """Scrub the key from every log line, then check what a JSON schema cannot.

        The one place log redaction is installed: the config is known and singer-sdk's
        CLI has set its log handlers up, and no validation message is logged before.
        """
        key = str(self.config.get("api_key") or "")
        install_log_redaction([key, key.strip()])  # the stripped one is what is sent
        read_text_values(self.config_to_edit, self.config_jsonschema)
        errors = super().on_validate_config(raise_errors=raise_errors)
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
    def on_termination(self, signum: int, frame: FrameType | None) -> None:
        """Write the last safe STATE (the SDK does), then exit 128 + signal, not 0.

        singer-sdk exits 0 on SIGTERM/SIGINT, which tells a scheduler an interrupted
        sync succeeded. The run's workers are called off first, so an export created by
        then is in the state written (the next run re-attaches to it); that state
        otherwise holds only fully delivered slices. A create still in flight gets a
        few seconds to answer, and its id is written in one more STATE.
        """
        self.run.close(wait=0)
        with contextlib.suppress(SystemExit):
            super().on_termination(signum, frame)
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
