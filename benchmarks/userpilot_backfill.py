"""Userpilot: a backfill's wall time against its floor, and records/s per file format.

Floor. One export job per app token at a time (else 409): the tap keeps one job running
and reads the previous job's files while the next one processes, so J jobs of T s cannot
end before J x T plus the download of the last job's files: the floor, met when each job
is created the moment the previous one completes. The download term is measured as the
tail: last job completed (the sandbox's clock, shared with this process) -> tap exit.
Wall = startup (tap start -> first create) + J x T + gaps (a job completed -> the next
created) + tail; required: wall <= 1.1 x floor. Checked: RECORDs per stream against the
sandbox and its 409s (should be 0: the tap's own job must never block it). Fresh sandboxes.

Records/s. One UTC day of --records events, one job that completes at once, events alone
selected, per format; beside Cometly on one day of as many events (a gzip NDJSON export)
and Userpilot NDJSON with users and companies too. records/s = events / (first create ->
tap exit): start-up and discovery out; create, poll, download, decode, emit in. Modes
alternate within each repeat after an uncounted warm-up round; medians of --repeat.
Required (issue "Userpilot at volume"): Userpilot NDJSON at 0.9 of Cometly's MB/s of RECORD
messages or more (per byte); Parquet and Avro at Userpilot NDJSON's records/s or more, CSV
at 0.7 of it.

Taps run as subprocesses, stdout to a file (RECORDs counted after), with the caller's
environment less TAP_EXPORTS_* and PYTHONUNBUFFERED and the sandbox's request limit as
their own. Sandboxes run in this process; each dataset is generated before the clock
starts, and a sandbox renders the files of a request once (the rate runs share one
sandbox), so after the warm-up the sandbox's own work stays out of the rate figures.
Figures are printed, nothing is asserted.

    .venv/bin/python benchmarks/userpilot_backfill.py [--repeat 3] [--records 300000]
        [--days 14] [--events-per-day 20000] [--processing-seconds 1] [--window-days 1]
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import functools
import itertools
import json
import operator
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import orjson
from measure import select_only

from tap_exports.sandbox import (
    DEMO_KEY,
    USERPILOT_DEMO_TOKEN,
    DataSpec,
    Limits,
    Sandbox,
    SandboxConfig,
    Space,
    Timing,
    UserpilotConfig,
    UserpilotData,
    UserpilotEnvironment,
    UserpilotTiming,
)
from tap_exports.sandbox.userpilot.data import Record

START = date(2025, 3, 1)
COMETLY_DAY, COMETLY_EDGES = date(2025, 3, 4), ("2025-03-04T05:00:00Z", "2025-03-05T05:00:00Z")
FORMATS = ("ndjson", "csv", "parquet", "avro")
STREAMS = ("events", "users", "companies")
STAMP = operator.itemgetter("inserted_at")
# The caller's environment less what would change the tap's settings or stdout buffering.
TAP_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_EXPORTS_", "PYTHONUNBUF"))}


class TapRun(NamedTuple):
    """One tap subprocess: when it started and ended, what it wrote."""

    started: float
    ended: float
    records: dict[str, int]
    bytes_per_line: float
    output: bytes


def run_tap(config: dict[str, Any], workdir: Path, catalog: Path | None = None) -> TapRun:
    """Run the tap to its end, stdout to a file; RECORDs counted per stream afterwards."""
    config_file, out_file = workdir / "config.json", workdir / "out.jsonl"
    config_file.write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_exports", "--config", str(config_file)]
    command += ["--catalog", str(catalog)] if catalog else []
    with out_file.open("wb") as out, (workdir / "stderr.log").open("w+b") as err:
        started = time.monotonic()
        returncode = subprocess.call(command, stdout=out, stderr=err, env=TAP_ENV)
        ended = time.monotonic()
        if returncode != 0:
            err.seek(0)
            raise SystemExit(f"tap exited {returncode}:\n{err.read().decode()[-2000:]}")
    output = out_file.read_bytes()
    records = {s: output.count(b'\n{"type":"RECORD","stream":"%s",' % s.encode()) for s in STREAMS}
    per_line = len(output) / max(sum(records.values()), 1)
    return TapRun(started, ended, records, per_line, output)


def events_only_catalog(config: dict[str, Any], workdir: Path, name: str) -> Path:
    """Discover (untimed), select the events stream alone, write the catalog to a file."""
    config_file = workdir / f"{name}-config.json"
    config_file.write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_exports", "--config", str(config_file), "--discover"]
    discovered = subprocess.run(command, capture_output=True, check=True, env=TAP_ENV)
    path = workdir / f"{name}-catalog.json"
    path.write_text(json.dumps(select_only(json.loads(discovered.stdout), "events")))
    return path


def userpilot_config(
    api_url: str, days: int, args: argparse.Namespace, **more: Any
) -> dict[str, Any]:
    end = START + timedelta(days=days)
    return {
        "provider": "userpilot",
        "api_key": USERPILOT_DEMO_TOKEN,
        "api_url": api_url,
        "start_date": f"{START}T00:00:00Z",
        "end_date": f"{end}T00:00:00Z",
        "poll_interval_seconds": args.poll_seconds,
        "api_rate_limit": args.rate_limit,
        "rate_limit_period_seconds": args.rate_period,
        **more,
    }


def userpilot_sandbox(args: argparse.Namespace, data: UserpilotData, seconds: float) -> Sandbox:
    return Sandbox(
        SandboxConfig(
            provider="userpilot",
            userpilot=UserpilotConfig(
                environments=[UserpilotEnvironment(api_key=USERPILOT_DEMO_TOKEN, data=data)],
                timing=UserpilotTiming(processing_seconds=seconds),
                rows_per_part=args.rows_per_part,
                rate_limit=args.rate_limit,
                rate_period_seconds=args.rate_period,
            ),
        )
    )


class Rate(NamedTuple):
    """One rate run: events, first create -> exit, wall time, bytes per output line."""

    events: int
    seconds: float
    wall: float
    bytes_per_line: float


def rate_modes(
    args: argparse.Namespace, workdir: Path, stack: contextlib.ExitStack
) -> list[tuple[str, Callable[[], Rate]]]:
    """(label, run) of Cometly, then of Userpilot per format; `stack` keeps the sandboxes."""
    spec = DataSpec(COMETLY_DAY, days=1, companies_per_day=0, contacts_per_day=0,
                    events_per_day=args.records)  # fmt: skip
    timing, limits = Timing(0.0, 0.0, 900), Limits(1000, 1000, 1)
    config = SandboxConfig(spaces=[Space(DEMO_KEY, data=spec)], timing=timing, limits=limits)
    cometly = stack.enter_context(Sandbox(config))
    up_data = UserpilotData(start=START, days=1, events_per_day=args.records)
    userpilot = stack.enter_context(userpilot_sandbox(args, up_data, 0.0))
    cometly_events = len(cometly.emulator.dataset(DEMO_KEY).events)  # generated before timing
    userpilot_events = len(userpilot.emulator.dataset(USERPILOT_DEMO_TOKEN))
    cometly_config = {
        "api_key": DEMO_KEY,
        "api_url": cometly.api_url,
        "start_date": COMETLY_EDGES[0],
        "end_date": COMETLY_EDGES[1],
        "timezone": "America/New_York",
        "poll_interval_seconds": args.poll_seconds,
        "rate_limit_period_seconds": 1,
        "create_rate_limit": 1000,
        "status_rate_limit": 1000,
    }
    cometly_catalog = events_only_catalog(cometly_config, workdir, "cometly")
    userpilot_catalog = events_only_catalog(
        userpilot_config(userpilot.api_url, 1, args), workdir, "userpilot"
    )

    def cometly_run() -> Rate:
        run = run_tap(cometly_config, workdir, cometly_catalog)
        state = next(orjson.loads(line) for line in run.output.splitlines() if b"export_id" in line)
        export_id = state["value"]["bookmarks"]["events"]["exports_in_flight"][0]["export_id"]
        created = cometly.emulator.completed_at(int(export_id))  # no queued/processing time
        return _rate(run, cometly_events, created)

    def userpilot_run(export_format: str, catalog: Path | None) -> Rate:
        before = len(userpilot.emulator.created)
        config = userpilot_config(userpilot.api_url, 1, args, export_format=export_format)
        run = run_tap(config, workdir, catalog)
        job_id = userpilot.emulator.created[before][0]
        return _rate(run, userpilot_events, userpilot.emulator.finishes_at(job_id))

    modes: list[tuple[str, Callable[[], Rate]]] = [("cometly ndjson", cometly_run)]
    modes += [
        (f"userpilot {f}", functools.partial(userpilot_run, f, userpilot_catalog))
        for f in args.formats
    ]
    modes.append(("userpilot ndjson, + users, companies", lambda: userpilot_run("ndjson", None)))
    return modes


def _rate(run: TapRun, expected: int, created: float) -> Rate:
    if run.records["events"] != expected:
        raise SystemExit(f"events: {run.records['events']} RECORDs, the sandbox has {expected}")
    return Rate(expected, run.ended - created, run.ended - run.started, run.bytes_per_line)


def print_rates(args: argparse.Namespace, workdir: Path) -> None:
    with contextlib.ExitStack() as stack:
        modes = rate_modes(args, workdir, stack)
        results: dict[str, list[Rate]] = {label: [] for label, _ in modes}
        for repeat in range(args.repeat + 1):
            for label, run in modes:
                result = run()
                if repeat:  # round 0 is the warm-up
                    results[label].append(result)
    print(
        f"records/s: one day of ~{args.records:,} events, one job (Userpilot: parts of "
        f"{args.rows_per_part:,} rows); events / (first create -> exit); median of {args.repeat}"
    )
    print(
        f"{'path':<38}{'events':>9}{'records/s':>11}{'vs cometly':>11}{'MB/s out':>9}"
        f"{'B/line':>7}{'wall s':>7}"
    )
    rates = {
        label: statistics.median(r.events / r.seconds for r in rs) for label, rs in results.items()
    }
    for label, runs in results.items():
        rate, size = rates[label], runs[0].bytes_per_line
        wall = statistics.median(r.wall for r in runs)
        print(
            f"{label:<38}{runs[0].events:>9,}{rate:>11,.0f}{rate / rates['cometly ndjson']:>11.2f}"
            f"{rate * size / 1e6:>9.1f}{size:>7.0f}{wall:>7.2f}"
        )
    if "userpilot ndjson" in rates:
        per_byte = {label: rates[label] * runs[0].bytes_per_line for label, runs in results.items()}
        ratio = per_byte["userpilot ndjson"] / per_byte["cometly ndjson"]
        print(f"userpilot/cometly ndjson per byte: {ratio:.3f} (requirement: at least 0.90)")
        for label, least in (("csv", 0.7), ("parquet", 1.0), ("avro", 1.0)):
            if f"userpilot {label}" in rates:
                ratio = rates[f"userpilot {label}"] / rates["userpilot ndjson"]
                print(f"userpilot {label}/ndjson records/s: {ratio:.2f} (requirement: {least:.1f})")
    print()


class FloorRun(NamedTuple):
    """One backfill, as the sandbox's jobs and the tap's output tell it."""

    wall: float
    jobs: int
    processing: float  # all jobs'
    startup: float
    gaps: list[float]
    tail: float
    conflicts: int
    checks: str  # RECORDs against the sandbox, requests it admitted and refused

    @property
    def floor(self) -> float:
        return self.processing + self.tail


def floor_run(args: argparse.Namespace, workdir: Path) -> FloorRun:
    """One backfill of --days days on a fresh sandbox (same data: generated once)."""
    data = UserpilotData(start=START, days=args.days, events_per_day=args.events_per_day)
    seconds = args.processing_seconds
    with userpilot_sandbox(args, data, seconds) as sandbox:
        rows = sandbox.emulator.dataset(USERPILOT_DEMO_TOKEN)  # before the clock starts
        more = {"window_days": args.window_days, "export_format": "ndjson"}
        run = run_tap(userpilot_config(sandbox.api_url, args.days, args, **more), workdir)
        ends = [sandbox.emulator.finishes_at(job_id) for job_id, _ in sandbox.emulator.created]
        conflicts = sandbox.emulator.conflicts
        requests = sum(sandbox.emulator.status_reads.values()) + len(ends)
        refused = sandbox.emulator.limiter(USERPILOT_DEMO_TOKEN).refusals
    return FloorRun(
        wall=run.ended - run.started,
        jobs=len(ends),
        processing=len(ends) * seconds,
        startup=ends[0] - seconds - run.started,
        gaps=[b - seconds - a for a, b in itertools.pairwise(ends)],
        tail=run.ended - ends[-1],
        conflicts=conflicts,
        checks=f"{record_checks(run.records, rows, args.days, args.window_days)}; requests"
        f" {requests} (limit {args.rate_limit} per {args.rate_period:g} s), 429s {refused}",
    )


def record_checks(records: dict[str, int], rows: list[Record], days: int, window_days: int) -> str:
    """RECORDs per stream against the sandbox's rows: events in [start, end), users and
    companies the ids identified in each window (the newest identify row of each)."""
    counts = dict.fromkeys(STREAMS, 0)
    for first in range(0, days, window_days):
        low, high = (f"{START + timedelta(days=d)}T00:00:00.000000Z"
                     for d in (first, min(first + window_days, days)))  # fmt: skip
        window = rows[
            bisect.bisect_left(rows, low, key=STAMP) : bisect.bisect_left(rows, high, key=STAMP)
        ]
        counts["events"] += len(window)
        for stream, key in (("users", "user_id"), ("companies", "company_id")):
            kind = f"identify_{key[:-3]}"
            counts[stream] += len({r[key] for r in window if r["event_type"] == kind and r[key]})
    return ", ".join(
        f"{s} {records[s]}/{counts[s]}" + ("" if records[s] == counts[s] else " MISMATCH")
        for s in STREAMS
    )


def print_floor(args: argparse.Namespace, workdir: Path) -> None:
    runs = [floor_run(args, workdir) for _ in range(args.repeat)]
    print(
        f"backfill: {args.days} days x {args.events_per_day:,} events, window_days "
        f"{args.window_days}, jobs of {args.processing_seconds:g} s one at a time, NDJSON, all "
        f"streams; poll {args.poll_seconds:g} s; {args.rate_limit} requests/{args.rate_period:g} s"
    )
    print("floor = jobs x processing + tail (last job completed -> tap exit: its download)")
    print(
        f"{'run':<5}{'jobs':>5}{'processing':>11}{'tail':>7}{'floor':>8}{'wall':>8}"
        f"{'wall/floor':>11}{'startup':>9}{'gaps sum':>10}{'gap max':>9}{'409s':>6}"
    )
    for number, run in enumerate(runs, 1):
        print(
            f"{number:<5}{run.jobs:>5}{run.processing:>11.2f}{run.tail:>7.2f}{run.floor:>8.2f}"
            f"{run.wall:>8.2f}{run.wall / run.floor:>11.3f}{run.startup:>9.2f}"
            f"{sum(run.gaps):>10.2f}{max(run.gaps, default=0):>9.3f}{run.conflicts:>6}"
        )
    ratio = statistics.median(run.wall / run.floor for run in runs)
    print(f"median wall/floor: {ratio:.3f} (requirement: at most 1.10)")
    print("(wall = startup: tap start to first create + processing + gaps + tail)")
    for number, run in enumerate(runs, 1):
        print(f"  run {number}: RECORDs/sandbox {run.checks}; 409s {run.conflicts}")
    print("(requests: status reads and creates the sandbox admitted; a poll interval whose")
    print(" requests overrun the limit makes the tap wait for the period to free, not pace)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--records", type=int, default=300_000, help="events per rate run")
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--days", type=int, default=14, help="of the backfill")
    parser.add_argument("--events-per-day", type=int, default=20_000, help="of the backfill")
    parser.add_argument("--processing-seconds", type=float, default=1.0)
    parser.add_argument("--window-days", type=int, default=1, help="of the backfill")
    parser.add_argument("--poll-seconds", type=float, default=0.05)
    parser.add_argument("--rows-per-part", type=int, default=50_000)
    parser.add_argument("--rate-limit", type=int, default=600, help="requests per period")
    parser.add_argument("--rate-period", type=float, default=60.0)
    parser.add_argument("--skip-rates", action="store_true")
    parser.add_argument("--skip-floor", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        if not args.skip_rates:
            print_rates(args, Path(workdir))
        if not args.skip_floor:
            print_floor(args, Path(workdir))


if __name__ == "__main__":
    main()
