"""The export job as data: its statuses, its files, the provider port, and the policy.

```
create ──> queued ──> processing ──> completed ──> files ──> download ──> records
  ^              └──────────┴──────> failed ─┐
  └──── cooldown, then create again <────────┤  (bounded by max_export_attempts)
                 still running at timeout ───┘
```

Polling is not retrying: a job that is still running is a normal answer, so polling
has its own interval and deadline (`LifecyclePolicy`), and every status request still
goes through the API client's rate budget. `scheduler.ExportScheduler` drives the
lifecycle for every slice of a run at once; `reader.ExportReader` reads a completed
job's files. This module holds only what both share, so neither pulls in the other.

A completed job hands out one or more files, each with a name and a short-lived URL.
Where the URLs come from is the provider's business (`ExportPort.files`: the status
answer for some APIs, a download call of its own for others); the engine only asks
again whenever a URL is about to expire or was refused.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Protocol

from tap_exports.engine.costs.exported import ExportedKeys
from tap_exports.engine.errors import ApiError, DownloadError
from tap_exports.engine.planning.coverage import Coverage
from tap_exports.engine.planning.slices import Partition, Slice

logger = logging.getLogger(__name__)


class JobStatus(Enum):
    """Where an export job is; providers map their own words onto these."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


@dataclass(frozen=True)
class StatusWords:
    """A provider's status vocabulary, and what an unknown word means.

    Providers whose enum is documented in full treat an unknown word as an error (the
    API changed: better to stop than to guess). Providers whose enum is not documented
    declare `unknown_means_running`: an unknown word is "not finished yet", logged
    once per word, and the job's deadline (`export_timeout_seconds`) still bounds it.
    """

    words: Mapping[str, JobStatus]
    unknown_means_running: bool = False
    _warned: set[str] = field(default_factory=set, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def read(self, word: object, *, subject: str) -> JobStatus:
        """The status `word` stands for.

        Raises:
            ApiError: the word is unknown and the provider treats that as an error.
        """
        status = self.words.get(str(word))
        if status is not None:
            return status
        if not self.unknown_means_running:
            raise ApiError(f"{subject}: unknown status {word!r}")
        with self._lock:
            first = str(word) not in self._warned
            self._warned.add(str(word))
        if first:
            logger.warning("%s: unknown status %r, taken as still running", subject, word)
        return JobStatus.PROCESSING


@dataclass(frozen=True, slots=True)
class ExportFile:
    """One file of a completed export: a stable name and a presigned URL."""

    name: str
    url: str
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StatusReport:
    """One answer of the status endpoint (`files` when the provider puts them there).

    `records`: how many records the provider says the export holds, if it says: the
    files must hold exactly that many (a file cut short is caught even where its format
    cannot tell, as a CSV file cut at a line break).
    """

    status: JobStatus
    files: tuple[ExportFile, ...] = ()
    message: str | None = None
    records: int | None = None


@dataclass(frozen=True, slots=True)
class ExportJob:
    """An export created for one slice of one stream."""

    export_id: str
    stream: str
    slice: Slice

    def __str__(self) -> str:
        """Name the job the way every log line and error does."""
        return f"{self.stream} export {self.export_id} for {self.slice}"


@dataclass(frozen=True, slots=True)
class CompletedExport:
    """A completed export as the scheduler hands it back: what reading it needs.

    The port (to fetch fresh URLs), the job (what it covers, how errors name it), its
    last status report (the files, when the status carries them), and what it was asked
    for (`ExportPort.covers`), which the reading shows the records outside its slice.
    """

    port: ExportPort
    job: ExportJob
    report: StatusReport
    coverage: Coverage | None = None

    def __str__(self) -> str:
        """Name the export as its job does."""
        return str(self.job)


class ExportPort(Protocol):
    """What the lifecycle needs from a provider, for one stream."""

    def create(self, slice: Slice) -> str:
        """Create an export covering `slice`; return its id."""
        ...

    def status(self, export_id: str) -> StatusReport:
        """Read the export's status."""
        ...

    def files(self, export_id: str) -> tuple[ExportFile, ...]:
        """Fresh URLs for every file of a completed export.

        Raises:
            DownloadError: the export is not completed (any more), or has no files.
        """
        ...

    def covers(self, slice: Slice) -> Coverage | None:
        """What the export of `slice` was asked for, to catch records beyond it.

        None where records cannot lie beyond the request (or the API reads no dates).
        See `engine/planning/coverage.py`.
        """
        ...


class SnapshotPort(ExportPort, Protocol):
    """A full-snapshot stream's port: it also plans the partitions of a new snapshot."""

    def partitions(self) -> list[Partition]:
        """The parts the next snapshot is exported in (sized as the provider needs)."""
        ...

    def source(self) -> str:
        """What the snapshot exports, as text (the settings that define the set).

        A stopped snapshot is resumed only if its source is the same.
        """
        ...

    def costs(self, parts: Sequence[Partition], exported: ExportedKeys) -> list[str]:
        """What exporting `parts` may cost and what the account allows, as lines for a plan.

        `exported`: the records earlier exports held (free again, where exports charge).
        """
        ...

    def check_plan(self, parts: Sequence[Partition], exported: ExportedKeys) -> None:
        """Stop the run before any export of `parts` is created, if it may not go ahead.

        `exported` grows as this run reads export files; later creates may count on it.

        Raises:
            TapExportsError: for example, the exports might cost more than allowed.
        """
        ...


def completed_files(report: StatusReport, *, subject: str) -> tuple[ExportFile, ...]:
    """The files of a status answer that should show a completed export.

    For providers whose status answer carries the URLs (`ExportPort.files` reads the
    status again).

    Raises:
        DownloadError: the export is no longer completed, or completed without files.
    """
    if report.status is not JobStatus.COMPLETED:
        raise DownloadError(
            f"{subject}: status turned {report.status.value} while its download URLs were refreshed"
        )
    if not report.files:
        raise DownloadError(f"{subject}: completed without a download URL")
    return report.files


@dataclass(frozen=True, slots=True)
class LifecyclePolicy:
    """How long and how often to wait for exports, and how often to try again.

    `max_exports_in_flight` bounds how far creation runs ahead of the download (jobs
    created but not yet read); how many jobs may *run* at once is a fact of the
    provider's API, given to the scheduler separately.
    """

    poll_interval_seconds: float = 5.0
    export_timeout_seconds: float = 3600.0
    max_export_attempts: int = 3
    retry_cooldown_seconds: float = 60.0
    max_exports_in_flight: int = 25
