"""A JSON array file: each element forwarded as one line, however the bytes arrive."""

from __future__ import annotations

import gzip
import io
import json
import random

import orjson
import pytest

from tap_exports.engine.errors import DecodeError, DownloadError
from tap_exports.engine.files.decode import FileFormats, iter_line_runs, iter_records
from tap_exports.engine.files.json_array import iter_elements

JSON = FileFormats(formats=frozenset({"json"}))

HOSTILE = [
    {"id": 1, "s": "a ] b } c [ d { e", "q": 'say "hi"', "b": "back\\slash\\"},
    {"id": 2, "nested": {"list": [1, [2, [3]], {"k": "]}"}], "empty": {}, "none": []}},
    {"id": 3, "end": "\\", "quote_end": '\\"', "unicode": "Zoë ☃ \u2028 😀", "n": -1.5e-7},
    {"id": 4, "key with ] and }": True, "escaped": "\\u005d is ]", "null": None},
]


class Dribble(io.RawIOBase):
    """A stream that returns between 1 and 7 bytes per read, as a slow connection may."""

    def __init__(self, data: bytes, seed: int = 0) -> None:
        self._data = data
        self._random = random.Random(seed)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = min(len(buffer), self._random.randint(1, 7), len(self._data))
        buffer[:size] = self._data[:size]
        self._data = self._data[size:]
        return size


def elements(data: bytes) -> list[bytes]:
    runs = iter_line_runs(io.BytesIO(data), source="x", formats=JSON)
    return [line for run in runs for line in run.lines]


def test_compact_elements_are_forwarded_byte_for_byte():
    data = b'[{"b":1,"a":2.50},{"id":"\\u00e9","x":1e3}]'
    assert elements(data) == [b'{"b":1,"a":2.50}', b'{"id":"\\u00e9","x":1e3}']
    assert elements(gzip.compress(data)) == elements(data)


def test_pretty_printed_elements_keep_their_bytes_with_line_breaks_made_spaces():
    data = orjson.dumps(HOSTILE, option=orjson.OPT_INDENT_2)
    lines = elements(data)
    assert all(b"\n" not in line and b"\r" not in line for line in lines)
    assert [orjson.loads(line) for line in lines] == HOSTILE
    crlf = b'[\r\n  {\r\n    "id": 1\r\n  }\r\n]\r\n'
    assert elements(crlf) == [b'{      "id": 1    }']  # each of CR and LF a space


@pytest.mark.parametrize("style", ["compact", "pretty", "spaced"])
def test_strings_with_brackets_quotes_and_backslashes_and_nesting_split_correctly(style: str):
    data = {
        "compact": orjson.dumps(HOSTILE),
        "pretty": orjson.dumps(HOSTILE, option=orjson.OPT_INDENT_2),
        "spaced": json.dumps(HOSTILE, indent="\t", ensure_ascii=True).encode(),
    }[style]
    assert [orjson.loads(line) for line in elements(data)] == HOSTILE


@pytest.mark.parametrize("seed", range(20))
def test_elements_split_across_reads_of_one_to_seven_bytes_come_out_whole(seed: int):
    data = orjson.dumps(HOSTILE * 5, option=orjson.OPT_INDENT_2 if seed % 2 else 0)
    body = gzip.compress(data) if seed % 3 == 0 else data
    runs = list(iter_line_runs(Dribble(body, seed), source="x", formats=JSON))
    assert [orjson.loads(line) for run in runs for line in run.lines] == HOSTILE * 5
    assert runs[0].first_line == 1


def test_every_cut_of_the_bytes_into_two_chunks_gives_the_same_elements():
    data = orjson.dumps(HOSTILE)
    whole = [line for run in iter_elements([data], source="x", run_bytes=1 << 20) for line in run]
    for cut in range(len(data) + 1):
        chunks = [data[:cut], data[cut:]]
        parts = [
            line for run in iter_elements(chunks, source="x", run_bytes=1 << 20) for line in run
        ]
        assert parts == whole, cut


def test_records_come_in_runs_numbered_by_their_place_in_the_array():
    data = orjson.dumps([{"n": n, "pad": "x" * 100} for n in range(50)])
    chunks = [data[i : i + 64] for i in range(0, len(data), 64)]
    runs = list(iter_elements(chunks, source="x", run_bytes=1000))
    assert len(runs) > 1
    assert [orjson.loads(line)["n"] for run in runs for line in run] == list(range(50))


def test_an_empty_array_has_no_records():
    assert elements(b"[]") == elements(b" [ \n ] \n") == []


def test_an_array_cut_short_is_a_truncated_download():
    data = orjson.dumps(HOSTILE)
    for cut in (1, len(data) // 2, len(data) - 1):
        with pytest.raises(
            DownloadError, match=r"x: the JSON array ends after record \d+ .*truncated"
        ):
            elements(data[:cut])


def test_a_cut_short_array_says_how_many_records_it_had():
    with pytest.raises(DownloadError, match="ends after record 2 without its closing"):
        elements(b'[{"id":1},{"id":2},{"id"')


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"[1,2]", r"record 1: expected a JSON object, found b'1,2'"),
        (b'[{"id":1},"two"]', r"record 2: expected a JSON object"),
        (b'[{"id":1},[2]]', r"record 2: expected a JSON object, found b'\[2\]\]'"),
        (b'[{"id":1}{"id":2}]', "record 2: expected one comma before it, found 0"),
        (b'[{"id":1},,{"id":2}]', "record 2: expected one comma before it, found 2"),
        (b'[,{"id":1}]', "record 1: expected one comma before it, found 1"),
        (b'[{"id":1},]', "a comma before the JSON array's closing"),
        (b'[{"id":1}] {"id":2}', "unexpected data after the JSON array's closing"),
        (b'[{"id":1}][]', "unexpected data after the JSON array's closing"),
        (b'[{"id":"line\nbreak"}]', "record 1: a raw line break inside a string"),
    ],
)
def test_a_broken_array_frame_is_a_decode_error_naming_the_record(data: bytes, words: str):
    with pytest.raises(DecodeError, match=words):
        elements(data)


def test_a_broken_element_is_left_to_the_record_decoder_which_names_it():
    data = b'[{"id":1},{"id":tru},{"id":3}]'
    with pytest.raises(DecodeError, match="x, line 2: not valid JSON"):
        list(iter_records(io.BytesIO(data), source="x", formats=JSON))
