"""The export job lifecycle's parts: statuses, the provider port, the policy, and the reader.

```
create ──> queued ──> processing ──> completed ──> download ──> records
  ^              └──────────┴──────> failed ─┐
  └──── cooldown, then create again <────────┤  (bounded by max_export_attempts)
                 still running at timeout ───┘
```

Polling is not retrying: a job that is still running is a normal answer, so polling
has its own interval and deadline (`LifecyclePolicy`), and every status request still
goes through the API client's rate budget. A `failed` job is never polled again; a
new one is created after a cooldown, and so is one still running at its deadline.
`scheduler.ExportScheduler` drives this for every window of a run at once.

Downloads: a dropped connection is resumed inside `Downloader`; a file that still
cannot be read whole (cut short, bad CRC, no Range support) is downloaded again and
the lines already read are skipped by count: the same export's file has the same
bytes, so the same lines in the same order. In BATCH mode the file is copied, checked
on the way (`bulk.FileCheck`), and a failed copy starts over.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import IO, Any, Protocol

from tap_exports.engine.api import RetryPolicy
from tap_exports.engine.bulk import FileCheck, Verdict
from tap_exports.engine.clock import Clock
from tap_exports.engine.decode import LineRun, decode_run, iter_line_runs
from tap_exports.engine.download import Downloader
from tap_exports.engine.errors import DownloadError, naming
from tap_exports.engine.validate import RecordCheck
from tap_exports.engine.windows import Window

logger = logging.getLogger(__name__)

# A URL this close to expiry is refreshed before use (S3 checks expiry only when the
# request starts, so a few seconds cover clock skew and the request's own latency).
_URL_EXPIRY_MARGIN = timedelta(seconds=5)

Record = dict[str, Any]

# Bytes read per chunk when copying a file as it is.
_COPY_CHUNK_BYTES = 1 << 18


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
    max_exports_in_flight: int = 25
    require_gzip: bool = False


class ExportReader:
    """Downloads a completed export's file and yields its records."""

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
        job: ExportJob,
        report: StatusReport,
        *,
        check: RecordCheck | None = None,
        skip: Callable[[str], None] | None = None,
    ) -> Iterator[Record]:
        """Yield every record of `job`'s file, in file order, exactly once.

        `report` is the completed status that carries the first download URL; `check`
        and `skip` go to the decoder (see `decode.decode_line`).

        Raises:
            DownloadError, DecodeError: the file could not be read completely.
        """
        for run in self.line_runs(port, job, report):
            yield from decode_run(run, source=str(job), check=check, skip=skip)

    def line_runs(
        self, port: ExportPort, job: ExportJob, report: StatusReport
    ) -> Iterator[LineRun]:
        """Yield the lines of `job`'s file in runs, each line exactly once.

        A file downloaded again after a failure has the same bytes, so the same lines:
        those already handed on are skipped by count.

        Raises:
            DownloadError: the file could not be read completely.
        """
        delivered = 0
        for attempt in self._attempts(port, job, report):
            try:
                with attempt.open() as raw:
                    runs = iter_line_runs(
                        raw, source=str(job), require_gzip=self._policy.require_gzip
                    )
                    for run in runs:
                        already = delivered - (run.first_line - 1)  # of this run's lines
                        if already >= len(run.lines):
                            continue
                        if already > 0:
                            run = LineRun(run.first_line + already, run.lines[already:])  # noqa: PLW2901
                        delivered = run.first_line - 1 + len(run.lines)
                        yield run
                return
            except DownloadError as exc:
                attempt.failed(exc, f"skipping the {delivered} lines already read")

    def save(
        self,
        port: ExportPort,
        job: ExportJob,
        report: StatusReport,
        *,
        open_sink: Callable[[], AbstractContextManager[IO[Any]]],
        check: Callable[[], FileCheck],
    ) -> Verdict:
        """Copy `job`'s file, byte for byte, into a fresh `open_sink()`, checking it on the way.

        A failed attempt starts over in a new sink with a new check.

        Raises:
            DownloadError: the file could not be fetched whole, or is not valid gzip.
        """
        for attempt in self._attempts(port, job, report):
            try:
                with attempt.open() as raw, open_sink() as sink:
                    file_check = check()
                    while chunk := raw.read(_COPY_CHUNK_BYTES):
                        sink.write(chunk)
                        file_check.feed(chunk)
                    return file_check.verdict()
            except DownloadError as exc:
                attempt.failed(exc, "starting over")
        raise AssertionError("unreachable: the last attempt raises")  # pragma: no cover

    def _attempts(
        self, port: ExportPort, job: ExportJob, report: StatusReport
    ) -> Iterator[_DownloadAttempt]:
        """Download attempts with backoff between them, each with fresh URL refreshes."""
        urls = _DownloadUrls(
            job,
            report,
            read_status=lambda: _read_status(port, job),
            expiring=self._url_expiring,
            refreshes=self._policy.max_url_refreshes,
        )
        attempts = self._policy.max_download_attempts
        delays = self._retry.delays()
        for number in range(1, attempts + 1):
            if number > 1:
                self._clock.sleep(next(delays))
            urls.renew_allowance()
            yield _DownloadAttempt(
                lambda: self._downloader.open(urls, label=str(job)), last=number == attempts
            )

    def _url_expiring(self, report: StatusReport) -> bool:
        """Tell whether a URL from `report` would expire before a request starts."""
        return report.expires_at is not None and (
            report.expires_at - self._clock.now() < _URL_EXPIRY_MARGIN
        )


@dataclass(frozen=True, slots=True)
class _DownloadAttempt:
    """One try at reading an export's file."""

    open: Callable[[], AbstractContextManager[io.RawIOBase]]
    last: bool

    def failed(self, error: DownloadError, then: str) -> None:
        """Raise `error` on the last attempt; otherwise log it and what happens next."""
        if self.last:
            raise error
        logger.warning("%s; downloading again (%s)", error, then)


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


def _read_status(port: ExportPort, job: ExportJob) -> StatusReport:
    with naming(str(job)):
        return port.status(job.export_id)
