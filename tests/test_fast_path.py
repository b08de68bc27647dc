"""The fast RECORD path writes exactly what singer-sdk's per-record path writes.

Both paths run the same sync; their messages are compared after parsing, with only
`time_extracted` values, signposts and export ids set aside (they differ between any two
runs). STATE messages are compared apart, as the distinct bookmarks they carry in order:
the ones that only add an export id come whenever the scheduler's threads create one.
Where the SDK path is not a no-op (stream maps, deselected fields, a narrower
catalog schema, versioned full-table records), the fast path must step aside by itself.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tap_exports.sandbox import Sandbox
from tap_exports.sdk.streams import ExportStream
from tap_exports.sdk.tap import TapExports
from tests.setups.cometly import STREAMS, expected, tap_config
from tests.singer import ids, stream_records, sync


def comparable(messages: list[dict[str, Any]]) -> list[str]:
    """Canonical JSON text of each message, strict about types as a target would be
    (`true` is not `1`, `1` is not `1.0`), without what differs between any two runs.

    A STATE written because a scheduler thread created an export can show a field the
    stream has just declared before its bookmark moves, or not, as the threads' timing
    falls: the distinct bookmarks are compared without `declared_fields`, and the last
    STATE whole."""
    out: list[str] = []
    states: dict[str, None] = {}
    last = ""
    for message in messages:
        if message["type"] == "RECORD":
            assert message.pop("time_extracted", None), "time_extracted is written"
        if message["type"] == "STATE":
            for state in message["value"]["bookmarks"].values():
                state.pop("replication_key_signpost", None)
                state.pop("exports_in_flight", None)
            last = json.dumps(message, sort_keys=True)
            for state in message["value"]["bookmarks"].values():
                state.pop("declared_fields", None)
            states[json.dumps(message, sort_keys=True)] = None
        else:
            out.append(json.dumps(message, sort_keys=True))
    return [*out, *states, last]


def both_paths(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch, **kwargs: Any
) -> tuple[list[str], list[str]]:
    fast = sync(config, **kwargs).messages
    monkeypatch.setattr(ExportStream, "fast_path", False)
    sdk = sync(config, **kwargs).messages
    monkeypatch.setattr(ExportStream, "fast_path", True)
    return comparable(fast), comparable(sdk)


def record_messages(messages: list[str]) -> list[dict[str, Any]]:
    parsed = (json.loads(message) for message in messages)
    return [message for message in parsed if message["type"] == "RECORD"]


def select_catalog(config: dict[str, Any]) -> dict[str, Any]:
    return TapExports(config=config, parse_env_config=False).catalog_dict


def test_fast_path_output_equals_the_sdk_path(sandbox: Sandbox, monkeypatch):
    config = tap_config(sandbox, contacts_include_comet_tokens=True, window_days=3)
    fast, sdk = both_paths(config, monkeypatch)
    assert fast == sdk
    # The data holds records with undeclared fields: declared the same way on both paths.
    assert any("x_legacy_score" in r for r in expected(sandbox, "companies"))
    assert '"x_legacy_score"' in "".join(fast)


def test_fast_path_output_equals_the_sdk_path_when_undeclared_fields_are_dropped(
    sandbox: Sandbox, monkeypatch
):
    config = tap_config(sandbox, window_days=3, undeclared_fields="drop")
    fast, sdk = both_paths(config, monkeypatch)
    assert fast == sdk
    assert '"x_legacy_score"' not in "".join(fast)


def test_stream_maps_make_the_fast_path_step_aside(sandbox: Sandbox, monkeypatch):
    config = tap_config(
        sandbox,
        stream_maps={"companies": {"domain_upper": "domain.upper() if domain else None"}},
    )
    fast, sdk = both_paths(config, monkeypatch)
    assert fast == sdk
    companies = stream_records(record_messages(fast), "companies")
    assert companies and all("domain_upper" in record for record in companies)


def test_deselected_fields_make_the_fast_path_step_aside(sandbox: Sandbox, monkeypatch):
    config = tap_config(sandbox)
    catalog = select_catalog(config)
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == ["properties", "domain"]:
                metadata["metadata"]["selected"] = False
    fast, sdk = both_paths(config, monkeypatch, catalog=catalog)
    assert fast == sdk
    companies = stream_records(record_messages(fast), "companies")
    assert companies and all("domain" not in record for record in companies)


@pytest.mark.parametrize("undeclared_fields", ["evolve", "drop"])
def test_a_catalog_schema_narrower_than_ours_is_the_one_conformed_to(
    sandbox: Sandbox, monkeypatch, undeclared_fields: str
):
    config = tap_config(sandbox, undeclared_fields=undeclared_fields)
    catalog = select_catalog(config)
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] == "companies":
            del entry["schema"]["properties"]["name"]
            entry["metadata"] = [
                m for m in entry["metadata"] if m["breadcrumb"] != ["properties", "name"]
            ]
    fast, sdk = both_paths(config, monkeypatch, catalog=catalog)
    assert fast == sdk
    companies = stream_records(record_messages(fast), "companies")
    assert companies and all("name" not in record for record in companies)


def test_full_table_with_activate_version_gets_versioned_records(sandbox: Sandbox, monkeypatch):
    config = tap_config(sandbox, emit_activate_version_messages=True)
    catalog = select_catalog(config)
    for entry in catalog["streams"]:
        entry["replication_method"] = "FULL_TABLE"
    fast, sdk = both_paths(config, monkeypatch, catalog=catalog)
    fast_records, sdk_records = record_messages(fast), record_messages(sdk)
    assert fast_records and all("version" in message for message in fast_records)
    for message in fast_records + sdk_records:
        message.pop("version")  # each run has its own version number
    assert fast_records == sdk_records


def test_fast_path_keeps_state_after_the_records_it_covers(sandbox: Sandbox):
    result = sync(tap_config(sandbox, window_days=2))
    seen: dict[str, set] = {stream: set() for stream in STREAMS}
    for message in result.messages:
        if message["type"] == "RECORD":
            seen[message["stream"]].add(message["record"]["id"])
        elif message["type"] == "STATE":
            for stream, state in message["value"]["bookmarks"].items():
                bookmark = state.get("replication_key_value")
                if bookmark:
                    owed = ids(expected(sandbox, stream, end=bookmark))
                    assert set(owed) <= seen[stream], stream
