"""Row keys for rows without ids, and the newest row per key of a derived stream."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from tap_exports.engine.planning.slices import Window
from tap_exports.engine.records.derive import DerivedRows, LatestRows, join_lines
from tap_exports.engine.records.rowkey import RowKeys

ROW = b'{"inserted_at":"2025-03-01T10:00:00.000001Z","user_id":"u1","n":1}'
OTHER = b'{"inserted_at":"2025-03-01T10:00:00.000001Z","user_id":"u2","n":1}'


def keys(lines: list[bytes]) -> list[str]:
    return [orjson.loads(line)["_row_key"] for line in lines]


def test_identical_rows_get_one_key_each_in_any_order_and_across_runs() -> None:
    first = RowKeys("_row_key")
    forward = keys(first.add([ROW, OTHER]) + first.add([ROW]))  # across two runs (files)
    backward = keys(RowKeys("_row_key").add([ROW, ROW, OTHER]))
    assert forward[0].endswith("-0") and forward[2].endswith("-1")
    assert forward[0][:-2] == forward[2][:-2] != forward[1][:-2]
    assert sorted(forward) == sorted(backward)


def test_the_key_goes_first_and_the_row_is_kept_byte_for_byte() -> None:
    (keyed,) = RowKeys("k").add([ROW])
    assert keyed.startswith(b'{"k":"') and keyed.endswith(ROW[1:])
    assert orjson.loads(keyed) | {"k": None} == orjson.loads(ROW) | {"k": None}


def test_empty_objects_padded_lines_and_non_objects() -> None:
    empty, padded, garbage = RowKeys("k").add([b"{}", b'  {"a":1}', b"not json"])
    assert set(orjson.loads(empty)) == {"k"}
    assert orjson.loads(padded)["a"] == 1
    assert garbage == b"not json"  # left for the decoder to report


def test_a_key_field_with_percent_signs_is_written_as_named() -> None:
    (keyed, again) = RowKeys("%d_%s%%").add([ROW, ROW])
    assert keyed.startswith(b'{"%d_%s%%":"') and keyed.endswith(ROW[1:])
    assert orjson.loads(again)["%d_%s%%"].endswith("-1")


@pytest.mark.parametrize("field", ["a\nb", 'a"b', "a\\b", "\x00"])
def test_a_key_field_json_would_escape_is_refused(field: str) -> None:
    with pytest.raises(ValueError, match="without escapes"):
        RowKeys(field)


def pick(row: dict[str, Any]) -> dict[str, Any] | None:
    if row.get("event_type") != "identify_user":
        return None
    return {"user_id": row["user_id"], "at": row["inserted_at"], "p": row["metadata"]}


RULES = DerivedRows(b'"identify_user"', pick, ("user_id",), "at")
WINDOW = Window(datetime(2025, 3, 1, tzinfo=UTC), datetime(2025, 3, 2, tzinfo=UTC))


def identify(user: str, at: str, value: int, event_type: str = "identify_user") -> bytes:
    row = {"event_type": event_type, "user_id": user, "inserted_at": at, "metadata": {"v": value}}
    return orjson.dumps(row)


def test_the_newest_row_per_key_inside_the_window_wins() -> None:
    latest = LatestRows(RULES, WINDOW, "inserted_at")
    latest.feed(
        join_lines(
            [
                identify("u1", "2025-03-01T10:00:00.5Z", 2),
                identify("u1", "2025-03-01T10:00:00Z", 1),  # older, though its text sorts after
                identify("u1", "2025-03-02T00:00:00Z", 9),  # the next window's
                identify("u2", "2025-03-01T01:00:00+01:00", 3),  # made canonical: 00:00Z
                identify("u3", "2025-03-01T05:00:00Z", 4, event_type="track"),
                b'{"event_type":"identify_user", broken',
            ]
        )
    )
    assert list(latest.records()) == [
        {"user_id": "u1", "at": "2025-03-01T10:00:00.5Z", "p": {"v": 2}},
        {"user_id": "u2", "at": "2025-03-01T00:00:00Z", "p": {"v": 3}},
    ]


def test_two_rows_of_one_instant_give_the_same_winner_in_any_order() -> None:
    a, b = identify("u1", "2025-03-01T10:00:00Z", 1), identify("u1", "2025-03-01T10:00:00Z", 2)
    one, two = LatestRows(RULES, WINDOW, "inserted_at"), LatestRows(RULES, WINDOW, "inserted_at")
    one.feed(join_lines([a, b]))
    two.feed(join_lines([b, a]))
    assert list(one.records()) == list(two.records())
