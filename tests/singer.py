"""Running the tap as the tests do, and reading the Singer messages it wrote.

`sync` and `sync_until_stopped` run it in this process; `run_cli`, `discover` and
`run_and_signal` run `python -m tap_exports` as a user or an orchestrator would.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tap_exports.engine.errors import TapExportsError
from tap_exports.sdk.tap import TapExports


def parse_messages(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def stream_records(messages: list[dict[str, Any]], stream: str) -> list[dict[str, Any]]:
    """The records of `stream`'s RECORD messages, in order."""
    return [m["record"] for m in messages if m["type"] == "RECORD" and m["stream"] == stream]


def last_state(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The value of the last STATE message: where a next run would resume."""
    return next(m["value"] for m in reversed(messages) if m["type"] == "STATE")


def ids(records: list[dict[str, Any]]) -> list[Any]:
    return sorted(record["id"] for record in records)


@dataclass
class SyncResult:
    """The Singer messages of one run."""

    messages: list[dict[str, Any]]

    def records(self, stream: str) -> list[dict[str, Any]]:
        return stream_records(self.messages, stream)

    def states(self) -> list[dict[str, Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def final_state(self) -> dict[str, Any]:
        return self.states()[-1]


@dataclass
class Interrupted(SyncResult):
    """What a run that was sent a signal wrote, and how it ended."""

    returncode: int
    stderr: str

    @property
    def last_state(self) -> dict[str, Any]:
        return last_state(self.messages)


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
