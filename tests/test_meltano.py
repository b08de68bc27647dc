"""The tap under Meltano as `meltano.yml` declares it: settings of every kind, from the env.

Runs the project's Meltano (`.venv-meltano`, which `make test` and `make demo` install);
`meltano config print` needs no plugin installed, and prints the config Meltano hands the
tap.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft7Validator

from tap_exports.sdk.tap import TapExports
from tap_exports.settings import parse_settings, read_text_values

ROOT = Path(__file__).resolve().parent.parent
MELTANO = ROOT / ".venv-meltano" / "bin" / "meltano"
needs_meltano = pytest.mark.skipif(
    not MELTANO.exists(), reason="Meltano is not installed: run `make test`"
)


def meltano_config(plugin: str, env: dict[str, str]) -> dict[str, Any]:
    """`meltano config --unsafe print PLUGIN` with `env` (and no TAP_/TARGET_ variables)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_", "TARGET_"))}
    done = subprocess.run(
        [str(MELTANO), "config", "--unsafe", "print", plugin],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**base, **env, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"},
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout[done.stdout.index("{") :])


@needs_meltano
def test_every_kind_of_setting_from_the_environment_reaches_the_tap_typed():
    config = meltano_config(
        "tap-exports",
        {
            "TAP_EXPORTS_API_KEY": "k",
            "TAP_EXPORTS_START_DATE": "2025-03-01T00:00:00Z",
            "TAP_EXPORTS_TIMEZONE": "Europe/Berlin",
            "TAP_EXPORTS_REQUEST_TIMEOUT_SECONDS": "30.5",  # a number
            "TAP_EXPORTS_POLL_INTERVAL_SECONDS": "0.2",
            "TAP_EXPORTS_WINDOW_DAYS": "3",  # an integer
            "TAP_EXPORTS_CONTACTS_INCLUDE_ALL_EMAILS": "true",  # a boolean
            "TAP_EXPORTS_EVENTS_EVENT_NAMES": '["add_to_cart"]',  # an array
        },
    )
    tap = TapExports(config=config, parse_env_config=False)
    settings = parse_settings(tap.config)
    assert settings.request_timeout_seconds == 30.5
    assert settings.lifecycle.poll_interval_seconds == 0.2
    assert settings.window_days == 3
    assert tap.config["contacts_include_all_emails"] is True
    assert tap.config["events_event_names"] == ["add_to_cart"]


@needs_meltano
def test_an_object_setting_from_the_environment_reaches_the_tap():
    config = meltano_config(
        "tap-exports--cornect",
        {
            "TAP_EXPORTS_API_KEY": "cornect_k",
            "TAP_EXPORTS_SEARCH_FILTERS": '{"countries": ["Germany"]}',
            "TAP_EXPORTS_MAX_CREDITS": "100",
        },
    )
    # (A TapExports would sample the real API to discover the schema: check as it does.)
    read_text_values(config, TapExports.config_jsonschema)
    Draft7Validator(TapExports.config_jsonschema).validate(config)
    settings = parse_settings(config)
    assert settings.raw["search_filters"] == {"countries": ["Germany"]}
    assert settings.raw["max_credits"] == 100


def test_meltano_yml_declares_every_setting_with_a_label_a_description_and_a_default():
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (tap,) = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-exports"]
    declared = {setting["name"]: setting for setting in tap["settings"]}
    for name in ("stream_maps", "stream_map_config", "flattening_enabled", "flattening_max_depth"):
        assert name in declared, name
    schema = TapExports.config_jsonschema["properties"]
    assert set(schema) <= set(declared) | {"faker_config"}
    for name, setting in declared.items():
        assert setting.get("label"), f"{name}: no label"
        assert setting.get("description"), f"{name}: no description"
        default = schema.get(name, {}).get("default")
        if default is not None:
            assert setting.get("value") == default, f"{name}: default {default!r}"


@needs_meltano
def test_the_production_loader_is_declared_with_its_password_sensitive():
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (loader,) = [p for p in project["plugins"]["loaders"] if p["name"] == "target-postgres"]
    password = next(s for s in loader["settings"] if s["name"] == "password")
    assert password["sensitive"] is True and password["kind"] == "password"
    config = meltano_config("target-postgres", {"TARGET_POSTGRES_PASSWORD": "s3cret"})
    assert config["password"] == "s3cret" and config["port"] == 5432
