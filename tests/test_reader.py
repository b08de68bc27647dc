"""The file reader: a job of several files, read in order, each exactly once, over HTTP.

Files are served by a scripted loopback server (`tests/loopback.py`); the port is an
in-memory provider that lists them, as Userpilot's status answer or Cornect's
download call would.
"""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from tap_exports.engine.clock import SystemClock
from tap_exports.engine.errors import DownloadError, NotFoundError
from tap_exports.engine.exports.jobs import (
    CompletedExport,
    ExportFile,
    ExportJob,
    JobStatus,
    StatusReport,
)
from tap_exports.engine.files.decode import FileFormats
from tap_exports.engine.files.download import Downloader
from tap_exports.engine.files.reader import ExportReader, FileDecoding
from tap_exports.engine.http.api import RetryPolicy
from tap_exports.engine.planning.slices import Partition, Slice
from tests.loopback import Script, serving

PART = Partition("all")
JOB = ExportJob("job-1", "events", PART)
RETRY = RetryPolicy(base_delay_seconds=0.001, max_delay_seconds=0.01)
NDJSON = FileDecoding(FileFormats(frozenset({"ndjson", "csv"})))


def part(first: int, count: int, *, compress: bool = True) -> bytes:
    body = b"".join(orjson.dumps({"id": n}) + b"\n" for n in range(first, first + count))
    return gzip.compress(body, mtime=0) if compress else body


class ListingPort:
    """Hands out the files' URLs from a separate call, counting the calls."""

    def __init__(self, base: str, names: list[str], *, expires_in: float = 3600) -> None:
        self.base = base
        self.names = names
        self.expires_in = expires_in
        self.listings = 0

    def create(self, slice: Slice) -> str:
        raise AssertionError("not used")

    def status(self, export_id: str) -> StatusReport:
        return StatusReport(JobStatus.COMPLETED)  # no URLs here: `files` hands them out

    def files(self, export_id: str) -> tuple[ExportFile, ...]:
        self.listings += 1
        expires = datetime.now(UTC) + timedelta(seconds=self.expires_in)
        return tuple(
            ExportFile(name, f"{self.base}/{name}?sig={self.listings}", expires)
            for name in self.names
        )


def read_records(reader: ExportReader, port, job, report) -> list[dict]:
    export = CompletedExport(port, job, report)
    return [record for run in reader.record_runs(export, NDJSON) for record in run]


def reader() -> ExportReader:
    clock = SystemClock()
    downloader = Downloader(timeout_seconds=5, retry=RETRY, clock=clock)
    return ExportReader(downloader=downloader, retry=RETRY, clock=clock)


def read_ids(port: ListingPort) -> list[int]:
    report = port.status(JOB.export_id)
    return [r["id"] for r in read_records(reader(), port, JOB, report)]


def test_every_file_of_a_job_is_read_once_in_name_order():
    # Listed out of order, one of them plain text: each is decoded by what it holds.
    script = Script(
        files={
            "/part-2.ndjson.gz": part(100, 50),
            "/part-1.ndjson": part(0, 100, compress=False),
            "/part-3.ndjson.gz": part(150, 5),
        }
    )
    with serving(script) as base:
        port = ListingPort(base, ["part-3.ndjson.gz", "part-1.ndjson", "part-2.ndjson.gz"])
        assert read_ids(port) == list(range(155))


def test_a_file_cut_off_is_resumed_alone_and_no_row_is_lost_or_repeated():
    script = Script(
        files={"/a.gz": part(0, 3000), "/b.gz": part(3000, 3000), "/c.gz": part(6000, 10)},
        drops={"/b.gz": 1},
    )
    with serving(script) as base:
        port = ListingPort(base, ["a.gz", "b.gz", "c.gz"])
        assert read_ids(port) == list(range(6010))
    fetched = [path for path, _ in script.requests]
    assert fetched.count("/a.gz") == 1 and fetched.count("/c.gz") == 1
    assert ("/b.gz", None) in script.requests
    assert any(path == "/b.gz" and ranged for path, ranged in script.requests)  # resumed


def test_an_expired_url_is_replaced_by_asking_the_provider_for_the_files_again():
    script = Script(files={"/a.gz": part(0, 10), "/b.gz": part(10, 10)}, refusals={"/b.gz": 1})
    with serving(script) as base:
        port = ListingPort(base, ["a.gz", "b.gz"])
        assert read_ids(port) == list(range(20))
        assert port.listings == 2  # the first listing, then one refresh for b


def test_a_url_about_to_expire_is_refreshed_before_it_is_used():
    script = Script(files={"/a.gz": part(0, 10)})
    with serving(script) as base:
        port = ListingPort(base, ["a.gz"], expires_in=1)
        assert read_ids(port) == list(range(10))
        assert port.listings >= 2


def test_a_file_the_provider_stops_listing_is_a_clear_download_error():
    script = Script(files={"/a.gz": part(0, 10)}, refusals={"/a.gz": 100})
    with serving(script) as base:
        port = ListingPort(base, ["a.gz"])
        port.names = ["other.gz"]
        report = StatusReport(
            JobStatus.COMPLETED, files=(ExportFile("a.gz", f"{base}/a.gz?sig=0"),)
        )
        with pytest.raises(DownloadError, match=r"job-1 for part all: the provider no longer"):
            list(read_records(reader(), port, JOB, report))


class ForgettingPort(ListingPort):
    """A provider whose job is gone (its retention ended) when fresh URLs are asked for."""

    def files(self, export_id: str) -> tuple[ExportFile, ...]:
        raise NotFoundError("GET /jobs/job-1 answered 404: Export job not found.", status=404)


def test_a_job_gone_when_its_urls_are_refreshed_is_a_download_error_to_create_it_again():
    script = Script(files={"/a.gz": part(0, 10)}, refusals={"/a.gz": 100})
    with serving(script) as base:
        report = StatusReport(
            JobStatus.COMPLETED, files=(ExportFile("a.gz", f"{base}/a.gz?sig=0"),)
        )
        port = ForgettingPort(base, ["a.gz"])
        with pytest.raises(DownloadError, match=r"404.*can no longer be fetched"):
            list(read_records(reader(), port, JOB, report))


def test_two_files_of_one_name_are_refused_rather_than_mixed_up():
    script = Script(files={"/a.gz": part(0, 2)})
    with serving(script) as base:
        port = ListingPort(base, ["a.gz", "a.gz"])
        with pytest.raises(DownloadError, match=r"two files named a\.gz"):
            read_ids(port)


def test_errors_name_the_file_when_a_job_has_several():
    bad = gzip.compress(b'{"id": 1}\nnot json\n', mtime=0)
    script = Script(files={"/a.gz": part(0, 2), "/b.gz": bad})
    with serving(script) as base:
        port = ListingPort(base, ["a.gz", "b.gz"])
        with pytest.raises(
            Exception, match=r"events export job-1 for part all, file b\.gz, line 2"
        ):
            read_ids(port)


def test_files_holding_fewer_records_than_the_export_says_are_a_download_error():
    script = Script(files={"/a.gz": part(0, 10), "/b.gz": part(10, 5)})
    with serving(script) as base:
        port = ListingPort(base, ["a.gz", "b.gz"])
        exact = StatusReport(JobStatus.COMPLETED, records=15)
        assert [r["id"] for r in read_records(reader(), port, JOB, exact)] == list(range(15))
        short = StatusReport(JobStatus.COMPLETED, records=16)
        with pytest.raises(DownloadError, match=r"hold 15 records where the export says 16"):
            list(read_records(reader(), port, JOB, short))
