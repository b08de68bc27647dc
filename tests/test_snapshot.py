"""A full-snapshot stream (no replication key), end to end through the tap.

No provider ships one yet, so a provider is declared here: its port plans two
partitions and serves each part's export as several files from a loopback server. The
tap, streams, scheduler and reader are the real ones.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC
from typing import Any

import orjson
import pytest

from tap_exports.engine.errors import OutOfCreditsError
from tap_exports.engine.exports.jobs import ExportFile, JobStatus, StatusReport, StatusWords
from tap_exports.engine.files.decode import FileFormats
from tap_exports.engine.planning.slices import Partition, Slice
from tap_exports.providers import PROVIDERS
from tap_exports.providers.base import Provider, RateLimit, StreamSpec, object_schema
from tap_exports.providers.job_api import JobApi
from tests.loopback import Script, serving
from tests.singer import last_state, sync_until_stopped

PARTS = {"small": range(0, 3), "large": range(3, 12)}


def ndjson(ids: range) -> bytes:
    return gzip.compress(b"".join(orjson.dumps({"id": n, "name": f"c{n}"}) + b"\n" for n in ids))


class SnapshotExports:
    """Two parts; each part's export comes as two files; creates can be made to fail."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.created: list[str] = []
        self.fail_on: str | None = None
        self.checked: list[list[str]] = []

    def partitions(self) -> list[Partition]:
        return [Partition(key) for key in PARTS]

    def source(self) -> str:
        return "accounts"

    def covers(self, slice: Slice) -> None:
        return None

    def costs(self, parts: list[Partition], exported: object) -> list[str]:
        return []

    def check_plan(self, parts: list[Partition], exported: object) -> None:
        self.checked.append([part.key for part in parts])

    def create(self, slice: Slice) -> str:
        assert isinstance(slice, Partition)
        if slice.key == self.fail_on:
            raise OutOfCreditsError("POST /exports answered 402: insufficient_balance")
        self.created.append(slice.key)
        return f"export-{slice.key}"

    def status(self, export_id: str) -> StatusReport:
        return StatusReport(JobStatus.COMPLETED)

    def files(self, export_id: str) -> tuple[ExportFile, ...]:
        key = export_id.removeprefix("export-")
        return tuple(ExportFile(name, f"{self.base}/{key}/{name}") for name in ("2.gz", "1.gz"))


@pytest.fixture
def provider() -> Iterator[SnapshotExports]:
    files = {}
    for key, ids in PARTS.items():
        middle = ids.start + len(ids) // 2
        files[f"/{key}/1.gz"] = ndjson(range(ids.start, middle))
        files[f"/{key}/2.gz"] = ndjson(range(middle, ids.stop))
    with serving(Script(files=files)) as base:
        exports = SnapshotExports(base)
        snapshot = Provider(
            name="snapshots",
            default_api_url=base,
            streams=(
                StreamSpec(
                    "accounts",
                    object_schema({"id": {"type": "integer"}, "name": {"type": ["string"]}}),
                    replication_key=None,
                    primary_keys=("id",),
                ),
            ),
            rate_limits={"create": RateLimit(100, 1.0), "status": RateLimit(100, 1.0)},
            job_api=JobApi("Bearer", ("id",), StatusWords({"completed": JobStatus.COMPLETED})),
            export_port=lambda spec, client, config: exports,
            check_connection=lambda client, config: "not asked",
            file_formats=FileFormats(),
            planning_zone=lambda config: UTC,
        )
        PROVIDERS[snapshot.name] = snapshot
        try:
            yield exports
        finally:
            del PROVIDERS[snapshot.name]


def run(state: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], Exception | None]:
    config = {"provider": "snapshots", "api_key": "test-key-0123", "poll_interval_seconds": 0.01}
    result, failure = sync_until_stopped(config, state)
    return result.messages, failure


def record_ids(messages: list[dict[str, Any]]) -> list[int]:
    return sorted(m["record"]["id"] for m in messages if m["type"] == "RECORD")


def test_a_snapshot_delivers_every_part_and_every_file_once_then_forgets_itself(provider):
    messages, failure = run()
    assert failure is None
    assert record_ids(messages) == list(range(12))
    assert provider.created == ["small", "large"]
    assert last_state(messages)["bookmarks"]["accounts"] == {}  # the next run takes a new one


def test_a_stopped_snapshot_resumes_with_the_parts_left_and_pays_for_none_twice(provider):
    provider.fail_on = "large"
    messages, failure = run()
    assert isinstance(failure, OutOfCreditsError)
    assert record_ids(messages) == list(PARTS["small"])
    state = last_state(messages)
    assert state["bookmarks"]["accounts"]["snapshot"]["done"] == ["small"]
    provider.fail_on = None
    resumed, failure = run(state)
    assert failure is None
    assert record_ids(resumed) == list(PARTS["large"])
    assert provider.created == ["small", "large"]
    assert last_state(resumed)["bookmarks"]["accounts"] == {}
    # Each run had the parts it would create checked before creating any.
    assert provider.checked == [["small", "large"], ["large"]]
