"""`--test` checks the key, the plan and the account through calls that cost nothing.

singer-sdk's own `--test` syncs a record per stream, which here would create exports
(Cornect charges for them; a Userpilot job holds its token until it ends). Each
provider's check runs over HTTP against its sandbox: nothing is created or charged, a
good key prints one line of what was checked, and a wrong key, a plan without the
export API or a read-only token exits 1 with one line naming what to fix.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tap_exports.sandbox import USERPILOT_NO_EXPORT_TOKEN, Sandbox, SandboxConfig
from tap_exports.sandbox.cornect.config import CORNECT_READ_TOKEN
from tap_exports.sdk.tap import TapExports
from tests.setups import cometly as cometly_setup
from tests.setups import cornect as cornect_setup
from tests.setups import userpilot as userpilot_setup

Config = Callable[..., dict[str, Any]]


def tap_test(config: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    return subprocess.run(
        [sys.executable, "-m", "tap_exports", "--config", str(config_file), "--test"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def nothing_created(sandbox: Sandbox, provider: str) -> bool:
    emulator = sandbox.emulator
    if provider == "cometly":
        return emulator.exports_created(cometly_setup.TOKEN) == 0
    return emulator.created == []


CASES: dict[str, tuple[Callable[[], SandboxConfig], Config, str]] = {
    "cometly": (cometly_setup.sandbox_config, cometly_setup.tap_config, "the key was accepted"),
    "userpilot": (userpilot_setup.sandbox_config, userpilot_setup.tap_config, "no job running"),
    "cornect": (cornect_setup.sandbox_config, cornect_setup.tap_config, "the filters match"),
}


@pytest.mark.parametrize("provider", list(CASES))
def test_a_good_key_is_checked_and_nothing_is_created_or_charged(provider: str, tmp_path: Path):
    sandbox_config, tap_config, said = CASES[provider]
    with Sandbox(sandbox_config()) as sandbox:
        balance = sandbox.emulator.balance(cornect_setup.TOKEN) if provider == "cornect" else 0
        outcome = tap_test(tap_config(sandbox), tmp_path)
        assert outcome.returncode == 0, outcome.stderr[-2000:]
        (line,) = outcome.stdout.splitlines()
        assert line.startswith(f"{provider}: ") and said in line
        assert nothing_created(sandbox, provider)
        if provider == "cornect":
            assert sandbox.emulator.balance(cornect_setup.TOKEN) == balance


@pytest.mark.parametrize(
    ("provider", "key", "named"),
    [
        ("cometly", "not-a-key", "api_key"),
        ("cometly", "inactive-key", "subscription is inactive"),
        ("userpilot", "not-a-token", "api_key"),
        ("userpilot", USERPILOT_NO_EXPORT_TOKEN, "export add-on"),
        ("cornect", "cornect_not_a_token", "api_key"),
        ("cornect", CORNECT_READ_TOKEN, "read_write"),
    ],
)
def test_what_is_wrong_is_one_line_and_exit_1(provider: str, key: str, named: str, tmp_path: Path):
    sandbox_config, tap_config, _ = CASES[provider]
    with Sandbox(sandbox_config()) as sandbox:
        outcome = tap_test(tap_config(sandbox, api_key=key), tmp_path)
        assert outcome.returncode == 1
        errors = [line for line in outcome.stderr.splitlines() if "ERROR" in line]
        assert len(errors) == 1 and named in errors[0], outcome.stderr[-2000:]
        assert "Traceback" not in outcome.stderr
        assert nothing_created(sandbox, provider)


def test_about_declares_the_test_capability():
    assert "test" in {capability.value for capability in TapExports.capabilities}
