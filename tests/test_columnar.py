"""Parquet batches rendered by polars are the very lines `render` writes, or left to it."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pyarrow
import pytest

from tap_exports.engine.files.columnar import render_batch
from tap_exports.engine.files.render import RenderedLines

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
    lines = RenderedLines("test", json_columns)
    for number, record in enumerate(table.to_pylist(), 1):
        lines.add(record, number)
    return lines.take()


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
