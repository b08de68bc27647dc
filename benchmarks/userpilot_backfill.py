"""Userpilot: a backfill's wall time against its floor, and records/s per file format.

Userpilot runs one export job per app token at a time (a second create answers 409), so
the tap keeps one job running and reads the previous job's files while the next one
processes. With J jobs of T seconds each, a backfill cannot end before J x T plus the
download of the last job's files (nothing overlaps it): that is the floor, met when each
job is created the moment the previous one completes. The download term is measured: the
tail, from the last job completing (the sandbox's clock, shared with this process) to the
tap's exit. Wall time then cuts exactly into startup (tap start to first create), J x T,
the gaps between one job completing and the next being created, and the tail; the
requirement is wall <= 1.1 x floor. As checks: RECORDs per stream against the sandbox's
rows (users and companies: the identified ids of each window) and the sandbox's 409s,
which should be 0 (the tap must never trip over its own job).

Records/s: one UTC day of --records events, one job (parts of --rows-per-part rows) that
completes at once, events selected alone; in NDJSON, CSV, Parquet and Avro, beside Cometly
on one day of as many events (one gzip NDJSON export) and, for reference, Userpilot NDJSON
with users and companies selected too. records/s is events / (first create -> tap exit):
interpreter start-up and discovery are left out, create, poll, download, decode and emit
are in. Modes alternate within each repeat; the median of --repeat runs is printed, after
one warm-up run per mode that is not counted.

Every tap runs as a subprocess, as a user runs it, stdout to a file (RECORDs are counted
afterwards), with the caller's environment without TAP_EXPORTS_* and PYTHONUNBUFFERED,
and the sandbox's request limit (--rate-limit per --rate-period) as its own. The sandboxes
run in this process; each dataset is generated once and each Userpilot part rendered once
per process (Cometly caches its files itself), so the sandbox's own work stays out of
the figures after the warm-up. Nothing is asserted: figures are printed.

    .venv/bin/python benchmarks/userpilot_backfill.py [--repeat 3] [--records 300000]
        [--days 14] [--events-per-day 20000] [--processing-seconds 1] [--window-days 1]
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as midnight
from pathlib import Path
from typing import Any

import orjson
from measure import select_only

import tap_exports.sandbox.userpilot as userpilot_sandbox
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
from tap_exports.sandbox.emulator import StoredFile
from tap_exports.sandbox.userpilot_data import Record, utc_micros

START = date(2025, 3, 1)
COMETLY_DAY, COMETLY_EDGES = date(2025, 3, 4), ("2025-03-04T05:00:00Z", "2025-03-05T05:00:00Z")
FORMATS = ("ndjson", "csv", "parquet", "avro")
STREAMS = ("events", "users", "companies")


def cache_sandbox_work() -> None:
    """Generate each Userpilot dataset and render each part once per process, not per run."""
    userpilot_sandbox.generate = functools.cache(userpilot_sandbox.generate)  # type: ignore[assignment]
    render = userpilot_sandbox.render
    rendered: dict[tuple[Any, ...], StoredFile] = {}

    def cached(rows: list[Record], export_format: str, *, gzipped: bool, name: str) -> StoredFile:
        edges = (rows[0]["inserted_at"], rows[-1]["inserted_at"]) if rows else ()
        key = (export_format, gzipped, len(rows), *edges)
        if key not in rendered:
            rendered[key] = render(rows, export_format, gzipped=gzipped, name=name)
        return rendered[key]

    userpilot_sandbox.render = cached  # type: ignore[assignment]


@dataclass
class TapRun:
    """One tap subprocess: when it started and ended, what it wrote."""

    started: float
    ended: float
    records: dict[str, int]
    bytes_per_record: float
    output: bytes


def run_tap(config: dict[str, Any], workdir: Path, catalog: Path | None = None) -> TapRun:
    """Run the tap to its end, stdout to a file; RECORDs counted per stream afterwards."""
    config_file, out_file = workdir / "config.json", workdir / "out.jsonl"
    config_file.write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_exports", "--config", str(config_file)]
    if catalog is not None:
        command += ["--catalog", str(catalog)]
    with out_file.open("wb") as out, (workdir / "stderr.log").open("w+b") as err:
        started = time.monotonic()
        returncode = subprocess.call(command, stdout=out, stderr=err, env=_tap_env())
        ended = time.monotonic()
        if returncode != 0:
            err.seek(0)
            raise SystemExit(f"tap exited {returncode}:\n{err.read().decode()[-2000:]}")
    output = out_file.read_bytes()
    records = {s: output.count(b'\n{"type":"RECORD","stream":"%s",' % s.encode()) for s in STREAMS}
    per_record = len(output) / max(sum(records.values()), 1)
    return TapRun(started, ended, records, per_record, output)


def _tap_env() -> dict[str, str]:
    """The caller's environment less what would change the tap's settings or buffering."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("TAP_EXPORTS_") and k != "PYTHONUNBUFFERED"
    }


def events_only_catalog(config: dict[str, Any], workdir: Path, name: str) -> Path:
    """Discover (untimed), select the events stream alone, write the catalog to a file."""
    config_file = workdir / f"{name}-config.json"
    config_file.write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_exports", "--config", str(config_file), "--discover"]
    discovered = subprocess.run(command, capture_output=True, check=True, env=_tap_env())
    path = workdir / f"{name}-catalog.json"
    path.write_text(json.dumps(select_only(json.loads(discovered.stdout), "events")))
    return path


def userpilot_config(
    api_url: str, days: int, args: argparse.Namespace, **extra: Any
) -> dict[str, Any]:
    return {
        "provider": "userpilot",
        "api_key": USERPILOT_DEMO_TOKEN,
        "api_url": api_url,
        "start_date": f"{START.isoformat()}T00:00:00Z",
        "end_date": f"{(START + timedelta(days=days)).isoformat()}T00:00:00Z",
        "poll_interval_seconds": args.poll_seconds,
        "api_rate_limit": args.rate_limit,
        "rate_limit_period_seconds": args.rate_period,
        **extra,
    }


def userpilot_sandbox_config(
    args: argparse.Namespace, data: UserpilotData, processing_seconds: float
) -> SandboxConfig:
    environment = UserpilotEnvironment(api_key=USERPILOT_DEMO_TOKEN, data=data)
    return SandboxConfig(
        provider="userpilot",
        userpilot=UserpilotConfig(
            environments=[environment],
            timing=UserpilotTiming(processing_seconds=processing_seconds),
            rows_per_part=args.rows_per_part,
            rate_limit=args.rate_limit,
            rate_period_seconds=args.rate_period,
        ),
    )


# Records/s ---------------------------------------------------------------------------------

# A rate mode: its label and a run returning (events, seconds from first create to exit,
# wall seconds, bytes per RECORD line); the label of the baseline comes first.
RateMode = tuple[str, Callable[[], tuple[int, float, float, float]]]


def rate_modes(
    args: argparse.Namespace, workdir: Path, stack: contextlib.ExitStack
) -> list[RateMode]:
    """Cometly, then Userpilot per format, each on a sandbox of its own kept open by `stack`."""
    spec = DataSpec(
        start=COMETLY_DAY, days=1, companies_per_day=0, contacts_per_day=0,
        events_per_day=args.records,
    )  # fmt: skip
    cometly = stack.enter_context(
        Sandbox(
            SandboxConfig(
                spaces=[Space(api_key=DEMO_KEY, data=spec)],
                timing=Timing(0.0, 0.0, 900),
                limits=Limits(1000, 1000, 1),
            )
        )
    )
    up_data = UserpilotData(start=START, days=1, events_per_day=args.records)
    userpilot = stack.enter_context(Sandbox(userpilot_sandbox_config(args, up_data, 0.0)))
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

    def cometly_run() -> tuple[int, float, float, float]:
        run = run_tap(cometly_config, workdir, cometly_catalog)
        state = next(
            orjson.loads(line) for line in run.output.splitlines() if b'"export_id"' in line
        )
        export_id = state["value"]["bookmarks"]["events"]["exports_in_flight"][0]["export_id"]
        created = cometly.emulator.completed_at(int(export_id))  # no queued/processing time
        return _rate(run, cometly_events, created)

    def userpilot_run(export_format: str, catalog: Path | None) -> tuple[int, float, float, float]:
        before = len(userpilot.emulator.created)
        config = userpilot_config(userpilot.api_url, 1, args, export_format=export_format)
        run = run_tap(config, workdir, catalog)
        job_id = userpilot.emulator.created[before][0]
        return _rate(run, userpilot_events, userpilot.emulator.finishes_at(job_id))

    modes: list[RateMode] = [("cometly ndjson", cometly_run)]
    modes += [
        (f"userpilot {f}", functools.partial(userpilot_run, f, userpilot_catalog))
        for f in args.formats
    ]
    modes.append(("userpilot ndjson, + users, companies", lambda: userpilot_run("ndjson", None)))
    return modes


def _rate(run: TapRun, expected: int, created: float) -> tuple[int, float, float, float]:
    if run.records["events"] != expected:
        raise SystemExit(f"events: {run.records['events']} RECORDs, the sandbox has {expected}")
    return expected, run.ended - created, run.ended - run.started, run.bytes_per_record


# The floor -------------------------------------------------------------------------------


@dataclass
class FloorRun:
    """One backfill: its jobs as the sandbox saw them, and what the tap wrote."""

    wall: float
    jobs: int
    processing: float
    startup: float
    gaps: list[float]
    tail: float
    conflicts: int
    records: dict[str, int]
    expected: dict[str, int]

    @property
    def floor(self) -> float:
        return self.processing + self.tail


def floor_run(args: argparse.Namespace, workdir: Path) -> FloorRun:
    """One backfill of --days days on a fresh sandbox (same data: generated once)."""
    data = UserpilotData(start=START, days=args.days, events_per_day=args.events_per_day)
    seconds = args.processing_seconds
    with Sandbox(userpilot_sandbox_config(args, data, seconds)) as sandbox:
        rows = sandbox.emulator.dataset(USERPILOT_DEMO_TOKEN)  # before the clock starts
        config = userpilot_config(
            sandbox.api_url, args.days, args, window_days=args.window_days, export_format="ndjson"
        )
        run = run_tap(config, workdir)
        ends = [sandbox.emulator.finishes_at(job_id) for job_id, _ in sandbox.emulator.created]
        conflicts = sandbox.emulator.conflicts
    starts = [end - seconds for end in ends]
    return FloorRun(
        wall=run.ended - run.started,
        jobs=len(ends),
        processing=len(ends) * seconds,
        startup=starts[0] - run.started,
        gaps=[start - end for end, start in zip(ends, starts[1:], strict=False)],
        tail=run.ended - ends[-1],
        conflicts=conflicts,
        records=run.records,
        expected=expected_records(rows, args.days, args.window_days),
    )


def expected_records(rows: list[Record], days: int, window_days: int) -> dict[str, int]:
    """Events in [start, end); users and companies: the ids identified in each window."""
    counts = dict.fromkeys(STREAMS, 0)
    for first in range(0, days, window_days):
        edges = (START + timedelta(days=d) for d in (first, min(first + window_days, days)))
        low, high = (utc_micros(datetime.combine(day, midnight(), UTC)) for day in edges)
        window = rows[
            bisect.bisect_left(rows, low, key=_stamp) : bisect.bisect_left(rows, high, key=_stamp)
        ]
        counts["events"] += len(window)
        for stream, event_type, key in (
            ("users", "identify_user", "user_id"),
            ("companies", "identify_company", "company_id"),
        ):
            ids = {r[key] for r in window if r["event_type"] == event_type and r[key]}
            counts[stream] += len(ids)
    return counts


def _stamp(row: Record) -> str:
    return str(row["inserted_at"])


# Main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--records", type=int, default=300_000, help="events per rate run")
    parser.add_argument("--formats", nargs="+", choices=FORMATS, default=list(FORMATS))
    parser.add_argument("--days", type=int, default=14, help="backfill: days, one job a window")
    parser.add_argument("--events-per-day", type=int, default=20_000)
    parser.add_argument("--processing-seconds", type=float, default=1.0)
    parser.add_argument("--window-days", type=int, default=1)
    parser.add_argument("--poll-seconds", type=float, default=0.05)
    parser.add_argument("--rows-per-part", type=int, default=50_000)
    parser.add_argument("--rate-limit", type=int, default=600, help="requests per period")
    parser.add_argument("--rate-period", type=float, default=60.0)
    parser.add_argument("--skip-rates", action="store_true")
    parser.add_argument("--skip-floor", action="store_true")
    args = parser.parse_args()
    cache_sandbox_work()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if not args.skip_rates:
            print_rates(args, workdir)
        if not args.skip_floor:
            print_floor(args, workdir)


def print_rates(args: argparse.Namespace, workdir: Path) -> None:
    with contextlib.ExitStack() as stack:
        modes = rate_modes(args, workdir, stack)
        results: dict[str, list[tuple[int, float, float, float]]] = {m: [] for m, _ in modes}
        for repeat in range(args.repeat + 1):
            for label, run in modes:
                result = run()
                if repeat:  # the first round is the warm-up
                    results[label].append(result)
    print(
        f"records/s: one day of ~{args.records:,} events, one job (Userpilot parts of "
        f"{args.rows_per_part:,} rows), events / (first create -> exit), median of {args.repeat}"
    )
    print(f"{'path':<38}{'events':>9}{'records/s':>12}{'vs cometly':>12}{'wall s':>8}{'B/line':>8}")
    rates = {}
    for label, runs in results.items():
        rates[label] = statistics.median(events / seconds for events, seconds, _, _ in runs)
        wall = statistics.median(r[2] for r in runs)
        ratio = rates[label] / rates["cometly ndjson"]
        print(
            f"{label:<38}{runs[0][0]:>9,}{rates[label]:>12,.0f}{ratio:>12.2f}{wall:>8.2f}"
            f"{runs[0][3]:>8.0f}"
        )
    if "userpilot ndjson" in rates:
        ratio = rates["userpilot ndjson"] / rates["cometly ndjson"]
        print(f"userpilot/cometly ndjson: {ratio:.3f} (requirement: at least 0.90)")
    print()


def print_floor(args: argparse.Namespace, workdir: Path) -> None:
    runs = [floor_run(args, workdir) for _ in range(args.repeat)]
    print(
        f"backfill: {args.days} days x {args.events_per_day:,} events, window_days "
        f"{args.window_days}, jobs of {args.processing_seconds:g} s, one at a time; poll "
        f"{args.poll_seconds:g} s; {args.rate_limit} requests per {args.rate_period:g} s"
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
        counts = ", ".join(
            f"{s} {run.records[s]}/{run.expected[s]}"
            + ("" if run.records[s] == run.expected[s] else " MISMATCH")
            for s in STREAMS
        )
        print(f"  run {number}: RECORDs/sandbox {counts}; 409s {run.conflicts}")


if __name__ == "__main__":
    main()
