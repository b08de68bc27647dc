"""Read a completed export's files: in a stable order, each exactly once, resumably.

A job may hand out several files (parts of one export). They are read one after the
other, sorted by name, so a file downloaded again and a run resumed see the same
order. Each file has its own download attempts, URL refreshes and count of lines
already handed on:

- a dropped connection is resumed inside `Downloader` (Range from the byte reached);
- a file that still cannot be read whole (cut short, bad CRC, no Range support) is
  downloaded again, and the lines of *that file* already handed on are skipped by
  count: the same file has the same bytes, so the same lines in the same order;
- a URL about to expire, or refused by the storage host, is replaced by asking the
  provider again (`ExportPort.files`), within `max_url_refreshes` per attempt.

In BATCH mode a file is copied as it is, checked on the way (`bulk.FileCheck`), and a
failed copy starts over.
"""

from __future__ import annotations

import io
import itertools
import logging
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any

from tap_exports.engine.clock import Clock
from tap_exports.engine.errors import DownloadError, NotFoundError, naming
from tap_exports.engine.exports.jobs import (
    CompletedExport,
    ExportFile,
    ExportJob,
    ExportPort,
)
from tap_exports.engine.files.decode import (
    ColumnTypes,
    FileFormats,
    LineRun,
    decode_run,
    iter_line_runs,
)
from tap_exports.engine.files.download import Downloader
from tap_exports.engine.http.api import RetryPolicy
from tap_exports.engine.records.bulk import FileCheck, Verdict
from tap_exports.engine.records.rowkey import RowKeys
from tap_exports.engine.records.validate import RecordCheck

logger = logging.getLogger(__name__)

# A URL this close to expiry is refreshed before use (S3 checks expiry only when the
# request starts, so a few seconds cover clock skew and the request's own latency).
_URL_EXPIRY_MARGIN = timedelta(seconds=5)

# Bytes read per chunk when copying a file as it is.
_COPY_CHUNK_BYTES = 1 << 18

Record = dict[str, Any]


@dataclass(frozen=True, slots=True)
class FileDecoding:
    """How one stream's files are decoded: the provider's formats, the schema's columns."""

    formats: FileFormats
    columns: ColumnTypes | None = None
    # The field a key is added in, for rows without an id (see `rowkey`).
    row_key: str | None = None


@dataclass(frozen=True, slots=True)
class SourcedRun:
    """A run of lines and the file it came from, as errors name it."""

    source: str
    run: LineRun


class ExportReader:
    """Downloads a completed export's files and yields their lines or records."""

    def __init__(
        self,
        *,
        downloader: Downloader,
        retry: RetryPolicy,
        clock: Clock,
        max_url_refreshes: int = 3,
        max_download_attempts: int = 3,
    ) -> None:
        """Share one downloader across every stream of the tap."""
        self._downloader = downloader
        self._retry = retry
        self._clock = clock
        self._refreshes = max_url_refreshes
        self._attempts_per_file = max_download_attempts

    def files(self, export: CompletedExport) -> list[ExportFile]:
        """The export's files in the order they are read (by name).

        From its completed status; a provider whose status does not carry the URLs is
        asked for them (`ExportPort.files`).
        """
        job = export.job
        files = sorted(
            export.report.files or _fetch_files(export.port, job), key=lambda file: file.name
        )
        # A refreshed URL is found by name: two files of one name would be mixed up.
        for earlier, later in itertools.pairwise(files):
            if earlier.name == later.name:
                raise DownloadError(f"{job}: the provider listed two files named {later.name}")
        return files

    def record_runs(
        self,
        export: CompletedExport,
        decoding: FileDecoding,
        *,
        check: RecordCheck | None = None,
        skip: Callable[[str], None] | None = None,
        observe: Callable[[list[bytes]], None] | None = None,
    ) -> Iterator[list[Record]]:
        """Yield every record of every file of `job`, in order, exactly once, a run at a time.

        A run is decoded whole before it is yielded, so the caller sees every record of
        it before passing any on (the fields they bring are declared first). `check` and
        `skip` go to the decoder (see `decode.decode_line`), `observe` to `line_runs`.

        Raises:
            DownloadError, DecodeError: a file could not be read completely.
        """
        for sourced in self.line_runs(export, decoding, observe=observe):
            yield list(decode_run(sourced.run, source=sourced.source, check=check, skip=skip))

    def line_runs(
        self,
        export: CompletedExport,
        decoding: FileDecoding,
        *,
        observe: Callable[[list[bytes]], None] | None = None,
    ) -> Iterator[SourcedRun]:
        """Yield the lines of every file of `job`, in runs, each line exactly once.

        With `decoding.row_key`, each line carries its key (see `rowkey`). `observe`
        sees every run before it is yielded (streams derived from this one read theirs
        from it).

        Raises:
            DownloadError: a file could not be read completely.
        """
        keys = RowKeys(decoding.row_key) if decoding.row_key else None
        job, report = export.job, export.report
        files = self.files(export)
        lines = 0
        try:
            for file in files:
                source = _source(job, file, several=len(files) > 1)
                for run in self._file_runs(export, file, source, decoding):
                    if keys is not None:
                        run = LineRun(run.first_line, keys.add(run.lines))  # noqa: PLW2901
                    if observe is not None:
                        observe(run.lines)
                    lines += len(run.lines)
                    yield SourcedRun(source, run)
        finally:
            if keys is not None:
                keys.close()
        if report.records is not None and lines != report.records:
            raise DownloadError(
                f"{job}: its files hold {lines} records where the export says "
                f"{report.records}: a file was cut short"
            )

    def _file_runs(
        self,
        export: CompletedExport,
        file: ExportFile,
        source: str,
        decoding: FileDecoding,
    ) -> Iterator[LineRun]:
        """The runs of one file; lines handed on before a failed attempt are skipped."""
        delivered = 0
        for attempt in self._attempts(export, file, source):
            try:
                with attempt.open() as raw:
                    runs = iter_line_runs(
                        raw, source=source, formats=decoding.formats, columns=decoding.columns
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
        export: CompletedExport,
        file: ExportFile,
        *,
        open_sink: Callable[[], AbstractContextManager[IO[Any]]],
        check: Callable[[], FileCheck],
    ) -> Verdict:
        """Copy one file, byte for byte, into a fresh `open_sink()`, checking it on the way.

        A failed attempt starts over in a new sink with a new check.

        Raises:
            DownloadError: the file could not be fetched whole, or is not valid gzip.
        """
        source = _source(export.job, file, several=True)
        for attempt in self._attempts(export, file, source):
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
        self, export: CompletedExport, file: ExportFile, source: str
    ) -> Iterator[_DownloadAttempt]:
        """Download attempts of one file with backoff between them, each with fresh refreshes."""
        urls = _FileUrls(
            source,
            file,
            fetch=lambda: _fetch_files(export.port, export.job),
            expiring=self._url_expiring,
            refreshes=self._refreshes,
        )
        attempts = self._attempts_per_file
        delays = self._retry.delays()
        for number in range(1, attempts + 1):
            if number > 1:
                self._clock.sleep(next(delays))
            urls.renew_allowance()
            yield _DownloadAttempt(
                lambda: self._downloader.open(urls, label=source), last=number == attempts
            )

    def _url_expiring(self, file: ExportFile) -> bool:
        """Tell whether `file`'s URL would expire before a request starts."""
        return file.expires_at is not None and (
            file.expires_at - self._clock.now() < _URL_EXPIRY_MARGIN
        )


def _source(job: ExportJob, file: ExportFile, *, several: bool) -> str:
    """How errors name a file: the job, and the file's name when the job has several."""
    return f"{job}, file {file.name}" if several else str(job)


def _fetch_files(port: ExportPort, job: ExportJob) -> tuple[ExportFile, ...]:
    """The job's files with fresh URLs.

    Raises:
        DownloadError: the provider no longer has the job (its retention ended): its
            files cannot be fetched, a new export of the slice can.
    """
    try:
        with naming(str(job)):
            return port.files(job.export_id)
    except NotFoundError as exc:
        raise DownloadError(f"{exc}; its files can no longer be fetched") from None


@dataclass(frozen=True, slots=True)
class _DownloadAttempt:
    """One try at reading a file."""

    open: Callable[[], AbstractContextManager[io.RawIOBase]]
    last: bool

    def failed(self, error: DownloadError, then: str) -> None:
        """Raise `error` on the last attempt; otherwise log it and what happens next."""
        if self.last:
            raise error
        logger.warning("%s; downloading again (%s)", error, then)


class _FileUrls:
    """Hands out one file's URL, asking the provider again when it expires or is refused."""

    def __init__(
        self,
        source: str,
        file: ExportFile,
        *,
        fetch: Callable[[], tuple[ExportFile, ...]],
        expiring: Callable[[ExportFile], bool],
        refreshes: int,
    ) -> None:
        self._source = source
        self._file = file
        self._fetch = fetch
        self._expiring = expiring
        self._refreshes = refreshes
        self._refreshes_left = refreshes

    def renew_allowance(self) -> None:
        """Give a new download attempt its own URL refreshes."""
        self._refreshes_left = self._refreshes

    def current(self) -> str:
        if self._expiring(self._file) and self._refreshes_left > 1:
            # The last refresh is kept for a refusal: a fast local clock must not stop a
            # download the storage host would still accept.
            logger.info("%s: download URL is about to expire, refreshing it", self._source)
            return self.refresh()
        return self._file.url

    def refresh(self) -> str:
        if self._refreshes_left <= 0:
            raise DownloadError(
                f"{self._source}: the storage host refused every fresh download URL; check "
                "the machine's clock, or try again later"
            )
        self._refreshes_left -= 1
        name = self._file.name
        fresh = next((file for file in self._fetch() if file.name == name), None)
        if fresh is None:
            raise DownloadError(f"{self._source}: the provider no longer lists this file")
        self._file = fresh
        return fresh.url
