"""Streaming decode: gzip and format by content, line numbers in errors, truncation caught."""

from __future__ import annotations

import gzip
import io

import pytest
import urllib3

from tap_exports.engine.errors import DecodeError, DownloadError
from tap_exports.engine.files.decode import (
    FORMATS,
    FileFormats,
    column_types,
    iter_line_runs,
    iter_records,
)

LINES = b'{"id":1,"name":"Zo\xc3\xab"}\n{"id":2,"name":null}\n'
ANY_FORMAT = FileFormats(formats=frozenset(FORMATS))
EXPECTED = [{"id": 1, "name": "Zoë"}, {"id": 2, "name": None}]


NDJSON = FileFormats()


def decode(data: bytes, formats: FileFormats = NDJSON) -> list[dict]:
    return list(iter_records(io.BytesIO(data), source="companies export 7", formats=formats))


def test_gzip_and_plain_files_decode_the_same():
    assert decode(gzip.compress(LINES)) == decode(LINES) == EXPECTED


def test_ndjson_lines_pass_through_byte_for_byte_numbered_by_physical_line():
    data = b'{"b": 1,  "a" : 2.50}\n\n{"id":"\\u00e9"}'
    runs = list(iter_line_runs(io.BytesIO(gzip.compress(data)), source="x"))
    assert [(run.first_line, run.lines) for run in runs] == [
        (1, [b'{"b": 1,  "a" : 2.50}', b""]),
        (3, [b'{"id":"\\u00e9"}']),
    ]


def test_blank_lines_and_missing_final_newline_are_fine():
    assert len(decode(b'{"id":1}\n\n{"id":2}')) == 2


def test_an_empty_file_has_no_records():
    assert decode(b"") == decode(gzip.compress(b"")) == decode(b"\n  \n") == []


def test_truncated_gzip_is_an_error_not_a_short_file():
    data = gzip.compress(LINES * 100)
    with pytest.raises(DownloadError, match="truncated"):
        decode(data[: len(data) // 2])


def test_corrupt_gzip_crc_is_an_error():
    data = bytearray(gzip.compress(LINES))
    data[-8] ^= 0xFF  # flip a CRC byte
    with pytest.raises(DownloadError, match="corrupt"):
        decode(bytes(data))


def test_bad_line_names_export_and_line_number():
    with pytest.raises(DecodeError, match=r"companies export 7, line 2: not valid JSON"):
        decode(b'{"id":1}\n{"id":\n')


def test_line_that_is_not_an_object_is_an_error():
    with pytest.raises(DecodeError, match="line 2: expected a JSON object, got list"):
        decode(b'{"id":1}\n[1,2]\n')


def test_a_bad_line_can_be_skipped_with_its_description():
    skipped: list[str] = []
    records = list(
        iter_records(io.BytesIO(b'{"id":1}\nnope\n{"id":3}\n'), source="x", skip=skipped.append)
    )
    assert records == [{"id": 1}, {"id": 3}]
    assert len(skipped) == 1
    assert skipped[0].startswith("x, line 2: not valid JSON (")


def test_a_byte_order_mark_is_not_part_of_the_first_line():
    assert decode(b"\xef\xbb\xbf" + LINES) == EXPECTED


class StallingStream(io.RawIOBase):
    """A download whose host sent headers and then nothing: reads time out."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        raise urllib3.exceptions.ReadTimeoutError(None, "/exports/x.json.gz", "timed out")


def test_a_stalled_first_read_is_a_download_error_naming_the_export():
    with pytest.raises(DownloadError, match=r"companies export 7: the connection failed"):
        list(iter_records(StallingStream(), source="companies export 7"))


class Trickle(io.RawIOBase):
    """A stream whose first read returns a single byte, as a dropping connection may."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._first = True

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = 1 if self._first else min(len(buffer), len(self._data))
        self._first = False
        buffer[:size] = self._data[:size]
        self._data = self._data[size:]
        return size


def test_gzip_is_recognised_even_when_the_first_read_returns_one_byte():
    always = FileFormats(always_gzip=True)
    records = list(iter_records(Trickle(gzip.compress(LINES)), source="x", formats=always))
    assert [r["id"] for r in records] == [1, 2]


@pytest.mark.parametrize("body", [b"", b"<?xml version='1.0'?><Error/>", LINES])
def test_when_gzip_is_always_used_anything_else_is_a_failed_download(body: bytes):
    with pytest.raises(DownloadError, match="not a gzip file"):
        decode(body, FileFormats(formats=frozenset(FORMATS), always_gzip=True))


# --- the format is told by content ----------------------------------------------------


SAME_RECORDS = {
    "ndjson": b'{"id":1,"name":"a"}\n{"id":2,"name":"b"}\n',
    "json": b'[{"id":1,"name":"a"},{"id":2,"name":"b"}]',
    "pretty json": b'\n  [\n  {\n    "id": 1,\n    "name": "a"\n  },\n  {"id": 2, "name": "b"}]\n',
    "csv": b"id,name\r\n1,a\r\n2,b\r\n",
}


@pytest.mark.parametrize("kind", SAME_RECORDS)
@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_every_text_format_plain_or_gzipped_yields_the_same_records(kind: str, compress: bool):
    data = SAME_RECORDS[kind]
    body = gzip.compress(data) if compress else data
    records = list(
        iter_records(io.BytesIO(body), source="x", formats=ANY_FORMAT, columns={"id": ("integer",)})
    )
    assert records == [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]


def test_other_formats_are_numbered_by_record_not_by_physical_line():
    data = b'id,note\n1,"two\nlines"\n2,x\n'
    runs = list(iter_line_runs(io.BytesIO(data), source="x", formats=ANY_FORMAT))
    assert [(run.first_line, len(run.lines)) for run in runs] == [(1, 2)]


def test_a_bad_record_of_another_format_is_named_by_its_number():
    data = b'[{"id":1},{"id":"2"}]'
    with pytest.raises(DecodeError, match=r"x, line 2: bad id"):
        list(
            iter_records(
                io.BytesIO(data),
                source="x",
                formats=ANY_FORMAT,
                check=lambda r: None if type(r["id"]) is int else "bad id",
            )
        )


@pytest.mark.parametrize(
    ("declared", "body", "words"),
    [
        ("ndjson", b"<?xml version='1.0'?><Error><Code>AccessDenied</Code></Error>", "XML or HTML"),
        ("ndjson", b"<html><body>502 Bad Gateway</body></html>", "XML or HTML"),
        ("ndjson", b"Access Denied\n", "reads as CSV"),
        ("ndjson", b'[{"id":1}]', "reads as a JSON array"),
        ("csv", b"", "the file is empty"),
        ("csv", b'{"id":1}\n', "reads as NDJSON"),
        ("json", b"PAR1\x00\x00", "reads as Parquet"),
        ("csv", b"<?xml version='1.0'?><Error/>", "XML or HTML"),
    ],
)
def test_a_format_the_provider_did_not_declare_is_a_failed_download(
    declared: str, body: bytes, words: str
):
    formats = FileFormats(formats=frozenset({declared}))
    for data in (body, gzip.compress(body)):
        with pytest.raises(DownloadError, match=words) as caught:
            decode(data, formats)
        assert str(caught.value).startswith("companies export 7: expected ")
        assert "error page" in str(caught.value)
        assert "\n" not in str(caught.value)


def test_a_provider_may_declare_several_formats():
    both = FileFormats(formats=frozenset({"ndjson", "csv"}))
    assert decode(b'{"id":1}\n', both) == [{"id": 1}]
    assert decode(b"id\n1\n", both) == [{"id": "1"}]


def test_file_formats_refuse_names_they_do_not_know():
    with pytest.raises(ValueError, match="must be some of"):
        FileFormats(formats=frozenset({"ndjson", "xlsx"}))
    with pytest.raises(ValueError, match="must be some of"):
        FileFormats(formats=frozenset())


def test_column_types_come_from_the_schema_top_level_types():
    schema = {
        "properties": {
            "id": {"type": "integer"},
            "metadata": {"type": ["object", "null"], "properties": {"x": {"type": "integer"}}},
            "anything": {},
        }
    }
    assert column_types(schema) == {"id": ("integer",), "metadata": ("object", "null")}
