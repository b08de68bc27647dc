"""Backfill wall time against the rate-limit floor: exports pipelined vs one at a time.

A backfill is bounded by the create budget, not by the tap: with L creations allowed per
period P and E exports, the last export cannot be created before the budget lets it out
(`least_seconds`: the tap's own budget replayed on a simulated clock, so it follows the
pacing rules: half a period's creates at once, the rest evenly spread), and its records
cannot arrive before it has processed (T). That sum is the floor no scheduler can beat
(downloads are tiny here and left out of it).

The sandbox runs Cometly's limits scaled from per minute to per second (5 creates and 30
status reads per second; the tap is given the same), exports that take T seconds (queued
plus processing) and D days of data: one events export per day, plus ceil(D / window_days)
each for companies and contacts. The tap runs as a subprocess, as a user runs it, on a
fresh sandbox each time, in two modes per repeat:
- pipelined: the scheduler's default `max_exports_in_flight` (or --in-flight);
- sequential: `max_exports_in_flight=1`, the create-poll-download-repeat baseline.

Printed: each mode's wall time (tap start to exit, median of --repeat runs), its ratio to
the floor and the speed-up, with the wall time cut into startup (to the first create),
creating (first to last create; its floor is the first term above), the export time T and
the tail (last export completed to exit). For the pipelined runs: the time from an export
completing (the sandbox's clock, shared with this process) to its window's first RECORD
reaching the tap's stdout, over the windows the tap was waiting for (their export completed
after the previous window's last record): it should stay within one poll interval. As
checks: RECORDs per stream against the sandbox's count, exports created against the plan,
and the sandbox's 429s (refused requests, and requests sent during a hold), which should
be 0. The tap gets the caller's environment without TAP_EXPORTS_* and PYTHONUNBUFFERED,
so its settings and stdout buffering are those of a plain run.

    .venv/bin/python benchmarks/backfill.py [--days 30] [--processing-seconds 1] [--repeat 1]
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as day_time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from tap_exports.engine.exports.jobs import LifecyclePolicy
from tap_exports.engine.http.budget import least_seconds
from tap_exports.sandbox import DEMO_KEY, DataSpec, Limits, Sandbox, SandboxConfig, Space, Timing

TIMEZONE = "America/New_York"
DATA_START = date(2025, 3, 1)  # the range crosses the DST change of 2025-03-09
STREAMS = ("companies", "contacts", "events")
REPLICATION_KEYS = {"companies": "created_at", "contacts": "created_at", "events": "event_time_utc"}


@dataclass(frozen=True)
class Setup:
    """What every run of one benchmark shares."""

    days: int
    window_days: int
    queued_seconds: float
    processing_seconds: float
    poll_seconds: float
    create_limit: int
    status_limit: int
    period_seconds: float

    @property
    def export_seconds(self) -> float:
        return self.queued_seconds + self.processing_seconds

    @property
    def planned_exports(self) -> dict[str, int]:
        ranged = math.ceil(self.days / self.window_days)
        return {"companies": ranged, "contacts": ranged, "events": self.days}

    @property
    def creating_floor(self) -> float:
        """When the budget lets the last create out at the soonest."""
        exports = sum(self.planned_exports.values())
        return least_seconds(exports, limit=self.create_limit, period=self.period_seconds)

    @property
    def floor_seconds(self) -> float:
        return self.creating_floor + self.export_seconds

    def edges(self) -> tuple[str, str]:
        """The tap's start_date and end_date: local midnights around the data's days."""
        zone = ZoneInfo(TIMEZONE)

        def midnight(day: date) -> str:
            local = datetime.combine(day, day_time(), tzinfo=zone)
            return local.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        return midnight(DATA_START), midnight(DATA_START + timedelta(days=self.days))


@dataclass
class Run:
    """What one tap run took and wrote, and what the sandbox saw of it."""

    wall: float
    startup: float
    creating: float
    exports: int
    records: dict[str, int]
    expected: dict[str, int]
    refusals: int
    violations: int
    status_reads: int
    waited_latencies: list[float] = field(default_factory=list)


@dataclass
class _Window:
    export_id: int
    first: float = math.inf
    last: float = -math.inf


def run_tap(setup: Setup, in_flight: int | None, workdir: Path) -> Run:
    """One backfill on a fresh sandbox; `in_flight` None leaves the tap's default."""
    spec = DataSpec(start=DATA_START, days=setup.days)
    config = SandboxConfig(
        spaces=[Space(api_key=DEMO_KEY, timezone=TIMEZONE, data=spec)],
        timing=Timing(setup.queued_seconds, setup.processing_seconds, 900),
        limits=Limits(setup.create_limit, setup.status_limit, setup.period_seconds),
    )
    start, end = setup.edges()
    with Sandbox(config) as sandbox:
        dataset = sandbox.emulator.dataset(DEMO_KEY)  # generate before the clock starts
        tap_config: dict[str, Any] = {
            "api_key": DEMO_KEY,
            "api_url": sandbox.api_url,
            "start_date": start,
            "end_date": end,
            "timezone": TIMEZONE,
            "window_days": setup.window_days,
            "poll_interval_seconds": setup.poll_seconds,
            "rate_limit_period_seconds": setup.period_seconds,
            "create_rate_limit": setup.create_limit,
            "status_rate_limit": setup.status_limit,
        }
        if in_flight is not None:
            tap_config["max_exports_in_flight"] = in_flight
        config_file = workdir / "config.json"
        config_file.write_text(json.dumps(tap_config))
        # The caller's TAP_EXPORTS_* settings and PYTHONUNBUFFERED would change the run.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("TAP_EXPORTS_") and k != "PYTHONUNBUFFERED"
        }
        with (workdir / "stderr.log").open("w+b") as stderr:
            started = time.monotonic()
            process = subprocess.Popen(
                [sys.executable, "-m", "tap_exports", "--config", str(config_file)],
                stdout=subprocess.PIPE,
                stderr=stderr,
                env=env,
            )
            assert process.stdout is not None
            lines = read_lines(process.stdout.fileno())
            returncode = process.wait()
            wall = time.monotonic() - started
            if returncode != 0:
                stderr.seek(0)
                tail = stderr.read().decode(errors="replace")[-2000:]
                raise SystemExit(f"tap exited {returncode}:\n{tail}")
        windows, records = scan(lines)
        completed = {
            key: sandbox.emulator.completed_at(window.export_id) for key, window in windows.items()
        }
        limiters = [sandbox.emulator.limiter(DEMO_KEY, family) for family in ("create", "status")]
        return Run(
            wall=wall,
            startup=min(completed.values()) - setup.export_seconds - started,
            creating=max(completed.values()) - min(completed.values()),
            exports=sandbox.emulator.exports_created(DEMO_KEY),
            records=records,
            expected={
                stream: sum(
                    start <= r[REPLICATION_KEYS[stream]] < end for r in dataset.stream(stream)
                )
                for stream in STREAMS
            },
            refusals=sum(limiter.refusals for limiter in limiters),
            violations=sum(limiter.violations for limiter in limiters),
            status_reads=sum(sandbox.emulator.status_reads.values()),
            waited_latencies=waited_latencies(windows, completed),
        )


def read_lines(fd: int) -> list[tuple[float, bytes]]:
    """Every line the tap writes, stamped with when the read that completed it returned."""
    lines: list[tuple[float, bytes]] = []
    pending = b""
    while chunk := os.read(fd, 1 << 16):
        now = time.monotonic()
        *complete, pending = (pending + chunk).split(b"\n")
        lines += [(now, line) for line in complete if line]
    return lines


def scan(
    lines: list[tuple[float, bytes]],
) -> tuple[dict[tuple[str, str], _Window], dict[str, int]]:
    """Each window's export id and first/last RECORD arrival, and RECORDs per stream.

    Windows and their export ids come from the tap's own STATE (`exports_in_flight`,
    written the moment each export is created); a record belongs to the window whose
    [start, end) holds its replication key.
    """
    messages = [(at, orjson.loads(line)) for at, line in lines]
    bounds: dict[str, dict[str, tuple[str, int]]] = {stream: {} for stream in STREAMS}
    for _, message in messages:
        if message["type"] == "STATE":
            for stream, state in message["value"].get("bookmarks", {}).items():
                for entry in state.get("exports_in_flight", []):
                    bounds[stream][entry["start"]] = (entry["end"], int(entry["export_id"]))
    starts = {stream: sorted(bounds[stream]) for stream in STREAMS}
    windows = {
        (stream, start): _Window(export_id)
        for stream in STREAMS
        for start, (_, export_id) in bounds[stream].items()
    }
    records = dict.fromkeys(STREAMS, 0)
    for at, message in messages:
        if message["type"] != "RECORD":
            continue
        stream = message["stream"]
        records[stream] += 1
        stamp = message["record"][REPLICATION_KEYS[stream]]
        index = bisect.bisect_right(starts[stream], stamp) - 1
        start = starts[stream][index] if index >= 0 else ""
        if not start or not stamp < bounds[stream][start][0]:
            raise SystemExit(f"{stream} record at {stamp} is in no window the tap's STATE named")
        window = windows[(stream, start)]
        window.first, window.last = min(window.first, at), max(window.last, at)
    return windows, records


def waited_latencies(
    windows: dict[tuple[str, str], _Window], completed: dict[tuple[str, str], float]
) -> list[float]:
    """Export completed -> first RECORD, for the windows the tap had to wait for.

    That is, whose export completed after the previous window's last RECORD (the first
    window's: after the tap started).
    """
    delivered = sorted((w.first, key) for key, w in windows.items() if w.first < math.inf)
    latencies = []
    previous_last = -math.inf
    for first, key in delivered:
        if completed[key] > previous_last:
            latencies.append(first - completed[key])
        previous_last = windows[key].last
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=30, help="days of data (events exports)")
    parser.add_argument("--window-days", type=int, default=15, help="companies/contacts")
    parser.add_argument("--queued-seconds", type=float, default=0.5)
    parser.add_argument("--processing-seconds", type=float, default=1.0)
    parser.add_argument("--poll-seconds", type=float, default=0.2)
    parser.add_argument("--in-flight", type=int, default=None, help="default: the tap's")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    setup = Setup(
        days=args.days,
        window_days=args.window_days,
        queued_seconds=args.queued_seconds,
        processing_seconds=args.processing_seconds,
        poll_seconds=args.poll_seconds,
        create_limit=5,
        status_limit=30,
        period_seconds=1.0,
    )
    planned = setup.planned_exports
    exports = sum(planned.values())
    default_in_flight = LifecyclePolicy().max_exports_in_flight
    modes = {
        "pipelined": (args.in_flight, args.in_flight or default_in_flight),
        "sequential": (1, 1),
    }
    runs: dict[str, list[Run]] = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory() as workdir:
        for _ in range(args.repeat):
            for mode, (in_flight, _shown) in modes.items():
                runs[mode].append(run_tap(setup, in_flight, Path(workdir)))

    start, end = setup.edges()
    print(f"data: {setup.days} days from {DATA_START} ({TIMEZONE}), [{start}, {end})")
    print(
        f"exports: {exports} (events {planned['events']}, companies {planned['companies']}, "
        f"contacts {planned['contacts']}; window_days {setup.window_days}), each "
        f"{setup.export_seconds:g} s ({setup.queued_seconds:g} queued + "
        f"{setup.processing_seconds:g} processing)"
    )
    print(
        f"limits: {setup.create_limit} creates and {setup.status_limit} status reads per "
        f"{setup.period_seconds:g} s; poll interval {setup.poll_seconds:g} s; "
        f"median of {args.repeat} run(s)"
    )
    print(
        f"floor: the last of {exports} creates at {setup.creating_floor:g} s (the budget "
        f"replayed) + {setup.export_seconds:g} s = {setup.floor_seconds:.1f} s"
    )
    print()
    print(
        f"{'mode':<12}{'in flight':>10}{'wall (s)':>10}{'wall/floor':>12}{'startup':>9}"
        f"{'creating':>10}{'tail':>7}{'status reads':>14}{'429s':>6}"
    )
    walls = {}
    for mode, (_, shown) in modes.items():
        wall = statistics.median(r.wall for r in runs[mode])
        walls[mode] = wall
        startup = statistics.median(r.startup for r in runs[mode])
        creating = statistics.median(r.creating for r in runs[mode])
        tail = wall - startup - creating - setup.export_seconds
        reads = statistics.median(r.status_reads for r in runs[mode])
        refused = sum(r.refusals for r in runs[mode])
        print(
            f"{mode:<12}{shown:>10}{wall:>10.2f}{wall / setup.floor_seconds:>12.2f}"
            f"{startup:>9.2f}{creating:>10.2f}{tail:>7.2f}{reads:>14.0f}{refused:>6}"
        )
    print(
        "(wall = startup: tap start to first create + creating: first to last create"
        f" + {setup.export_seconds:g} s export + tail: last export completed to exit)"
    )
    print(f"speed-up, pipelined over sequential: {walls['sequential'] / walls['pipelined']:.2f}x")
    print()
    print("export completed -> its window's first RECORD on stdout, windows the tap waited for:")
    for mode in modes:
        latencies = [x for r in runs[mode] for x in r.waited_latencies]
        windows = exports * len(runs[mode])
        print(
            f"  {mode:<12}{len(latencies):>4} of {windows} windows: median "
            f"{statistics.median(latencies):.3f} s, max {max(latencies):.3f} s "
            f"(poll interval {setup.poll_seconds:g} s)"
        )
    print()
    print("checks, every run:")
    for mode in modes:
        for number, run in enumerate(runs[mode], 1):
            counts = ", ".join(
                f"{s} {run.records[s]}/{run.expected[s]}"
                + ("" if run.records[s] == run.expected[s] else " MISMATCH")
                for s in STREAMS
            )
            print(
                f"  {mode} #{number}: RECORDs/sandbox {counts}; exports created "
                f"{run.exports}/{exports}; 429s {run.refusals}, sent during a hold "
                f"{run.violations}"
            )


if __name__ == "__main__":
    main()
