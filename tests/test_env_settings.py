"""Settings given as text (environment variables, Meltano's string kinds) read as their types."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_exports.sandbox import DEMO_KEY, Sandbox
from tap_exports.sdk.tap import TapExports
from tap_exports.settings import read_text_values
from tests.setups.cometly import END, START, expected
from tests.setups.cornect import TOKEN as CORNECT_TOKEN
from tests.setups.cornect import sandbox_config as cornect_sandbox_config
from tests.setups.cornect import truth
from tests.singer import ids, parse_messages, stream_records

SCHEMA = TapExports.config_jsonschema


def read(**config: Any) -> dict[str, Any]:
    read_text_values(config, SCHEMA)
    return config


def test_each_kind_of_setting_is_read_from_text():
    assert read(
        poll_interval_seconds="0.2",
        request_timeout_seconds=" 30.5 ",
        window_days="7",
        create_rate_limit="+20",
        contacts_include_all_emails="TRUE",
        contacts_include_comet_tokens="0",
        event_types='["track", "page_view"]',
        search_filters='{"countries": ["Germany"]}',
        api_key="12345",  # text stays text
        start_date="2025-03-01T00:00:00Z",
    ) == {
        "poll_interval_seconds": 0.2,
        "request_timeout_seconds": 30.5,
        "window_days": 7,
        "create_rate_limit": 20,
        "contacts_include_all_emails": True,
        "contacts_include_comet_tokens": False,
        "event_types": ["track", "page_view"],
        "search_filters": {"countries": ["Germany"]},
        "api_key": "12345",
        "start_date": "2025-03-01T00:00:00Z",
    }


@pytest.mark.parametrize(
    ("setting", "text"),
    [
        ("poll_interval_seconds", "fast"),
        ("poll_interval_seconds", "nan"),
        ("window_days", "7.5"),
        ("contacts_include_all_emails", "maybe"),
        ("search_filters", "{countries: Germany}"),
        ("search_filters", "[1, 2]"),
    ],
)
def test_text_that_is_not_its_type_is_refused_naming_the_setting(setting: str, text: str):
    with pytest.raises(ConfigValidationError) as refused:
        TapExports(config={"api_key": "k", setting: text}, parse_env_config=False)
    assert setting in str(refused.value.errors)


def run_env(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`tap-exports --config ENV`, with only `env`'s TAP_EXPORTS_* variables."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TAP_EXPORTS_")}
    return subprocess.run(
        [sys.executable, "-m", "tap_exports", "--config", "ENV"],
        capture_output=True,
        text=True,
        env={**base, **env},
        check=False,
        timeout=120,
    )


def test_a_standalone_run_takes_every_kind_from_the_environment(sandbox: Sandbox):
    done = run_env(
        {
            "TAP_EXPORTS_API_KEY": DEMO_KEY,
            "TAP_EXPORTS_API_URL": sandbox.api_url,
            "TAP_EXPORTS_START_DATE": START,
            "TAP_EXPORTS_END_DATE": END,
            "TAP_EXPORTS_TIMEZONE": "America/New_York",
            "TAP_EXPORTS_POLL_INTERVAL_SECONDS": "0.02",  # number
            "TAP_EXPORTS_RATE_LIMIT_PERIOD_SECONDS": "1",  # number
            "TAP_EXPORTS_EXPORT_RETRY_COOLDOWN_SECONDS": "0.02",
            "TAP_EXPORTS_CREATE_RATE_LIMIT": "20",  # integer
            "TAP_EXPORTS_STATUS_RATE_LIMIT": "120",
            "TAP_EXPORTS_WINDOW_DAYS": "7",
            "TAP_EXPORTS_CONTACTS_INCLUDE_ALL_EMAILS": "false",  # boolean
            "TAP_EXPORTS_EVENTS_EVENT_NAMES": '["purchase", "sign_up"]',  # array
        }
    )
    assert done.returncode == 0, done.stderr
    messages = parse_messages(done.stdout)
    assert ids(stream_records(messages, "companies")) == ids(expected(sandbox, "companies"))
    events = stream_records(messages, "events")
    assert events and {event["event_name"] for event in events} <= {"purchase", "sign_up"}


def test_an_object_setting_comes_from_the_environment_as_json():
    with Sandbox(cornect_sandbox_config()) as sandbox:
        done = run_env(
            {
                "TAP_EXPORTS_PROVIDER": "cornect",
                "TAP_EXPORTS_API_KEY": CORNECT_TOKEN,
                "TAP_EXPORTS_API_URL": sandbox.api_url,
                "TAP_EXPORTS_SEARCH_FILTERS": '{"countries": ["Germany"]}',  # object
                "TAP_EXPORTS_MAX_CREDITS": "1000",
                "TAP_EXPORTS_POLL_INTERVAL_SECONDS": "0.02",
                "TAP_EXPORTS_RATE_LIMIT_PERIOD_SECONDS": "1",
            }
        )
        assert done.returncode == 0, done.stderr
        germany = truth(sandbox, {"countries": ["Germany"]})
        assert sorted(
            r["id"] for r in stream_records(parse_messages(done.stdout), "companies")
        ) == sorted(c["id"] for c in germany)
