"""The Userpilot sandbox as a product: it must behave like Userpilot's documented export API.

Over real HTTP, with small data and jobs that finish in a few hundredths of a second.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import fastavro
import orjson
import pyarrow.parquet as pq
import pytest
import requests

from tap_exports.sandbox import (
    USERPILOT_DEMO_TOKEN,
    USERPILOT_NO_EXPORT_TOKEN,
    Faults,
    Sandbox,
    SandboxConfig,
    UserpilotConfig,
    UserpilotData,
    UserpilotEnvironment,
    UserpilotTiming,
)
from tap_exports.sandbox.registry import SANDBOXES
from tap_exports.sandbox.userpilot.data import COLUMNS, EXTRA_FIELD
from tap_exports.sandbox.userpilot.emulator import UserpilotEmulator
from tap_exports.sandbox.userpilot.requests import Rejected
from tests.builders import multiset
from tests.fakes import ManualClock

TOKEN = USERPILOT_DEMO_TOKEN
EXPORTS = "/api/v1/analytics/exports"
DAY_2 = {"from": "2025-03-02T00:00:00Z", "to": "2025-03-03T00:00:00Z"}
ALL = {"from": "2025-03-01T00:00:00Z", "to": "2025-03-04T00:00:00Z"}


def config(faults: Faults | None = None, **userpilot: Any) -> SandboxConfig:
    data = UserpilotData(days=3, events_per_day=12)
    values: dict[str, Any] = {
        "environments": [
            UserpilotEnvironment(api_key=TOKEN, data=data),
            UserpilotEnvironment(
                api_key=USERPILOT_NO_EXPORT_TOKEN, app_token="NX-GROWTH01", export_addon=False
            ),
            UserpilotEnvironment(api_key="other-app-key", app_token="NX-OTHER01", data=data),
        ],
        "timing": UserpilotTiming(processing_seconds=0.05),
        "rows_per_part": 10,
    }
    values.update(userpilot)
    return SandboxConfig(
        provider="userpilot", userpilot=UserpilotConfig(**values), faults=faults or Faults()
    )


@pytest.fixture
def userpilot() -> Iterator[Sandbox]:
    """The sandbox on a manual clock: a client's waits move it, nobody sleeps for real."""
    with Sandbox(config(), clock=ManualClock()) as running:
        yield running


class UserpilotClient:
    """A Userpilot API client as simple as a test can make it.

    It waits on the sandbox's clock: on a manual one, waiting is advancing it.
    """

    def __init__(self, sandbox: Sandbox, key: str = TOKEN) -> None:
        self.base = sandbox.api_url + EXPORTS
        self.clock = sandbox.clock
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Token {key}"

    def create(self, body: dict[str, Any], *, slash: str = "") -> requests.Response:
        return self.session.post(self.base + slash, json=body)

    def status(self, job_id: str) -> requests.Response:
        return self.session.get(f"{self.base}/jobs/{job_id}")

    def jobs(self) -> list[dict[str, Any]]:
        answer = self.session.get(f"{self.base}/jobs/")
        assert answer.status_code == 200
        return answer.json()

    def finished(self, job_id: str) -> dict[str, Any]:
        for _ in range(300):
            body = self.status(job_id).json()
            if body["status"] in ("completed", "failed"):
                return body
            self.clock.sleep(0.01)
        raise AssertionError("the job never finished")

    def export(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        created = self.create(body)
        assert created.status_code == 201, created.text
        job_id = created.json()["job_id"]
        return job_id, self.finished(job_id)


def error(answer: requests.Response) -> dict[str, str]:
    (only,) = answer.json()["errors"]
    assert set(only) == {"details", "error", "error_code", "message"}
    return only


def plain(content: bytes) -> bytes:
    return gzip.decompress(content) if content[:2] == b"\x1f\x8b" else content


def stamp_text(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def part_rows(export_format: str, content: bytes) -> list[dict[str, Any]]:
    """A part's rows, with what each format writes as text or types read back."""
    data = plain(content)
    if export_format == "ndjson":
        return [json.loads(line) for line in data.splitlines()]
    if export_format == "csv":
        rows = []
        for cells in csv.DictReader(io.StringIO(data.decode(), newline="")):
            row: dict[str, Any] = {key: value or None for key, value in cells.items()}
            for key in ("screen_width", "screen_height"):
                row[key] = None if row[key] is None else int(row[key])
            rows.append(row)
    elif export_format == "parquet":
        rows = pq.read_table(io.BytesIO(data)).to_pylist()
    else:
        rows = list(fastavro.reader(io.BytesIO(data)))
    for row in rows:
        row["metadata"] = None if row["metadata"] is None else json.loads(row["metadata"])
        if not isinstance(row["inserted_at"], str):
            row["inserted_at"] = stamp_text(row["inserted_at"])
    return rows


def as_columns(rows: list[dict[str, Any]], *, blank_is_null: bool) -> list[dict[str, Any]]:
    """Rows as a file with columns holds them: every column, null where a row has none."""
    columns = [*COLUMNS, EXTRA_FIELD]
    return [
        {key: None if blank_is_null and row.get(key) == "" else row.get(key) for key in columns}
        for row in rows
    ]


def test_unknown_key_wrong_scheme_and_plan_without_export_are_401(userpilot: Sandbox):
    no_header = requests.post(userpilot.api_url + EXPORTS, json=DAY_2)
    bearer = requests.post(
        userpilot.api_url + EXPORTS, json=DAY_2, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    for answer in (
        no_header,
        bearer,
        UserpilotClient(userpilot, "nope").create(DAY_2),
        UserpilotClient(userpilot, USERPILOT_NO_EXPORT_TOKEN).create(DAY_2),
        requests.get(f"{userpilot.api_url}{EXPORTS}/jobs"),
    ):
        assert answer.status_code == 401
        assert error(answer)["message"] == "Invalid API key or insufficient permissions"
    assert error(no_header)["error_code"] == "unauthorized"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"to": DAY_2["to"]}, "from"),
        ({**DAY_2, "from": "2025-03-02"}, "from"),
        ({**DAY_2, "to": "2025-03-03T00:00:00"}, "to"),
        ({**DAY_2, "to": "yesterday"}, "to"),
        ({**DAY_2, "to": DAY_2["from"]}, "to"),
        ({**DAY_2, "event_type": ["identify"]}, "event_type"),
        ({**DAY_2, "event_type": []}, "event_type"),
        ({**DAY_2, "user_id": "user-001"}, "user_id"),
        ({**DAY_2, "company_id": [1]}, "company_id"),
        ({**DAY_2, "segment_id": "999"}, "segment_id"),
        ({**DAY_2, "format": "json"}, "format"),
        ({**DAY_2, "exclusions": ["internal"]}, "exclusions"),
        ({**DAY_2, "event_types": ["track"]}, "event_types"),
    ],
)
def test_invalid_create_bodies_are_422_naming_the_field(userpilot: Sandbox, body, field):
    answer = UserpilotClient(userpilot).create(body)
    assert answer.status_code == 422
    assert error(answer)["details"] == field
    assert userpilot.emulator.created == []


def test_a_body_that_is_not_a_json_object_is_422(userpilot: Sandbox):
    answer = UserpilotClient(userpilot).session.post(userpilot.api_url + EXPORTS, data=b"[1]")
    assert answer.status_code == 422
    assert "JSON object" in error(answer)["message"]


def test_create_then_status_words_progress_to_completed_with_several_parts():
    timing = UserpilotTiming(statuses=("queued", "running"), processing_seconds=0.3)
    clock = ManualClock()
    with Sandbox(config(timing=timing), clock=clock) as sandbox:
        client = UserpilotClient(sandbox)
        created = client.create({**ALL, "format": "ndjson"}, slash="/")
        assert created.status_code == 201
        assert set(created.json()) == {
            "environment_app_token", "environment_name", "job_id", "links", "start_time",
        }  # fmt: skip
        assert created.json()["environment_app_token"] == "NX-DEMO0001"
        job_id = created.json()["job_id"]
        seen: list[str] = []
        for _ in range(200):
            body = client.status(quote(job_id)).json()
            if not seen or seen[-1] != body["status"]:
                seen.append(body["status"])
            if body["status"] == "completed":
                break
            assert "presigned_urls" not in body
            assert body["end_time"] is None and body["current_chunk"] in body["all_chunks"]
            clock.sleep(0.01)
        assert seen == ["queued", "running", "completed"]
        rows = sandbox.emulator.job_rows(job_id)
        parts = -(-len(rows) // 10)
        assert parts >= 3
        names = [f"export-part{n}.ndjson.gz" for n in range(1, parts + 1)]
        assert [url["filename"] for url in body["presigned_urls"]] == names
        assert body["all_chunks"] == body["completed_chunks"] == names
        assert (body["progress"], body["current_chunk"], body["type"]) == ("100%", None, "export")
        assert body["end_time"] >= body["start_time"]
        (listed,) = client.jobs()
        assert (listed["job_id"], listed["status"]) == (job_id, "completed")


def test_parts_download_without_authorization_and_refuse_one_as_s3(userpilot: Sandbox):
    _, body = UserpilotClient(userpilot).export({**DAY_2, "format": "ndjson"})
    url = body["presigned_urls"][0]["url"]
    assert url.startswith(userpilot.download_url)
    assert requests.get(url).status_code == 200
    with_key = requests.get(url, headers={"Authorization": f"Token {TOKEN}"})
    assert with_key.status_code == 400
    assert "<Code>InvalidArgument</Code>" in with_key.text


@pytest.mark.parametrize(
    ("export_format", "suffix", "gzipped"),
    [
        ("ndjson", ".ndjson.gz", True),
        ("csv", ".csv.gz", True),
        ("parquet", ".parquet", False),
        ("avro", ".avro", False),
    ],
)
def test_every_format_decodes_to_exactly_the_selected_rows(
    userpilot: Sandbox, export_format, suffix, gzipped
):
    job_id, body = UserpilotClient(userpilot).export({**ALL, "format": export_format})
    decoded = []
    for part in body["presigned_urls"]:
        assert part["filename"].endswith(suffix)
        content = requests.get(part["url"]).content
        assert (content[:2] == b"\x1f\x8b") is gzipped
        decoded += part_rows(export_format, content)
    expected = userpilot.emulator.select(TOKEN, ALL)
    assert expected == userpilot.emulator.job_rows(job_id) == userpilot.emulator.dataset(TOKEN)
    if export_format != "ndjson":
        expected = as_columns(expected, blank_is_null=export_format == "csv")
        decoded = as_columns(decoded, blank_is_null=export_format == "csv")
    assert multiset(decoded) == multiset(expected)


def test_the_same_request_again_is_served_the_same_files(userpilot: Sandbox):
    client = UserpilotClient(userpilot)
    first = [requests.get(p["url"]).content for p in client.export(DAY_2)[1]["presigned_urls"]]
    again = [requests.get(p["url"]).content for p in client.export(DAY_2)[1]["presigned_urls"]]
    other = client.export({**DAY_2, "event_type": ["track"]})[1]["presigned_urls"]
    assert again == first and len(first) > 1
    assert [requests.get(p["url"]).content for p in other] != first[: len(other)]


def test_csv_quotes_cells_with_commas_quotes_and_line_breaks(userpilot: Sandbox):
    _, body = UserpilotClient(userpilot).export({**ALL, "format": "csv", "event_type": ["track"]})
    text = b"".join(plain(requests.get(p["url"]).content) for p in body["presigned_urls"])
    assert b'"Note ""quick"",\nadded"' in text
    assert b'"{""amount""' in text  # metadata as JSON text
    assert text.startswith(",".join(COLUMNS).encode())


@pytest.mark.parametrize(("gzip_setting", "export_format"), [(True, "parquet"), (False, "ndjson")])
def test_gzip_can_be_switched_for_every_format(gzip_setting, export_format):
    with Sandbox(config(gzip=gzip_setting), clock=ManualClock()) as sandbox:
        _, body = UserpilotClient(sandbox).export({**DAY_2, "format": export_format})
        part = body["presigned_urls"][0]
        assert part["filename"].endswith(".gz") is gzip_setting
        assert (requests.get(part["url"]).content[:2] == b"\x1f\x8b") is gzip_setting


def test_format_defaults_to_csv(userpilot: Sandbox):
    _, body = UserpilotClient(userpilot).export(DAY_2)
    assert body["presigned_urls"][0]["filename"] == "export-part1.csv.gz"


def test_one_job_per_app_token_409_and_the_jobs_list_shows_what_runs():
    with Sandbox(
        config(timing=UserpilotTiming(processing_seconds=0.15)), clock=ManualClock()
    ) as sandbox:
        client = UserpilotClient(sandbox)
        job_id = client.create(DAY_2).json()["job_id"]
        refused = client.create(ALL)
        assert refused.status_code == 409
        assert error(refused)["message"] == "Export job already in progress"
        assert job_id not in refused.text  # only the list says which job runs
        assert [job["job_id"] for job in client.jobs()] == [job_id]
        assert set(client.jobs()[0]) == {
            "job_id", "status", "progress", "start_time", "end_time", "elapsed_time",
            "elapsed_time_seconds",
        }  # fmt: skip
        assert UserpilotClient(sandbox, "other-app-key").create(DAY_2).status_code == 201
        client.finished(job_id)
        assert client.create(DAY_2).status_code == 201
        assert sandbox.emulator.conflicts == 1


def test_a_foreign_job_blocks_the_token_and_shows_only_in_the_list():
    clock = ManualClock()
    with Sandbox(config(), clock=clock) as sandbox:
        client = UserpilotClient(sandbox)
        foreign = sandbox.emulator.start_foreign_job(TOKEN, 0.15)
        assert client.create(DAY_2).status_code == 409
        (listed,) = client.jobs()
        assert listed["job_id"] == foreign and listed["status"] in ("queued", "running")
        clock.sleep(sandbox.emulator.finishes_at(foreign) - clock.monotonic())
        assert client.create(DAY_2).status_code == 201
        assert sandbox.emulator.downloads == {}
        with pytest.raises(RuntimeError, match="already running"):
            sandbox.emulator.start_foreign_job(TOKEN, 0.3)


def test_a_failed_job_has_no_urls_and_does_not_block():
    with Sandbox(config(Faults(failed_exports=1)), clock=ManualClock()) as sandbox:
        _, body = UserpilotClient(sandbox).export(DAY_2)
        assert body["status"] == "failed" and "presigned_urls" not in body
        assert body["end_time"] is not None and body["current_chunk"] is None
        assert UserpilotClient(sandbox).create(DAY_2).status_code == 201


def test_a_ghost_create_answers_503_but_its_job_runs_and_blocks():
    timing = UserpilotTiming(processing_seconds=0.15)
    with Sandbox(config(Faults(ghost_creates=1), timing=timing), clock=ManualClock()) as sandbox:
        client = UserpilotClient(sandbox)
        ghost = client.create(DAY_2)
        assert ghost.status_code == 503
        assert error(ghost)["error_code"] == "service_unavailable"
        assert client.create(DAY_2).status_code == 409
        ((job_id, body),) = sandbox.emulator.created
        assert body == DAY_2
        assert [job["job_id"] for job in client.jobs()] == [job_id]
        assert client.finished(job_id)["status"] == "completed"


def test_a_vanished_job_is_404_from_then_on_and_no_longer_blocks():
    timing = UserpilotTiming(processing_seconds=0.3)
    with Sandbox(config(Faults(vanished_jobs=1), timing=timing)) as sandbox:
        client = UserpilotClient(sandbox)
        job_id = client.create(DAY_2).json()["job_id"]
        for _ in range(2):
            answer = client.status(job_id)
            assert answer.status_code == 404
            assert error(answer)["error_code"] == "not_found"
        assert client.jobs() == []
        assert client.create(DAY_2).status_code == 201


def test_after_the_retention_status_is_404_and_files_are_gone():
    timing = UserpilotTiming(processing_seconds=0.02, retention_seconds=0.2)
    clock = ManualClock()
    with Sandbox(config(timing=timing), clock=clock) as sandbox:
        client = UserpilotClient(sandbox)
        job_id, body = client.export(DAY_2)
        clock.sleep(0.25)
        assert client.status(job_id).status_code == 404
        assert client.jobs() == []
        gone = requests.get(body["presigned_urls"][0]["url"])
        assert (gone.status_code, "<Code>NoSuchKey</Code>" in gone.text) == (404, True)


def test_another_apps_job_is_404(userpilot: Sandbox):
    job_id, _ = UserpilotClient(userpilot).export(DAY_2)
    assert UserpilotClient(userpilot, "other-app-key").status(job_id).status_code == 404
    assert UserpilotClient(userpilot, "other-app-key").jobs() == []


def test_an_expired_url_is_403_and_stays_expired():
    with Sandbox(config(Faults(expired_urls=1)), clock=ManualClock()) as sandbox:
        client = UserpilotClient(sandbox)
        job_id, body = client.export({**ALL, "format": "ndjson"})
        first, second = body["presigned_urls"][:2]
        expired = requests.get(first["url"])
        assert expired.status_code == 403
        assert "<Message>Request has expired</Message>" in expired.text
        assert requests.get(second["url"]).status_code == 200
        again = client.status(job_id).json()["presigned_urls"]
        assert again[0]["url"] == first["url"]  # signed once, at completion


def test_requests_over_the_limit_are_429_with_retry_after():
    with Sandbox(config(rate_limit=3, rate_period_seconds=60)) as sandbox:
        client = UserpilotClient(sandbox)
        for _ in range(3):
            assert client.session.get(f"{client.base}/jobs").status_code == 200
        refused = client.create(DAY_2)
        assert refused.status_code == 429
        assert 55 <= int(refused.headers["Retry-After"]) <= 60
        assert error(refused)["error_code"] == "too_many_requests"
        assert UserpilotClient(sandbox, "other-app-key").create(DAY_2).status_code == 201


def test_a_rate_limit_storm_is_429_retry_after_1():
    with Sandbox(config(Faults(rate_limit_storms=1))) as sandbox:
        stormed = UserpilotClient(sandbox).create(DAY_2)
        assert (stormed.status_code, stormed.headers["Retry-After"]) == (429, "1")


def test_both_bounds_are_inclusive_to_the_microsecond(userpilot: Sandbox):
    body = {"from": "2025-03-02T00:00:00Z", "to": "2025-03-02T23:59:59.999999+00:00"}
    _, status = UserpilotClient(userpilot).export({**body, "format": "ndjson"})
    stamps = {
        row["inserted_at"]
        for part in status["presigned_urls"]
        for row in part_rows("ndjson", requests.get(part["url"]).content)
    }
    assert {"2025-03-02T00:00:00.000000Z", "2025-03-02T23:59:59.999999Z"} <= stamps
    assert "2025-03-03T00:00:00.000000Z" not in stamps
    with_next = userpilot.emulator.select(TOKEN, {**body, "to": "2025-03-03T01:00:00+01:00"})
    assert with_next[-1]["inserted_at"] == "2025-03-03T00:00:00.000000Z"


def test_filters_select_their_rows(userpilot: Sandbox):
    rows = userpilot.emulator.dataset(TOKEN)
    pick = userpilot.emulator.select
    tracks = pick(TOKEN, {**ALL, "event_type": ["track", "page_view"]})
    assert tracks == [r for r in rows if r["event_type"] in ("track", "page_view")]
    assert pick(TOKEN, {**ALL, "user_id": ["user-002"]}) == [
        r for r in rows if r["user_id"] == "user-002"
    ]
    assert pick(TOKEN, {**ALL, "company_id": ["company-01"], "segment_id": "1001"}) == [
        r
        for r in rows
        if r["company_id"] == "company-01" and r["user_id"] in {"user-001", "user-002", "user-003"}
    ]
    assert pick(TOKEN, {**ALL, "segment_id": "1002", "emails": ["a@b.c"], "exclusions": ""}) == []
    with pytest.raises(Rejected):
        pick(TOKEN, {"from": ALL["from"]})


def test_data_is_deterministic_and_has_the_hard_cases():
    rows = [Sandbox(config()).emulator.dataset(TOKEN) for _ in range(2)]
    assert rows[0] == rows[1]
    other = SandboxConfig(
        provider="userpilot",
        userpilot=UserpilotConfig(
            environments=[UserpilotEnvironment(TOKEN, data=UserpilotData(days=3, seed=12))]
        ),
    )
    assert Sandbox(other).emulator.dataset(TOKEN) != rows[0]
    data = rows[0]
    stamps = [row["inserted_at"] for row in data]
    assert stamps == sorted(stamps)
    assert all(len(stamp) == 27 and stamp.endswith("Z") for stamp in stamps)
    assert any(stamp.endswith("T00:00:00.000000Z") for stamp in stamps)
    assert any(stamp.endswith("T23:59:59.999999Z") for stamp in stamps)
    assert any(count == 2 for count in multiset(data).values())  # identical rows, no id
    assert {row["event_type"] for row in data} == {
        "identify_user", "identify_company", "interaction", "track", "track_feature",
        "page_view", "session_start",
    }  # fmt: skip
    assert any(EXTRA_FIELD in row for row in data)
    assert any(row["hostname"] is None for row in data)
    assert any(not orjson.dumps(row).isascii() for row in data)  # unicode text
    first_user = [
        row["metadata"]
        for row in data
        if row["event_type"] == "identify_user" and row["user_id"] == "user-001"
    ]
    assert [meta["logins"] for meta in first_user] == list(range(1, len(first_user) + 1))
    assert isinstance(first_user[0]["address"], dict)


def test_registry_builds_the_userpilot_emulator_at_the_hosts_root(userpilot: Sandbox):
    assert isinstance(userpilot.emulator, UserpilotEmulator)
    assert "userpilot" in SANDBOXES
    assert urlsplit(userpilot.api_url).path == ""
    assert (
        UserpilotClient(userpilot).session.get(userpilot.api_url + "/api/v2/nope").status_code
        == 404
    )


def test_command_line_serves_userpilot():
    process = subprocess.Popen(
        [
            sys.executable, "-m", "tap_exports.sandbox", "--provider", "userpilot",
            "--port", "0", "--download-port", "0", "--job-seconds", "0.05",
            "--statuses", "pending",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        api_url = process.stdout.readline().split()[-1]
        assert urlsplit(api_url).path == ""
        assert process.stdout.readline().split() == ["provider:", "userpilot"]
        assert TOKEN in process.stdout.readline()
        headers = {"Authorization": f"Token {TOKEN}"}
        created = requests.post(api_url + EXPORTS, json=DAY_2, headers=headers, timeout=5)
        assert created.status_code == 201
        status = requests.get(
            f"{api_url}{EXPORTS}/jobs/{created.json()['job_id']}", headers=headers, timeout=5
        )
        assert status.json()["status"] in ("pending", "completed")
    finally:
        process.terminate()
        process.wait(timeout=10)
