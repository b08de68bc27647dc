"""Memory stays flat in the file size, whatever the format: files stream, never load whole."""

from __future__ import annotations

import csv
import gzip
import io
import tracemalloc

import fastavro
import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tap_exports.engine.files.decode import FORMATS, FileFormats, iter_line_runs

ANY_FORMAT = FileFormats(formats=frozenset(FORMATS))
RECORDS = [
    {"id": n, "note": f"{n:09d} " * 30, "at": f"2024-01-15T10:{n % 60:02d}:45Z"}
    for n in range(50_000)
]  # about 16 MB in each text format
AVRO_SCHEMA = {
    "type": "record",
    "name": "Row",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "note", "type": "string"},
        {"name": "at", "type": "string"},
    ],
}


def ndjson() -> bytes:
    return b"".join(orjson.dumps(record) + b"\n" for record in RECORDS)


def json_array() -> bytes:
    return orjson.dumps(RECORDS)


def csv_file() -> bytes:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(RECORDS[0]))
    writer.writeheader()
    writer.writerows(RECORDS)
    return text.getvalue().encode()


def avro() -> bytes:
    sink = io.BytesIO()
    fastavro.writer(sink, fastavro.parse_schema(AVRO_SCHEMA), RECORDS)
    return sink.getvalue()


def parquet() -> bytes:
    sink = io.BytesIO()
    table = pa.Table.from_pylist(RECORDS)
    pq.write_table(table, sink, row_group_size=5000, compression="none", use_dictionary=False)
    return sink.getvalue()


@pytest.mark.parametrize("make", [ndjson, json_array, csv_file, avro, parquet])
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_peak_memory_while_reading_stays_far_below_the_file_size(make, compress: bool):
    data = make()
    assert len(data) > 14_000_000
    stream = io.BytesIO(gzip.compress(data, compresslevel=1) if compress else data)
    count = 0
    arrow_peak = 0  # pyarrow's own allocations, which tracemalloc does not see
    tracemalloc.start()
    try:
        for run in iter_line_runs(stream, source="x", formats=ANY_FORMAT):
            count += len(run.lines)
            arrow_peak = max(arrow_peak, pa.total_allocated_bytes())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == len(RECORDS)
    assert peak < len(data) / 2.5, f"peak {peak:,} bytes for a file of {len(data):,}"
    assert arrow_peak < len(data) / 2.5
