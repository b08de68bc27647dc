"""The export job lifecycle: create (or re-attach), poll until terminal, download, decode.

```
create ──> queued ──> processing ──> completed ──> download ──> records
  ^              └──────────┴──────> failed ─┐
  └──── cooldown, then create again <────────┤  (bounded by max_export_attempts)
                 still running at timeout ───┘
```

Polling is not retrying: a job that is still running is a normal answer, so the poll
loop has its own interval and deadline (`LifecyclePolicy`), and every status request
still goes through the API client's rate budget. A `failed` job is never polled again;
a new one is created after a cooldown, and so is one still running at its deadline.

Exports are scarce (Cometly: 5 per minute), so an export created by an earlier run
that was killed can be *re-attached* by id instead of created again; the caller is
told each new id as soon as it exists (`on_created`) to keep it in state.

Downloads: a dropped connection is resumed inside `Downloader`; a file that still
cannot be read whole (cut short, bad CRC, no Range support) is downloaded again and
the records already delivered are skipped by count: the same export's file has the
same bytes, so the same order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Protocol

from tap_exports.engine.api import RetryPolicy
from tap_exports.engine.clock import Clock
from tap_exports.engine.decode import iter_ndjson
from tap_exports.engine.download import Downloader
from tap_exports.engine.errors import (
    ApiError,
    DownloadError,
    ExportFailedError,
    ExportTimeoutError,
    NotFoundError,
)
from tap_exports.engine.validate import RecordCheck
from tap_exports.engine.windows import Window

logger = logging.getLogger(__name__)

# A URL this close to expiry is refreshed before use (S3 checks expiry only when the
# request starts, so a few seconds cover clock skew and the request's own latency).
_URL_EXPIRY_MARGIN = timedelta(seconds=5)

Record = dict[str, Any]


class JobStatus(Enum):
    """Where an export job is; providers map their own words onto these."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def is_terminal(self) -> bool:
        """True when the job will not change any more."""
        return self in (JobStatus.COMPLETED, JobStatus.FAILED)


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One answer of the status endpoint."""

    status: JobStatus
    download_url: str | None = None
    expires_at: datetime | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class ExportJob:
    """An export created for one window of one stream."""

    export_id: str
    stream: str
    window: Window

    def __str__(self) -> str:
        """Name the job the way every log line and error does."""
        return f"{self.stream} export {self.export_id} for window {self.window}"


class ExportPort(Protocol):
    """What the lifecycle needs from a provider, for one stream."""

    def create(self, window: Window) -> str:
        """Create an export covering `window`; return its id."""
        ...

    def status(self, export_id: str) -> StatusReport:
        """Read the export's status (a completed one carries a fresh download URL)."""
        ...


@dataclass(frozen=True, slots=True)
class LifecyclePolicy:
    """How long and how often to wait for exports, and how often to try again."""

    poll_interval_seconds: float = 5.0
    export_timeout_seconds: float = 3600.0
    max_export_attempts: int = 3
    retry_cooldown_seconds: float = 60.0
    max_url_refreshes: int = 3
    max_download_attempts: int = 3
    require_gzip: bool = False


class ExportRunner:
    """Runs one export per window and yields its records."""

    def __init__(
        self,
        *,
        downloader: Downloader,
        policy: LifecyclePolicy,
        retry: RetryPolicy,
        clock: Clock,
    ) -> None:
        """Share one downloader and policy across every stream of the tap."""
        self._downloader = downloader
        self._policy = policy
        self._retry = retry
        self._clock = clock

    def records(
        self,
        port: ExportPort,
        stream: str,
        window: Window,
        *,
        attach: str | None = None,
        on_created: Callable[[ExportJob], None] = lambda job: None,
        check: RecordCheck | None = None,
        skip: Callable[[str], None] | None = None,
    ) -> Iterator[Record]:
        """Export `window` of `stream` and yield every record of the file, in file order.

        `attach` names an export an earlier run created for this very window: it is
        polled instead of creating a new one (unless the provider no longer knows it).
        `check` and `skip` go to the decoder (see `decode.iter_ndjson`).

        Raises:
            ExportFailedError: the provider failed the export on every attempt.
            ExportTimeoutError: the last attempt was still running at its deadline.
            DownloadError, DecodeError: the file could not be read completely.
        """
        attempts = self._policy.max_export_attempts
        outcome = "no attempt made"
        timed_out = False
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                self._clock.sleep(self._policy.retry_cooldown_seconds)
            job, report = self._start(
                port, stream, window, attach=attach, on_created=on_created, attempt=attempt
            )
            attach = None
            timed_out = report is None
            if report is None:
                outcome = f"{job}: still running after {self._policy.export_timeout_seconds:g}s"
            elif report.status is JobStatus.COMPLETED:
                yield from self._download(port, job, report, check=check, skip=skip)
                return
            else:
                outcome = f"{job}: failed ({report.message or 'no reason given'})"
            logger.warning("%s (attempt %d of %d)", outcome, attempt, attempts)
        if timed_out:
            raise ExportTimeoutError(
                f"{outcome} (attempt {attempts} of {attempts}); raise "
                "'export_timeout_seconds' or try again later"
            )
        raise ExportFailedError(
            f"{stream} window {window}: export failed {attempts} times (last: {outcome}); "
            "try again later or contact the provider's support"
        )

    def _start(
        self,
        port: ExportPort,
        stream: str,
        window: Window,
        *,
        attach: str | None,
        on_created: Callable[[ExportJob], None],
        attempt: int,
    ) -> tuple[ExportJob, StatusReport | None]:
        """Re-attach or create, then wait: the terminal report, or None at the deadline."""
        if attach is not None:
            job = ExportJob(attach, stream, window)
            try:
                report = self._status(port, job)
            except NotFoundError:
                logger.warning("%s: the provider no longer has it; creating a new one", job)
            else:
                if report.status is not JobStatus.FAILED:
                    logger.info("%s: re-attached (created by an earlier run)", job)
                    return job, self._wait_until_terminal(port, job, report)
                # Failed while no one was watching: not this run's attempt to spend.
                logger.warning("%s: failed before this run re-attached; creating a new one", job)
        with _named(f"{stream} window {window}"):
            job = ExportJob(port.create(window), stream, window)
        logger.info("%s: created (attempt %d)", job, attempt)
        on_created(job)
        return job, self._wait_until_terminal(port, job, self._status(port, job))

    @staticmethod
    def _status(port: ExportPort, job: ExportJob) -> StatusReport:
        with _named(str(job)):
            return port.status(job.export_id)

    def _wait_until_terminal(
        self, port: ExportPort, job: ExportJob, report: StatusReport
    ) -> StatusReport | None:
        deadline = self._clock.monotonic() + self._policy.export_timeout_seconds
        while not report.status.is_terminal:
            if self._clock.monotonic() + self._policy.poll_interval_seconds > deadline:
                return None
            self._clock.sleep(self._policy.poll_interval_seconds)
            report = self._status(port, job)
        return report

    def _download(
        self,
        port: ExportPort,
        job: ExportJob,
        report: StatusReport,
        *,
        check: RecordCheck | None,
        skip: Callable[[str], None] | None,
    ) -> Iterator[Record]:
        label = str(job)
        urls = _DownloadUrls(
            job,
            report,
            read_status=lambda: self._status(port, job),
            expiring=self._url_expiring,
            refreshes=self._policy.max_url_refreshes,
        )
        delivered = 0
        attempts = self._policy.max_download_attempts
        delays = self._retry.delays()
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                self._clock.sleep(next(delays))
            urls.renew_allowance()
            try:
                with self._downloader.open(urls, label=label) as raw:
                    decoded = iter_ndjson(
                        raw,
                        source=label,
                        check=check,
                        skip=skip,
                        require_gzip=self._policy.require_gzip,
                    )
                    for index, record in enumerate(decoded):
                        if index >= delivered:
                            delivered += 1
                            yield record
                return
            except DownloadError as exc:
                if attempt == attempts:
                    raise
                logger.warning(
                    "%s; downloading again (skipping the %d records already delivered)",
                    exc,
                    delivered,
                )

    def _url_expiring(self, report: StatusReport) -> bool:
        """Tell whether a URL from `report` would expire before a request starts."""
        return report.expires_at is not None and (
            report.expires_at - self._clock.now() < _URL_EXPIRY_MARGIN
        )


class _DownloadUrls:
    """Hands out the export's download URL, refreshing it from the status endpoint."""

    def __init__(
        self,
        job: ExportJob,
        report: StatusReport,
        *,
        read_status: Callable[[], StatusReport],
        expiring: Callable[[StatusReport], bool],
        refreshes: int,
    ) -> None:
        self._job = job
        self._report = report
        self._read_status = read_status
        self._expiring = expiring
        self._refreshes = refreshes
        self._refreshes_left = refreshes

    def renew_allowance(self) -> None:
        """Give a new download attempt its own URL refreshes."""
        self._refreshes_left = self._refreshes

    def current(self) -> str:
        if self._expiring(self._report) and self._refreshes_left > 1:
            # The last refresh is kept for a refusal: a fast local clock must not stop a
            # download the storage host would still accept.
            logger.info("%s: download URL is about to expire, refreshing it", self._job)
            return self.refresh()
        return self._url()

    def refresh(self) -> str:
        if self._refreshes_left <= 0:
            raise DownloadError(
                f"{self._job}: the storage host refused every fresh download URL; check the "
                "machine's clock, or try again later"
            )
        self._refreshes_left -= 1
        self._report = self._read_status()
        return self._url()

    def _url(self) -> str:
        if self._report.status is not JobStatus.COMPLETED:
            raise DownloadError(
                f"{self._job}: status turned {self._report.status.value} while its download "
                "URL was refreshed"
            )
        if self._report.download_url is None:
            raise DownloadError(f"{self._job}: completed without a download URL")
        return self._report.download_url


@contextmanager
def _named(label: str) -> Iterator[None]:
    """Prefix an API error with the export it concerns, so the message names it."""
    try:
        yield
    except ApiError as exc:
        exc.args = (f"{label}: {exc}",)
        raise
