"""Parquet batches rendered by polars are the very lines `render` writes, or left to it."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pyarrow
import pytest

from tap_exports.engine.files.columnar import render_batch
from tests.typed_files import rendered

pytest.importorskip("polars")

_CHARS = [chr(n) for n in range(0x250)] + ["\u2028", "\U0001f600", "\x7f", "/", "\\", '"']
_JSON_TEXTS = [
    '{"amount": 1.5, "items": [{"sku": "A-1"}], "note": "Jürgen"}',  # spaces: re-rendered
    '{"a":1}',
    "[1, 2, 3]",
    "42",  # JSON, but not an object or a list: stays text
    "not json {",
    "",
]


def by_render(table: pyarrow.Table, json_columns: frozenset[str]) -> list[bytes]:
    return rendered(table.to_pylist(), json_columns)


def random_table(rows: int, seed: int) -> pyarrow.Table:
    rng = random.Random(seed)

    def maybe(value: object) -> object:
        return None if rng.random() < 0.2 else value

    def text() -> str:
        return "".join(rng.choice(_CHARS) for _ in range(rng.randint(0, 12)))

    stamp = datetime(2025, 3, 1, tzinfo=UTC)
    return pyarrow.table(
        {
            "text": [maybe(text()) for _ in range(rows)],
            "count": [maybe(rng.randint(-(2**63), 2**63 - 1)) for _ in range(rows)],
            "flag": [maybe(rng.random() < 0.5) for _ in range(rows)],
            "day": [
                maybe(date(1, 1, 1) + timedelta(days=rng.randint(0, 3_000_000)))
                for _ in range(rows)
            ],
            "at": pyarrow.array(
                [
                    maybe(stamp + timedelta(microseconds=rng.choice([0, 1, 120_000, 999_999])))
                    for _ in range(rows)
                ],
                type=pyarrow.timestamp("us", tz="UTC"),
            ),
            "naive": pyarrow.array(
                [maybe(datetime(2025, 1, 1) + timedelta(seconds=n)) for n in range(rows)],
                type=pyarrow.timestamp("ms"),
            ),
            "metadata": [maybe(rng.choice(_JSON_TEXTS)) for _ in range(rows)],
            "nothing": pyarrow.nulls(rows),
        }
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_batch_renders_to_the_bytes_render_writes_row_by_row(seed):
    table = random_table(2_000, seed)
    json_columns = frozenset({"metadata"})
    assert render_batch(table, json_columns, pyarrow.types) == by_render(table, json_columns)


def test_a_json_text_column_that_is_not_text_is_rendered_as_its_values():
    table = pyarrow.table({"metadata": [1, None, 3]})
    assert render_batch(table, frozenset({"metadata"}), pyarrow.types) == by_render(
        table, frozenset({"metadata"})
    )


@pytest.mark.parametrize(
    "column",
    [
        pyarrow.array([1.5, float("nan")]),
        pyarrow.array([b"\x00\x01", None]),
        pyarrow.array([[1], [2, 3]]),
        pyarrow.array(
            [datetime(2025, 3, 1, tzinfo=UTC)] * 2, type=pyarrow.timestamp("us", tz="Europe/Berlin")
        ),
    ],
    ids=["floats", "binary", "lists", "a zone other than UTC"],
)
def test_a_batch_with_a_type_polars_would_render_otherwise_is_left_to_render(column):
    table = pyarrow.table({"id": [1, 2], "other": column})
    assert render_batch(table, frozenset(), pyarrow.types) is None


def test_an_empty_batch_has_no_lines():
    table = pyarrow.table({"id": pyarrow.array([], type=pyarrow.int64())})
    assert render_batch(table, frozenset(), pyarrow.types) == []


@pytest.mark.parametrize(
    "names",
    [("metadata", "id"), ("id", "metadata"), ("metadata", "properties", "id"), ("metadata",)],
)
def test_json_text_columns_first_last_or_side_by_side_keep_the_columns_order(names):
    values = {"metadata": ['{"a": 1}', None], "properties": ["[1]", "x"], "id": [1, 2]}
    table = pyarrow.table({name: values[name] for name in names})
    json_columns = frozenset({"metadata", "properties"})
    assert render_batch(table, json_columns, pyarrow.types) == by_render(table, json_columns)


@pytest.mark.parametrize(
    "table",
    [
        pyarrow.table({"^a.*$": [1, 2], "*": ["x", None], 'q"\\\n\x01é': [True, False]}),
        pyarrow.table(
            {
                "big": pyarrow.array([2**64 - 1, 2**63], type=pyarrow.uint64()),
                "small": pyarrow.array([-128, 127], type=pyarrow.int8()),
                "large": pyarrow.array(["a", None], type=pyarrow.large_string()),
            }
        ),
        pyarrow.table(
            {
                unit: pyarrow.array([datetime(2025, 3, 1, 1, 2, 3, tzinfo=UTC)] * 2, type=kind)
                for unit, kind in [
                    ("s", pyarrow.timestamp("s", tz="+00:00")),
                    ("ms", pyarrow.timestamp("ms", tz="Etc/UTC")),
                ]
            }
        ),
    ],
    ids=["names polars would read as patterns", "integer widths", "units and UTC aliases"],
)
def test_unusual_names_widths_and_units_render_as_render_does(table):
    assert render_batch(table, frozenset(), pyarrow.types) == by_render(table, frozenset())


@pytest.mark.parametrize(
    "table",
    [
        pyarrow.table([pyarrow.array([1]), pyarrow.array([2])], names=["id", "id"]),
        pyarrow.table({"at": pyarrow.array([0], type=pyarrow.timestamp("us", tz="Z"))}),
        pyarrow.table({"day": pyarrow.array([2_932_897], type=pyarrow.date32())}),
        pyarrow.table(
            {"at": pyarrow.array([253_402_300_800_000_000], type=pyarrow.timestamp("us"))}
        ),
        pyarrow.table(
            {
                "text": pyarrow.Array.from_buffers(
                    pyarrow.string(),
                    1,
                    [
                        None,
                        pyarrow.py_buffer(b"\x00\x00\x00\x00\x02\x00\x00\x00"),
                        pyarrow.py_buffer(b"\xff\xfe"),
                    ],
                )
            }
        ),
        pyarrow.table({"metadata": ["[" * 300 + "]" * 300]}),
    ],
    ids=[
        "repeated names",
        "a zone named Z",
        "a date past 9999",
        "a timestamp past 9999",
        "text not UTF-8",
        "JSON text too deep for orjson",
    ],
)
def test_what_render_would_refuse_or_render_otherwise_goes_row_by_row(table):
    """Then `render` raises its error naming the record, or renders it its own way."""
    assert render_batch(table, frozenset({"metadata"}), pyarrow.types) is None
