"""The bulk checks that decide which export lines can go on as they are."""

from __future__ import annotations

import gzip
import json

import msgspec
import orjson
import pytest

from tap_exports.engine.errors import DownloadError
from tap_exports.engine.planning.slices import Window
from tap_exports.engine.records.bulk import FileCheck, LineSorter, Verdict
from tap_exports.engine.records.rows import row_type
from tap_exports.engine.timestamps import parse_utc
from tap_exports.providers.cometly import COMETLY

EVENTS = COMETLY.stream("events")
KEYS = {"primary_keys": EVENTS.primary_keys, "replication_key": EVENTS.replication_key}
ROWS = row_type(EVENTS.schema, **KEYS, exact=False)
EXACT = (
    row_type(EVENTS.schema, **KEYS, exact=True),
    row_type(EVENTS.schema, **KEYS, exact=True, drop_unknown=True),
)
WINDOW = Window(parse_utc("2025-03-04T05:00:00Z"), parse_utc("2025-03-05T05:00:00Z"))
GOOD = [
    b'{"id":1,"event_time_utc":"2025-03-04T05:00:00Z","event_name":"purchase","amount":9.5}',
    b'{"id":"e2","event_time_utc":"2025-03-05T04:59:59Z","is_upsell":false,"x_extra":[1]}',
    b'{"id":3,"event_time_utc":"2025-03-04T12:00:00Z","amount":10,"event_name":null}',
]


def check(lines: list[bytes], *, chunk: int = 7, data: bytes | None = None) -> Verdict:
    file_check = FileCheck(ROWS, EVENTS.replication_key, WINDOW.bounds, exact=EXACT)
    data = gzip.compress(b"\n".join(lines) + b"\n") if data is None else data
    for at in range(0, len(data), chunk):
        file_check.feed(data[at : at + chunk])
    return file_check.verdict()


def test_a_conforming_file_inside_its_window_can_go_as_it_is():
    declared = [GOOD[0], GOOD[2]]
    assert check(declared) == Verdict(2)
    assert check(declared, chunk=1) == Verdict(2)
    assert check(declared, chunk=10**6) == Verdict(2)
    assert check(declared).usable_as_is


def test_a_file_with_an_undeclared_key_is_regrouped_without_it_not_handed_over():
    verdict = check(GOOD)
    assert verdict == Verdict(3, undeclared=True)
    assert verdict.lines_usable and not verdict.usable_as_is
    file_check = FileCheck(ROWS, EVENTS.replication_key, WINDOW.bounds, exact=EXACT)
    stripped = file_check.without_undeclared(GOOD)
    assert [orjson.loads(line) for line in stripped] == [
        {k: v for k, v in orjson.loads(line).items() if k != "x_extra"} for line in GOOD
    ]


def test_files_of_several_gzip_members_are_read_whole():
    data = gzip.compress(GOOD[0] + b"\n") + gzip.compress(b"\n".join(GOOD[1:]) + b"\n")
    assert check([], data=data) == Verdict(3, undeclared=True)


def test_an_empty_file_has_no_records():
    assert check([], data=gzip.compress(b"")) == Verdict(0)


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b'{"id":true,"event_time_utc":"2025-03-04T06:00:00Z"}', "not a conforming record"),
        (b'{"event_time_utc":"2025-03-04T06:00:00Z"}', "not a conforming record"),
        (b'{"id":4}', "not a conforming record"),
        (b'{"id":4,"event_time_utc":"2025-03-04T06:00:00Z","amount":"9"}', "not a conforming"),
        (b'{"id":4, "trunc', "not a conforming record"),
        (b"[1, 2]", "not a conforming record"),
        (b'{"id":4,"event_time_utc":"2025-03-04T06:00:00.1234567Z"}', "canonical"),
        (b'{"id":4,"event_time_utc":"2025-03-04T06:00:00.Z"}', "canonical"),
        (b'{"id":4,"event_time_utc":"2025-03-04T25:61:00Z"}', "canonical"),
        (b'{"id":4,"event_time_utc":"2025-02-30T06:00:00Z"}', "canonical"),
        (b'{"id":4,"event_time_utc":"2025-03-04T06:00"}', "canonical"),
        (b'{"id":4,"event_time_utc":"2025-03-04T06:00:00Z","amount":1e400}', "not a conforming"),
        (b'{"id":123456789012345678901234567890,"event_time_utc":"2025-03-04T06:00:00Z"}', "not a"),
        (b'{"id":4,"event_time_utc":"2025-03-04T06:00:00Z","event_name":"\xff"}', "not a"),
        (GOOD[0] + b"," + GOOD[2], "not a conforming record"),  # two records on a line
        (b'{"id":4,"event_time_utc":"2025-03-04 06:00:00Z"}', "canonical"),
        (b"", "exactly one record"),  # a blank line: the target would choke on it
    ],
)
def test_anything_the_record_path_would_change_or_refuse_is_a_no(line: bytes, why: str):
    verdict = check([*GOOD[:2], line, GOOD[2]])
    assert not verdict.usable_as_is
    assert verdict.refusal is not None and why in verdict.refusal


@pytest.mark.parametrize(
    ("stamp", "outside"),
    [
        ("2025-03-04T05:00:00.000001Z", 0),
        ("2025-03-04T06:00:00.5Z", 0),
        ("2025-03-05T04:59:59.999999Z", 0),
        ("2025-03-04T04:59:59.999999Z", 1),
        ("2025-03-05T05:00:00.000001Z", 1),
        ("2025-03-05T05:00:00.5Z", 1),
    ],
)
def test_fractional_canonical_stamps_pass_in_bulk_and_are_placed_by_their_second(stamp, outside):
    line = b'{"id":4,"event_time_utc":"' + stamp.encode() + b'"}'
    verdict = check([*GOOD[:2], line, GOOD[2]])
    assert verdict.lines_usable, verdict.refusal
    assert verdict.outside == outside


def test_a_key_split_across_two_lines_is_not_taken_for_one():
    lines = [
        b'{"id":4,"event_time_utc":"2025-03-04T06:00"}',
        b'{"id":5,"event_time_utc":":00Z"}',
    ]
    assert "canonical" in str(check([GOOD[0], *lines]).refusal)
    assert sorter([]).sort(lines) == [0, 1]


def test_two_keys_in_one_value_and_an_empty_one_are_not_taken_for_two_stamps():
    # Their widths add up to two whole-second stamps: widths alone must not decide.
    lines = [
        b'{"id":4,"event_time_utc":"2025-03-04T06:00:00Z2025-03-04T06:00:01Z"}',
        b'{"id":5,"event_time_utc":""}',
    ]
    assert "canonical" in str(check([GOOD[0], *lines]).refusal)
    assert sorter([]).sort(lines) == [0, 1]


@pytest.mark.parametrize(
    "stamp", ["2025-03-05T05:00:00Z", "2025-03-04T04:59:59Z", "2024-12-31T23:59:59Z"]
)
def test_records_just_outside_the_window_are_counted_for_dropping(stamp: str):
    line = b'{"id":4,"event_time_utc":"%s"}' % stamp.encode()
    verdict = check([GOOD[0], line, *GOOD[1:], line])
    assert verdict == Verdict(5, outside=2, undeclared=True)
    assert verdict.lines_usable and not verdict.usable_as_is
    file_check = FileCheck(ROWS, EVENTS.replication_key, WINDOW.bounds)
    assert file_check.inside([GOOD[0], line, GOOD[1]]) == [GOOD[0], GOOD[1]]


def test_a_file_that_is_not_gzip_is_a_no_and_read_record_by_record():
    verdict = check([], data=b"\n".join(GOOD) + b"\n")
    assert verdict.refusal == "the file is not gzip"


def test_a_file_cut_short_or_corrupt_is_a_failed_download():
    data = gzip.compress(b"\n".join(GOOD) + b"\n")
    with pytest.raises(DownloadError, match="cut short"):
        check([], data=data[:-10])
    corrupt = bytearray(data)
    corrupt[-6] ^= 0xFF  # the CRC
    with pytest.raises(DownloadError, match="corrupt"):
        check([], data=bytes(corrupt))


@pytest.mark.parametrize("chunk", [1, 5, 10**6])
def test_zero_padding_between_and_after_members_is_skipped_as_gzip_skips_it(chunk: int):
    declared = [GOOD[0], GOOD[2]]
    first, second = (gzip.compress(line + b"\n") for line in declared)
    padded = first + b"\0" * 7 + second + b"\0" * 512
    assert gzip.decompress(padded) == b"".join(line + b"\n" for line in declared)
    assert check([], data=padded, chunk=chunk) == check(declared) == Verdict(2)
    with pytest.raises(DownloadError, match="cut short"):
        check([], data=first + b"\0" * 7 + second[:-2], chunk=chunk)


def test_untyped_fields_pass_and_without_a_decoder_only_the_gzip_is_checked():
    schema = {"properties": {"id": {"type": "integer"}, "at": {"type": "string"}, "v": {}}}
    row = row_type(schema, primary_keys=("id",), replication_key="at", exact=False)
    assert row is not None
    assert msgspec.json.decode(
        b'{"id":1,"at":"2025-03-04T06:00:00Z","v":[{"any":"thing"}]}', type=row
    )
    file_check = FileCheck(None, "at", WINDOW.bounds)
    file_check.feed(gzip.compress(b'{"id":1}\n')[:-3])
    with pytest.raises(DownloadError, match="cut short"):
        file_check.verdict()


def sorter(unknown: list[tuple[str, ...]]) -> LineSorter:
    exact = row_type(EVENTS.schema, **KEYS, exact=True)
    dropping = row_type(EVENTS.schema, **KEYS, exact=True, drop_unknown=True)
    assert exact is not None and dropping is not None
    return LineSorter(
        (exact, dropping), EVENTS.replication_key, WINDOW.bounds, on_unknown=unknown.append
    )


def test_conforming_lines_are_forwarded_as_they_are():
    assert sorter([]).sort([GOOD[0], GOOD[2]]) == [GOOD[0], GOOD[2]]


def test_undeclared_keys_are_dropped_by_encoding_again_and_reported():
    unknown: list[tuple[str, ...]] = []
    plan = sorter(unknown).sort(GOOD)  # GOOD[1] has "x_extra"
    assert [json.loads(item) for item in plan] == [
        json.loads(GOOD[0]),
        {k: v for k, v in json.loads(GOOD[1]).items() if k != "x_extra"},
        json.loads(GOOD[2]),
    ]
    assert json.loads(plan[0])["amount"] == 9.5 and json.loads(plan[2])["amount"] == 10
    assert type(json.loads(plan[2])["amount"]) is int  # 10 stays 10, never 10.0
    assert unknown == [("x_extra",)]


@pytest.mark.parametrize(
    "line",
    [
        b'{"id":true,"event_time_utc":"2025-03-04T06:00:00Z"}',  # refused by record_check
        b'{"id":4,"event_time_utc":"2025-03-04T06:00:00+00:00"}',  # key to rewrite
        b'{"id":4,"event_time_utc":"2025-03-04T06:00:00Z","is_upsell":1}',  # to conform
        b'{"id":4, "trunc',
        b"",
        b'{"id":4,"event_time_utc":"2025-02-29T06:00:00Z"}',  # 2025 is a common year
        b'{"id":4,"event_time_utc":"2025-03-04T06:00:00Z","event_name":"\xff"}',
        b'{"id":18446744073709551615,"event_time_utc":"2025-03-04T06:00:00Z"}',
        GOOD[0] + b"," + GOOD[2],  # two records on one line
    ],
)
def test_lines_the_record_path_must_see_keep_their_place(line: bytes):
    lines = [GOOD[0], line, GOOD[2]]
    assert sorter([]).sort(lines) == [GOOD[0], 1, GOOD[2]]


def test_lines_outside_the_window_are_dropped():
    outside = b'{"id":5,"event_time_utc":"2025-03-05T05:00:00Z"}'
    assert sorter([]).sort([GOOD[0], outside, GOOD[2]]) == [GOOD[0], GOOD[2]]
    assert sorter([]).sort([GOOD[1], outside]) == [sorter([]).sort([GOOD[1]])[0]]


def test_a_nested_undeclared_key_keeps_a_file_from_going_as_it_is_and_is_left_out():
    line = (
        b'{"id":7,"event_time_utc":"2025-03-04T06:00:00Z",'
        b'"touchpoints":[{"source":"google_ads","ad_id":"a1"}]}'
    )
    verdict = check([GOOD[0], line])
    assert verdict == Verdict(2, undeclared=True)  # as RECORD mode, which drops `ad_id`
    file_check = FileCheck(ROWS, EVENTS.replication_key, WINDOW.bounds, exact=EXACT)
    (stripped,) = file_check.without_undeclared([line])
    assert orjson.loads(stripped)["touchpoints"] == [{"source": "google_ads"}]
