"""One sync run: the engine objects its streams share, and the order they go in.

The tap builds one `ExportRun` and gives it to every stream it discovers; the streams
use it, and it calls back only through the small `Participant` interface (no import
of the stream module, no reaching into a stream's state). It holds:
- the engine wiring (`SyncServices`: API client with the provider's budgets, file
  reader, export scheduler), built on first use, since discovery needs none of it;
- the streams in sync order, so the first stream to sync can queue the exports of
  every selected stream after it (`start`) and the scheduler keeps them all moving;
- the routing of export ids created by the scheduler's threads to the stream whose
  state keeps them (`drain_notices`, main thread only);
- the end of the run (`close`): the scheduler's threads joined, and any export id
  created meanwhile handed to its stream's state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from tap_exports.engine.clock import Clock, SystemClock
from tap_exports.engine.exports.jobs import ExportJob, ExportPort
from tap_exports.engine.exports.scheduler import ExportScheduler
from tap_exports.engine.files.download import Downloader
from tap_exports.engine.files.reader import ExportReader
from tap_exports.engine.http.api import ApiClient
from tap_exports.engine.http.budget import RateBudget
from tap_exports.providers.base import StreamSpec
from tap_exports.settings import Settings, parse_settings


@dataclass
class SyncServices:
    """The engine objects one run shares across streams (one budget per account)."""

    settings: Settings
    clock: Clock
    client: ApiClient
    reader: ExportReader
    scheduler: ExportScheduler
    _ports: dict[str, ExportPort] = field(default_factory=dict)

    def port(self, spec: StreamSpec) -> ExportPort:
        """The provider's export port for a stream, built once."""
        if spec.name not in self._ports:
            self._ports[spec.name] = self.settings.provider.export_port(
                spec, self.client, self.settings.raw
            )
        return self._ports[spec.name]


def build_services(settings: Settings, clock: Clock) -> SyncServices:
    """Wire the API client, rate budgets, reader and scheduler for one run."""
    provider = settings.provider
    budgets = {
        name: RateBudget(
            name,
            limit=limit.requests,
            period=limit.per_seconds,
            clock=clock,
            learns=limit.guessed,
            fixed=limit.fixed,
        )
        for name, limit in settings.rate_limits.items()
    }
    client = ApiClient(
        base_url=settings.api_url,
        headers=provider.job_api.headers(settings.api_key),
        budgets=budgets,
        timeout_seconds=settings.request_timeout_seconds,
        retry=settings.retry,
        clock=clock,
        error_rules=provider.error_rules,
    )
    reader = ExportReader(
        downloader=Downloader(
            timeout_seconds=settings.request_timeout_seconds, retry=settings.retry, clock=clock
        ),
        retry=settings.retry,
        clock=clock,
    )
    scheduler = ExportScheduler(
        policy=settings.lifecycle,
        clock=clock,
        max_in_flight=settings.lifecycle.max_exports_in_flight,
        max_running=provider.max_running_jobs,
        status_budget=budgets.get(provider.status_budget),
    )
    return SyncServices(
        settings=settings, clock=clock, client=client, reader=reader, scheduler=scheduler
    )


class Participant(Protocol):
    """What the run needs of a stream taking part in it."""

    @property
    def name(self) -> str:
        """The stream's name (export notices name it)."""
        ...

    @property
    def takes_part(self) -> bool:
        """Whether this run exports for it (it, or a stream made from its exports, is selected)."""
        ...

    def schedule_exports(self) -> None:
        """Plan the stream's slices and queue them with the run's scheduler."""
        ...

    def remember_export(self, job: ExportJob) -> None:
        """Put a just-created export's id into the stream's state, and emit STATE."""
        ...

    def forget_exports(self) -> None:
        """Drop every export in flight from the stream's state, and emit STATE."""
        ...


class ExportRun:
    """One sync's shared engine and the streams taking part, in sync order."""

    def __init__(self, config: Callable[[], Mapping[str, Any]], clock: Clock | None = None) -> None:
        """`config` gives the tap's validated config when the engine is first needed."""
        self._config = config
        self._clock = clock or SystemClock()
        self._services: SyncServices | None = None
        self._streams: dict[str, Participant] = {}
        self._queued: set[str] = set()

    def join(self, stream: Participant) -> None:
        """Take part in the run; streams join in sync order."""
        self._streams[stream.name] = stream

    @property
    def services(self) -> SyncServices:
        """The engine for this run, built on first use."""
        if self._services is None:
            self._services = build_services(parse_settings(self._config()), self._clock)
        return self._services

    def start(self, first: Participant) -> None:
        """Queue the exports of `first` and of every selected stream synced after it.

        Called by the first stream to sync (singer-sdk syncs streams in join order),
        so the scheduler creates and polls the exports of later streams while the main
        thread downloads earlier ones.
        """
        names = list(self._streams)
        for name in names[names.index(first.name) :]:
            stream = self._streams[name]
            if stream.takes_part:
                stream.schedule_exports()
                self._queued.add(name)

    def drain_notices(self) -> None:
        """Hand every export created since the last call to its stream (main thread only)."""
        if self._services is None:
            return
        scheduler = self._services.scheduler
        if scheduler.notices:
            scheduler.drain_notices(self.remember)

    def remember(self, job: ExportJob) -> None:
        """Hand one export notice to its stream's state (main thread only)."""
        self._streams[job.stream].remember_export(job)

    def forget_exports(self) -> None:
        """No export created so far may be re-attached (they were asked for wrongly).

        Every stream drops its exports in flight from its state; a run after the setting
        is fixed creates them anew.
        """
        self.close()
        for stream in self._streams.values():
            stream.forget_exports()

    def finished(self, stream: Participant) -> None:
        """`stream` has delivered all it queued; the last one to finish closes the run."""
        self._queued.discard(stream.name)
        if not self._queued:
            self.close()

    def close(self, *, wait: float | None = None) -> None:
        """Stop and join the scheduler's threads; exports they created reach state.

        `wait` bounds the join (see `ExportScheduler.close`).
        """
        self._queued.clear()
        if self._services is None:
            return
        self._services.scheduler.close(wait=wait)
        self.drain_notices()
