"""Streaming NDJSON decode: gzip by magic, line numbers in errors, truncation caught."""

from __future__ import annotations

import gzip
import io

import pytest
import urllib3

from tap_exports.engine.decode import iter_ndjson
from tap_exports.engine.errors import DecodeError, DownloadError

LINES = b'{"id":1,"name":"Zo\xc3\xab"}\n{"id":2,"name":null}\n'


def decode(data: bytes) -> list[dict]:
    return list(iter_ndjson(io.BytesIO(data), source="companies export 7"))


def test_gzip_and_plain_files_decode_the_same():
    assert (
        decode(gzip.compress(LINES))
        == decode(LINES)
        == [
            {"id": 1, "name": "Zoë"},
            {"id": 2, "name": None},
        ]
    )


def test_blank_lines_and_missing_final_newline_are_fine():
    assert len(decode(b'{"id":1}\n\n{"id":2}')) == 2


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
    with pytest.raises(DecodeError, match="line 1: expected a JSON object, got list"):
        decode(b"[1,2]\n")


class StallingStream(io.RawIOBase):
    """A download whose host sent headers and then nothing: reads time out."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        raise urllib3.exceptions.ReadTimeoutError(None, "/exports/x.json.gz", "timed out")


def test_a_stalled_first_read_is_a_download_error_naming_the_export():
    with pytest.raises(DownloadError, match=r"companies export 7: the connection failed"):
        list(iter_ndjson(StallingStream(), source="companies export 7"))


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
    records = list(iter_ndjson(Trickle(gzip.compress(LINES)), source="x", require_gzip=True))
    assert [r["id"] for r in records] == [1, 2]


@pytest.mark.parametrize("body", [b"", b"<?xml version='1.0'?><Error/>", LINES])
def test_when_gzip_is_required_anything_else_is_a_failed_download(body: bytes):
    with pytest.raises(DownloadError, match="not a gzip file"):
        list(iter_ndjson(io.BytesIO(body), source="companies export 7", require_gzip=True))
