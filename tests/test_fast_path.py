"""The fast RECORD path writes exactly what singer-sdk's per-record path writes.

Both paths run the same sync; their messages are compared after parsing, with only
`time_extracted` values set aside (both are "now"). Where the SDK path is not a no-op
(stream maps, deselected fields), the fast path must step aside by itself.
"""

from __future__ import annotations

from typing import Any

import pytest

from tap_exports.sandbox import Sandbox
from tap_exports.streams import ExportStream
from tap_exports.tap import TapExports
from tests.conftest import STREAMS, expected, ids, sync, tap_config


def comparable(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Set aside what differs between any two runs: clock readings and export ids."""
    out = []
    for message in messages:
        if message["type"] == "RECORD":
            assert message.pop("time_extracted", None), "time_extracted is written"
        if message["type"] == "STATE":
            for state in message["value"]["bookmarks"].values():
                state.pop("replication_key_signpost", None)
                for entry in state.get("exports_in_flight", []):
                    entry["export_id"] = "<id>"
        out.append(message)
    return out


def both_paths(
    config: dict[str, Any], monkeypatch: pytest.MonkeyPatch, **kwargs: Any
) -> tuple[list[dict], list[dict]]:
    fast = sync(config, **kwargs).messages
    monkeypatch.setattr(ExportStream, "fast_path", False)
    sdk = sync(config, **kwargs).messages
    monkeypatch.setattr(ExportStream, "fast_path", True)
    return comparable(fast), comparable(sdk)


def test_fast_path_output_equals_the_sdk_path(sandbox: Sandbox, monkeypatch):
    config = tap_config(sandbox, contacts_include_comet_tokens=True, window_days=3)
    fast, sdk = both_paths(config, monkeypatch)
    assert fast == sdk
    # The data holds records with undeclared fields: dropped the same way on both paths.
    assert any("x_legacy_score" in r for r in expected(sandbox, "companies"))
    assert not any("x_legacy_score" in m["record"] for m in fast if m["type"] == "RECORD")


def test_stream_maps_make_the_fast_path_step_aside(sandbox: Sandbox, monkeypatch):
    config = tap_config(
        sandbox,
        stream_maps={"companies": {"domain_upper": "domain.upper() if domain else None"}},
    )
    fast, sdk = both_paths(config, monkeypatch)
    assert fast == sdk
    companies = [m["record"] for m in fast if m["type"] == "RECORD" and m["stream"] == "companies"]
    assert all("domain_upper" in record for record in companies)


def test_deselected_fields_make_the_fast_path_step_aside(sandbox: Sandbox, monkeypatch):
    config = tap_config(sandbox)
    catalog = TapExports(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == ["properties", "domain"]:
                metadata["metadata"]["selected"] = False
    fast, sdk = both_paths(config, monkeypatch, catalog=catalog)
    assert fast == sdk
    companies = [m["record"] for m in fast if m["type"] == "RECORD" and m["stream"] == "companies"]
    assert companies and all("domain" not in record for record in companies)


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
