"""RECORD throughput: the tap vs singer-sdk's default per-record path vs the raw floor.

One export file, one run:
- floor: gunzip the file, parse each line with orjson, serialise a RECORD message;
- sdk default: a minimal singer-sdk stream with the same schema yielding the same rows,
  through the SDK's per-record path (conformance, maps, writer);
- tap: the whole tap against the sandbox: create, poll, download over loopback,
  decode, check, filter, emit.
All write to /dev/null. Ratios against the floor are what to compare across machines.

    .venv/bin/python benchmarks/throughput.py [--records 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import os
import sys
import time
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

import orjson
import requests
from measure import median_rate, select_only
from singer_sdk import Stream, Tap

from tap_exports.providers.cometly import EVENTS
from tap_exports.sandbox import DEMO_KEY, DataSpec, Limits, Sandbox, SandboxConfig, Space, Timing
from tap_exports.tap import TapExports

DAY = date(2025, 3, 4)
START, END = "2025-03-04T05:00:00Z", "2025-03-05T05:00:00Z"


def export_file(sandbox: Sandbox) -> bytes:
    """Fetch the day's events export once, as the tap would see it."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {DEMO_KEY}"
    created = session.post(f"{sandbox.api_url}/events/exports", json={"date": DAY.isoformat()})
    export_id = created.json()["export_id"]
    while True:
        status = session.get(f"{sandbox.api_url}/events/exports/{export_id}").json()
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


def tap_path(sandbox: Sandbox, records: int) -> Callable[[bytes], int]:
    def run(_: bytes) -> int:
        config = {
            "api_key": DEMO_KEY,
            "api_url": sandbox.api_url,
            "start_date": START,
            "end_date": END,
            "timezone": "America/New_York",
            "poll_interval_seconds": 0.02,
            "rate_limit_period_seconds": 1,
            "create_rate_limit": 1000,
            "status_rate_limit": 1000,
        }
        catalog = TapExports(config=config, parse_env_config=False).catalog_dict
        select_only(catalog, "events")
        tap = TapExports(config=config, catalog=catalog, parse_env_config=False)
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
    args = parser.parse_args()
    per_day = args.records
    data_spec = DataSpec(
        start=DAY, days=1, companies_per_day=0, contacts_per_day=0, events_per_day=per_day
    )
    config = SandboxConfig(
        spaces=[Space(api_key=DEMO_KEY, data=data_spec)],
        timing=Timing(queued_seconds=0.0, processing_seconds=0.0, url_ttl_seconds=900),
        limits=Limits(create=1000, status=1000, period_seconds=1),
    )
    with Sandbox(config) as sandbox:
        data = export_file(sandbox)
        count = floor(data)
        print(f"file: {count} events, {len(data) / 1e6:.1f} MB gzip; median of {args.repeat}")
        print(f"{'path':<36}{'records/s':>12}{'vs floor':>10}")
        base = median_rate(floor, data, args.repeat)
        rows = [
            ("raw gunzip+orjson+dumps (floor)", base),
            ("singer-sdk default per-record path", median_rate(sdk_default, data, args.repeat)),
            (
                "tap-exports (sandbox, end to end)",
                median_rate(tap_path(sandbox, count), data, args.repeat),
            ),
        ]
        for label, value in rows:
            print(f"{label:<36}{value:>12,.0f}{value / base:>10.2f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
