"""A CSV file: header row for names, the schema's types for cells, hostile cells intact."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
import math

import orjson
import pytest

from tap_exports.engine.errors import DecodeError, DownloadError
from tap_exports.engine.files.decode import FileFormats, iter_line_runs, iter_records

CSV = FileFormats(formats=frozenset({"csv"}))
COLUMNS = {
    "id": ("integer",),
    "amount": ("number", "null"),
    "active": ("boolean", "null"),
    "metadata": ("object", "null"),
    "tags": ("array", "null"),
    "name": ("string", "null"),
    "code": ("string",),
}


def write_csv(rows: list[list[str]]) -> bytes:
    text = io.StringIO(newline="")
    csv.writer(text).writerows(rows)
    return text.getvalue().encode()


def csv_records(data: bytes, columns=COLUMNS) -> list[dict]:
    return list(
        iter_records(io.BytesIO(data), source="users export 3", formats=CSV, columns=columns)
    )


def test_hostile_cells_survive_quoting():
    hostile = [
        "comma, inside",
        'a "quoted" word',
        "two\nlines",
        "crlf\r\nlines",
        "Zoë ☃ 😀",
        '{"not": "an object column"}',
        " padded ",
    ]
    data = write_csv([["id", "name"], *[[str(n), cell] for n, cell in enumerate(hostile)]])
    assert [r["name"] for r in csv_records(data)] == hostile
    assert csv_records(gzip.compress(data)) == csv_records(data)


def test_cells_are_read_as_their_columns_json_types():
    data = write_csv(
        [
            ["id", "amount", "active", "metadata", "tags", "name", "code"],
            ["1", "12", "TRUE", '{"plan": "pro", "seats": [1, 2]}', '["a", "b"]', "Ann", "x"],
            ["2", "-0.5", "false", "{}", "[]", "Bob", "y"],
            ["3", "2.5e3", "1", "", "", "", ""],
            ["4", "", "0", "", "", "Dee", "z"],
        ]
    )
    assert csv_records(data) == [
        {
            "id": 1,
            "amount": 12,
            "active": True,
            "metadata": {"plan": "pro", "seats": [1, 2]},
            "tags": ["a", "b"],
            "name": "Ann",
            "code": "x",
        },
        {
            "id": 2,
            "amount": -0.5,
            "active": False,
            "metadata": {},
            "tags": [],
            "name": "Bob",
            "code": "y",
        },
        {
            "id": 3,
            "amount": 2500.0,
            "active": True,
            "metadata": None,
            "tags": None,
            "name": None,
            "code": "",
        },
        {
            "id": 4,
            "amount": None,
            "active": False,
            "metadata": None,
            "tags": None,
            "name": "Dee",
            "code": "z",
        },
    ]


def test_an_empty_cell_is_null_but_the_empty_string_where_only_a_string_is_allowed():
    data = b"name,code,undeclared\n,,\n"
    assert csv_records(data) == [{"name": None, "code": "", "undeclared": None}]


@pytest.mark.parametrize(
    ("types", "cell", "value"),
    [
        (("integer",), "12x", "12x"),
        (("integer",), "1.0", "1.0"),
        (("integer",), "1_000", "1_000"),
        (("integer",), " 7", " 7"),
        (("integer",), "99999999999999999999", "99999999999999999999"),
        (("integer",), "-42", -42),
        (("number",), "nan", "nan"),
        (("number",), "1e999", "1e999"),
        (("number",), "99999999999999999999", 1e20),
        (("number",), ".5", 0.5),
        (("boolean",), "yes", "yes"),
        (("boolean",), "False", False),
        (("object",), "[1]", "[1]"),
        (("object",), "{bad json", "{bad json"),
        (("array",), '{"a": 1}', '{"a": 1}'),
        (("integer", "string"), "12", 12),
        (("integer", "string"), "twelve", "twelve"),
        (("integer", "boolean"), "1", 1),
        (("boolean", "string"), "true", True),
    ],
)
def test_a_cell_takes_the_first_allowed_type_that_fits_else_stays_text(types, cell, value):
    [record] = csv_records(write_csv([["c"], [cell]]), columns={"c": types})
    assert record == {"c": value}
    assert type(record["c"]) is type(value)


def test_a_bad_integer_kept_as_text_is_named_by_the_record_check():
    data = b"id\n1\nx2\n"

    def check(record):
        return (
            None if type(record["id"]) is int else f"field 'id': not an integer: {record['id']!r}"
        )

    with pytest.raises(
        DecodeError, match=r"users export 3, line 2: field 'id': not an integer: 'x2'"
    ):
        list(
            iter_records(
                io.BytesIO(data), source="users export 3", formats=CSV, columns=COLUMNS, check=check
            )
        )


@pytest.mark.parametrize("huge", ["9" * 5000, "-" + "1" * 4400, "0" * 4400 + "7"])
def test_an_integer_longer_than_python_converts_stays_text_for_the_record_check(huge):
    """More than 4,300 digits: Python's int() refuses them; no int64 either, so text."""
    columns = {"id": ("integer",), "count": ("integer", "null")}
    data = write_csv([["id", "count"], ["1", "2"], ["2", huge], ["3", ""]])
    assert csv_records(data, columns) == [
        {"id": 1, "count": 2},
        {"id": 2, "count": huge},
        {"id": 3, "count": None},
    ]
    [record] = csv_records(write_csv([["id"], [huge]]), {"id": ("integer",)})
    assert record == {"id": huge}


def test_columns_not_in_the_schema_stay_text():
    assert csv_records(b"id,extra\n1,42\n") == [{"id": 1, "extra": "42"}]


def test_a_row_with_more_cells_than_the_header_names_source_and_record():
    data = b'id,name\n1,a\n2,"b\nb",extra\n'
    with pytest.raises(
        DecodeError, match=r"users export 3, record 2 \(line 4\): 3 cells, but the header names 2"
    ):
        csv_records(data)


def test_missing_trailing_cells_read_as_empty_and_blank_lines_are_skipped():
    assert csv_records(b"id,name\n\n1\n\n2,b\n") == [
        {"id": 1, "name": None},
        {"id": 2, "name": "b"},
    ]


def test_records_are_numbered_by_data_row_and_rendered_as_json_lines():
    data = write_csv([["id", "name"], ["1", "multi\nline"], ["2", "b"]])
    [run] = iter_line_runs(io.BytesIO(data), source="x", formats=CSV, columns=COLUMNS)
    assert run.first_line == 1
    assert run.lines == [b'{"id":1,"name":"multi\\nline"}', b'{"id":2,"name":"b"}']


def test_a_header_alone_or_a_byte_order_mark_is_fine():
    assert csv_records(b"id,name\n") == []
    assert csv_records(b"\xef\xbb\xbfid,name\n1,a\n") == [{"id": 1, "name": "a"}]


def test_a_file_ending_inside_a_quoted_cell_is_truncated():
    with pytest.raises(
        DownloadError, match=r"users export 3: the file ends inside a quoted cell after record 1"
    ):
        csv_records(b'id,name\n1,a\n2,"unfinished\n')


def test_a_short_row_reads_missing_cells_as_empty_but_a_short_last_row_is_a_cut():
    assert csv_records(b"id,name,code\n1,a\n2,b,c\n") == [
        {"id": 1, "name": "a", "code": ""},
        {"id": 2, "name": "b", "code": "c"},
    ]
    with pytest.raises(
        DownloadError, match=r"users export 3: the last record \(2\) has 2 of 3 cells: .*cut short"
    ):
        csv_records(b"id,name,code\n1,a,x\n2,Uni")


def test_a_stray_quote_is_an_error_not_a_merged_cell():
    with pytest.raises(DecodeError, match=r"record 2 \(line 3\): not valid CSV"):
        csv_records(b'id,name\n1,a\n2,"b"c\n')


def test_text_that_is_not_utf8_is_an_error_naming_the_record():
    with pytest.raises(DecodeError, match="users export 3, record 1: not UTF-8"):
        csv_records(b"id,name\n1,Zo\xeb\n")


def test_many_rows_come_in_several_runs_in_order():
    rows = [["id", "name"], *[[str(n), "x" * 200] for n in range(10_000)]]
    runs = list(
        iter_line_runs(io.BytesIO(write_csv(rows)), source="x", formats=CSV, columns=COLUMNS)
    )
    assert len(runs) > 1
    assert runs[0].first_line == 1
    ids = [orjson.loads(line)["id"] for run in runs for line in run.lines]
    assert ids == list(range(10_000))
    for before, after in itertools.pairwise(runs):
        assert after.first_line == before.first_line + len(before.lines)


def test_columns_read_at_once_give_what_each_cell_read_alone_gives():
    """Batches of rows are converted a column at a time; the same values, cell for cell."""
    cells = {
        ("integer",): ["7", "-12", "+3", "", "18446744073709551615", "18446744073709551616",
                       "1.5", "x", "1\n2", "٣"],
        ("integer", "null"): ["1", "", "-9223372036854775808", "0"],
        ("number", "null"): ["1", "2.5", "", "99999999999999999999", "nan", "-.5", "1e3"],
        ("integer", "string"): ["12", "twelve", ""],
        ("string", "null"): ["a", "", "b\nc", "é"],
        ("string",): ["", "a"],
        ("boolean", "null"): ["true", "0", "", "yes"],
        ("object", "null"): ['{"a": 1}', "", "[1]", "{bad"],
        ("object", "array", "null"): ['{"a": [1]}', "[1]", ""],
        ("array", "null"): ["[1, 2]", "[]", "", '"x"'],
        ("object",): ['{"b": {"c": null}}', '{ "d" : 2 }', ""],
    }  # fmt: skip
    columns = {f"c{i}": types for i, types in enumerate(cells)}
    rows = [[choices[n % len(choices)] for choices in cells.values()] for n in range(2_000)]

    def rendered(rows: list[list[str]]) -> list[bytes]:
        data = write_csv([list(columns), *rows])
        runs = iter_line_runs(io.BytesIO(data), source="x", formats=CSV, columns=columns)
        return [line for run in runs for line in run.lines]

    period = math.lcm(*map(len, cells.values()))  # the rows repeat after this many
    alone = [line for row in rows[:period] for line in rendered([row])]
    assert rendered(rows) == (alone * (2_000 // period + 1))[:2_000]
