"""Parquet and Avro files: typed values rendered as JSON, truncation caught, extras optional."""

from __future__ import annotations

import gzip
import io
import itertools
import sys
import uuid
from datetime import UTC, date, datetime, time
from decimal import Decimal

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tap_exports.engine.errors import DecodeError, DownloadError
from tap_exports.engine.files.decode import FileFormats, iter_line_runs, iter_records
from tap_exports.engine.files.parquet_avro import import_extra
from tests.typed_files import avro_file

PARQUET = FileFormats(formats=frozenset({"parquet"}))
AVRO = FileFormats(formats=frozenset({"avro"}))


def lines(data: bytes, formats: FileFormats) -> list[bytes]:
    runs = iter_line_runs(io.BytesIO(data), source="events export 9", formats=formats)
    return [line for run in runs for line in run.lines]


def parquet_file(table: pa.Table, **options) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **options)
    return sink.getvalue()


TYPED_TABLE = pa.table(
    {
        "id": pa.array([1, 2], pa.int64()),
        "name": pa.array(["Zoë", None], pa.string()),
        "at": pa.array(
            [
                datetime(2024, 1, 15, 10, 23, 45, tzinfo=UTC),
                datetime(2024, 1, 15, 10, 23, 45, 120000, tzinfo=UTC),
            ],
            pa.timestamp("us", tz="UTC"),
        ),
        # Zoneless and nanosecond: taken as UTC, cut to microseconds.
        "naive_ns": pa.array([1_705_314_225_123_456_789, None], pa.timestamp("ns")),
        "day": pa.array([date(2024, 1, 15), None], pa.date32()),
        "clock": pa.array([45_296_000_000_001, None], pa.time64("ns")),
        "price": pa.array([Decimal("12.30"), Decimal("-0.05")], pa.decimal128(10, 2)),
        "blob": pa.array([b"\x00\xffhi", None], pa.binary()),
        "ratio": pa.array([float("nan"), 0.25], pa.float64()),
        "tags": pa.array([["a", "b"], []], pa.list_(pa.string())),
        "meta": pa.array([{"plan": "pro", "seats": 3}, None]),
        "flag": pa.array([True, None], pa.bool_()),
    }
)


def test_parquet_values_are_rendered_as_json_with_utc_z_timestamps():
    assert lines(parquet_file(TYPED_TABLE), PARQUET) == [
        b'{"id":1,"name":"Zo\xc3\xab","at":"2024-01-15T10:23:45Z",'
        b'"naive_ns":"2024-01-15T10:23:45.123456Z","day":"2024-01-15","clock":"12:34:56",'
        b'"price":12.30,"blob":"AP9oaQ==","ratio":null,"tags":["a","b"],'
        b'"meta":{"plan":"pro","seats":3},"flag":true}',
        b'{"id":2,"name":null,"at":"2024-01-15T10:23:45.120000Z","naive_ns":null,"day":null,'
        b'"clock":null,"price":-0.05,"blob":null,"ratio":0.25,"tags":[],"meta":null,"flag":null}',
    ]


def test_parquet_gzipped_or_not_reads_the_same_in_runs_numbered_by_record():
    table = pa.table({"n": pa.array(range(20_000), pa.int64()), "pad": ["x" * 100] * 20_000})
    data = parquet_file(table, row_group_size=3000)
    runs = list(iter_line_runs(io.BytesIO(gzip.compress(data)), source="x", formats=PARQUET))
    assert [orjson.loads(line)["n"] for run in runs for line in run.lines] == list(range(20_000))
    assert len(runs) > 1
    for before, after in itertools.pairwise(runs):
        assert after.first_line == before.first_line + len(before.lines)
    assert lines(data, PARQUET) == [line for run in runs for line in run.lines]


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_a_parquet_file_cut_short_is_a_truncated_download(keep: float):
    data = parquet_file(TYPED_TABLE)
    cut = data[: int(len(data) * keep)]
    for body in (cut, gzip.compress(cut)):
        with pytest.raises(DownloadError, match=r"events export 9: not a whole Parquet file"):
            lines(body, PARQUET)


AVRO_SCHEMA = {
    "type": "record",
    "name": "Event",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "name", "type": ["null", "string"]},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "at_ms", "type": ["null", {"type": "long", "logicalType": "timestamp-millis"}]},
        {"name": "day", "type": {"type": "int", "logicalType": "date"}},
        {"name": "clock", "type": {"type": "long", "logicalType": "time-micros"}},
        {
            "name": "price",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2},
        },
        {"name": "key", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "blob", "type": "bytes"},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "attrs", "type": {"type": "map", "values": "long"}},
    ],
}
KEY = uuid.UUID("12345678-1234-5678-1234-567812345678")
AVRO_RECORD = {
    "id": 1,
    "name": None,
    "at": datetime(2024, 1, 15, 10, 23, 45, 123456, tzinfo=UTC),
    "at_ms": None,
    "day": date(2024, 1, 15),
    "clock": time(12, 34, 56),
    "price": Decimal("12.30"),
    "key": KEY,
    "blob": b"\x00\xffhi",
    "kind": "B",
    "tags": ["a"],
    "attrs": {"x": 1},
}


def test_avro_values_are_rendered_as_json_with_utc_z_timestamps():
    second = {**AVRO_RECORD, "id": 2, "name": "Zoë", "at_ms": datetime(2024, 1, 15, tzinfo=UTC)}
    data = avro_file(AVRO_SCHEMA, [AVRO_RECORD, second])
    assert lines(data, AVRO) == [
        b'{"id":1,"name":null,"at":"2024-01-15T10:23:45.123456Z","at_ms":null,'
        b'"day":"2024-01-15","clock":"12:34:56","price":12.30,'
        b'"key":"12345678-1234-5678-1234-567812345678","blob":"AP9oaQ==","kind":"B",'
        b'"tags":["a"],"attrs":{"x":1}}',
        b'{"id":2,"name":"Zo\xc3\xab","at":"2024-01-15T10:23:45.123456Z",'
        b'"at_ms":"2024-01-15T00:00:00Z","day":"2024-01-15","clock":"12:34:56","price":12.30,'
        b'"key":"12345678-1234-5678-1234-567812345678","blob":"AP9oaQ==","kind":"B",'
        b'"tags":["a"],"attrs":{"x":1}}',
    ]


def test_avro_records_decode_through_the_record_path_gzipped_or_not():
    records = [{**AVRO_RECORD, "id": n} for n in range(10_000)]
    data = avro_file(AVRO_SCHEMA, records, codec="deflate")
    for body in (data, gzip.compress(data)):
        decoded = list(iter_records(io.BytesIO(body), source="x", formats=AVRO))
        assert [r["id"] for r in decoded] == list(range(10_000))
        assert decoded[0]["at"] == "2024-01-15T10:23:45.123456Z"


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_an_avro_file_cut_short_is_a_truncated_download(keep: float):
    data = avro_file(AVRO_SCHEMA, [{**AVRO_RECORD, "id": n} for n in range(5000)])
    cut = data[: int(len(data) * keep)]
    for body in (cut, gzip.compress(cut)):
        with pytest.raises(
            DownloadError, match=r"events export 9: the Avro file ends early .*truncated"
        ):
            lines(body, AVRO)


def test_a_value_with_no_json_rendering_names_the_record():
    table = pa.table({"wait": pa.array([1, 2], pa.duration("s"))})
    with pytest.raises(DecodeError, match=r"events export 9, record 1: cannot render as JSON"):
        lines(parquet_file(table), PARQUET)


def test_a_value_python_cannot_hold_names_the_record():
    nested = pa.array([[1_705_314_225_123_456_789]], pa.list_(pa.timestamp("ns")))
    table = pa.table({"id": [1], "stamps": nested})
    with pytest.raises(DecodeError, match=r"events export 9: a value after record 0 has no Python"):
        lines(parquet_file(table), PARQUET)


@pytest.mark.parametrize(
    ("modules", "data", "formats", "extra", "kind"),
    [
        (("pyarrow", "pyarrow.parquet"), parquet_file(TYPED_TABLE), PARQUET, "parquet", "Parquet"),
        (("fastavro",), avro_file(AVRO_SCHEMA, [AVRO_RECORD]), AVRO, "avro", "Avro"),
    ],
)
def test_without_the_extra_installed_the_error_says_which_to_install(
    monkeypatch, modules, data, formats, extra, kind
):
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)  # what an absent package looks like
    install = f"pip install 'tap-exports[{extra}]'"
    expected = f"events export 9: the file is {kind}; install the extra: {install}"
    with pytest.raises(DecodeError) as caught:
        lines(data, formats)
    assert str(caught.value) == expected


def test_import_extra_names_the_extra_for_a_module_that_does_not_exist():
    with pytest.raises(
        DecodeError,
        match=r"x: the file is Avro; install the extra: pip install 'tap-exports\[avro\]'",
    ):
        import_extra("tap_exports_no_such_module", extra="avro", kind="Avro", source="x")
    assert import_extra("json", extra="avro", kind="Avro", source="x").__name__ == "json"


METADATA_COLUMNS = {"metadata": ("object", "null"), "tags": ("array", "null"), "note": ("string",)}


def test_json_text_in_a_column_declared_an_object_or_list_comes_back_as_one():
    """Typed files write a field whose shape changes from row to row as JSON text."""
    rows = [
        {"metadata": '{"plan": "pro", "seats": 3}', "tags": '["a"]', "note": '{"x": 1}'},
        {"metadata": None, "tags": "not json", "note": "plain"},
    ]
    table = pa.Table.from_pylist(rows)
    schema = {
        "type": "record",
        "name": "Row",
        "fields": [{"name": n, "type": ["null", "string"]} for n in ("metadata", "tags", "note")],
    }
    for data, formats in ((parquet_file(table), PARQUET), (avro_file(schema, rows), AVRO)):
        runs = iter_line_runs(
            io.BytesIO(data), source="x", formats=formats, columns=METADATA_COLUMNS
        )
        decoded = [orjson.loads(line) for run in runs for line in run.lines]
        assert decoded == [
            # Declared text stays text, even when it looks like JSON.
            {"metadata": {"plan": "pro", "seats": 3}, "tags": ["a"], "note": '{"x": 1}'},
            # Text that is not JSON of the declared kind is left for the record check.
            {"metadata": None, "tags": "not json", "note": "plain"},
        ]
