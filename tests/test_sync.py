"""End-to-end syncs over HTTP against the sandbox: exactly-once, state, resume, DST."""

from __future__ import annotations

import logging
import signal
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tap_exports.engine.errors import ConfigError
from tap_exports.engine.timestamps import parse_utc
from tap_exports.sandbox import DEMO_KEY, DataSpec, Sandbox, Space
from tests.setups.cometly import (
    END,
    REPLICATION_KEYS,
    STREAMS,
    expected,
    sandbox_config,
    tap_config,
)
from tests.singer import ids, run_and_signal, sync, sync_until_stopped


def test_full_sync_equals_the_sandbox_records_exactly(sandbox: Sandbox):
    result = sync(tap_config(sandbox))
    for stream in STREAMS:
        delivered = result.records(stream)
        assert ids(delivered) == ids(expected(sandbox, stream)), stream
        assert len({r["id"] for r in delivered}) == len(delivered), f"{stream} duplicates"


def test_records_keep_every_documented_field_and_unicode(sandbox: Sandbox):
    result = sync(tap_config(sandbox, contacts_include_comet_tokens=True))
    truth = {r["id"]: r for r in expected(sandbox, "contacts")}
    for record in result.records("contacts"):
        source = truth[record["id"]]
        assert record["name"] == source["name"]
        assert record["comet_tokens"] == source["comet_tokens"][:5]
        # A field no schema declares is kept, declared on the way (undeclared_fields).
        assert record.get("x_legacy_score") == source.get("x_legacy_score")
    assert any(r["name"] and not r["name"].isascii() for r in result.records("contacts"))


def test_records_outside_start_and_end_dates_are_not_delivered(sandbox: Sandbox):
    start, end = "2025-03-03T17:30:00Z", "2025-03-06T08:15:00Z"  # not on any edge
    result = sync(tap_config(sandbox, start_date=start, end_date=end, window_days=1))
    for stream in STREAMS:
        assert ids(result.records(stream)) == ids(expected(sandbox, stream, start, end)), stream


def test_state_is_emitted_after_each_window_at_its_end(sandbox: Sandbox):
    result = sync(tap_config(sandbox))
    event_bookmarks = [
        s["bookmarks"]["events"]["replication_key_value"]
        for s in result.states()
        if "events" in s.get("bookmarks", {})
        and "replication_key_value" in s["bookmarks"]["events"]
    ]
    assert len(set(event_bookmarks)) == 14  # one per local day
    assert event_bookmarks == sorted(event_bookmarks)
    assert result.final_state["bookmarks"]["events"] == {
        "replication_key": "event_time_utc",
        "replication_key_value": END,
        # The field the exports carry beyond the schema, for later runs to declare.
        "declared_fields": {"x_legacy_score": {"type": ["number", "null"]}},
    }


def test_second_run_with_final_state_emits_nothing_already_delivered(sandbox: Sandbox):
    first = sync(tap_config(sandbox))
    exports_before = sandbox.emulator.exports_created(DEMO_KEY)
    second = sync(tap_config(sandbox), state=first.final_state)
    for stream in STREAMS:
        assert second.records(stream) == []
    assert sandbox.emulator.exports_created(DEMO_KEY) == exports_before


def test_later_run_exports_only_what_is_new(sandbox: Sandbox):
    middle = "2025-03-08T05:00:00Z"
    first = sync(tap_config(sandbox, end_date=middle))
    second = sync(tap_config(sandbox), state=first.final_state)
    for stream in STREAMS:
        assert ids(second.records(stream)) == ids(expected(sandbox, stream, middle, END))


@pytest.mark.parametrize(
    ("zone", "start", "end"),
    [
        # US spring forward (2025-03-09, a 23-hour day) and fall back (2025-11-02, 25 hours).
        ("America/New_York", "2025-03-07T05:00:00Z", "2025-03-12T04:00:00Z"),
        ("America/New_York", "2025-10-31T04:00:00Z", "2025-11-05T05:00:00Z"),
        # Europe changes on other dates; Lord Howe shifts by 30 minutes.
        ("Europe/Berlin", "2025-10-24T22:00:00Z", "2025-10-28T23:00:00Z"),
        ("Australia/Lord_Howe", "2025-04-03T13:00:00Z", "2025-04-08T13:30:00Z"),
    ],
)
def test_dst_change_days_deliver_every_record_once(zone: str, start: str, end: str):
    data = DataSpec(start=_local_date(start, zone), days=6, events_per_day=30)
    config = sandbox_config(spaces=[Space(api_key=DEMO_KEY, timezone=zone, data=data)])
    with Sandbox(config) as sandbox:
        result = sync(
            tap_config(sandbox, timezone=zone, start_date=start, end_date=end, window_days=1)
        )
        for stream in STREAMS:
            delivered = result.records(stream)
            assert ids(delivered) == ids(expected(sandbox, stream, start, end)), stream
            assert len({r["id"] for r in delivered}) == len(delivered)


def test_records_at_local_midnight_and_one_second_before_are_delivered_once(sandbox: Sandbox):
    result = sync(tap_config(sandbox, window_days=1))
    zone = ZoneInfo("America/New_York")
    for stream in STREAMS:
        key = REPLICATION_KEYS[stream]
        local_times = [_local_hms(record[key], zone) for record in result.records(stream)]
        assert local_times.count((0, 0, 0)) == 14, stream
        assert local_times.count((23, 59, 59)) == 14, stream


def test_interrupted_backfill_resumes_from_emitted_state_without_loss(
    sandbox: Sandbox, tmp_path: Path
):
    bookmarks: set[str] = set()

    def fifth_events_bookmark(message: dict) -> bool:
        if message["type"] == "STATE":
            events = message["value"]["bookmarks"].get("events", {})
            if "replication_key_value" in events:
                bookmarks.add(events["replication_key_value"])
        return len(bookmarks) == 5

    # Killed mid-backfill, as a scheduler or the OOM killer would.
    first = run_and_signal(
        tap_config(sandbox, window_days=2),
        tmp_path,
        when=fifth_events_bookmark,
        signum=signal.SIGKILL,
    )
    assert first.last_state["bookmarks"]["events"]["replication_key_value"] < END

    second = sync(tap_config(sandbox, window_days=2), state=first.last_state)
    for stream in STREAMS:
        delivered = first.records(stream) + second.records(stream)
        assert sorted(set(ids(delivered))) == ids(expected(sandbox, stream)), stream
        assert len(delivered) == len(expected(sandbox, stream)), f"{stream} duplicates"


def _local_date(instant: str, zone: str) -> date:
    return parse_utc(instant).astimezone(ZoneInfo(zone)).date()


def _local_hms(stamp: str, zone: ZoneInfo) -> tuple[int, int, int]:
    local = parse_utc(stamp).astimezone(zone)
    return (local.hour, local.minute, local.second)


def test_start_after_the_horizon_exports_nothing_and_is_not_an_error(sandbox: Sandbox):
    result = sync(tap_config(sandbox, start_date="2099-01-01T00:00:00Z", end_date=None))
    assert all(result.records(stream) == [] for stream in STREAMS)
    assert sandbox.emulator.exports_created(DEMO_KEY) == 0


def test_fractional_bookmark_from_a_foreign_state_rounds_down_never_skips(sandbox: Sandbox):
    bookmark = "2025-03-14T04:00:00.500000Z"  # written by some other tool
    state = {
        "bookmarks": {
            stream: {"replication_key": key, "replication_key_value": bookmark}
            for stream, key in REPLICATION_KEYS.items()
        }
    }
    result = sync(tap_config(sandbox), state=state)
    for stream in STREAMS:
        delivered = set(ids(result.records(stream)))
        owed = set(ids(expected(sandbox, stream, "2025-03-14T04:00:01Z", END)))
        assert owed <= delivered, stream


def test_progress_lines_count_windows_and_records_and_end_with_a_summary(sandbox, caplog):
    with caplog.at_level(logging.INFO):
        sync(tap_config(sandbox, progress_interval_seconds=0))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("events: ")]
    progress = [line for line in lines if " windows, " in line]
    assert progress[0].startswith("events: 1/14 windows, ") and "left" in progress[0]
    total = len(expected(sandbox, "events"))
    assert progress[-1].startswith(f"events: 14/14 windows, {total:,} records; done in ")


@pytest.mark.parametrize("mode", ["record", "batch"])
def test_a_wrong_timezone_stops_the_run_naming_the_offsets_the_data_allows(mode, tmp_path):
    space = Space(api_key=DEMO_KEY, timezone="America/Los_Angeles")
    with Sandbox(sandbox_config(spaces=[space])) as sandbox:
        config = tap_config(sandbox, timezone="America/New_York")  # the space is in LA
        if mode == "batch":
            config["batch_config"] = {
                "encoding": {"format": "jsonl", "compression": "gzip"},
                "storage": {"root": tmp_path.as_uri()},
            }
        result, failure = sync_until_stopped(config)
        assert isinstance(failure, ConfigError) and failure.setting == "timezone"
        message = str(failure)
        assert "after what was asked for in America/New_York" in message
        # What 3 hours beyond proves (LA is UTC-08:00), no zone guessed from a bound.
        assert "a UTC offset from UTC-12:00 to UTC-08:00" in message
        assert "a zone at least -3h from it" in message
        for stream in STREAMS:  # no bookmark moved, and no export made ahead is kept
            state = result.final_state["bookmarks"].get(stream, {})
            assert "replication_key_value" not in state, stream
            assert "exports_in_flight" not in state, stream
        # With the space's zone, the run from that state delivers every record.
        config["timezone"] = "America/Los_Angeles"
        fixed = sync(config, state=result.final_state)
        for stream in STREAMS:
            if mode == "record":
                assert ids(fixed.records(stream)) == ids(expected(sandbox, stream)), stream
            assert fixed.final_state["bookmarks"][stream]["replication_key_value"] == END
