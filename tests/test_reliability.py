"""Every fault an export API throws, each over real HTTP from the sandbox: the data still
arrives exactly once, the bookmark never passes what was not delivered, no limit is
broken, and a failure that cannot be survived says what broke."""

from __future__ import annotations

import signal
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tap_exports.engine.errors import DecodeError, DownloadError
from tap_exports.engine.files.download import Downloader
from tap_exports.engine.state.progress import IN_FLIGHT, SPLIT
from tap_exports.engine.timestamps import format_utc
from tap_exports.sandbox import DEMO_KEY, Faults, Sandbox, Timing
from tests.setups.cometly import (
    END,
    REPLICATION_KEYS,
    START,
    STREAMS,
    expected,
    sandbox_config,
    tap_config,
)
from tests.singer import ids, parse_messages, run_and_signal, run_cli, sync, sync_until_stopped

FOUR_DAYS = {"start_date": START, "end_date": "2025-03-05T05:00:00Z"}


def assert_exactly_once(sandbox: Sandbox, result, start: str = START, end: str = END) -> None:  # type: ignore[no-untyped-def]
    for stream in STREAMS:
        delivered = ids(result.records(stream))
        assert delivered == ids(expected(sandbox, stream, start, end)), stream


# 1. Failed exports -----------------------------------------------------------------------


def test_failed_export_is_recreated_after_the_cooldown():
    with Sandbox(sandbox_config(faults=Faults(failed_exports=2))) as sandbox:
        # One export at a time, so the two failures strike the companies window.
        config = tap_config(
            sandbox, export_retry_cooldown_seconds=0.2, max_exports_in_flight=1, **FOUR_DAYS
        )
        result = sync(config)
        assert_exactly_once(sandbox, result, **_range(FOUR_DAYS))
        # Two failures, each followed by a new export for the same window.
        companies = [body for stream, body in sandbox.emulator.created if stream == "companies"]
        assert len(companies) == 3
        assert companies[0] == companies[1] == companies[2]


def test_repeatedly_failing_window_is_split_in_half_and_delivered():
    with Sandbox(sandbox_config(faults=Faults(failed_exports=2))) as sandbox:
        config = tap_config(
            sandbox, max_export_attempts=2, window_days=4, max_exports_in_flight=1, **FOUR_DAYS
        )
        result = sync(config)
        assert_exactly_once(sandbox, result, **_range(FOUR_DAYS))
        companies = [body for stream, body in sandbox.emulator.created if stream == "companies"]
        assert [(b["start_date"], b["end_date"]) for b in companies] == [
            ("2025-03-01 00:00:00", "2025-03-05 00:00:00"),
            ("2025-03-01 00:00:00", "2025-03-05 00:00:00"),
            ("2025-03-01 00:00:00", "2025-03-03 00:00:00"),
            ("2025-03-03 00:00:00", "2025-03-05 00:00:00"),
        ]
        assert SPLIT not in result.final_state["bookmarks"]["companies"]  # passed, forgotten


def test_a_split_survives_a_restart():
    with Sandbox(sandbox_config(faults=Faults(failed_exports=2))) as sandbox:
        config = tap_config(
            sandbox, max_export_attempts=2, window_days=4, max_exports_in_flight=1, **FOUR_DAYS
        )
        first = sync(config)
    # The STATE after the first half: bookmark mid-way, split remembered.
    mid_split = next(
        state
        for state in first.states()
        if state["bookmarks"].get("companies", {}).get("replication_key_value")
        == "2025-03-03T05:00:00Z"
    )
    assert mid_split["bookmarks"]["companies"][SPLIT] == {
        "until": "2025-03-05T05:00:00Z",
        "max_seconds": 2 * 86400,
    }
    with Sandbox(sandbox_config()) as sandbox:
        config = tap_config(sandbox, max_export_attempts=2, window_days=30, **FOUR_DAYS)
        second = sync(config, state=mid_split)
        companies = [body for stream, body in sandbox.emulator.created if stream == "companies"]
        assert [(b["start_date"], b["end_date"]) for b in companies] == [
            ("2025-03-03 00:00:00", "2025-03-05 00:00:00")
        ]
        assert ids(second.records("companies")) == ids(
            expected(sandbox, "companies", "2025-03-03T05:00:00Z", FOUR_DAYS["end_date"])
        )


# 2. Stuck exports: see test_failures.py (re-created, then a named timeout) ---------------

# 3. Transient API errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    "faults",
    [
        Faults(server_errors=3),
        Faults(connection_resets=3),
        Faults(slow_responses=2, slow_seconds=1.0),
    ],
    ids=["5xx", "connection-reset", "read-timeout"],
)
def test_transient_api_errors_are_retried(faults: Faults):
    with Sandbox(sandbox_config(faults=faults)) as sandbox:
        result = sync(tap_config(sandbox, request_timeout_seconds=0.5, **FOUR_DAYS))
        assert_exactly_once(sandbox, result, **_range(FOUR_DAYS))
        assert sum(faults.struck.values()) >= 2


def test_transient_errors_give_up_within_their_bounds(tmp_path: Path):
    with Sandbox(sandbox_config(faults=Faults(server_errors=1000))) as sandbox:
        outcome = run_cli(tap_config(sandbox, request_max_attempts=3, **FOUR_DAYS), tmp_path)
    assert outcome.returncode == 1
    assert "failed 3 times" in outcome.stderr
    assert "(last: 503 Service Unavailable)" in outcome.stderr


# 4. Rate limiting ---------------------------------------------------------------------------


def test_429_storm_is_waited_out_exactly_as_told():
    with Sandbox(sandbox_config(faults=Faults(rate_limit_storms=4))) as sandbox:
        result = sync(tap_config(sandbox, **FOUR_DAYS))
        assert_exactly_once(sandbox, result, **_range(FOUR_DAYS))
        for family in ("create", "status"):
            assert sandbox.emulator.limiter(DEMO_KEY, family).violations == 0


# 5. Download faults --------------------------------------------------------------------------


def test_dropped_download_resumes_with_a_range_request():
    with Sandbox(sandbox_config(faults=Faults(dropped_downloads=3))) as sandbox:
        result = sync(tap_config(sandbox, **FOUR_DAYS))
        assert_exactly_once(sandbox, result, **_range(FOUR_DAYS))
        assert sum(1 for status, _ in sandbox.downloads if status == 206) == 3


def test_dropped_download_without_range_support_restarts_and_skips_what_was_sent():
    config = sandbox_config(faults=Faults(dropped_downloads=3), range_requests=False)
    with Sandbox(config) as sandbox:
        result = sync(tap_config(sandbox, **FOUR_DAYS))
        assert_exactly_once(sandbox, result, **_range(FOUR_DAYS))
        assert not any(status == 206 for status, _ in sandbox.downloads)


def test_url_expiring_during_the_download_is_refreshed_and_resumed():
    faults = Faults(dropped_downloads=1, urls_revoked_mid_download=1)
    with Sandbox(sandbox_config(faults=faults)) as sandbox:
        result = sync(tap_config(sandbox, **FOUR_DAYS))
        assert_exactly_once(sandbox, result, **_range(FOUR_DAYS))
        assert faults.struck == {"dropped_downloads": 1, "urls_revoked_mid_download": 1}
        assert any(status == 206 for status, _ in sandbox.downloads)


@pytest.mark.parametrize("kind", ["truncated_files", "corrupt_files"])
def test_damaged_gzip_is_detected_and_downloaded_again(kind: str):
    faults = Faults(**{kind: 2})
    with Sandbox(sandbox_config(faults=faults)) as sandbox:
        result = sync(tap_config(sandbox, **FOUR_DAYS))
        assert_exactly_once(sandbox, result, **_range(FOUR_DAYS))
        assert faults.struck == {kind: 2}


# 6. Bad data ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "problem"),
    [
        ("garbled_lines", "not valid JSON"),
        ("records_missing_keys", "replication key 'created_at' is missing"),
        ("mistyped_fields", "field 'id' is bool, schema allows int/str"),
    ],
)
def test_bad_line_stops_the_stream_naming_export_and_line(kind: str, problem: str, tmp_path: Path):
    with Sandbox(sandbox_config(faults=Faults(**{kind: 1}))) as sandbox:
        outcome = run_cli(tap_config(sandbox, **FOUR_DAYS), tmp_path)
    assert outcome.returncode == 1
    last_error = [line for line in outcome.stderr.splitlines() if "| ERROR" in line][-1]
    assert "companies export 1001 for window [2025-03-01T05:00:00Z" in last_error
    assert ", line " in last_error
    assert problem in last_error
    states = [m["value"] for m in parse_messages(outcome.stdout) if m["type"] == "STATE"]
    assert all("replication_key_value" not in s["bookmarks"].get("companies", {}) for s in states)


def test_bad_lines_can_be_skipped_and_counted(caplog: pytest.LogCaptureFixture):
    faults = Faults(garbled_lines=1, mistyped_fields=1)
    with Sandbox(sandbox_config(faults=faults)) as sandbox:
        result = sync(tap_config(sandbox, bad_record_policy="skip", **FOUR_DAYS))
        truth = ids(expected(sandbox, "companies", **_range(FOUR_DAYS)))
    delivered = ids(result.records("companies"))
    assert len(delivered) == len(truth) - 1  # the mistyped record; the garbled line had none
    assert set(delivered) < set(truth)
    assert "companies: skipped 2 bad line(s)" in caplog.text


def test_decode_error_is_not_retried_as_a_download_fault():
    with Sandbox(sandbox_config(faults=Faults(garbled_lines=1))) as sandbox:
        with pytest.raises(DecodeError):
            sync(tap_config(sandbox, **FOUR_DAYS))
        assert len(sandbox.downloads) == 1


# 7. Restart and re-attach ----------------------------------------------------------------------


@pytest.mark.parametrize("kill_after", [1, 3, 6])
def test_killed_run_reattaches_to_its_export_and_loses_nothing(kill_after: int, tmp_path: Path):
    slow = Timing(queued_seconds=0.1, processing_seconds=0.3, url_ttl_seconds=900)
    with Sandbox(sandbox_config(timing=slow)) as sandbox:
        config = tap_config(sandbox, window_days=2, **FOUR_DAYS)
        first = _run_and_kill(config, tmp_path, kill_after)
        state = next(m["value"] for m in reversed(first) if m["type"] == "STATE")
        in_flight = [
            (name, entry)
            for name, stream_state in state["bookmarks"].items()
            for entry in stream_state.get(IN_FLIGHT, [])
        ]
        assert in_flight, "the export id must be in state as soon as it exists"
        in_flight_stream, entry = in_flight[0]
        reattached = int(entry["export_id"])
        reads_before = sandbox.emulator.status_reads.get(reattached, 0)
        created_before = len(sandbox.emulator.created)

        second = sync(config, state=state)

        assert sandbox.emulator.status_reads[reattached] > reads_before  # polled again...
        again = sandbox.emulator.created[created_before:]
        window = (entry["start"], entry["end"])
        assert all(  # ...and not created again
            _body_window(body) != window for name, body in again if name == in_flight_stream
        )
        for stream in STREAMS:
            delivered = [
                m["record"] for m in first if m["type"] == "RECORD" and m["stream"] == stream
            ] + second.records(stream)
            truth = expected(sandbox, stream, **_range(FOUR_DAYS))
            assert set(ids(delivered)) == set(ids(truth)), stream
            duplicates = len(delivered) - len(truth)
            if stream != in_flight_stream:
                assert duplicates == 0, stream
                continue
            key = REPLICATION_KEYS[stream]
            in_flight_records = [r for r in truth if window[0] <= r[key] < window[1]]
            assert duplicates <= len(in_flight_records), f"{stream}: duplicates outside"


def test_export_from_state_that_no_longer_exists_is_created_again(caplog):
    with Sandbox(sandbox_config()) as sandbox:
        state = {
            "bookmarks": {
                "companies": {
                    "replication_key": "created_at",
                    "replication_key_value": START,
                    IN_FLIGHT: [
                        {"export_id": "999999", "start": START, "end": "2025-03-03T05:00:00Z"}
                    ],
                }
            }
        }
        result = sync(tap_config(sandbox, **FOUR_DAYS), state=state)
        assert_exactly_once(sandbox, result, **_range(FOUR_DAYS))
    assert "999999" in caplog.text and "no longer has it" in caplog.text


def test_export_that_failed_while_no_run_watched_is_replaced_not_retried_forever():
    with Sandbox(sandbox_config(faults=Faults(failed_exports=1))) as sandbox:
        config = tap_config(
            sandbox, max_export_attempts=1, min_window_minutes=10**6, **FOUR_DAYS
        )  # no splitting: the one attempt fails the run
        first, failure = sync_until_stopped(config)
        assert failure is not None
        assert IN_FLIGHT not in first.final_state["bookmarks"]["companies"]  # given up on
        # Even if a state still names it (a run killed before giving up), it is replaced.
        stale = {
            "bookmarks": {
                "companies": {
                    "replication_key": "created_at",
                    IN_FLIGHT: [
                        {"export_id": "1001", "start": START, "end": FOUR_DAYS["end_date"]}
                    ],
                }
            }
        }
        second = sync(config, state=stale)
        assert_exactly_once(sandbox, second, **_range(FOUR_DAYS))


def test_stuck_export_given_up_on_is_not_reattached_by_the_next_run():
    with Sandbox(sandbox_config(faults=Faults(stuck_exports=1))) as sandbox:
        config = tap_config(sandbox, max_export_attempts=1, export_timeout_seconds=0.2, **FOUR_DAYS)
        first, failure = sync_until_stopped(config)
        assert failure is not None
        second = sync(config, state=first.final_state)
        assert_exactly_once(sandbox, second, **_range(FOUR_DAYS))


# 8. Interrupted run ------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_interrupted_run_saves_safe_state_and_exits_non_zero(signum: int, tmp_path: Path):
    slow = Timing(queued_seconds=0.1, processing_seconds=0.2, url_ttl_seconds=900)
    with Sandbox(sandbox_config(timing=slow)) as sandbox:
        states = Counter[str]()

        def fourth_state(message: dict) -> bool:
            states[message["type"]] += 1
            return states["STATE"] == 4

        run = run_and_signal(
            tap_config(sandbox, window_days=1), tmp_path, when=fourth_state, signum=signum
        )
        assert run.returncode == 128 + signum
        assert f"Interrupted by {signal.Signals(signum).name}" in run.stderr
        for stream, state in run.last_state["bookmarks"].items():
            bookmark = state.get("replication_key_value")
            if bookmark:
                key = REPLICATION_KEYS[stream]
                delivered = {record["id"] for record in run.records(stream)}
                owed = {r["id"] for r in expected(sandbox, stream) if r[key] < bookmark}
                assert owed <= delivered, stream


# Security -----------------------------------------------------------------------------------------


def test_plain_http_download_url_off_loopback_is_refused():
    class Urls:
        def current(self) -> str:
            return "http://storage.example.com/exports/f.json.gz?X-Amz-Signature=abc"

        def refresh(self) -> str:
            raise AssertionError("no refresh expected")

    downloader = Downloader(timeout_seconds=1)
    with (
        pytest.raises(DownloadError, match="not https") as raised,
        downloader.open(Urls(), label="companies export 1"),
    ):
        pass
    assert "X-Amz-Signature" not in str(raised.value)


def test_no_secret_reaches_the_log_across_every_fault(tmp_path: Path):
    faults = Faults(
        server_errors=2,
        connection_resets=1,
        rate_limit_storms=1,
        failed_exports=1,
        expired_urls=2,
        dropped_downloads=2,
        urls_revoked_mid_download=1,
        truncated_files=1,
        corrupt_files=1,
    )
    with Sandbox(sandbox_config(faults=faults)) as sandbox:
        outcome = run_cli(
            tap_config(sandbox, **FOUR_DAYS),
            tmp_path,
            extra_env={"TAP_EXPORTS_LOGLEVEL": "DEBUG"},
        )
    assert outcome.returncode == 0, outcome.stderr[-3000:]
    assert all(count > 0 for count in faults.struck.values())
    for secret in (DEMO_KEY, "X-Amz-Signature", "X-Amz-Credential"):
        assert secret not in outcome.stderr


def _range(window: dict[str, str]) -> dict[str, str]:
    return {"start": window["start_date"], "end": window["end_date"]}


def _body_window(body: dict) -> tuple[str, str] | None:
    if "start_date" not in body:
        return None
    zone = ZoneInfo("America/New_York")
    return tuple(  # type: ignore[return-value]
        format_utc(datetime.fromisoformat(body[name]).replace(tzinfo=zone))
        for name in ("start_date", "end_date")
    )


def _run_and_kill(config: dict, tmp_path: Path, kill_after: int) -> list[dict]:
    """Run the tap and SIGKILL it right after the `kill_after`-th export creation."""
    seen: set[str] = set()

    def created_enough(message: dict) -> bool:
        if message["type"] == "STATE":
            for stream_state in message["value"]["bookmarks"].values():
                seen.update(entry["export_id"] for entry in stream_state.get(IN_FLIGHT, []))
        return len(seen) >= kill_after

    return run_and_signal(config, tmp_path, when=created_enough, signum=signal.SIGKILL).messages
