"""The pipelined scheduler against the sandbox: overlap, STATE order, budgets, restarts.

A pipelined run keeps exports of every selected stream in flight while the main
thread downloads; these tests check that this changes nothing a target or the next
run can see: each stream's records and bookmarks still come window by window, every
export id reaches STATE, and neither rate budget is ever exceeded.
"""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from typing import Any

from tap_exports.engine.timestamps import parse_utc
from tap_exports.sandbox import DEMO_KEY, Limits, Sandbox
from tests.setups.cometly import REPLICATION_KEYS, STREAMS, expected, sandbox_config, tap_config
from tests.singer import ids, run_and_signal, sync


def bookmark(message: dict[str, Any], stream: str) -> str | None:
    value: str | None = message["value"]["bookmarks"].get(stream, {}).get("replication_key_value")
    return value


def test_streams_overlap_yet_each_streams_state_advances_in_order():
    limits = Limits(create=5, status=30, period_seconds=1.0)  # the documented ratio
    with Sandbox(sandbox_config(limits=limits)) as sandbox:
        config = tap_config(sandbox, create_rate_limit=5, status_rate_limit=30, window_days=2)
        result = sync(config)
        for family in ("create", "status"):
            limiter = sandbox.emulator.limiter(DEMO_KEY, family)
            assert (limiter.refusals, limiter.violations) == (0, 0), family

    messages = result.messages
    # Overlap: exports of later streams were already created while companies downloaded.
    last_companies_record = max(
        i for i, m in enumerate(messages) if m["type"] == "RECORD" and m["stream"] == "companies"
    )
    assert any(
        m["type"] == "STATE"
        and m["value"]["bookmarks"].get("contacts", {}).get("exports_in_flight")
        for m in messages[:last_companies_record]
    )
    for stream in STREAMS:
        key = REPLICATION_KEYS[stream]
        current = None
        for message in messages:
            if message["type"] == "STATE":
                value = bookmark(message, stream)
                assert value is None or current is None or value >= current, stream
                current = value or current
            elif message["type"] == "RECORD" and message["stream"] == stream and current:
                # Nothing at or past a bookmark's window is emitted once it is saved.
                assert parse_utc(message["record"][key]) >= parse_utc(current), stream
        assert ids(result.records(stream)) == ids(expected(sandbox, stream)), stream


def test_every_created_export_reaches_state_before_its_records():
    with Sandbox(sandbox_config()) as sandbox:
        result = sync(tap_config(sandbox, window_days=3))
        created = sandbox.emulator.exports_created(DEMO_KEY)
    seen: set[str] = set()
    for message in result.messages:
        if message["type"] == "STATE":
            for state in message["value"]["bookmarks"].values():
                seen |= {entry["export_id"] for entry in state.get("exports_in_flight", [])}
    assert len(seen) == created
    assert all("exports_in_flight" not in s for s in result.final_state["bookmarks"].values())


def test_a_run_killed_with_exports_of_every_stream_in_flight_resumes_without_creating_them_again(
    tmp_path: Path,
):
    """Killed while companies downloads and later streams' exports wait: the next run
    re-attaches to all of them and loses nothing."""
    with Sandbox(sandbox_config()) as sandbox:
        config = tap_config(sandbox, window_days=2)

        def later_streams_in_flight(message: dict[str, Any]) -> bool:
            if message["type"] != "STATE":
                return False
            bookmarks = message["value"]["bookmarks"]
            return bool(bookmarks.get("contacts", {}).get("exports_in_flight")) and bool(
                bookmark(message, "companies")
            )

        first = run_and_signal(
            config, tmp_path, when=later_streams_in_flight, signum=signal.SIGKILL
        )
        in_flight = {
            entry["export_id"]
            for state in first.last_state["bookmarks"].values()
            for entry in state.get("exports_in_flight", [])
        }
        reads_before = dict(sandbox.emulator.status_reads)
        second = sync(config, state=first.last_state)
        assert in_flight
        for export_id in in_flight:  # re-attached: polled again by the second run
            before = reads_before.get(int(export_id), 0)  # killed before its first read?
            assert sandbox.emulator.status_reads[int(export_id)] > before
        for stream in STREAMS:
            delivered = set(ids(first.records(stream))) | set(ids(second.records(stream)))
            assert sorted(delivered) == ids(expected(sandbox, stream)), stream


def test_a_raised_limit_the_server_advertises_is_used_and_a_users_is_never_raised(caplog):
    raised = Limits(create=40, status=120, period_seconds=1.0)  # a quota raised on request
    with Sandbox(sandbox_config(limits=raised)) as sandbox:
        config = tap_config(sandbox, window_days=1)
        del config["create_rate_limit"], config["status_rate_limit"]  # the documented 5, 30
        with caplog.at_level(logging.INFO, logger="tap_exports.engine.http.budget"):
            sync(config)
        adopted = [r.getMessage() for r in caplog.records if "advertises" in r.getMessage()]
        assert sorted(adopted) == [  # once each, whichever budget answered first
            "budget 'create': the server advertises 40 requests per period; pacing at that "
            "(was 5 per 1s)",
            "budget 'status': the server advertises 120 requests per period; pacing at that "
            "(was 30 per 1s)",
        ]
        for family in ("create", "status"):
            limiter = sandbox.emulator.limiter(DEMO_KEY, family)
            assert (limiter.refusals, limiter.violations) == (0, 0), family
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="tap_exports.engine.http.budget"):
            few_days = {"end_date": "2025-03-03T05:00:00Z", "create_rate_limit": 3}
            sync(tap_config(sandbox, window_days=1, **few_days))  # 3: the user's
        raised_lines = [r.getMessage() for r in caplog.records if "'create'" in r.getMessage()]
        assert raised_lines == []  # 3 stays 3: an advertised 40 never raises it
