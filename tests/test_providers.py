"""What a provider declares reaches the engine: its host, settings, words and errors.

A second provider is declared here, in the test, to prove the engine takes every fact
from the declaration (the real ones are exercised against their sandboxes).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import UTC

import pytest

from tap_exports.engine.clock import SystemClock
from tap_exports.engine.errors import (
    ApiError,
    AuthenticationError,
    BusyError,
    ConfigError,
    OutOfCreditsError,
    RequestRejectedError,
)
from tap_exports.engine.exports.jobs import JobStatus, StatusWords
from tap_exports.engine.files.decode import FileFormats
from tap_exports.engine.http.api import ApiClient, ErrorRule, RetryPolicy
from tap_exports.engine.http.budget import RateBudget
from tap_exports.providers import PROVIDERS
from tap_exports.providers.base import Provider, RateLimit, Setting, StreamSpec
from tap_exports.providers.cometly import API_URL, COMETLY
from tap_exports.providers.job_api import JobApi
from tap_exports.sdk.tap import TapExports
from tap_exports.settings import parse_settings
from tests.loopback import Script, serving

OTHER = Provider(
    name="other",
    default_api_url="https://api.other.example/v1",
    streams=(StreamSpec("things", {"type": "object", "properties": {}}, None, ()),),
    rate_limits={"create": RateLimit(5), "download": RateLimit(30)},
    job_api=JobApi(
        "Token",
        ("id",),
        StatusWords({"done": JobStatus.COMPLETED}, unknown_means_running=True),
    ),
    export_port=COMETLY.export_port,
    check_connection=COMETLY.check_connection,
    file_formats=FileFormats(frozenset({"csv"})),
    planning_zone=lambda config: UTC,
    settings=(Setting("other_filter", {"type": ["string", "null"]}, "A filter."),),
    max_running_jobs=1,
)
BOTH = {COMETLY.name: COMETLY, OTHER.name: OTHER}
COMETLY_CONFIG = {
    "api_key": "test-key-0123",
    "start_date": "2025-01-01T00:00:00Z",
    "timezone": "UTC",
}


def test_api_url_defaults_to_the_chosen_providers_host():
    assert parse_settings(COMETLY_CONFIG, BOTH).api_url == API_URL
    other = parse_settings({"provider": "other", "api_key": "test-key-0123"}, BOTH)
    assert other.api_url == "https://api.other.example/v1"


def test_the_config_schema_has_no_api_url_default_for_singer_sdk_to_fill_in():
    tap = TapExports(config={"api_key": "test-key-0123", **COMETLY_CONFIG}, parse_env_config=False)
    assert "api_url" not in tap.config
    assert parse_settings(tap.config).api_url == API_URL


def test_a_setting_of_another_provider_is_refused_at_start_naming_both():
    with pytest.raises(ConfigError, match=r"'other_filter': applies to provider 'other' only"):
        parse_settings({**COMETLY_CONFIG, "other_filter": "x"}, BOTH)
    with pytest.raises(ConfigError, match=r"'timezone': applies to provider 'cometly' only"):
        parse_settings({"provider": "other", "api_key": "test-key-0123", "timezone": "UTC"}, BOTH)


def test_a_rate_limit_of_a_budget_only_another_provider_has_is_refused():
    with pytest.raises(ConfigError, match=r"'download_rate_limit': 'cometly' has no 'download'"):
        parse_settings({**COMETLY_CONFIG, "download_rate_limit": 10}, BOTH)


def test_a_setting_left_at_its_default_is_not_taken_for_a_wrong_one():
    config = {
        "provider": "other",
        "api_key": "test-key-0123",
        "contacts_include_comet_tokens": False,
    }
    assert parse_settings(config, BOTH).provider is OTHER


def test_a_provider_without_incremental_streams_needs_no_start_date_or_timezone():
    settings = parse_settings({"provider": "other", "api_key": "test-key-0123"}, BOTH)
    assert settings.zone is UTC and settings.start_date is None


def test_each_budget_the_provider_names_gets_its_documented_limit_and_an_override():
    settings = parse_settings(
        {"provider": "other", "api_key": "test-key-0123", "download_rate_limit": 3}, BOTH
    )
    assert {name: limit.requests for name, limit in settings.rate_limits.items()} == {
        "create": 5,
        "download": 3,
    }


def test_every_registered_providers_settings_are_declared_in_the_config_schema():
    properties = TapExports.config_jsonschema["properties"]
    for provider in PROVIDERS.values():
        for setting in provider.settings:
            declared = properties[setting.name]
            readers = declared["description"].partition(" only)")[0].removeprefix("(")
            assert provider.name in readers.split(", ")
            assert setting.description in declared["description"]
            for value in setting.schema.get("enum", ()):
                assert value in declared["enum"]
        for budget in provider.rate_limits:
            assert f"{budget}_rate_limit" in properties


def test_a_documented_status_enum_refuses_an_unknown_word():
    with pytest.raises(ApiError, match="unknown status 'archived'"):
        COMETLY.job_api.words.read("archived", subject="events export 1")


def test_an_undocumented_enum_takes_an_unknown_word_as_running_and_warns_once(caplog):
    words = replace(OTHER.job_api.words)
    with caplog.at_level(logging.WARNING):
        assert words.read("queued", subject="job 1") is JobStatus.PROCESSING
        assert words.read("queued", subject="job 2") is JobStatus.PROCESSING
        assert words.read("done", subject="job 1") is JobStatus.COMPLETED
    assert [r.getMessage() for r in caplog.records] == [
        "job 1: unknown status 'queued', taken as still running"
    ]


@pytest.mark.parametrize(
    ("status", "body", "kind", "words"),
    [
        (409, {"errors": [{"message": "Export job already in progress"}]}, BusyError, "409"),
        (402, {"detail": {"code": "insufficient_balance"}}, OutOfCreditsError, "top up"),
        (401, {"message": "Unauthenticated."}, AuthenticationError, "Unauthenticated. The API"),
        (
            422,
            {"detail": [{"loc": ["body"], "msg": "field required"}]},
            RequestRejectedError,
            "422: body: field required",
        ),
    ],
)
def test_http_errors_become_the_class_the_provider_declares(status, body, kind, words):
    rules = {
        409: ErrorRule(BusyError),
        402: ErrorRule(OutOfCreditsError, "Out of credits: top up, or lower the spend"),
    }
    with pytest.raises(kind, match=words) as raised:
        create_answered(status, body, rules)
    assert "\n" not in str(raised.value)


def create_answered(status: int, body: object, rules: dict[int, ErrorRule]) -> None:
    """POST a create to a server that answers `status` with `body`, under `rules`."""
    script = Script(answers={"/v1/exports": (status, body)})
    with serving(script) as base:
        clock = SystemClock()
        client = ApiClient(
            base_url=f"{base}/v1",
            headers={},
            budgets={"create": RateBudget("create", limit=5, period=1, clock=clock)},
            timeout_seconds=5,
            retry=RetryPolicy(),
            clock=clock,
            error_rules=rules,
        )
        client.post_json("/exports", {}, budget="create")


def test_an_error_message_ending_in_a_period_or_spaces_gets_one_period_before_the_advice():
    rules = {401: ErrorRule(AuthenticationError, "Check 'api_key'")}
    for message in (
        "Unauthenticated.",
        "Unauthenticated. ",
        "Unauthenticated.\n",
        "Unauthenticated",
    ):
        with pytest.raises(AuthenticationError) as raised:
            create_answered(401, {"message": message}, rules)
        assert str(raised.value).endswith("answered 401: Unauthenticated. Check 'api_key'")
