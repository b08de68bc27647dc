"""The Singer tap: settings, stream discovery, and wiring the engine together."""

from __future__ import annotations

import contextlib
import signal
import sys
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from typing_extensions import override

from tap_exports.engine.api import ApiClient
from tap_exports.engine.budget import RateBudget
from tap_exports.engine.clock import Clock, SystemClock
from tap_exports.engine.download import Downloader
from tap_exports.engine.errors import ConfigError
from tap_exports.engine.jobs import ExportJob, ExportPort, ExportReader
from tap_exports.engine.progress import Progress
from tap_exports.engine.redact import install_log_redaction
from tap_exports.engine.scheduler import ExportScheduler
from tap_exports.providers import PROVIDERS
from tap_exports.providers.cometly import (
    API_URL,
    ATTRIBUTION_MODELS,
    ATTRIBUTION_WINDOWS,
    QUERY_MODES,
)
from tap_exports.settings import (
    DEFAULT_REQUEST_TIMEOUT_SECONDS,
    DEFAULT_SETTLE_LAG_MINUTES,
    DEFAULT_WINDOW_DAYS,
    Settings,
    parse_settings,
)
from tap_exports.streams import ExportStream

if TYPE_CHECKING:
    from types import FrameType

    from singer_sdk.streams import Stream


@dataclass
class SyncServices:
    """The engine objects one run shares across streams (one budget per space)."""

    settings: Settings
    clock: Clock
    client: ApiClient
    reader: ExportReader
    scheduler: ExportScheduler
    _ports: dict[str, ExportPort] = field(default_factory=dict)

    def port(self, stream: str) -> ExportPort:
        """The provider's export port for `stream`, built once."""
        if stream not in self._ports:
            self._ports[stream] = self.settings.provider.export_port(
                stream, self.client, self.settings.timezone, self.settings.raw
            )
        return self._ports[stream]


def build_services(settings: Settings, clock: Clock) -> SyncServices:
    """Wire the API client, rate budgets and export runner for one run."""
    budgets = {
        name: RateBudget(name, limit=limit.requests, period=limit.per_seconds, clock=clock)
        for name, limit in settings.rate_limits.items()
    }
    client = ApiClient(
        base_url=settings.api_url,
        headers=settings.provider.auth_headers(settings.api_key),
        budgets=budgets,
        timeout_seconds=settings.request_timeout_seconds,
        retry=settings.retry,
        clock=clock,
    )
    reader = ExportReader(
        downloader=Downloader(
            timeout_seconds=settings.request_timeout_seconds, retry=settings.retry, clock=clock
        ),
        policy=settings.lifecycle,
        retry=settings.retry,
        clock=clock,
    )
    scheduler = ExportScheduler(
        policy=settings.lifecycle,
        clock=clock,
        max_in_flight=settings.lifecycle.max_exports_in_flight,
        status_budget=budgets.get(settings.provider.status_budget),
    )
    return SyncServices(
        settings=settings, clock=clock, client=client, reader=reader, scheduler=scheduler
    )


class TapExports(Tap):
    """Singer tap for asynchronous bulk-export APIs."""

    name = "tap-exports"

    config_jsonschema = th.PropertiesList(
        th.Property(
            "provider",
            th.StringType,
            default="cometly",
            allowed_values=sorted(PROVIDERS),
            description="Which export API to read.",
        ),
        th.Property(
            "api_key",
            th.StringType,
            required=True,
            secret=True,
            description="API key of the space (Cometly: Integrations → Cometly API).",
        ),
        th.Property(
            "api_url",
            th.StringType,
            default=API_URL,
            description="Base URL of the API. Point it at the sandbox for demos and tests.",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            required=True,
            description="Earliest record creation/event time to export (ISO 8601 with offset).",
        ),
        th.Property(
            "end_date",
            th.DateTimeType,
            description="Stop before this time (exclusive). Default: now minus the settle lag.",
        ),
        th.Property(
            "timezone",
            th.StringType,
            required=True,
            description=(
                "IANA timezone of the Cometly space, e.g. America/New_York. The API reads "
                "every date it is sent in this timezone and cannot report it."
            ),
        ),
        th.Property(
            "window_days",
            th.IntegerType,
            default=DEFAULT_WINDOW_DAYS,
            description=(
                "Days per export for companies and contacts (events: always 1); a window the "
                "API keeps failing is split in halves."
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
            description="Exports created per window before a failed window stops the sync.",
        ),
        th.Property(
            "max_exports_in_flight",
            th.IntegerType,
            default=25,
            description=(
                "Exports created ahead of the download, across streams, processing while "
                "earlier windows download. To keep the create budget busy it must exceed "
                "creations per minute x minutes an export takes (5 x 5 by default)."
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
                "Smallest window a repeatedly failing companies/contacts export is split "
                "down to (halving each time)."
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
            "create_rate_limit",
            th.IntegerType,
            description="Export creations allowed per period (default: Cometly's 5).",
        ),
        th.Property(
            "status_rate_limit",
            th.IntegerType,
            description="Status requests allowed per period (default: Cometly's 30).",
        ),
        th.Property(
            "rate_limit_period_seconds",
            th.NumberType,
            description="Length of a rate-limit period (default 60; the sandbox can use less).",
        ),
        th.Property(
            "events_query_mode",
            th.StringType,
            allowed_values=list(QUERY_MODES),
            description="profile (contact-level events, the API's default) or company.",
        ),
        th.Property(
            "events_event_names",
            th.ArrayType(th.StringType),
            description="Only these event names (1-10). Default: all.",
        ),
        th.Property(
            "events_fields",
            th.ArrayType(th.StringType),
            description="Event fields to export; id and event_time_utc are always included.",
        ),
        th.Property(
            "events_sources",
            th.ArrayType(th.StringType),
            description="Attribution sources (1-15); needs the two attribution settings.",
        ),
        th.Property(
            "events_attribution_model",
            th.StringType,
            allowed_values=list(ATTRIBUTION_MODELS),
            description="Attribution model, required with events_sources.",
        ),
        th.Property(
            "events_attribution_window",
            th.IntegerType,
            allowed_values=list(ATTRIBUTION_WINDOWS),
            description="Attribution window in days (0 = lifetime), required with events_sources.",
        ),
        th.Property(
            "contacts_include_comet_tokens",
            th.BooleanType,
            default=False,
            description="Add each contact's last 5 comet tokens.",
        ),
        th.Property(
            "contacts_include_all_emails",
            th.BooleanType,
            default=False,
            description="Add all emails of each contact, merged profiles included.",
        ),
    ).to_dict()

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Add the checks a JSON schema cannot express (see `settings.py`)."""
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

    @cached_property
    def services(self) -> SyncServices:
        """The engine for this run, built on first use (discovery needs none)."""
        settings = parse_settings(self.config)
        install_log_redaction([settings.api_key])
        return build_services(settings, SystemClock())

    def schedule_exports(self, first: ExportStream) -> None:
        """Queue the exports of `first` and of every selected stream synced after it.

        Called by the first stream to sync (`sync_all` is final in singer-sdk, and
        syncs streams in this order), so the scheduler's threads create and poll the
        exports of later streams while the main thread downloads earlier ones.
        """
        names = list(self.streams)
        for name in names[names.index(first.name) :]:
            stream = self.streams[name]
            if stream.selected and isinstance(stream, ExportStream):
                stream.schedule_exports()

    def remember_export(self, job: ExportJob) -> None:
        """Put a just-created export's id in its stream's state and emit STATE at once.

        Runs on the main thread only (the scheduler hands ids over as notices), so
        state is never changed while it is being written.
        """
        stream = self.streams[job.stream]
        assert isinstance(stream, ExportStream)
        Progress(stream.get_context_state(None)).remember_export(job.export_id, job.window)
        stream.write_progress()

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Write the last safe STATE (the SDK does), then exit 128 + signal, not 0.

        singer-sdk exits 0 on SIGTERM/SIGINT, which tells a scheduler an interrupted
        sync succeeded. The state written holds only fully delivered windows (plus the
        export in flight, which the next run re-attaches to).
        """
        if "services" in self.__dict__:  # exports created since the last STATE
            self.services.scheduler.drain_notices(self.remember_export)
        with contextlib.suppress(SystemExit):
            super()._handle_termination(signum, frame)
        name = signal.Signals(signum).name
        self.logger.error("Interrupted by %s: state saved; run again to resume", name)
        sys.exit(128 + signum)

    @override
    def discover_streams(self) -> list[Stream]:
        provider = PROVIDERS.get(self.config.get("provider", "cometly"), PROVIDERS["cometly"])
        return [ExportStream(self, spec) for spec in provider.streams]
