"""Fields the exports carry beyond the schema (`undeclared_fields`), and inferred schemas.

`evolve` (the default) declares a new field in a SCHEMA message before the first record
holding it and remembers it in state; `drop` leaves it out with singer-sdk's warning.
The record paths themselves (fast, SDK, BATCH) are covered per provider with a real
target in test_sdk_features; here: state, selection, logging, the ledger's rules, and
what discovery hands every SDK path.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from jsonschema import Draft7Validator
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers._typing import _warn_unmapped_properties

from tap_exports.engine.records.bulk import LineSorter
from tap_exports.engine.records.evolve import FieldLedger, lines_with_new_keys, remember, remembered
from tap_exports.engine.records.rows import row_type
from tap_exports.providers.cometly import EVENTS
from tap_exports.sandbox import Sandbox
from tap_exports.sdk.tap import TapExports
from tests.setups import cometly as cometly_setup
from tests.setups import cornect as cornect_setup
from tests.setups import userpilot as userpilot_setup
from tests.setups.cometly import tap_config
from tests.singer import SyncResult, sync

FIELD = "x_legacy_score"


def schemas(result: SyncResult, stream: str) -> list[dict[str, Any]]:
    return [m["schema"] for m in result.messages if m["type"] == "SCHEMA" and m["stream"] == stream]


def test_a_new_field_is_declared_before_the_first_record_holding_it(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
):
    with caplog.at_level(logging.INFO):
        result = sync(tap_config(sandbox))
    for stream in ("companies", "contacts", "events"):
        messages = [m for m in result.messages if m.get("stream") == stream]
        first_holding = next(
            i for i, m in enumerate(messages) if m["type"] == "RECORD" and FIELD in m["record"]
        )
        declared = [
            i
            for i, m in enumerate(messages)
            if m["type"] == "SCHEMA" and FIELD in m["schema"]["properties"]
        ]
        assert declared and declared[0] < first_holding, stream
        assert messages[declared[0]]["schema"]["properties"][FIELD] == {"type": ["number", "null"]}
    announced = [r.getMessage() for r in caplog.records if "new field" in r.getMessage()]
    assert len(announced) == 3  # one line per stream and field
    assert not any("not found in catalog schema" in r.getMessage() for r in caplog.records)


def test_a_later_run_declares_the_field_from_its_first_schema(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
):
    first = sync(tap_config(sandbox, end_date="2025-03-05T05:00:00Z"))
    state = first.final_state
    assert remembered(state["bookmarks"]["companies"]) == {FIELD: {"type": ["number", "null"]}}
    with caplog.at_level(logging.INFO):
        second = sync(tap_config(sandbox), state=state)
    (only,) = schemas(second, "companies")  # declared at once, no change on the way
    assert FIELD in only["properties"]
    assert "declared by an earlier run" in caplog.text
    assert remembered(second.final_state["bookmarks"]["companies"]) == {
        FIELD: {"type": ["number", "null"]}
    }


def test_a_field_the_catalog_deselects_stays_out(sandbox: Sandbox):
    config = tap_config(sandbox)
    catalog = TapExports(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:  # a catalog that lists the field, deselected
        entry["schema"]["properties"][FIELD] = {"type": ["number", "null"]}
        entry["metadata"].append(
            {"breadcrumb": ["properties", FIELD], "metadata": {"selected": False}}
        )
    result = sync(config, catalog=catalog)
    for stream in ("companies", "contacts", "events"):
        assert result.records(stream), stream
        assert all(FIELD not in record for record in result.records(stream)), stream
        assert all(FIELD not in schema["properties"] for schema in schemas(result, stream))


def test_a_field_left_out_of_the_catalog_schema_is_not_declared_again(sandbox: Sandbox):
    config = tap_config(sandbox)
    catalog = TapExports(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] == "companies":
            del entry["schema"]["properties"]["name"]
    result = sync(config, catalog=catalog)
    companies = result.records("companies")
    assert companies and all("name" not in record for record in companies)
    assert any(FIELD in record for record in companies)


def test_drop_leaves_the_field_out_with_one_warning(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
):
    _warn_unmapped_properties.cache_clear()  # singer-sdk warns once per process
    result = sync(tap_config(sandbox, undeclared_fields="drop"))
    for stream in ("companies", "contacts", "events"):
        assert all(FIELD not in record for record in result.records(stream)), stream
        assert "declared_fields" not in result.final_state["bookmarks"][stream]
    assert "not found in catalog schema" in caplog.text


def test_an_unknown_policy_is_a_config_error_naming_the_setting(sandbox: Sandbox):
    with pytest.raises(ConfigValidationError) as failure:
        sync(tap_config(sandbox, undeclared_fields="keep"))
    assert any("keep" in error for error in failure.value.errors)


def test_state_never_overrides_a_documented_type(sandbox: Sandbox):
    state = {
        "bookmarks": {
            "events": {"declared_fields": {"amount": {"type": ["string", "null"]}, "z": {}}}
        }
    }
    result = sync(tap_config(sandbox), state=state)
    first = schemas(result, "events")[0]["properties"]
    assert first["amount"] == EVENTS.schema["properties"]["amount"]
    assert "z" in first  # a field only state knows is declared from the start


def test_a_new_field_is_found_beside_an_undeclared_key_inside_an_object():
    rows = row_types({"meta": {"type": "object", "properties": {"a": {"type": "integer"}}}})
    sorter = LineSorter(rows, None, None, on_unknown=lambda keys: None)
    lines = [b'{"id":1,"meta":{"a":1,"z":2}}', b'{"id":2,"meta":{"a":1},"foo":5}']
    plan = sorter.sort(lines)
    assert sorter.dropped and plan is not lines
    assert lines_with_new_keys(lines, frozenset({"id", "meta"})) == [lines[1]]


def row_types(properties: dict[str, Any]) -> Any:
    schema = {"type": "object", "properties": {"id": {"type": "integer"}, **properties}}
    built = [
        row_type(schema, primary_keys=("id",), replication_key=None, exact=True, drop_unknown=drop)
        for drop in (False, True)
    ]
    return tuple(built)


# --- the ledger's rules ----------------------------------------------------------------


def test_the_ledger_types_new_fields_from_their_values_and_waits_for_a_value():
    ledger = FieldLedger({"id": {"type": "integer"}}, widenable=(), declare_new=True)
    changes = ledger.changes(
        [
            {"id": 1, "utm": {"source": "ad"}, "tags": ["a"], "at": "2025-03-01T00:00:00Z"},
            {"id": 2, "later": None, "n": 1},
            {"id": 3, "n": 2.5},
        ]
    )
    assert changes == {
        "utm": {"type": ["object", "null"], "additionalProperties": True},
        "tags": {"type": ["array", "null"], "items": {"type": ["string", "null"]}},
        "at": {"type": ["string", "null"], "format": "date-time"},
        "n": {"type": ["number", "null"]},
    }
    ledger.declare(changes)
    assert ledger.changes([{"id": 4, "n": 3, "utm": None}]) == {}


def test_only_inferred_or_declared_fields_widen_and_documented_ones_never_do():
    ledger = FieldLedger(
        {"id": {"type": "integer"}, "score": {"type": ["integer", "null"]}},
        widenable=["score"],
        declare_new=False,
    )
    assert ledger.changes([{"id": 1.5, "score": 2.5, "new": 1}]) == {
        "score": {"type": ["number", "null"]}
    }


def test_state_keeps_what_each_run_declared():
    state: dict[str, Any] = {"replication_key_value": "2025-03-01T00:00:00Z"}
    remember(state, {"a": {"type": ["string", "null"]}})
    remember(state, {"b": {"type": ["number", "null"]}})
    assert remembered(state) == {
        "a": {"type": ["string", "null"]},
        "b": {"type": ["number", "null"]},
    }
    assert remembered({"declared_fields": "garbage"}) == {}


# --- discovery -------------------------------------------------------------------------


def objects_are_readable(schema: Any) -> bool:
    """Every object an array holds declares `properties` (singer-sdk's conformance reads
    them), and every object declares `properties` or `additionalProperties`."""
    if not isinstance(schema, dict):
        return True
    types = schema.get("type", [])
    if "object" in types and "properties" not in schema and "additionalProperties" not in schema:
        return False
    items = schema.get("items")
    if isinstance(items, dict) and "object" in items.get("type", []) and "properties" not in items:
        return False
    return all(objects_are_readable(value) for value in schema.get("properties", {}).values()) and (
        objects_are_readable(items)
    )


@pytest.mark.parametrize("provider", ["cometly", "userpilot", "cornect"])
def test_every_discovered_schema_is_one_every_sdk_path_can_use(provider: str):
    setup = {"cometly": cometly_setup, "userpilot": userpilot_setup, "cornect": cornect_setup}
    with Sandbox(setup[provider].sandbox_config()) as sandbox:
        config = setup[provider].tap_config(sandbox)
        catalog = TapExports(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        Draft7Validator.check_schema(entry["schema"])
        assert objects_are_readable(entry["schema"]), json.dumps(entry["schema"])[:500]


def test_cornect_discovery_types_instants_and_ids_from_the_sample():
    with Sandbox(cornect_setup.sandbox_config()) as sandbox:
        catalog = TapExports(
            config=cornect_setup.tap_config(sandbox), parse_env_config=False
        ).catalog_dict
    (entry,) = catalog["streams"]
    properties = entry["schema"]["properties"]
    assert properties["created_at"] == {"type": ["string", "null"], "format": "date-time"}
    assert properties["updated_at"]["format"] == "date-time"
    assert properties["id"] == {"type": "string"}  # the sample's ids are UUIDs
    assert properties["naics_code"]["type"] == ["string", "null"]  # a code, not a number
