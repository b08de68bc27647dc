"""Record checks: what the decoder refuses, and what singer-sdk would leave unchanged."""

from __future__ import annotations

import logging

import pytest
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_exports.engine.records.validate import record_check, unchanged_by_conformance
from tap_exports.providers.cometly import CONTACTS, EVENTS

EVENT = {
    "id": 7,
    "event_time_utc": "2025-03-02T10:00:00Z",
    "event_name": "purchase",
    "amount": 12.5,
    "is_upsell": False,
    "touchpoints": [{"source": "email", "event_time_utc": "2025-03-02T09:00:00Z"}],
}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"id": None}, "primary key 'id' is missing"),
        ({"event_time_utc": None}, "replication key 'event_time_utc' is missing"),
        ({"event_time_utc": "soon"}, "is not a timestamp"),
        ({"amount": "12.50"}, "field 'amount' is str"),
        ({"is_upsell": 1}, "field 'is_upsell' is int"),
        ({"id": True}, "field 'id' is bool"),
    ],
)
def test_record_check_names_the_problem(change: dict, problem: str):
    check = record_check(EVENTS.schema, primary_keys=("id",), replication_key="event_time_utc")
    assert check(EVENT) is None
    assert problem in (check({**EVENT, **change}) or "")


@pytest.mark.parametrize(
    "record",
    [
        EVENT,
        {**EVENT, "x_new_field": 1},
        {**EVENT, "touchpoints": [{"source": "email", "x_nested_new": 1}]},
        {**EVENT, "touchpoints": None},
        {**EVENT, "is_upsell": None},
    ],
)
def test_unchanged_by_conformance_agrees_with_singer_sdk(record: dict):
    test = unchanged_by_conformance(EVENTS.schema)
    conformed = conform_record_data_types(
        "events", dict(record), EVENTS.schema, TypeConformanceLevel.RECURSIVE, logging.getLogger()
    )
    unchanged, unknown = test(record)
    stripped = {key: value for key, value in record.items() if key not in unknown}
    assert (unchanged and stripped == conformed) or (not unchanged and conformed != stripped)


def test_list_of_strings_needs_no_nested_check():
    unchanged, unknown = unchanged_by_conformance(CONTACTS.schema)(
        {"id": 1, "created_at": "2025-03-02T10:00:00Z", "comet_tokens": ["a", "b"]}
    )
    assert (unchanged, unknown) == (True, [])


def test_checks_stay_right_past_the_number_of_key_orders_remembered():
    check = record_check(EVENTS.schema, primary_keys=("id",), replication_key="event_time_utc")
    test = unchanged_by_conformance(EVENTS.schema)
    for n in range(3000):  # every line with a key of its own, as dynamic custom fields do
        record = {**EVENT, f"custom_{n}": n}
        assert check(record) is None
        assert test(record) == (True, [f"custom_{n}"])
    assert "field 'amount' is str" in (check({**EVENT, "custom_x": 1, "amount": "1"}) or "")
