"""Decode throughput: the tap's streaming decoder against the raw gunzip + orjson floor.

Both read the same gzip NDJSON file in the same run; the figure that matters is the
ratio, not the absolute records/s (which depends on the machine and its load). The
same records as a gzip JSON array and a gzip CSV file show what the other formats
cost against the same floor.

    .venv/bin/python benchmarks/decode_throughput.py [--records 300000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io

import orjson
from measure import median_rate

from tap_exports.engine.files.decode import FORMATS, FileFormats, iter_records

ANY_FORMAT = FileFormats(formats=frozenset(FORMATS))
COLUMNS = {"id": ("integer",), "amount": ("number",), "profile_id": ("integer",)}


def make_records(records: int) -> list[dict]:
    return [
        {
            "id": n,
            "event_name": "purchase",
            "amount": 99.99,
            "profile_id": n % 977,
            "event_time_utc": "2024-01-15T10:23:45Z",
        }
        for n in range(records)
    ]


def make_file(records: list[dict]) -> bytes:
    lines = b"".join(orjson.dumps(record) + b"\n" for record in records)
    return gzip.compress(lines, compresslevel=6)


def make_json_array(records: list[dict]) -> bytes:
    return gzip.compress(orjson.dumps(records), compresslevel=6)


def make_csv(records: list[dict]) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(records[0]))
    writer.writeheader()
    writer.writerows(records)
    return gzip.compress(text.getvalue().encode(), compresslevel=6)


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
    for record in iter_records(
        io.BytesIO(data), source="benchmark", formats=ANY_FORMAT, columns=COLUMNS
    ):
        orjson.dumps({"type": "RECORD", "stream": "events", "record": record})
        count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    records = make_records(args.records)
    data = make_file(records)
    floor = median_rate(raw_floor, data, args.repeat)
    tap = median_rate(tap_decoder, data, args.repeat)
    print(f"file: {args.records} records, {len(data) / 1e6:.1f} MB gzip; median of {args.repeat}")
    print(f"{'path':<28}{'records/s':>12}{'vs floor':>10}")
    print(f"{'raw gunzip+orjson (floor)':<28}{floor:>12,.0f}{1:>10.2f}")
    print(f"{'tap decoder':<28}{tap:>12,.0f}{tap / floor:>10.2f}")
    for name, other in (("JSON array", make_json_array), ("CSV", make_csv)):
        rate = median_rate(tap_decoder, other(records), args.repeat)
        print(f"{'tap decoder, ' + name:<28}{rate:>12,.0f}{rate / floor:>10.2f}")


if __name__ == "__main__":
    main()
