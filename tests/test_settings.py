"""Settings: defaults from a minimal config, and one named error per bad value."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tap_exports.engine.errors import ConfigError
from tap_exports.providers.cometly import API_URL
from tap_exports.settings import parse_settings

MINIMAL = {"api_key": "k", "start_date": "2025-01-01T00:00:00Z", "timezone": "Europe/Paris"}


def test_minimal_config_gets_documented_defaults():
    settings = parse_settings(MINIMAL)
    assert settings.api_url == API_URL
    assert settings.window_days == 365
    assert settings.settle_lag == timedelta(minutes=15)
    assert settings.lifecycle.poll_interval_seconds == 5
    assert settings.lifecycle.export_timeout_seconds == 3600
    assert settings.lifecycle.max_export_attempts == 3
    assert {
        name: (limit.requests, limit.per_seconds) for name, limit in settings.rate_limits.items()
    } == {
        "create": (5, 60.0),
        "status": (30, 60.0),
    }


def test_rate_limits_can_be_scaled_down_for_the_sandbox():
    settings = parse_settings({**MINIMAL, "rate_limit_period_seconds": 1, "create_rate_limit": 2})
    assert (
        settings.rate_limits["create"].requests,
        settings.rate_limits["create"].per_seconds,
    ) == (
        2,
        1.0,
    )


@pytest.mark.parametrize(
    ("override", "setting", "words"),
    [
        ({"provider": "hubspot"}, "provider", "not one of"),
        ({"api_key": " "}, "api_key", "required"),
        ({"api_key": "secret-value\r\nX: 1"}, "api_key", "control character"),
        ({"api_url": "ftp://x"}, "api_url", "http(s)"),
        ({"api_url": "http://app.cometly.com/public-api/v1"}, "api_url", "use https"),
        ({"bad_record_policy": "ignore"}, "bad_record_policy", "fail, skip"),
        ({"min_window_minutes": 0}, "min_window_minutes", "greater than 0"),
        ({"start_date": "2025-01-01T00:00:00"}, "start_date", "UTC offset"),
        ({"start_date": "last tuesday"}, "start_date", "ISO 8601"),
        ({"end_date": "2024-12-31T00:00:00Z"}, "end_date", "after 'start_date'"),
        ({"timezone": "Mars/Base"}, "timezone", "IANA"),
        ({"timezone": None}, "timezone", "required"),
        ({"poll_interval_seconds": 0}, "poll_interval_seconds", "greater than 0"),
        ({"settle_lag_minutes": -1}, "settle_lag_minutes", "at least 0"),
        ({"events_sources": ["email"]}, "events_attribution_model", "required"),
        (
            {"events_sources": ["email"], "events_attribution_model": "linear"},
            "events_attribution_window",
            "required",
        ),
        ({"events_sources": ["myspace_ads"]}, "events_sources", "unknown"),
        ({"events_event_names": []}, "events_event_names", "1 to 10"),
        ({"events_fields": ["amount", "amount"]}, "events_fields", "duplicates"),
        ({"events_query_mode": "team"}, "events_query_mode", "not one of"),
    ],
)
def test_bad_value_names_its_setting(override: dict, setting: str, words: str):
    with pytest.raises(ConfigError) as raised:
        parse_settings({**MINIMAL, **override})
    assert raised.value.setting == setting
    assert words in str(raised.value)
    assert str(raised.value).startswith(f"setting '{setting}': ")


def test_key_error_never_echoes_the_key():
    with pytest.raises(ConfigError) as raised:
        parse_settings({**MINIMAL, "api_key": "s3cr3t\nX-Other: 1"})
    assert "s3cr3t" not in str(raised.value)


def test_key_is_stripped_of_surrounding_whitespace():
    assert parse_settings({**MINIMAL, "api_key": "  k-123\n"}).api_key == "k-123"


def test_plain_http_is_accepted_for_loopback_only():
    for url in ("http://127.0.0.1:8765/v1", "http://localhost/v1", "http://[::1]:80/v1"):
        assert parse_settings({**MINIMAL, "api_url": url}).api_url == url
