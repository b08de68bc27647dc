"""What goes wrong: a clear one-line error, a non-zero exit, and no bookmark past data
that was not delivered. Faults come from the sandbox, over real HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tap_exports.engine.errors import DownloadError, ExportFailedError, ExportTimeoutError
from tap_exports.sandbox import DEMO_KEY, INACTIVE_KEY, Faults, Limits, Sandbox
from tap_exports.sdk.tap import TapExports
from tests.setups.cometly import STREAMS, expected, sandbox_config, tap_config
from tests.singer import ids, parse_messages, run_cli, sync

ONE_DAY = {"start_date": "2025-03-02T05:00:00Z", "end_date": "2025-03-03T05:00:00Z"}


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "| ERROR" in line]


def test_unknown_api_key_fails_with_401_and_names_the_setting(sandbox: Sandbox, tmp_path: Path):
    outcome = run_cli(tap_config(sandbox, api_key="wrong-key", **ONE_DAY), tmp_path)
    assert outcome.returncode == 1
    last = error_lines(outcome.stderr)[-1]
    assert "answered 401: Unauthenticated." in last
    assert "'api_key'" in last
    assert "wrong-key" not in outcome.stderr
    assert "Traceback" not in outcome.stderr


def test_inactive_subscription_fails_with_403(sandbox: Sandbox, tmp_path: Path):
    outcome = run_cli(tap_config(sandbox, api_key=INACTIVE_KEY, **ONE_DAY), tmp_path)
    assert outcome.returncode == 1
    assert "answered 403: Your Cometly subscription is inactive." in outcome.stderr
    assert "subscription is inactive" in error_lines(outcome.stderr)[-1]


def test_rejected_request_shows_the_api_message(sandbox: Sandbox, tmp_path: Path):
    config = tap_config(sandbox, events_fields=["not_a_field"], **ONE_DAY)
    outcome = run_cli(config, tmp_path)
    assert outcome.returncode == 1
    last = error_lines(outcome.stderr)[-1]
    assert "events window [2025-03-02T05:00:00Z, 2025-03-03T05:00:00Z): POST " in last
    assert "answered 422: The selected fields.0 is invalid." in last


@pytest.mark.parametrize(
    ("override", "setting"),
    [
        ({"timezone": "Mars/Olympus_Mons"}, "timezone"),
        ({"end_date": "2025-02-01T00:00:00Z"}, "end_date"),
        ({"events_sources": ["google_ads"]}, "events_attribution_model"),
        ({"events_event_names": ["purchase", "purchase"]}, "events_event_names"),
        ({"window_days": 0}, "window_days"),
    ],
)
def test_bad_setting_fails_at_start_naming_it(
    sandbox: Sandbox, tmp_path: Path, override: dict, setting: str
):
    outcome = run_cli(tap_config(sandbox, **override), tmp_path)
    assert outcome.returncode == 1
    assert f"setting '{setting}'" in outcome.stderr
    assert sandbox.emulator.exports_created(DEMO_KEY) == 0


def test_missing_required_setting_fails_at_start(sandbox: Sandbox, tmp_path: Path):
    config = tap_config(sandbox)
    del config["timezone"]
    outcome = run_cli(config, tmp_path)
    assert outcome.returncode == 1
    assert "setting 'timezone': is required" in outcome.stderr
    assert sandbox.emulator.exports_created(DEMO_KEY) == 0


def test_expired_download_url_is_refreshed_from_the_status_endpoint():
    with Sandbox(sandbox_config(faults=Faults(expired_urls=2))) as sandbox:
        result = sync(tap_config(sandbox))
        assert sandbox.config.faults.struck == {"expired_urls": 2}
        for stream in STREAMS:
            assert ids(result.records(stream)) == ids(expected(sandbox, stream))


def test_failed_export_is_recreated_not_repolled():
    with Sandbox(sandbox_config(faults=Faults(failed_exports=1))) as sandbox:
        sandbox.config.faults.struck.clear()
        result = sync(tap_config(sandbox, **ONE_DAY))
        # One window per stream plus the one re-created export.
        assert sandbox.emulator.exports_created(DEMO_KEY) == len(STREAMS) + 1
        assert sandbox.config.faults.struck == {"failed_exports": 1}
        for stream in STREAMS:
            assert ids(result.records(stream)) == ids(expected(sandbox, stream, **_range()))


def test_export_failing_every_attempt_stops_without_advancing_state(tmp_path: Path):
    with Sandbox(sandbox_config(faults=Faults(failed_exports=100))) as sandbox:
        with pytest.raises(ExportFailedError, match="failed 2 times"):
            sync(tap_config(sandbox, max_export_attempts=2, **ONE_DAY))
        assert sandbox.config.faults.struck["failed_exports"] >= 2
        outcome = run_cli(tap_config(sandbox, max_export_attempts=2, **ONE_DAY), tmp_path)
        assert outcome.returncode == 1
        assert _bookmarks(outcome.stdout) == {}


def test_stuck_export_is_recreated_then_fails_naming_export_and_window():
    config = sandbox_config(faults=Faults(stuck_exports=100))
    with Sandbox(config) as sandbox, pytest.raises(ExportTimeoutError) as raised:
        sync(tap_config(sandbox, export_timeout_seconds=0.2, **ONE_DAY))
    assert sandbox.emulator.exports_created(DEMO_KEY, "companies") == 3  # max_export_attempts
    assert sandbox.config.faults.struck["stuck_exports"] >= 3
    message = str(raised.value)
    window = "[2025-03-02T05:00:00Z, 2025-03-03T05:00:00Z)"
    last = max(i for i, (stream, _) in enumerate(sandbox.emulator.created) if stream == "companies")
    last_id = 1001 + last  # the sandbox numbers exports from 1001 in creation order
    assert f"companies export {last_id} for window {window}: still running after 0.2s" in message
    assert "export_timeout_seconds" in message


def test_stuck_export_is_recreated_and_the_sync_completes():
    with Sandbox(sandbox_config(faults=Faults(stuck_exports=1))) as sandbox:
        result = sync(tap_config(sandbox, export_timeout_seconds=0.3, **ONE_DAY))
        assert sandbox.emulator.exports_created(DEMO_KEY) == len(STREAMS) + 1
        assert sandbox.config.faults.struck == {"stuck_exports": 1}
        for stream in STREAMS:
            assert ids(result.records(stream)) == ids(expected(sandbox, stream, **_range()))


def test_file_truncated_every_time_stops_without_advancing_state(tmp_path: Path):
    with Sandbox(sandbox_config(faults=Faults(truncated_files=100))) as sandbox:
        with pytest.raises(DownloadError, match="truncated download"):
            sync(tap_config(sandbox, **ONE_DAY))
        assert sandbox.config.faults.struck["truncated_files"] >= 3  # every download attempt
        outcome = run_cli(tap_config(sandbox, **ONE_DAY), tmp_path)
        assert outcome.returncode == 1
        assert _bookmarks(outcome.stdout) == {}
        # Given up on: the next run creates a new export instead of re-attaching this one.
        states = [m["value"] for m in parse_messages(outcome.stdout) if m["type"] == "STATE"]
        assert "exports_in_flight" not in states[-1]["bookmarks"]["companies"]


def test_server_errors_are_retried():
    with Sandbox(sandbox_config(faults=Faults(server_errors=2))) as sandbox:
        result = sync(tap_config(sandbox, **ONE_DAY))
        assert sandbox.config.faults.struck == {"server_errors": 2}
        assert ids(result.records("companies")) == ids(expected(sandbox, "companies", **_range()))


def test_documented_rate_limits_are_never_exceeded():
    """At the documented 5 creates / 30 reads (per second here), no request is refused."""
    limits = Limits(create=5, status=30, period_seconds=1.0)
    with Sandbox(sandbox_config(limits=limits)) as sandbox:
        config = tap_config(sandbox, create_rate_limit=5, status_rate_limit=30, window_days=2)
        config["start_date"], config["end_date"] = "2025-03-01T05:00:00Z", "2025-03-05T05:00:00Z"
        sync(config)
        for family in ("create", "status"):
            assert sandbox.emulator.limiter(DEMO_KEY, family).refusals == 0


def test_429_retry_after_is_obeyed_exactly():
    """Another client has used the key's create budget: the tap's first create gets a
    429, waits the Retry-After it was given, sends nothing during the hold, and the
    data still arrives whole."""
    limits = Limits(create=2, status=30, period_seconds=2.0)
    with Sandbox(sandbox_config(limits=limits)) as sandbox:
        other_client = requests.Session()
        other_client.headers["Authorization"] = f"Bearer {DEMO_KEY}"
        body = {"start_date": "2025-01-01 00:00:00", "end_date": "2025-01-02 00:00:00"}
        for _ in range(limits.create):
            other_client.post(f"{sandbox.api_url}/companies/exports", json=body).raise_for_status()
        config = tap_config(sandbox, create_rate_limit=2, rate_limit_period_seconds=2.0)
        result = sync({**config, **ONE_DAY})
        creates = sandbox.emulator.limiter(DEMO_KEY, "create")
        assert creates.refusals >= 1
        assert creates.violations == 0
        for stream in STREAMS:
            assert ids(result.records(stream)) == ids(expected(sandbox, stream, **_range()))


def test_no_secret_reaches_the_log_even_at_debug(sandbox: Sandbox, tmp_path: Path):
    sandbox.config.faults.expired_urls = 1
    outcome = run_cli(
        tap_config(sandbox, **ONE_DAY), tmp_path, extra_env={"TAP_EXPORTS_LOGLEVEL": "DEBUG"}
    )
    assert outcome.returncode == 0, outcome.stderr[-2000:]
    assert "/exports/" in outcome.stderr  # downloads are logged, by path
    assert "X-Amz-Signature" not in outcome.stderr
    assert "X-Amz-Credential" not in outcome.stderr
    assert DEMO_KEY not in outcome.stderr


def _range() -> dict[str, str]:
    return {"start": ONE_DAY["start_date"], "end": ONE_DAY["end_date"]}


def _bookmarks(stdout: str) -> dict:
    states = [m["value"] for m in parse_messages(stdout) if m["type"] == "STATE"]
    if not states:
        return {}
    return {
        stream: state["replication_key_value"]
        for stream, state in states[-1].get("bookmarks", {}).items()
        if "replication_key_value" in state
    }


def test_an_export_whose_urls_stay_refused_is_created_again_in_the_same_run():
    """Every URL of the first export comes out expired (the initial one, and the three
    refreshes of each of three download attempts): a new export, with new URLs, delivers
    the window in the same run."""
    with Sandbox(sandbox_config(faults=Faults(expired_urls=10))) as sandbox:
        config = tap_config(sandbox, **ONE_DAY)
        catalog = TapExports(config=config, parse_env_config=False).catalog_dict
        for entry in catalog["streams"]:
            for metadata in entry["metadata"]:
                if metadata["breadcrumb"] == []:
                    metadata["metadata"]["selected"] = entry["tap_stream_id"] == "companies"
        result = sync(config, catalog=catalog)
        assert sandbox.config.faults.struck == {"expired_urls": 10}
        assert sandbox.emulator.exports_created(DEMO_KEY, "companies") == 2
        assert ids(result.records("companies")) == ids(expected(sandbox, "companies", **_range()))
