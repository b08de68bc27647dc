"""`tap-exports --plan` for every provider: what a sync would do, and nothing created."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tap_exports.sandbox import Sandbox
from tests.setups import cometly as cometly_setup
from tests.setups import cornect as cornect_setup
from tests.setups import userpilot as userpilot_setup

END_OF_12TH = "2025-03-13T04:00:00Z"  # local midnight in New York


def plan(config: dict[str, Any], tmp_path: Path, state: dict[str, Any] | None = None) -> str:
    """Run `--plan` as a user would; its stdout (it must succeed and write no Singer message)."""
    (tmp_path / "config.json").write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_exports", "--config", str(tmp_path / "config.json")]
    if state is not None:
        (tmp_path / "state.json").write_text(json.dumps(state))
        command += ["--state", str(tmp_path / "state.json")]
    done = subprocess.run(
        [*command, "--plan"], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert '"type"' not in done.stdout  # no SCHEMA, RECORD or STATE
    return done.stdout


def test_cometly_plan_lists_windows_from_the_bookmarks_and_the_create_floor(tmp_path: Path):
    with Sandbox(cometly_setup.sandbox_config()) as sandbox:
        config = cometly_setup.tap_config(
            sandbox, create_rate_limit=5, rate_limit_period_seconds=60
        )
        shown = plan(config, tmp_path)
        assert shown.startswith("Plan for cometly at http://127.0.0.1:")
        assert "  events: 14 export(s)" in shown and "  companies: 1 export(s)" in shown
        assert "16 export(s) in all; at 5 creates per 60 s" in shown
        assert "take at least 3m00s" in shown  # 16 creates: 3 full periods waited
        bookmark = {"replication_key": "event_time_utc", "replication_key_value": END_OF_12TH}
        state = {"bookmarks": {"events": bookmark}}
        assert "  events: 2 export(s)" in plan(config, tmp_path, state)
        assert sandbox.emulator.created == []


def test_userpilot_plan_shows_jobs_run_one_at_a_time(tmp_path: Path):
    with Sandbox(userpilot_setup.sandbox_config()) as sandbox:
        shown = plan(userpilot_setup.tap_config(sandbox), tmp_path)
        assert "  events: 3 export(s) (read for events, users, companies)" in shown
        assert "runs one job at a time: 3 jobs one after another" in shown
        assert sandbox.emulator.created == []


def test_cornect_plan_shows_parts_and_credits_against_the_limit_and_balance(tmp_path: Path):
    data = cornect_setup.CornectData(companies=25_000)
    with Sandbox(cornect_setup.sandbox_config(data=data)) as sandbox:
        config = cornect_setup.tap_config(sandbox, max_credits=1000)
        shown = plan(config, tmp_path)
        assert "  companies: 3 export(s)" in shown
        # 2% of the companies have no employee_count: the parts are cut by founded_year.
        assert "part p1: founded_year 0.." in shown
        assert "credits: at most 25,000 (25,000 companies in 3 export(s), each taken as new)" in (
            shown
        )
        assert "OVER (a sync would stop before creating) max_credits=1,000" in shown
        assert "balance 100,000" in shown
        assert sandbox.emulator.created == []
