"""Cometly's export port: the request body of a window, status reads, and the zone check.

Part of the Cometly provider (`__init__.py` declares it; see docs/providers/cometly.md):
companies and contacts are asked for by wall-clock bounds in the space's timezone, events
by one local date; the status answer carries the one file's presigned URL. A record
beyond what was asked for shows Cometly read the dates in another zone than the
`timezone` setting names (`covers`).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tap_exports.engine.errors import ConfigError
from tap_exports.engine.exports.jobs import (
    ExportFile,
    ExportPort,
    JobStatus,
    StatusReport,
    StatusWords,
    completed_files,
)
from tap_exports.engine.http.api import ApiClient
from tap_exports.engine.planning.coverage import Coverage
from tap_exports.engine.planning.slices import Slice, StampBounds, Window
from tap_exports.engine.planning.windows import wall_clock_at_or_after, wall_clock_at_or_before
from tap_exports.engine.planning.zones import hours, offsets_shown, shift_shown
from tap_exports.engine.timestamps import format_utc, parse_utc
from tap_exports.providers.base import StreamSpec, options_from
from tap_exports.providers.cometly.streams import CONTACTS, EVENTS
from tap_exports.providers.job_api import JobApi

WALL_CLOCK_FORMAT = "%Y-%m-%d %H:%M:%S"
_WHOLE_SECOND = len("2024-01-15T10:23:45")

JOB_API = JobApi(
    auth_scheme="Bearer",
    id_path=("export_id",),
    # The documented enum, in full: an unknown word means the API changed, so it stops the run.
    words=StatusWords(
        {
            "queued": JobStatus.QUEUED,
            "processing": JobStatus.PROCESSING,
            "completed": JobStatus.COMPLETED,
            "failed": JobStatus.FAILED,
        }
    ),
)


def space_zone(config: Mapping[str, Any]) -> ZoneInfo:
    """The space's timezone, which every date sent is read in (from the setting).

    Raises:
        ConfigError: the setting is missing or not an IANA name.
    """
    value = config.get("timezone")
    if not value:
        raise ConfigError(
            "timezone",
            "is required: the IANA name of the Cometly space's timezone (e.g. "
            "'America/New_York'), because the API reads every date it is sent in that "
            "timezone and cannot report it",
        )
    try:
        return ZoneInfo(str(value))
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("timezone", f"{value!r} is not an IANA timezone name") from None


class _CometlyExports:
    """Create and read exports of one stream; the request body is the stream's part."""

    def __init__(
        self, client: ApiClient, stream: str, zone: ZoneInfo, options: dict[str, Any]
    ) -> None:
        self._client = client
        self._stream = stream
        self._zone = zone
        self._options = options

    def create(self, slice: Slice) -> str:
        assert isinstance(slice, Window), "Cometly exports time windows"
        body = {**self._window_body(slice), **self._options}
        answer = self._client.post_json(f"/{self._stream}/exports", body, budget="create")
        return JOB_API.created(answer, subject=f"{self._stream} {slice}")

    def status(self, export_id: str) -> StatusReport:
        answer = self._client.get_json(f"/{self._stream}/exports/{export_id}", budget="status")
        url = answer.get("download_url")
        expires_at = answer.get("expires_at")
        files: tuple[ExportFile, ...] = ()
        if isinstance(url, str):
            # One file per export; the URL is issued anew (15 minutes) on every read.
            expiry = parse_utc(expires_at) if isinstance(expires_at, str) else None
            files = (ExportFile(f"{self._stream}-{export_id}.ndjson.gz", url, expiry),)
        return JOB_API.report(answer, subject=f"{self._stream} export {export_id}", files=files)

    def files(self, export_id: str) -> tuple[ExportFile, ...]:
        subject = f"{self._stream} export {export_id}"
        return completed_files(self.status(export_id), subject=subject)

    def covers(self, slice: Slice) -> Coverage | None:
        """The instants the request names in the configured zone (both ends included).

        Records beyond them show Cometly read the dates in another zone: the space's,
        which the `timezone` setting does not name (see `_wrong_zone`).
        """
        assert isinstance(slice, Window), "Cometly exports time windows"
        if self._stream == EVENTS.name:  # one whole local date, whatever part is the window
            day = slice.start.astimezone(self._zone).date()
            low = datetime.combine(day, time(), tzinfo=self._zone)
            high = datetime.combine(day + timedelta(days=1), time(), tzinfo=self._zone)
        else:
            low = wall_clock_at_or_before(slice.start, self._zone).replace(tzinfo=self._zone)
            last = wall_clock_at_or_after(slice.end, self._zone).replace(tzinfo=self._zone)
            high = last.astimezone(UTC) + timedelta(seconds=1)  # the end second is included
        bounds = StampBounds(format_utc(low)[:_WHOLE_SECOND], format_utc(high)[:_WHOLE_SECOND])
        return Coverage(
            bounds, functools.partial(self._wrong_zone, window=slice, low=low, high=high)
        )

    def _wrong_zone(
        self,
        earliest: str,
        latest: str,
        count: int,
        *,
        window: Window,
        low: datetime,
        high: datetime,
    ) -> ConfigError:
        """The line that stops a run whose exports hold records beyond their request."""
        shift = shift_shown(earliest, latest, low, high)
        edge, found = (
            ("before", f"from {earliest}") if shift < timedelta(0) else ("after", f"up to {latest}")
        )
        configured = window.start.astimezone(self._zone).utcoffset() or timedelta(0)
        return ConfigError(
            "timezone",
            f"the {self._stream} export for {window} holds {count} record(s) {edge} what was "
            f"asked for in {self._zone.key} ({found}): Cometly read its dates in a zone at "
            f"least {hours(-shift)} from it, and records would be lost. Set 'timezone' to the "
            f"space's own: the data shows "
            f"{offsets_shown(configured, shift, window.start)}. "
            "The bookmark did not move: this window's records already sent come again",
        )

    def _window_body(self, window: Window) -> dict[str, str]:
        if self._stream == EVENTS.name:
            return {"date": window.start.astimezone(self._zone).date().isoformat()}
        return {
            "start_date": _wall(wall_clock_at_or_before(window.start, self._zone)),
            "end_date": _wall(wall_clock_at_or_after(window.end, self._zone)),
        }


def _wall(moment: datetime) -> str:
    return moment.strftime(WALL_CLOCK_FORMAT)


def export_port(spec: StreamSpec, client: ApiClient, config: Mapping[str, Any]) -> ExportPort:
    """Build the port for a stream, with the options its create endpoint accepts."""
    stream = spec.name
    options: dict[str, Any] = {}
    if stream == EVENTS.name:
        options = options_from(
            config,
            events_query_mode="query_mode",
            events_event_names="event_names",
            events_fields="fields",
            events_sources="sources",
            events_attribution_model="attribution_model",
            events_attribution_window="attribution_window",
        )
    elif stream == CONTACTS.name:
        for setting, key in (
            ("contacts_include_comet_tokens", "include_comet_tokens"),
            ("contacts_include_all_emails", "include_all_emails"),
        ):
            if config.get(setting):
                options[key] = 1
    return _CometlyExports(client, stream, space_zone(config), options)
