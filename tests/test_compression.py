"""zlib-ng (the `speed` extra) and the standard library read gzip and checksum lines alike.

Row keys must not change with what is installed, and a file cut short or corrupt must
fail the same way: each case runs with both libraries, the two known differences are
pinned (so an upgrade that changes them is noticed), and the module must fall back to
the standard library when zlib-ng is missing.
"""

from __future__ import annotations

import gzip
import importlib
import io
import random
import struct
import sys
import zlib
from collections.abc import Iterator

import orjson
import pytest

from tap_exports.engine import compression
from tap_exports.engine.errors import DownloadError
from tap_exports.engine.files.decode import iter_line_runs
from tap_exports.engine.records.bulk import FileCheck, Verdict
from tap_exports.engine.records.rowkey import RowKeys

zlib_ng = pytest.importorskip("zlib_ng.zlib_ng")
gzip_ng = pytest.importorskip("zlib_ng.gzip_ng")

_RANDOM = random.Random(19)
LINES = [
    b'{"n":%d,"text":"%s"}' % (n, _RANDOM.randbytes(n % 900).hex().encode()) for n in range(600)
]
DATA = b"\n".join(LINES) + b"\n"
GZ = gzip.compress(DATA)
BAD_CRC = GZ[:-6] + bytes([GZ[-6] ^ 0xFF]) + GZ[-5:]  # the trailer's CRC-32, changed
BROKEN_DEFLATE = GZ[:10] + b"\x07" * 40  # a block of the reserved type


def with_bad_header_crc(data: bytes) -> bytes:
    """A gzip member whose header carries the optional CRC (FHCRC), a wrong one."""
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
    body = deflate.compress(data) + deflate.flush()
    header = b"\x1f\x8b\x08\x02" + b"\x00" * 4 + b"\x00\xff" + b"\x00\x00"
    return header + body + struct.pack("<II", zlib.crc32(data), len(data))


@pytest.fixture(params=["zlib", "zlib-ng"])
def library(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Each test once with each library behind `compression`."""
    gzip_module, zlib_module = (gzip, zlib) if request.param == "zlib" else (gzip_ng, zlib_ng)
    monkeypatch.setattr(compression, "GzipFile", gzip_module.GzipFile)
    monkeypatch.setattr(compression, "gzip_inflater", lambda: zlib_module.decompressobj(wbits=31))
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


def checked(blob: bytes, chunk: int = 7) -> Verdict:
    """The BATCH check of a gzip file fed `chunk` bytes at a time (its gzip stream only)."""
    file_check = FileCheck(None, None, None)
    for at in range(0, len(blob), chunk):
        file_check.feed(blob[at : at + chunk])
    return file_check.verdict()


def test_the_checksums_are_the_standard_librarys():
    for line in [b"", b"{", *LINES, _RANDOM.randbytes(70_000)]:
        assert zlib_ng.crc32(line) == zlib.crc32(line)
        assert zlib_ng.adler32(line) == zlib.adler32(line)


def test_row_keys_and_lines_are_the_same_with_either_library(library: str):
    assert lines_of(GZ) == DATA.split(b"\n")[:-1]
    assert lines_of(GZ + gzip.compress(b'{"x":1}\n') + b"\x00" * 8)[-1] == b'{"x":1}'
    digests = [zlib.crc32(line) << 32 | zlib.adler32(line) for line in LINES]
    expected = [f"{d:016x}-0" for d in digests] + [f"{d:016x}-1" for d in digests[:3]]
    assert keys_of(LINES + LINES[:3]) == expected


@pytest.mark.parametrize(
    ("blob", "error"),
    [
        (GZ[: len(GZ) // 2], "ends inside its gzip stream after line .* \\(truncated download\\)"),
        (GZ[:-1], "truncated download"),
        (BAD_CRC, r"corrupt gzip data after line \d+ \(CRC check failed"),
        (BROKEN_DEFLATE, "corrupt gzip data after line 0"),
    ],
    ids=["half", "last byte", "crc", "broken deflate"],
)
def test_a_file_cut_short_or_corrupt_fails_alike_with_either_library(
    library: str, blob: bytes, error: str
):
    with pytest.raises(DownloadError, match=error):
        lines_of(blob)


def test_the_differences_the_module_names(library: str):
    """Trailing bytes that are not gzip, and a wrong header CRC (see `compression`)."""
    junk = {"zlib": "corrupt gzip data", "zlib-ng": "truncated download"}[library]
    with pytest.raises(DownloadError, match=junk):
        lines_of(GZ + b"junkjunk")
    bad_header = with_bad_header_crc(DATA)
    if library == "zlib":
        assert lines_of(bad_header) == LINES  # the standard library does not check it
    else:
        with pytest.raises(DownloadError, match=r"corrupt gzip data .*header"):
            lines_of(bad_header)
    with pytest.raises(DownloadError, match="corrupt"):
        checked(bad_header)  # the BATCH check refuses it with both


def test_the_bulk_check_reads_gzip_alike_with_either_library(library: str):
    whole = Verdict(0, refusal="a schema not checkable in bulk", undeclared=True)  # no error
    assert checked(GZ + GZ) == whole
    assert checked(GZ, chunk=10**6) == whole
    with pytest.raises(DownloadError, match="cut short"):
        checked(GZ[:-3])
    with pytest.raises(DownloadError, match="corrupt"):
        checked(BROKEN_DEFLATE)


def test_without_zlib_ng_the_standard_library_is_used(monkeypatch: pytest.MonkeyPatch):
    for name in ("zlib_ng", "zlib_ng.gzip_ng", "zlib_ng.zlib_ng"):
        monkeypatch.setitem(sys.modules, name, None)  # its import fails, as if not installed
    try:
        module = importlib.reload(compression)
        assert module.GzipFile is gzip.GzipFile
        assert (module.crc32, module.adler32) == (zlib.crc32, zlib.adler32)
        assert type(module.gzip_inflater()) is type(zlib.decompressobj())
        assert set(module.CORRUPT) == {gzip.BadGzipFile, zlib.error}
    finally:
        monkeypatch.undo()
        module = importlib.reload(compression)
    assert module.GzipFile is gzip_ng.GzipFile
    assert module.crc32 is zlib_ng.crc32
