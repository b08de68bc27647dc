"""The tap against the Userpilot sandbox, over real HTTP: every row once, in every format.

Rows have no id, so deliveries are compared as multisets of rows with the sandbox's
ground truth. Jobs finish in a few hundredths of a second and parts are small, so every
export has several files.
"""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_exports.engine.timestamps import parse_utc
from tap_exports.sandbox import (
    USERPILOT_NO_EXPORT_TOKEN,
    Faults,
    Sandbox,
    UserpilotTiming,
)
from tap_exports.sandbox.faults import DATA_FAULTS, KINDS
from tap_exports.sdk.tap import TapExports
from tests.batches import batch_config, batch_files, file_lines
from tests.setups.userpilot import (
    END,
    TOKEN,
    keyless_multiset,
    sandbox_config,
    tap_config,
    truth,
)
from tests.singer import run_and_signal, run_cli, sync, sync_until_stopped


@pytest.fixture
def userpilot() -> Iterator[Sandbox]:
    with Sandbox(sandbox_config()) as running:
        yield running


@pytest.mark.parametrize("export_format", ["ndjson", "csv", "parquet", "avro"])
def test_every_row_once_in_every_format(export_format: str) -> None:
    with Sandbox(sandbox_config()) as sandbox:
        result = sync(tap_config(sandbox, export_format=export_format))
        created = sandbox.emulator.created
    events = result.records("events")
    how = {"empty_is_null": export_format == "csv", "typed": export_format in ("parquet", "avro")}
    assert keyless_multiset(events, **how) == keyless_multiset(truth(sandbox), **how)
    # Edge rows (midnight, 23:59:59.999999) and identical rows are all there, once each.
    stamps = Counter(parse_utc(row["inserted_at"]).isoformat() for row in events)
    assert stamps["2025-03-02T00:00:00+00:00"] == 1
    assert stamps["2025-03-03T23:59:59.999999+00:00"] == 1
    assert all(isinstance(row["metadata"], dict | None) for row in events)
    # Three 2-day windows, each asked for in the chosen format, several files each.
    assert [body["format"] for _, body in created] == [export_format] * 3
    assert [(body["from"], body["to"]) for _, body in created] == [
        ("2025-03-01T00:00:00Z", "2025-03-03T00:00:00Z"),
        ("2025-03-03T00:00:00Z", "2025-03-05T00:00:00Z"),
        ("2025-03-05T00:00:00Z", "2025-03-06T00:00:00Z"),
    ]
    assert result.final_state["bookmarks"]["events"]["replication_key_value"] == END


def test_row_keys_are_unique_and_the_same_whatever_the_windows(userpilot: Sandbox) -> None:
    first = sync(tap_config(userpilot)).records("events")
    again = sync(tap_config(userpilot, window_days=1)).records("events")
    keys = [(row["inserted_at"], row["_row_key"]) for row in first]
    assert len(set(keys)) == len(keys)  # identical rows too: -0 and -1
    assert sorted(keys) == sorted((row["inserted_at"], row["_row_key"]) for row in again)
    copies = Counter(row["_row_key"].rsplit("-", 1)[0] for row in first)
    assert sorted(set(copies.values())) == [1, 2]  # one identical pair per day


def latest(rows: list[dict[str, Any]], event_type: str, key: str) -> dict[str, dict[str, Any]]:
    newest: dict[str, dict[str, Any]] = {}
    for row in sorted(rows, key=lambda row: row["inserted_at"]):
        if row["event_type"] == event_type:
            newest[row[key]] = row
    return newest


def upserted(records: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    """What a target merging on `key` holds after loading `records` in order."""
    table: dict[str, dict[str, Any]] = {}
    for record in records:
        table[record[key]] = record
    return table


def test_users_and_companies_are_the_newest_identify_rows(userpilot: Sandbox) -> None:
    result = sync(tap_config(userpilot))
    rows = truth(userpilot)
    users = upserted(result.records("users"), "user_id")
    want = latest(rows, "identify_user", "user_id")
    assert users.keys() == want.keys()
    for user_id, row in want.items():
        assert users[user_id]["properties"] == row["metadata"]
        assert users[user_id]["identified_at"] == row["inserted_at"]
        assert users[user_id]["company_id"] == row["company_id"]
    companies = upserted(result.records("companies"), "company_id")
    want = latest(rows, "identify_company", "company_id")
    assert {k: v["properties"] for k, v in companies.items()} == {
        k: v["metadata"] for k, v in want.items()
    }
    # One record per user per window at most, and no extra job for them.
    per_window = Counter(
        (record["user_id"], record["identified_at"][:10]) for record in result.records("users")
    )
    assert max(per_window.values()) == 1
    assert len(userpilot.emulator.created) == 3
    bookmarks = result.final_state["bookmarks"]
    assert bookmarks["users"]["replication_key_value"] == END


def catalog_selecting(config: dict[str, Any], *names: str) -> dict[str, Any]:
    catalog = TapExports(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in names
    return catalog


def test_users_alone_then_events_later_loses_nothing(userpilot: Sandbox) -> None:
    config = tap_config(userpilot)
    alone = sync(config, catalog=catalog_selecting(config, "users"))
    assert alone.records("events") == []
    assert (
        upserted(alone.records("users"), "user_id").keys()
        == latest(truth(userpilot), "identify_user", "user_id").keys()
    )
    bookmarks = alone.final_state["bookmarks"]
    assert bookmarks["users"]["replication_key_value"] == END
    assert "replication_key_value" not in bookmarks.get("events", {})
    assert "exports_in_flight" not in bookmarks.get("events", {})  # read, so forgotten
    # Users up to date and events deselected: nothing to export.
    again = sync(config, state=alone.final_state, catalog=catalog_selecting(config, "users"))
    assert again.records("users") == [] and len(userpilot.emulator.created) == 3
    # Selecting events later reads its whole history, for events alone.
    both = sync(
        config, state=alone.final_state, catalog=catalog_selecting(config, "events", "users")
    )
    assert keyless_multiset(both.records("events")) == keyless_multiset(truth(userpilot))
    assert both.records("users") == []


def test_a_foreign_job_is_waited_out_and_never_read(
    userpilot: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    foreign = userpilot.emulator.start_foreign_job(TOKEN, seconds=0.6)
    with caplog.at_level("INFO"):
        result = sync(tap_config(userpilot))
    assert keyless_multiset(result.records("events")) == keyless_multiset(truth(userpilot))
    emulator = userpilot.emulator
    assert foreign not in emulator.downloads
    assert 1 <= emulator.conflicts <= 10  # paced, not a storm
    assert len(emulator.created) == 3
    assert f"job {foreign} of this app token is" in caplog.text  # the 409, explained


def test_a_ghost_create_is_waited_out_not_adopted() -> None:
    with Sandbox(sandbox_config(Faults(ghost_creates=1))) as sandbox:
        result = sync(tap_config(sandbox))
        emulator = sandbox.emulator
        ghost = emulator.created[0][0]
        assert ghost not in emulator.downloads
        assert emulator.conflicts <= 10
    assert keyless_multiset(result.records("events")) == keyless_multiset(truth(sandbox))


@pytest.mark.parametrize(
    "fault", ["failed_exports", "vanished_jobs", "expired_urls", "truncated_files"]
)
def test_failed_vanished_expired_or_cut_jobs_still_deliver_every_row(fault: str) -> None:
    with Sandbox(sandbox_config(Faults(**{fault: 1}))) as sandbox:
        result = sync(tap_config(sandbox))
    assert keyless_multiset(result.records("events")) == keyless_multiset(truth(sandbox))


def test_sigkill_mid_backfill_resumes_without_loss(userpilot: Sandbox, tmp_path: Path) -> None:
    config = tap_config(userpilot, window_days=1)

    def window_done(message: dict[str, Any]) -> bool:
        bookmark = message.get("value", {}).get("bookmarks", {}).get("events", {})
        return bookmark.get("replication_key_value", "") >= "2025-03-03T00:00:00Z"

    killed = run_and_signal(config, tmp_path, when=window_done, signum=signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    resumed = run_cli(config, tmp_path, state=killed.last_state)
    assert resumed.returncode == 0, resumed.stderr
    messages = [json.loads(line) for line in resumed.stdout.splitlines()]
    later = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == "events"]
    # A merge on the primary key leaves every row exactly once.
    merged = {(r["inserted_at"], r["_row_key"]): r for r in killed.records("events") + later}
    assert keyless_multiset(list(merged.values())) == keyless_multiset(truth(userpilot))
    assert TOKEN not in killed.stderr + resumed.stderr
    assert "X-Amz-Signature" not in resumed.stderr and "Signature=" not in resumed.stderr


def test_a_key_without_the_export_add_on_stops_at_once(userpilot: Sandbox, tmp_path: Path) -> None:
    done = run_cli(tap_config(userpilot, api_key=USERPILOT_NO_EXPORT_TOKEN), tmp_path)
    assert done.returncode == 1
    assert "401" in done.stderr and "api_key" in done.stderr
    assert USERPILOT_NO_EXPORT_TOKEN not in done.stderr


def test_filters_and_format_are_sent_and_checked(userpilot: Sandbox) -> None:
    chosen = ["identify_user", "identify_company", "track"]
    config = tap_config(userpilot, event_types=chosen, user_ids=["user-001"])
    result = sync(config)
    rows = [
        row
        for row in truth(userpilot)
        if row["event_type"] in chosen and row["user_id"] == "user-001"
    ]
    assert keyless_multiset(result.records("events")) == keyless_multiset(rows)
    assert list(upserted(result.records("users"), "user_id")) == ["user-001"]
    with pytest.raises(ConfigValidationError) as refused:
        sync(tap_config(userpilot, event_types=["clicks"]))
    assert "event_types" in str(refused.value.errors)


def test_an_unknown_request_limit_is_halved_by_a_429_and_never_broken(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The tap's polite guess (30 per period) is above what this server allows (8).
    with Sandbox(sandbox_config(rate_limit=8)) as sandbox:
        config = tap_config(sandbox)
        del config["api_rate_limit"]
        with caplog.at_level("WARNING"):
            result = sync(config)
        refusals = sandbox.emulator.limiter(TOKEN).refusals
        violations = sandbox.emulator.limiter(TOKEN).violations
    assert keyless_multiset(result.records("events")) == keyless_multiset(truth(sandbox))
    assert "pacing at" in caplog.text
    assert 1 <= refusals <= 2 and violations == 0


def test_a_killed_runs_job_is_re_attached_not_created_again(
    userpilot: Sandbox, tmp_path: Path
) -> None:
    config = tap_config(userpilot, window_days=1)

    def job_in_flight(message: dict[str, Any]) -> bool:
        events = message.get("value", {}).get("bookmarks", {}).get("events", {})
        return bool(events.get("exports_in_flight"))

    killed = run_and_signal(config, tmp_path, when=job_in_flight, signum=signal.SIGKILL)
    in_flight = killed.last_state["bookmarks"]["events"]["exports_in_flight"]
    resumed = run_cli(config, tmp_path, state=killed.last_state)
    assert resumed.returncode == 0, resumed.stderr
    windows = [(body["from"], body["to"]) for _, body in userpilot.emulator.created]
    assert len(windows) == len(set(windows)) == 5  # no window paid or waited for twice
    assert userpilot.emulator.conflicts == 0  # its own job did not block it
    assert {entry["export_id"] for entry in in_flight} <= set(userpilot.emulator.downloads)


def test_an_unknown_status_word_means_still_running_warned_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    timing = UserpilotTiming(processing_seconds=0.1, statuses=("pending", "exporting"))
    with Sandbox(sandbox_config(timing=timing)) as sandbox, caplog.at_level("WARNING"):
        result = sync(tap_config(sandbox))
    assert keyless_multiset(result.records("events")) == keyless_multiset(truth(sandbox))
    assert caplog.text.count("unknown status 'exporting'") == 1


def test_batch_mode_delivers_the_same_rows_and_keys_as_record_mode(
    userpilot: Sandbox, tmp_path: Path
) -> None:
    record_mode = sync(tap_config(userpilot))
    config = tap_config(userpilot, batch_config=batch_config(tmp_path, batch_size=40))
    batched = sync(config)
    # The undeclared field is declared on the way, in BATCH files as in RECORDs.
    events = [
        orjson.loads(line)
        for stream, path in batch_files(batched)
        if stream == "events"
        for line in file_lines(path)
    ]
    keyed = Counter((row["inserted_at"], row["_row_key"]) for row in events)
    assert keyed == Counter(
        (row["inserted_at"], row["_row_key"]) for row in record_mode.records("events")
    )
    assert keyless_multiset(events) == keyless_multiset(truth(userpilot))
    # Derived streams stay RECORD messages, before the STATE that passes their window.
    assert batched.records("users") == record_mode.records("users")
    assert batched.final_state["bookmarks"]["events"]["replication_key_value"] == END


def test_a_filter_leaving_out_identify_rows_stops_a_run_that_selects_users(
    userpilot: Sandbox,
) -> None:
    config = tap_config(userpilot, event_types=["track"])
    _, failure = sync_until_stopped(config, catalog=catalog_selecting(config, "events", "users"))
    assert failure is not None and "event_types" in str(failure)
    assert "identify_user" in str(failure) and userpilot.emulator.created == []
    # Events alone may be filtered as the user likes.
    alone = sync(config, catalog=catalog_selecting(config, "events"))
    assert {row["event_type"] for row in alone.records("events")} == {"track"}


def test_soak_random_faults_runs_resume_until_every_row_arrived_once() -> None:
    """Faults of every kind at random, tight bounds so runs give up: each next run picks up
    the state, and in the end every row arrived once (merged on the row key), with no
    rate limit broken."""
    # Not stuck jobs: one of ours blocks the token (409) until Userpilot drops it, days
    # later, and no run can get past it (each says so, naming the job).
    kinds = frozenset(KINDS) - DATA_FAULTS - {"stuck_exports"}
    faults = Faults(chaos=0.05, chaos_kinds=kinds, seed=5, slow_seconds=1.2)
    with Sandbox(sandbox_config(faults)) as sandbox:
        config = tap_config(
            sandbox,
            request_timeout_seconds=1.0,
            request_max_attempts=3,
            max_export_attempts=1,
            export_timeout_seconds=1,
        )
        state, merged, failure = None, {}, None
        for _ in range(10):
            result, failure = sync_until_stopped(config, state)
            merged |= {(r["inserted_at"], r["_row_key"]): r for r in result.records("events")}
            state = result.final_state if result.states() else state
            if failure is None:
                break
            # A scheduler's next run comes after the 429 hold (1 s here). A real sleep: the
            # tap lives on real time (threads, request timeouts), so the sandbox does too.
            time.sleep(1.0)
        assert failure is None, failure
        assert keyless_multiset(list(merged.values())) == keyless_multiset(truth(sandbox))
        assert sum(faults.struck.values()) >= 3, faults.struck
        assert sandbox.emulator.limiter(TOKEN).violations == 0
