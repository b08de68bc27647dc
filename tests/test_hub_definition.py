"""The Meltano Hub definition and meltano.yml's tap-exports block say what the tap says.

`scripts/hub_definition.py` writes both from `tap-exports --about` (run `make hub` after
changing a setting): these fail when either committed file differs from what it writes
now, and check what the definition declares. One `--about` run serves the module.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tap_exports.engine.errors import ConfigError
from tap_exports.settings import parse_settings

ROOT = Path(__file__).resolve().parent.parent
KINDS = {"string", "password", "integer", "boolean", "array", "object", "options", "date_iso8601"}
# A value each required setting accepts, where its kind's sample would not do.
SAMPLES: dict[str, Any] = {"timezone": "America/New_York"}
KIND_SAMPLES: dict[str, Any] = {
    "string": "x",
    "password": "k",
    "integer": 1,
    "boolean": False,
    "array": ["x"],
    "object": {},
    "date_iso8601": "2025-03-01T00:00:00Z",
}


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "hub_definition", ROOT / "scripts" / "hub_definition.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


script = load_script()


@pytest.fixture(scope="module")
def about() -> dict[str, Any]:
    return script.read_about()


@pytest.fixture(scope="module")
def hub() -> dict[str, Any]:
    return yaml.safe_load((ROOT / script.HUB_FILE).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def extractor() -> dict[str, Any]:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
    (tap,) = [p for p in project["plugins"]["extractors"] if p["name"] == "tap-exports"]
    return tap


def test_the_committed_files_are_what_the_script_writes_now(about):
    assert script.drifted(about) == [], (
        "out of date with `tap-exports --about`: run `make hub` (python scripts/hub_definition.py)"
    )


def test_every_setting_is_declared_with_a_kind_a_label_and_a_description(about, hub):
    properties = about["settings"]["properties"]
    declared = {entry["name"]: entry for entry in hub["settings"]}
    assert set(declared) == set(properties)
    for name, schema in properties.items():
        entry = declared[name]
        assert entry.get("kind") in KINDS, name
        assert entry.get("label"), name
        assert entry.get("description"), name
        assert entry.get("value") == schema.get("default"), name
        if entry["kind"] == "options":
            assert [o["value"] for o in entry["options"]] == [
                v for v in schema["enum"] if v is not None
            ], name


def test_secrets_are_sensitive_passwords(about, hub):
    declared = {entry["name"]: entry for entry in hub["settings"]}
    secrets = [
        name
        for name, schema in about["settings"]["properties"].items()
        if schema.get("secret") or schema.get("writeOnly")
    ]
    assert "api_key" in secrets
    for name in secrets:
        assert declared[name].get("sensitive") is True, name
        assert declared[name]["kind"] == "password", name


def test_capabilities_are_what_about_reports(about, hub, extractor):
    withheld = set(script.WITHHELD_CAPABILITIES)
    # A capability left out that the tap no longer reports is a stale exception.
    assert withheld <= set(about["capabilities"])
    expected = [name for name in about["capabilities"] if name not in withheld]
    assert hub["capabilities"] == expected
    assert extractor["capabilities"] == expected


def test_hub_metadata(hub):
    assert "meltano_sdk" in hub["keywords"]
    assert (hub["name"], hub["namespace"], hub["variant"]) == (
        "tap-exports",
        "tap_exports",
        "tap-exports",
    )
    assert hub["pip_url"] == "tap-exports" and hub["executable"] == "tap-exports"
    for key in ("label", "description", "docs", "repo", "maintenance_status", "quality"):
        assert hub.get(key), key


def test_each_validation_group_names_only_declared_settings(about, hub, extractor):
    declared = {entry["name"] for entry in hub["settings"]}
    assert hub["settings_group_validation"], "no settings_group_validation"
    for group in hub["settings_group_validation"]:
        assert group[0] == "provider"
        assert set(group) <= declared, group
    assert extractor["settings_group_validation"] == hub["settings_group_validation"]
    covered = {provider for provider, _ in script.provider_groups(about)}
    assert covered == set(script.PROVIDERS)


def test_each_group_is_what_its_provider_needs_to_start(about, hub):
    """Its settings are enough for the tap's check, and each one is needed."""
    kinds = {entry["name"]: entry for entry in hub["settings"]}

    def sample(name: str) -> Any:
        if name in SAMPLES:
            return SAMPLES[name]
        entry = kinds[name]
        return entry["options"][0]["value"] if "options" in entry else KIND_SAMPLES[entry["kind"]]

    for provider, group in script.provider_groups(about):
        config = {name: sample(name) for name in group} | {"provider": provider}
        parse_settings(config)
        for name in group:
            if name == "provider":
                continue
            without = {key: value for key, value in config.items() if key != name}
            with pytest.raises(ConfigError):
                parse_settings(without)
                pytest.fail(f"{provider} starts without {name}: drop it from its group")


def test_meltano_yml_declares_the_settings_of_the_definition(about, hub, extractor):
    # In the tap's order there (the Hub's files sort them by name), and the same entries.
    names = [entry["name"] for entry in extractor["settings"]]
    assert names == list(about["settings"]["properties"])
    by_name = {entry["name"]: entry for entry in hub["settings"]}
    assert {entry["name"]: entry for entry in extractor["settings"]} == by_name


def copy_project(tmp_path: Path) -> Path:
    for path in ("pyproject.toml", "meltano.yml", str(script.HUB_FILE), str(script.SETTINGS_DOC)):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / path, tmp_path / path)
    return tmp_path


GENERATED = ("meltano.yml", str(script.HUB_FILE), str(script.SETTINGS_DOC))
# An edit inside each file's generated part, as a hand would make it.
HAND_EDITS = {
    "meltano.yml": ('label: "Provider"', 'label: "Which"'),
    str(script.HUB_FILE): ("settings:", "hidden: false\nsettings:"),
    str(script.SETTINGS_DOC): ("| provider | False |", "| provider | True |"),
}


@pytest.mark.parametrize("drifted", GENERATED)
def test_check_names_the_file_that_drifted_and_writes_nothing(about, tmp_path, capsys, drifted):
    root = copy_project(tmp_path)
    target = root / drifted
    text = target.read_text(encoding="utf-8")
    assert HAND_EDITS[drifted][0] in text
    target.write_text(text.replace(*HAND_EDITS[drifted], 1), encoding="utf-8")
    before = {path: (root / path).read_bytes() for path in GENERATED}

    assert script.main(["--check"], root=root, about=about) == 1
    message = capsys.readouterr().err.strip()
    assert message.count("\n") == 0 and drifted in message
    assert not any(other in message for other in GENERATED if other != drifted)
    assert {path: (root / path).read_bytes() for path in before} == before

    assert script.main([], root=root, about=about) == 0
    assert script.main(["--check"], root=root, about=about) == 0
    assert (root / drifted).read_text(encoding="utf-8") == (ROOT / drifted).read_text(
        encoding="utf-8"
    )
