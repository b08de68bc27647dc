"""Avro files read a group of whole blocks at a time: the same lines whoever reads a group,
polars or fastavro, and a file cut short or damaged is a failed download."""

from __future__ import annotations

import io
import random
from datetime import UTC, date, datetime, timedelta

import fastavro
import pytest

from tap_exports.engine.errors import DownloadError
from tap_exports.engine.files.avro_blocks import AvroBlocks
from tap_exports.engine.files.columnar import avro_batch
from tap_exports.engine.files.parquet_avro import _plain_avro, iter_avro_records
from tests.typed_files import avro_file, rendered

pytest.importorskip("polars")

PLAIN = {
    "type": "record",
    "name": "Event",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "small", "type": ["null", "int"]},
        {"name": "text", "type": ["null", "string"]},
        {"name": "flag", "type": ["boolean", "null"]},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "at_ms", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]},
        {"name": "local", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
        {"name": "day", "type": ["null", {"type": "int", "logicalType": "date"}]},
        {"name": "metadata", "type": ["null", "string"]},
    ],
}
_CHARS = [chr(n) for n in range(0x250)] + ["\u2028", "\U0001f600", "\x7f", "/", "\\", '"']
_JSON = ['{"plan": "growth", "seats": [1, 2.5]}', "[1]", "42", "not json {", ""]


def records(count: int, seed: int = 3) -> list[dict[str, object]]:
    rng = random.Random(seed)
    start = datetime(2025, 3, 1, tzinfo=UTC)

    def maybe(value: object) -> object:
        return None if rng.random() < 0.2 else value

    return [
        {
            "id": rng.randint(-(2**63), 2**63 - 1),
            "small": maybe(rng.randint(-(2**31), 2**31 - 1)),
            "text": maybe("".join(rng.choice(_CHARS) for _ in range(rng.randint(0, 9)))),
            "flag": maybe(rng.random() < 0.5),
            "at": start + timedelta(microseconds=rng.choice([0, 1, 999_999, 86_400_000_123])),
            "at_ms": maybe(start + timedelta(milliseconds=rng.choice([0, 1, 999]))),
            "local": start.replace(tzinfo=None) + timedelta(microseconds=rng.randint(0, 10**9)),
            "day": maybe(date(1970, 1, 1) + timedelta(days=rng.randint(-700_000, 2_900_000))),
            "metadata": maybe(rng.choice(_JSON)),
        }
        for _ in range(count)
    ]


def by_fastavro(data: bytes) -> list[bytes]:
    return rendered(fastavro.reader(io.BytesIO(data)), frozenset({"metadata"}))


def read(data: bytes) -> list[bytes]:
    runs = iter_avro_records(
        io.BytesIO(data),
        source="events export 9",
        run_bytes=4096,
        json_columns=frozenset({"metadata"}),
    )
    return [line for run in runs for line in run]


@pytest.mark.parametrize("codec", ["null", "deflate"])
@pytest.mark.parametrize("seed", [1, 2])
def test_groups_of_blocks_read_by_polars_are_the_lines_fastavro_gives(codec, seed):
    data = avro_file(PLAIN, records(5_000, seed), codec=codec, sync_interval=3_000)
    blocks = AvroBlocks(io.BytesIO(data), source="x")
    assert _plain_avro(blocks.schema)
    assert all(avro_batch(group, frozenset({"metadata"}), n) for n, group in blocks.groups(1_000))
    assert read(data) == by_fastavro(data)


def test_each_group_is_a_whole_avro_file_of_whole_blocks_in_order():
    rows = records(3_000)
    data = avro_file(PLAIN, rows, sync_interval=500)
    groups = list(AvroBlocks(io.BytesIO(data), source="x").groups(256))
    assert len(groups) > 5
    assert all(count >= 256 for count, _ in groups[:-1])
    read_back = [r for _, group in groups for r in fastavro.reader(io.BytesIO(group))]
    assert [r["id"] for r in read_back] == [r["id"] for r in rows]
    assert sum(count for count, _ in groups) == len(rows)


@pytest.mark.parametrize(
    "field",
    [
        {"name": "price", "type": "double"},
        {"name": "blob", "type": "bytes"},
        {"name": "kind", "type": {"type": "enum", "name": "K", "symbols": ["A", "B"]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "key", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "either", "type": ["null", "long", "string"]},
    ],
)
def test_a_schema_with_a_type_polars_reads_otherwise_goes_to_fastavro(field):
    schema = {**PLAIN, "fields": [*PLAIN["fields"], field]}
    assert not _plain_avro(schema)
    values = {
        "price": 1.5,
        "blob": b"\x00\xff",
        "kind": "B",
        "tags": ["a"],
        "key": "12345678-1234-5678-1234-567812345678",
        "either": "x",
    }
    rows = [{**row, field["name"]: values[field["name"]]} for row in records(300)]
    data = avro_file(schema, rows, sync_interval=2_000)
    assert read(data) == by_fastavro(data)


def long_bytes(value: int) -> bytes:
    """An Avro long as written: zig-zag, then 7 bits a byte."""
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def test_a_header_whose_metadata_comes_in_a_sized_block_is_read():
    data = avro_file(PLAIN, records(50))
    blocks = AvroBlocks(io.BytesIO(data), source="x")
    entries = b"".join(
        long_bytes(len(k)) + k.encode() + long_bytes(len(v)) + v for k, v in blocks.metadata.items()
    )
    sync = blocks.header[-16:]
    header = b"Obj\x01" + long_bytes(-len(blocks.metadata)) + long_bytes(len(entries))
    rebuilt = header + entries + long_bytes(0) + sync + data[len(blocks.header) :]
    assert read(rebuilt) == by_fastavro(data)


def more_records_than_its_block_holds(data: bytes) -> bytes:
    """The first block claims five more records than its bytes hold (polars reads past it)."""
    blocks = AvroBlocks(io.BytesIO(data), source="x")
    rest = io.BytesIO(data[len(blocks.header) :])
    count, size = (_read_long(rest) for _ in range(2))
    return blocks.header + long_bytes(count + 5) + long_bytes(size) + rest.read()


def _read_long(stream: io.BytesIO) -> int:
    value = shift = 0
    while True:
        byte = stream.read(1)[0]
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (value >> 1) ^ -(value & 1)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda data: data[:20], r"export 9: the Avro file ends early inside its header"),
        (lambda data: data[:-20], r"export 9: the Avro file ends early inside a block after"),
        (lambda data: data[:-1] + bytes([data[-1] ^ 1]), r"export 9: the Avro file is corrupt"),
        (lambda data: b"PAR1" + data[4:], r"export 9: not an Avro object container file"),
        (more_records_than_its_block_holds, r"export 9: the Avro file is corrupt after record"),
        (lambda data: data[:4] + long_bytes(1) + long_bytes(-3), r"export 9: .* header is corrupt"),
        (lambda data: data[:4] + b"\xff" * 11, r"export 9: the Avro file's header is corrupt"),
        # The schema's text damaged, its length kept: not JSON any more.
        (lambda data: data.replace(b'"record"', b'"rec\x00rd"', 1), r"header is corrupt"),
    ],
)
def test_a_file_cut_short_or_damaged_is_a_failed_download(damage, message):
    data = avro_file(PLAIN, records(2_000), sync_interval=2_000)
    with pytest.raises(DownloadError, match=message):
        read(damage(data))


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "record", "name": "Empty", "fields": []},
        {**PLAIN, "fields": [*PLAIN["fields"], {"name": "n", "type": "long", "default": 0}]},
        {**PLAIN, "fields": [*PLAIN["fields"], {"name": "nothing", "type": "null"}]},
        {**PLAIN, "fields": [*PLAIN["fields"], {"name": "nulls", "type": ["null"]}]},
    ],
)
def test_schemas_polars_reads_otherwise_or_not_at_all_go_to_fastavro(schema):
    assert not _plain_avro(schema)
    if not schema["fields"]:  # three empty records are three lines `{}`
        data = avro_file(schema, [{}, {}, {}])
        assert read(data) == by_fastavro(data) == [b"{}"] * 3
