"""Shared harness: a fresh sandbox per test, and two ways to run the tap against it.

The sandbox runs the documented limits scaled from per-minute to per-second budgets
and finishes exports in a few hundredths of a second, so every test talks real HTTP
over loopback and the whole suite still takes a minute or two.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tap_exports.engine.errors import TapExportsError
from tap_exports.engine.timestamps import parse_utc
from tap_exports.sandbox import (
    DEMO_KEY,
    Faults,
    Limits,
    Sandbox,
    SandboxConfig,
    Timing,
)
from tap_exports.sdk.tap import TapExports

STREAMS = ("companies", "contacts", "events")
REPLICATION_KEYS = {"companies": "created_at", "contacts": "created_at", "events": "event_time_utc"}
# Local midnight 2025-03-01 to local midnight 2025-03-15 in New York: the sandbox's data.
START = "2025-03-01T05:00:00Z"
END = "2025-03-15T04:00:00Z"


def fast_timing() -> Timing:
    return Timing(queued_seconds=0.02, processing_seconds=0.04, url_ttl_seconds=900)


def scaled_limits() -> Limits:
    """Cometly's 1:6 ratio of creates to status reads, per second instead of per minute.

    Four times the documented counts keep multi-window tests quick; the pacing tests
    use the documented counts themselves.
    """
    return Limits(create=20, status=120, period_seconds=1.0)


def sandbox_config(**overrides: Any) -> SandboxConfig:
    values: dict[str, Any] = {"timing": fast_timing(), "limits": scaled_limits()}
    values.update(overrides)
    return SandboxConfig(**values)


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    with Sandbox(sandbox_config()) as running:
        yield running


def tap_config(sandbox: Sandbox, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "api_key": DEMO_KEY,
        "api_url": sandbox.api_url,
        "start_date": START,
        "end_date": END,
        "timezone": "America/New_York",
        "poll_interval_seconds": 0.02,
        "rate_limit_period_seconds": 1.0,
        "create_rate_limit": 20,
        "status_rate_limit": 120,
        "export_retry_cooldown_seconds": 0.02,
    }
    config.update(overrides)
    return config


@dataclass
class SyncResult:
    """The Singer messages of one run."""

    messages: list[dict[str, Any]]

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def final_state(self) -> dict[str, Any]:
        return self.states()[-1]


def parse_messages(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def sync(
    config: dict[str, Any],
    state: dict[str, Any] | None = None,
    catalog: dict[str, Any] | None = None,
) -> SyncResult:
    """Run a full sync in this process and collect what it wrote to stdout."""
    out = io.StringIO()
    tap = TapExports(config=config, state=state, catalog=catalog, parse_env_config=False)
    with contextlib.redirect_stdout(out):
        tap.sync_all()
    return SyncResult(parse_messages(out.getvalue()))


def sync_until_stopped(
    config: dict[str, Any], state: dict[str, Any] | None = None, **tap_options: Any
) -> tuple[SyncResult, TapExportsError | None]:
    """Run a sync in this process; a tap failure ends it but keeps what was written."""
    out = io.StringIO()
    tap = TapExports(config=config, state=state, parse_env_config=False, **tap_options)
    failure = None
    with contextlib.redirect_stdout(out):
        try:
            tap.sync_all()
        except TapExportsError as exc:
            failure = exc
    return SyncResult(parse_messages(out.getvalue())), failure


def run_cli(
    config: dict[str, Any],
    tmp_path: Path,
    *,
    state: dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m tap_exports` as a user would, and return its outcome."""
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_exports", "--config", str(config_file)]
    if state is not None:
        state_file = tmp_path / "state.json"
        state_file.write_text(json.dumps(state))
        command += ["--state", str(state_file)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_EXPORTS_")}
    env.update(extra_env or {})
    return subprocess.run(
        command, check=False, capture_output=True, text=True, env=env, timeout=120
    )


def discover(config: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """`python -m tap_exports --config ... --discover`, as Meltano runs it: the catalog."""
    config_file = tmp_path / "discover.json"
    config_file.write_text(json.dumps(config))
    shown = subprocess.run(
        [sys.executable, "-m", "tap_exports", "--config", str(config_file), "--discover"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    catalog: dict[str, Any] = json.loads(shown.stdout)
    return catalog


@dataclass
class Interrupted:
    """What a run that was sent a signal wrote, and how it ended."""

    messages: list[dict[str, Any]]
    returncode: int
    stderr: str

    @property
    def last_state(self) -> dict[str, Any]:
        return next(m["value"] for m in reversed(self.messages) if m["type"] == "STATE")

    def records(self, stream: str) -> list[dict[str, Any]]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]


def run_and_signal(
    config: dict[str, Any],
    tmp_path: Path,
    *,
    when: Callable[[dict[str, Any]], bool],
    signum: int,
) -> Interrupted:
    """Run `python -m tap_exports` and send `signum` once it writes a message `when` accepts.

    Whatever it still wrote before exiting is kept: a target would have read it too.
    """
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    process = subprocess.Popen(
        [sys.executable, "-m", "tap_exports", "--config", str(config_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if when(json.loads(line)):
            process.send_signal(signum)
            break
    rest, stderr = process.communicate(timeout=60)
    return Interrupted(parse_messages("".join(lines) + rest), process.returncode, stderr)


def expected(sandbox: Sandbox, stream: str, start: str = START, end: str = END) -> list[dict]:
    """The sandbox's records of `stream` whose replication key is in [start, end)."""
    key = REPLICATION_KEYS[stream]
    lower, upper = parse_utc(start), parse_utc(end)
    return [
        record
        for record in sandbox.emulator.dataset(DEMO_KEY).stream(stream)
        if lower <= parse_utc(record[key]) < upper
    ]


def ids(records: list[dict[str, Any]]) -> list[Any]:
    return sorted(record["id"] for record in records)


__all__ = ["Faults", "Sandbox"]
