"""RECORD throughput: the tap vs singer-sdk's default per-record path vs the raw floor.

One export file, one run:
- floor: gunzip the file, parse each line with orjson, serialise a RECORD message;
- sdk default: a minimal singer-sdk stream with the same schema yielding the same rows,
  through the SDK's per-record path (conformance, maps, writer);
- tap: the whole tap against the sandbox (in a process of its own): create, poll,
  download over loopback, decode, check, filter, emit. Three sandboxes: records with no
  undeclared field, 15% of them with one (the default), every one with one. In RECORD
  mode and in BATCH mode: with `undeclared_fields: evolve` (the default: the field is
  declared, and the lines go on as they are) and `drop` (the lines carrying it encoded
  again without it); in BATCH mode also regrouped into files of 10,000, and through
  singer-sdk's own batcher (every record decoded and encoded again).
All write to /dev/null (BATCH files go to a temporary directory). Ratios against the
floor and against the SDK's default path are what to compare across machines.

    .venv/bin/python benchmarks/throughput.py [--records 200000] [--repeat 3] [--only BATCH]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import requests
from measure import median_rate, sandbox_process, select_only
from singer_sdk import Stream, Tap

from tap_exports.providers.cometly import EVENTS
from tap_exports.sandbox import DEMO_KEY
from tap_exports.sdk.tap import TapExports

DAY = date(2025, 3, 4)
START, END = "2025-03-04T05:00:00Z", "2025-03-05T05:00:00Z"


def export_file(api_url: str) -> bytes:
    """Fetch the day's events export once, as the tap would see it."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {DEMO_KEY}"
    created = session.post(f"{api_url}/events/exports", json={"date": DAY.isoformat()})
    export_id = created.json()["export_id"]
    while True:
        status = session.get(f"{api_url}/events/exports/{export_id}").json()
        if status["status"] == "completed":
            return requests.get(status["download_url"], timeout=60).content
        time.sleep(0.05)


def floor(data: bytes) -> int:
    count = 0
    with open(os.devnull, "wb") as sink, gzip.GzipFile(fileobj=io.BytesIO(data)) as lines:
        for line in lines:
            record = orjson.loads(line)
            sink.write(orjson.dumps({"type": "RECORD", "stream": "events", "record": record}))
            sink.write(b"\n")
            count += 1
    return count


class _PlainEvents(Stream):
    name = "events"
    schema = EVENTS.schema
    primary_keys = ("id",)

    def __init__(self, tap: Tap, data: bytes) -> None:
        super().__init__(tap)
        self._data = data

    def get_records(self, context: Any) -> Iterable[dict[str, Any]]:
        with gzip.GzipFile(fileobj=io.BytesIO(self._data)) as lines:
            for line in lines:
                yield orjson.loads(line)


def sdk_default(data: bytes) -> int:
    class PlainTap(Tap):
        name = "plain-tap"
        config_jsonschema: dict[str, Any] = {"type": "object", "properties": {}}  # noqa: RUF012

        def discover_streams(self) -> list[Stream]:
            return [_PlainEvents(self, data)]

    tap = PlainTap(config={}, parse_env_config=False)
    with _stdout_to_devnull():
        tap.sync_all()
    return sum(1 for _ in gzip.GzipFile(fileobj=io.BytesIO(data)))


def tap_path(
    api_url: str,
    records: int,
    *,
    batch_size: int | None = None,
    pass_through: bool = True,
    undeclared: str = "evolve",
) -> Callable[[bytes], int]:
    """The whole tap; with `batch_size`, in BATCH mode (files in a temporary directory)."""
    config: dict[str, Any] = {
        "undeclared_fields": undeclared,
        "api_key": DEMO_KEY,
        "api_url": api_url,
        "start_date": START,
        "end_date": END,
        "timezone": "America/New_York",
        "poll_interval_seconds": 0.02,
        "rate_limit_period_seconds": 1,
        "create_rate_limit": 1000,
        "status_rate_limit": 1000,
    }
    # Discovery is the harness's part (Meltano runs it apart): not timed.
    catalog = TapExports(config=config, parse_env_config=False).catalog_dict
    select_only(catalog, "events")

    def run(_: bytes) -> int:
        with tempfile.TemporaryDirectory() as storage:
            if batch_size is not None:
                config["batch_config"] = {
                    "encoding": {"format": "jsonl", "compression": "gzip"},
                    "storage": {"root": Path(storage).as_uri()},
                    "batch_size": batch_size,
                }
            tap = TapExports(config=config, catalog=catalog, parse_env_config=False)
            tap.streams["events"].pass_through = pass_through  # type: ignore[attr-defined]
            with _stdout_to_devnull():
                tap.sync_all()
        return records

    return run


@contextlib.contextmanager
def _stdout_to_devnull() -> Any:
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--only", action="append", default=[], help="measure the tap rows whose label has this"
    )
    args = parser.parse_args()
    with (
        sandbox_process(args.records) as sandbox,
        sandbox_process(args.records, 0.0) as clean,
        sandbox_process(args.records, 1.0) as every,
    ):
        data = export_file(sandbox)
        count = floor(data)
        print(f"file: {count} events, {len(data) / 1e6:.1f} MB gzip; median of {args.repeat}")
        print(f"{'path':<52}{'records/s':>12}{'vs floor':>10}{'vs sdk':>8}")
        base = median_rate(floor, data, args.repeat)
        sdk = median_rate(sdk_default, data, args.repeat)
        whole = count + 1  # every record fits one batch file
        rows: list[tuple[str, float | Callable[[bytes], int]]] = [
            ("raw gunzip+orjson+dumps (floor)", base),
            ("singer-sdk default per-record path", sdk),
            ("tap RECORD, no undeclared field", tap_path(clean, count)),
            ("tap RECORD, 15% carry one, evolve (default)", tap_path(sandbox, count)),
            ("tap RECORD, 15% carry one, drop", tap_path(sandbox, count, undeclared="drop")),
            ("tap RECORD, every record carries one, evolve", tap_path(every, count)),
            (
                "tap BATCH, file as it is (no undeclared field)",
                tap_path(clean, count, batch_size=whole),
            ),
            (
                "tap BATCH, 15% carry one, evolve: file as it is",
                tap_path(sandbox, count, batch_size=whole),
            ),
            (
                "tap BATCH, 15% carry one, drop: lines re-encoded",
                tap_path(sandbox, count, batch_size=whole, undeclared="drop"),
            ),
            (
                "tap BATCH, every record carries one, evolve",
                tap_path(every, count, batch_size=whole),
            ),
            ("tap BATCH, lines regrouped per 10,000", tap_path(sandbox, count, batch_size=10_000)),
            (
                "tap BATCH, singer-sdk batcher",
                tap_path(sandbox, count, batch_size=10_000, pass_through=False),
            ),
        ]
        for label, path in rows:
            if args.only and label.startswith("tap") and not any(o in label for o in args.only):
                continue
            value = path if isinstance(path, float) else median_rate(path, data, args.repeat)
            print(f"{label:<52}{value:>12,.0f}{value / base:>10.2f}{value / sdk:>8.1f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
