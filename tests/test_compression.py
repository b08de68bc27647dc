"""zlib-ng (the `speed` extra) and the standard library read gzip and checksum lines alike.

Row keys must not change with what is installed, and a file cut short or corrupt must
fail the same way: each case runs with both libraries, and the module must fall back to
the standard library when zlib-ng is missing.
"""

from __future__ import annotations

import gzip
import importlib
import io
import os
import sys
import zlib
from collections.abc import Iterator
from types import ModuleType

import orjson
import pytest

from tap_exports.engine import compression
from tap_exports.engine.errors import DownloadError
from tap_exports.engine.files.decode import iter_line_runs
from tap_exports.engine.records.rowkey import RowKeys
from tests.test_bulk import check

zlib_ng = pytest.importorskip("zlib_ng.zlib_ng")
gzip_ng = pytest.importorskip("zlib_ng.gzip_ng")

LINES = [b'{"n":%d,"text":"%s"}' % (n, os.urandom(n % 900).hex().encode()) for n in range(600)]
DATA = b"\n".join(LINES) + b"\n"
GZ = gzip.compress(DATA)
BAD_CRC = GZ[:-6] + bytes([GZ[-6] ^ 0xFF]) + GZ[-5:]  # the trailer's CRC-32, changed


@pytest.fixture(params=["zlib", "zlib-ng"])
def library(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test once with each library behind `compression`."""
    gzip_module, zlib_module = (gzip, zlib) if request.param == "zlib" else (gzip_ng, zlib_ng)
    monkeypatch.setattr(compression, "GzipFile", gzip_module.GzipFile)
    monkeypatch.setattr(compression, "decompressobj", zlib_module.decompressobj)
    monkeypatch.setattr(compression, "crc32", zlib_module.crc32)
    monkeypatch.setattr(compression, "adler32", zlib_module.adler32)
    # rowkey imported the functions themselves.
    monkeypatch.setattr("tap_exports.engine.records.rowkey.crc32", zlib_module.crc32)
    monkeypatch.setattr("tap_exports.engine.records.rowkey.adler32", zlib_module.adler32)
    yield request.param


def lines_of(blob: bytes) -> list[bytes]:
    runs = iter_line_runs(io.BytesIO(blob), source="events export 7")
    return [line for run in runs for line in run.lines]


def keys_of(lines: list[bytes]) -> list[str]:
    keys = RowKeys("_row_key")
    try:
        return [orjson.loads(line)["_row_key"] for line in keys.add(lines)]
    finally:
        keys.close()


def test_the_checksums_are_the_standard_librarys():
    for line in [b"", b"{", *LINES, os.urandom(70_000)]:
        assert zlib_ng.crc32(line) == zlib.crc32(line)
        assert zlib_ng.adler32(line) == zlib.adler32(line)


def test_row_keys_and_lines_are_the_same_with_either_library(library: str):
    assert lines_of(GZ) == DATA.split(b"\n")[:-1]
    digests = [zlib.crc32(line) << 32 | zlib.adler32(line) for line in LINES]
    expected = [f"{d:016x}-0" for d in digests] + [f"{d:016x}-1" for d in digests[:3]]
    assert keys_of(LINES + LINES[:3]) == expected


@pytest.mark.parametrize(
    ("blob", "error"),
    [
        (GZ[: len(GZ) // 2], "ends inside its gzip stream after line .* \\(truncated download\\)"),
        (GZ[:-1], "truncated download"),
        (BAD_CRC, r"corrupt gzip data after line \d+ \(CRC check failed"),
        (GZ[:10] + b"\x07" * 40, "corrupt gzip data after line 0"),
    ],
    ids=["half", "last byte", "crc", "broken deflate"],
)
def test_a_file_cut_short_or_corrupt_fails_alike_with_either_library(
    library: str, blob: bytes, error: str
):
    with pytest.raises(DownloadError, match=error):
        lines_of(blob)


def test_the_bulk_check_reads_gzip_alike_with_either_library(library: str):
    assert check([], data=gzip.compress(b"") + gzip.compress(b"")).records == 0
    with pytest.raises(DownloadError, match="cut short"):
        check([], data=GZ[:-3])
    with pytest.raises(DownloadError, match="corrupt"):
        check([], data=GZ[:10] + b"\x07" * 40)


def test_without_zlib_ng_the_standard_library_is_used(monkeypatch: pytest.MonkeyPatch):
    def reload() -> ModuleType:
        return importlib.reload(compression)

    monkeypatch.setitem(sys.modules, "zlib_ng", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "zlib_ng.gzip_ng", None)
    monkeypatch.setitem(sys.modules, "zlib_ng.zlib_ng", None)
    try:
        module = reload()
        assert module.GzipFile is gzip.GzipFile
        assert module.crc32 is zlib.crc32
        assert module.decompressobj is zlib.decompressobj
    finally:
        monkeypatch.undo()
        module = reload()
    assert module.GzipFile is gzip_ng.GzipFile
