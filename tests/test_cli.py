"""The command line as users and Meltano call it: --about, --discover, --catalog, --test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tap_exports.sandbox import DEMO_KEY, Sandbox
from tests.setups.cometly import STREAMS, expected, sandbox_config, tap_config
from tests.singer import ids, parse_messages, run_cli


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "tap_exports", *args]
    return subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)


def test_about_lists_every_setting_and_marks_the_key_secret():
    about = json.loads(cli("--about", "--format=json").stdout)
    properties = about["settings"]["properties"]
    assert properties["api_key"]["secret"] is True
    assert properties["api_key"]["writeOnly"] is True
    for setting in ("start_date", "timezone", "window_days", "events_sources"):
        assert properties[setting]["description"]
    # What only some providers need is checked at start-up, naming the setting.
    assert set(about["settings"]["required"]) == {"api_key"}
    assert properties["timezone"]["description"].startswith("(cometly only)")
    assert properties["events_sources"]["description"].startswith("(cometly only)")
    # No schema default: singer-sdk would fill it in, and the key could go to the wrong host.
    assert "default" not in properties["api_url"]
    assert "default" not in properties["window_days"]


def test_discover_declares_three_incremental_streams(sandbox: Sandbox, tmp_path: Path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tap_config(sandbox)))
    catalog = json.loads(cli("--config", str(config), "--discover").stdout)
    streams = {entry["tap_stream_id"]: entry for entry in catalog["streams"]}
    assert set(streams) == {"companies", "contacts", "events"}
    keys = {name: entry["replication_key"] for name, entry in streams.items()}
    assert keys == {"companies": "created_at", "contacts": "created_at", "events": "event_time_utc"}
    assert all(entry["key_properties"] == ["id"] for entry in streams.values())
    assert sandbox.emulator.exports_created(DEMO_KEY) == 0  # discovery calls no API


def test_catalog_selection_exports_only_selected_streams(sandbox: Sandbox, tmp_path: Path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(tap_config(sandbox, end_date="2025-03-03T05:00:00Z")))
    catalog = json.loads(cli("--config", str(config), "--discover").stdout)
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] == "events"
    catalog_file = tmp_path / "catalog.json"
    catalog_file.write_text(json.dumps(catalog))
    outcome = cli("--config", str(config), "--catalog", str(catalog_file))
    assert outcome.returncode == 0
    streams = {m["stream"] for m in parse_messages(outcome.stdout) if m["type"] == "RECORD"}
    assert streams == {"events"}
    assert sandbox.emulator.exports_created(DEMO_KEY) == 2  # two days of events, nothing else


def test_state_file_resumes_from_its_bookmark(sandbox: Sandbox, tmp_path: Path):
    state = {
        "bookmarks": {
            stream: {"replication_key": key, "replication_key_value": "2025-03-14T04:00:00Z"}
            for stream, key in (
                ("companies", "created_at"),
                ("contacts", "created_at"),
                ("events", "event_time_utc"),
            )
        }
    }
    outcome = run_cli(tap_config(sandbox), tmp_path, state=state)
    assert outcome.returncode == 0
    messages = parse_messages(outcome.stdout)
    for stream in STREAMS:
        records = [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]
        # Exactly what lies after the bookmark (there is some), and nothing before it.
        assert ids(records) == ids(expected(sandbox, stream, start="2025-03-14T04:00:00Z"))
        assert records


def test_a_target_that_dies_mid_pipe_is_named_and_the_exit_is_not_zero(tmp_path):
    with Sandbox(sandbox_config()) as sandbox:
        config_file = tmp_path / "config.json"
        config_file.write_text(json.dumps(tap_config(sandbox)))
        process = subprocess.Popen(
            [sys.executable, "-m", "tap_exports", "--config", str(config_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None and process.stderr is not None
        for _ in range(3):  # the target reads a few messages, then dies
            process.stdout.readline()
        process.stdout.close()
        stderr = process.stderr.read()
        assert process.wait(timeout=60) == 1
    assert "The target closed the pipe the tap writes to" in stderr
    assert "Traceback" not in stderr
