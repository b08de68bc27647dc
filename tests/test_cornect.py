"""The tap against the Cornect sandbox, over real HTTP: every matching company once, paid once.

Exports finish in a few hundredths of a second and rate periods last one second, so
the documented per-minute limits hold per second. Companies are compared with the
sandbox's own matching set, field by field (the export's undocumented extra field is
not in the inferred schema, so it is left out).
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_exports.engine.errors import ConfigError, OutOfCreditsError, PermissionDeniedError
from tap_exports.sandbox import Faults, Sandbox
from tap_exports.sandbox.cornect.config import (
    CORNECT_DEMO_LIST,
    CORNECT_EMPTY_LIST,
    CORNECT_EXPIRED_TOKEN,
    CORNECT_LEGACY_TOKEN,
    CORNECT_READ_TOKEN,
    CORNECT_REMOVED_TOKEN,
    CornectData,
    CornectToken,
    default_tokens,
)
from tap_exports.sandbox.cornect.data import SCORE_FIELD
from tests.setups.cornect import GERMANY, TOKEN, by_id, sandbox_config, tap_config, truth
from tests.singer import discover, run_and_signal, run_cli, sync, sync_until_stopped


@pytest.fixture
def cornect() -> Iterator[Sandbox]:
    with Sandbox(sandbox_config()) as running:
        yield running


@pytest.mark.parametrize("export_format", ["json", "csv"])
def test_a_search_snapshot_is_exactly_the_matching_set(cornect: Sandbox, export_format: str):
    result = sync(tap_config(cornect, search_filters=GERMANY, export_format=export_format))
    expected = truth(cornect, GERMANY, export_format)
    assert 0 < len(expected) < 300
    assert by_id(result.records("companies")) == by_id(expected)
    # Hostile cells survive CSV: commas, quotes and line breaks in names.
    assert any("\n" in (c["name"] or "") for c in expected) or export_format == "json"
    # The snapshot is complete: forgotten; what its exports held is remembered, and the
    # field they carried beyond the schema.
    assert set(result.final_state["bookmarks"]["companies"]) == {"exported", "declared_fields"}


def test_hostile_csv_cells_round_trip_for_every_company(cornect: Sandbox):
    result = sync(tap_config(cornect, export_format="csv"))
    expected = truth(cornect, {}, "csv")
    assert any(any(ch in (c["name"] or "") for ch in ',"\n') for c in expected)
    assert by_id(result.records("companies")) == by_id(expected)


def test_a_saved_list_as_ndjson_and_gzip_is_delivered_whole():
    with Sandbox(sandbox_config(json_layout="ndjson", gzip=True)) as sandbox:
        config = tap_config(sandbox, list_id=CORNECT_DEMO_LIST, max_credits=10_000)
        del config["search_filters"]
        result = sync(config)
        listed = set(sandbox.emulator.saved_list(CORNECT_DEMO_LIST))
        assert set(by_id(result.records("companies"))) == listed and len(listed) == 40


def test_an_empty_list_and_an_empty_search_are_zero_rows_not_errors(cornect: Sandbox):
    config = tap_config(cornect, list_id=CORNECT_EMPTY_LIST, max_credits=10_000)
    del config["search_filters"]
    assert sync(config).records("companies") == []
    nobody = tap_config(cornect, search_filters={"countries": ["Atlantis"]})
    assert sync(nobody).records("companies") == []
    assert cornect.emulator.created == []  # 400 no_candidates for the list, no create for Atlantis


def test_a_second_run_costs_nothing(cornect: Sandbox):
    before = cornect.emulator.balance(TOKEN)
    new = len([c for c in truth(cornect, {}) if c["id"] not in cornect.emulator.unlocked(TOKEN)])
    first = sync(tap_config(cornect))
    assert before - cornect.emulator.balance(TOKEN) == new
    second = sync(tap_config(cornect))
    assert before - cornect.emulator.balance(TOKEN) == new
    assert [c for _, _, c in cornect.emulator.created] == [new, 0]
    assert by_id(first.records("companies")) == by_id(second.records("companies"))


def test_a_daily_rerun_needs_no_budget_for_companies_exported_before(cornect: Sandbox):
    first = sync(tap_config(cornect, max_credits=300))
    state = first.final_state
    # Unchanged set, a budget far below its size: the companies exported before are left
    # out of the worst case (listed with the free search), so the run goes ahead.
    again = sync(tap_config(cornect, max_credits=10), state=state)
    assert by_id(again.records("companies")) == by_id(first.records("companies"))
    assert [charged for _, _, charged in cornect.emulator.created] == [240, 0]
    # Without the state, the same budget stops before creating anything.
    with pytest.raises(ConfigError, match="max_credits"):
        sync(tap_config(cornect, max_credits=10))
    assert len(cornect.emulator.created) == 2


def test_exports_remembered_for_another_workspace_do_not_lower_the_estimate():
    other = CornectToken(
        "cornect_sandbox_other", workspace_id="0c6f3a1e-0000-4000-8000-000000000001"
    )
    with Sandbox(sandbox_config(tokens=[*default_tokens(), other])) as sandbox:
        state = sync(tap_config(sandbox, max_credits=300)).final_state
        # The same state, a token of another workspace: nothing there is exported yet.
        with pytest.raises(ConfigError, match="max_credits"):
            sync(tap_config(sandbox, api_key=other.key, max_credits=10), state=state)
        assert len(sandbox.emulator.created) == 1


def test_too_low_max_credits_stops_before_creating_anything(cornect: Sandbox, tmp_path: Path):
    before = cornect.emulator.balance(TOKEN)
    done = run_cli(tap_config(cornect, max_credits=10), tmp_path)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if "max_credits" in line]
    assert len(lines) == 1, done.stderr
    assert "up to 300 credits" in lines[0] and "balance: 100,000" in lines[0]
    assert "RECORD" not in done.stdout
    assert cornect.emulator.created == [] and cornect.emulator.balance(TOKEN) == before


def test_a_balance_too_low_stops_with_402_and_delivers_nothing():
    with Sandbox(sandbox_config(balance=5)) as sandbox:
        result, failure = sync_until_stopped(tap_config(sandbox))
        assert isinstance(failure, OutOfCreditsError)
        assert "402 insufficient_balance" in str(failure) and "top up" in str(failure)
        assert result.records("companies") == []
        assert sandbox.emulator.created == [] and sandbox.emulator.balance(TOKEN) == 5


def test_a_partial_charge_does_not_end_as_success():
    with Sandbox(sandbox_config(balance=5, short_balance="partial")) as sandbox:
        result, failure = sync_until_stopped(tap_config(sandbox))
        assert isinstance(failure, OutOfCreditsError)
        assert "left out" in str(failure) and "none of it is delivered" in str(failure)
        assert result.records("companies") == []
        # The part is still to do: the next run exports it again.
        snapshot = result.final_state["bookmarks"]["companies"]["snapshot"]
        assert (
            snapshot["done"] == []
            and "exports_in_flight" not in result.final_state["bookmarks"]["companies"]
        )


@pytest.mark.parametrize(
    ("token", "code"),
    [
        (CORNECT_EXPIRED_TOKEN, "TOKEN_EXPIRED"),
        (CORNECT_LEGACY_TOKEN, "TOKEN_NOT_WORKSPACE_BOUND"),
        (CORNECT_REMOVED_TOKEN, "NOT_WORKSPACE_MEMBER"),
        ("cornect_never_issued", "INVALID_TOKEN"),
        ("not-a-cornect-token", "INVALID_TOKEN_FORMAT"),
    ],
)
def test_every_auth_error_is_one_line_and_exit_1(
    cornect: Sandbox, tmp_path: Path, token: str, code: str
):
    done = run_cli(tap_config(cornect, api_key=token), tmp_path)
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1 and f"401 {code}" in errors[0] and "api_key" in errors[0], errors
    assert token not in done.stderr
    assert cornect.emulator.created == []


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"search_filters": {"countries": "Germany"}}, "422: body.countries"),
        ({"search_filters": {"headcount": 5}}, "check 'search_filters'"),
        ({"list_id": "7d1c7a52-0000-4000-8000-000000000000"}, "setting 'list_id'"),
    ],
)
def test_refused_requests_are_one_line_naming_what_to_fix(
    cornect: Sandbox, tmp_path: Path, overrides: dict[str, Any], words: str
):
    config = tap_config(cornect, **overrides)
    if "list_id" in overrides:
        del config["search_filters"]
    done = run_cli(config, tmp_path)
    assert done.returncode == 1
    # (singer-sdk adds its own "An unhandled error occurred while syncing" line.)
    errors = [
        line
        for line in done.stderr.splitlines()
        if "ERROR" in line and "An unhandled error" not in line
    ]
    assert len(errors) == 1 and words in errors[0], done.stderr
    assert "RECORD" not in done.stdout and cornect.emulator.created == []


def test_a_read_token_cannot_create_and_says_so(cornect: Sandbox):
    result, failure = sync_until_stopped(tap_config(cornect, api_key=CORNECT_READ_TOKEN))
    assert isinstance(failure, PermissionDeniedError)
    assert "403 INSUFFICIENT_SCOPE" in str(failure) and "read_write token" in str(failure)
    assert result.records("companies") == []


def test_invalid_settings_are_refused_before_any_request(cornect: Sandbox):
    for overrides, setting in [
        ({"max_credits": None}, "max_credits"),
        ({"list_id": CORNECT_DEMO_LIST}, "list_id"),
        ({"search_filters": None}, "search_filters"),
        ({"export_format": "parquet"}, "export_format"),
        ({"search_filters": {"employee_count_min": "50"}}, "search_filters"),
    ]:
        with pytest.raises(ConfigValidationError) as refused:
            sync(tap_config(cornect, **overrides))
        assert setting in str(refused.value.errors)
    assert cornect.emulator.created == []


def test_a_25000_company_set_is_split_into_3_exports_none_capped_none_paid_twice():
    data = CornectData(companies=25_000, employee_count_null_share=0.02)
    with Sandbox(sandbox_config(data=data)) as sandbox:
        emulator = sandbox.emulator
        unlocked = set(emulator.unlocked(TOKEN))
        result = sync(tap_config(sandbox))
        delivered = by_id(result.records("companies"))
        assert set(delivered) == {c["id"] for c in emulator.companies(TOKEN)}
        created = emulator.created
        assert len(created) == 3
        for _, body, _ in created:
            assert len(emulator.matching(TOKEN, body["search_filters"])) <= 10_000
        assert sum(charged for _, _, charged in created) == len(set(delivered) - unlocked)


def test_one_value_over_the_cap_is_cut_along_another_dimension():
    data = CornectData(companies=12_000, employee_count_null_share=0.0, same_size_share=0.9)
    with Sandbox(sandbox_config(data=data)) as sandbox:
        result = sync(tap_config(sandbox))
        assert set(by_id(result.records("companies"))) == {
            c["id"] for c in sandbox.emulator.companies(TOKEN)
        }
        bodies = [body["search_filters"] for _, body, _ in sandbox.emulator.created]
        assert any(
            f.get("employee_count_min") == f.get("employee_count_max") == 50
            and "founded_year_min" in f
            for f in bodies
        )


def test_companies_no_range_reaches_fail_loudly():
    data = CornectData(companies=12_000, employee_count_null_share=0.2, founded_year_null_share=0.2)
    with Sandbox(sandbox_config(data=data)) as sandbox:
        with pytest.raises(ConfigError, match=r"search_filters.*cannot be reached"):
            sync(tap_config(sandbox))
        assert sandbox.emulator.created == []


def test_an_export_capped_below_the_documented_cap_is_split_and_nothing_is_lost():
    with Sandbox(sandbox_config(cap=120)) as sandbox:
        result = sync(tap_config(sandbox))
        expected = truth(sandbox, {})
        assert by_id(result.records("companies")) == by_id(expected)
        created = sandbox.emulator.created
        # The first export came back capped and was not read; the parts that replaced
        # it charged only companies the capped one had not.
        assert len(created) >= 4
        unlocked_at_start = 60  # unlocked_share 0.2 of 300
        assert sum(c for _, _, c in created) == 300 - unlocked_at_start


def test_sigkill_after_a_create_resumes_without_creating_that_part_again(
    cornect: Sandbox, tmp_path: Path
):
    config = tap_config(cornect, search_filters=GERMANY)

    def created(message: dict[str, Any]) -> bool:
        bookmark = message.get("value", {}).get("bookmarks", {}).get("companies", {})
        return bool(bookmark.get("exports_in_flight"))

    killed = run_and_signal(config, tmp_path, when=created, signum=signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    assert len(cornect.emulator.created) == 1
    resumed = run_cli(config, tmp_path, state=killed.last_state)
    assert resumed.returncode == 0, resumed.stderr
    assert len(cornect.emulator.created) == 1  # re-attached, not paid for again
    later = [
        message["record"]
        for message in map(json.loads, resumed.stdout.splitlines())
        if message["type"] == "RECORD"
    ]
    merged = {**by_id(killed.records("companies")), **by_id(later)}
    assert merged == by_id(truth(cornect, GERMANY))


def test_a_stopped_snapshot_whose_filters_changed_is_planned_afresh(cornect: Sandbox):
    stopped, failure = sync_until_stopped(tap_config(cornect, api_key=CORNECT_READ_TOKEN))
    assert isinstance(failure, PermissionDeniedError)  # planned, then refused its create
    state = stopped.final_state
    assert state["bookmarks"]["companies"]["snapshot"]["done"] == []
    france = {"countries": ["France"]}
    result = sync(tap_config(cornect, search_filters=france), state=state)
    assert by_id(result.records("companies")) == by_id(truth(cornect, france))


@pytest.mark.parametrize("export_format", ["json", "csv"])
def test_faults_are_survived_and_ghost_charges_are_counted(export_format: str):
    faults = Faults(
        ghost_creates=1, failed_exports=1, truncated_files=1, expired_urls=1, server_errors=2
    )
    with Sandbox(sandbox_config(faults=faults)) as sandbox:
        before = sandbox.emulator.balance(TOKEN)
        new = 300 - len(sandbox.emulator.unlocked(TOKEN))
        result = sync(tap_config(sandbox, export_format=export_format))
        # Every company once with its true fields: a cut file's rows never go out.
        expected = truth(sandbox, {}, export_format)
        assert by_id(result.records("companies")) == by_id(expected)
        assert before - sandbox.emulator.balance(TOKEN) == new  # each company paid once
        assert sandbox.emulator.violations() == 0


def test_discovery_infers_the_schema_from_a_search_sample(cornect: Sandbox, tmp_path: Path):
    (entry,) = discover(tap_config(cornect), tmp_path)["streams"]
    properties = entry["schema"]["properties"]
    assert {"domain", "linkedin_url", "created_at", "employee_count"} <= set(properties)
    assert properties["employee_count"]["type"] == ["integer", "null"]
    assert SCORE_FIELD not in properties  # export-only: never in the sample
    assert entry["key_properties"] == ["id"]
