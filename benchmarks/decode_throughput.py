"""Decode throughput: the tap's streaming decoder against the raw gunzip + orjson floor.

Both read the same gzip NDJSON file in the same run; the figure that matters is the
ratio, not the absolute records/s (which depends on the machine and its load).

    .venv/bin/python benchmarks/decode_throughput.py [--records 300000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import io

import orjson
from measure import median_rate

from tap_exports.engine.decode import iter_ndjson


def make_file(records: int) -> bytes:
    lines = b"".join(
        orjson.dumps(
            {
                "id": n,
                "event_name": "purchase",
                "amount": 99.99,
                "profile_id": n % 977,
                "event_time_utc": "2024-01-15T10:23:45Z",
            }
        )
        + b"\n"
        for n in range(records)
    )
    return gzip.compress(lines, compresslevel=6)


def raw_floor(data: bytes) -> int:
    """Gunzip, parse each line and serialise a RECORD message: nothing else."""
    count = 0
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as lines:
        for line in lines:
            orjson.dumps({"type": "RECORD", "stream": "events", "record": orjson.loads(line)})
            count += 1
    return count


def tap_decoder(data: bytes) -> int:
    """The tap's decoder (gzip sniffing, line numbers, checks) plus the same RECORD dump."""
    count = 0
    for record in iter_ndjson(io.BytesIO(data), source="benchmark"):
        orjson.dumps({"type": "RECORD", "stream": "events", "record": record})
        count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = make_file(args.records)
    floor = median_rate(raw_floor, data, args.repeat)
    tap = median_rate(tap_decoder, data, args.repeat)
    print(f"file: {args.records} records, {len(data) / 1e6:.1f} MB gzip; median of {args.repeat}")
    print(f"{'path':<28}{'records/s':>12}{'vs floor':>10}")
    print(f"{'raw gunzip+orjson (floor)':<28}{floor:>12,.0f}{1:>10.2f}")
    print(f"{'tap decoder':<28}{tap:>12,.0f}{tap / floor:>10.2f}")


if __name__ == "__main__":
    main()
