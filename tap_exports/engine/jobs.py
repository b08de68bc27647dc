"""The export job lifecycle: create, poll until terminal, download, decode.

```
create ──> queued ──> processing ──> completed ──> download ──> records
                 └──────────┴──────> failed ──> create again (bounded)
```

Polling is not retrying: a job that is still running is a normal answer, so the poll
loop has its own interval and its own deadline (`LifecyclePolicy`), and every status
request still goes through the API client's rate budget. A `failed` job is never
polled again; a new one is created. A download URL is taken from a fresh status
answer and, when the storage host refuses it as expired, refreshed by asking for the
status again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Protocol

from tap_exports.engine.clock import Clock
from tap_exports.engine.decode import iter_ndjson
from tap_exports.engine.download import Downloader, PresignedUrlRejectedError
from tap_exports.engine.errors import (
    ApiError,
    DownloadError,
    ExportFailedError,
    ExportTimeoutError,
)
from tap_exports.engine.windows import Window

logger = logging.getLogger(__name__)

# A URL this close to expiry is refreshed before use (S3 checks expiry only when the
# request starts, so a few seconds cover clock skew and the request's own latency).
_URL_EXPIRY_MARGIN = timedelta(seconds=5)


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
    max_url_refreshes: int = 3


class ExportRunner:
    """Runs one export per window and yields its records."""

    def __init__(
        self,
        *,
        downloader: Downloader,
        policy: LifecyclePolicy,
        clock: Clock,
    ) -> None:
        """Share one downloader and policy across every stream of the tap."""
        self._downloader = downloader
        self._policy = policy
        self._clock = clock

    def records(self, port: ExportPort, stream: str, window: Window) -> Iterator[dict[str, Any]]:
        """Export `window` of `stream` and yield every record of the file, in file order.

        Raises:
            ExportFailedError: the provider failed the export on every attempt.
            ExportTimeoutError: an export did not complete in time.
            DownloadError, DecodeError: the file could not be read completely.

        """
        attempts = self._policy.max_export_attempts
        for attempt in range(1, attempts + 1):
            with _named(f"{stream} window {window}"):
                job = ExportJob(port.create(window), stream, window)
            logger.info("%s: created (attempt %d of %d)", job, attempt, attempts)
            report = self._wait_until_terminal(port, job)
            if report.status is JobStatus.COMPLETED:
                yield from self._download(port, job, report)
                return
            logger.warning("%s: failed (%s)", job, report.message or "no reason given")
            if attempt < attempts:
                self._clock.sleep(self._policy.poll_interval_seconds)
        raise ExportFailedError(
            f"{stream} export for window {window} failed {attempts} times "
            f"(last: {report.message or 'no reason given'}); try again later or contact "
            "the provider's support"
        )

    @staticmethod
    def _status(port: ExportPort, job: ExportJob) -> StatusReport:
        with _named(str(job)):
            return port.status(job.export_id)

    def _wait_until_terminal(self, port: ExportPort, job: ExportJob) -> StatusReport:
        deadline = self._clock.monotonic() + self._policy.export_timeout_seconds
        while True:
            report = self._status(port, job)
            if report.status.is_terminal:
                return report
            if self._clock.monotonic() + self._policy.poll_interval_seconds > deadline:
                raise ExportTimeoutError(
                    f"{job}: still {report.status.value} after "
                    f"{self._policy.export_timeout_seconds:.0f}s; raise "
                    "'export_timeout_seconds' or try again later"
                )
            self._clock.sleep(self._policy.poll_interval_seconds)

    def _download(
        self, port: ExportPort, job: ExportJob, report: StatusReport
    ) -> Iterator[dict[str, Any]]:
        label = str(job)
        tries = self._policy.max_url_refreshes + 1
        for attempt in range(1, tries + 1):
            if report.status is not JobStatus.COMPLETED:
                raise DownloadError(
                    f"{label}: status turned {report.status.value} while its download URL "
                    "was refreshed"
                )
            url = report.download_url
            if url is None:
                raise DownloadError(f"{label}: completed without a download URL")
            looks_expired = report.expires_at is not None and (
                report.expires_at - self._clock.now() < _URL_EXPIRY_MARGIN
            )
            if looks_expired and attempt < tries:
                # The last try goes ahead regardless: a fast local clock must not stop
                # a download the storage host would still accept.
                logger.info("%s: download URL is about to expire, refreshing it", label)
                report = self._status(port, job)
                continue
            try:
                with self._downloader.open(url, label=label) as raw:
                    yield from iter_ndjson(raw, source=label)
                return
            except PresignedUrlRejectedError:
                logger.info("%s: download URL refused (expired), refreshing it", label)
                report = self._status(port, job)
        raise DownloadError(
            f"{label}: no download URL worked in {tries} tries (refused or expired); "
            "check the machine's clock, or try again later"
        )


@contextmanager
def _named(label: str) -> Iterator[None]:
    """Prefix an API error with the export it concerns, so the message names it."""
    try:
        yield
    except ApiError as exc:
        exc.args = (f"{label}: {exc}",)
        raise
