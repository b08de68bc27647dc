"""gzip and CRC-32/Adler-32: zlib-ng's when it is installed, else the standard library's.

Inflating gzip files is a tenth or more of a sync's CPU, and the two checksums of every
line are about a third of what a Userpilot row key costs (`rowkey`). zlib-ng, a zlib
rewritten for today's CPUs (the `speed` extra: `pip install 'tap-exports[speed]'`), does
both two to three times as fast on the benchmarks' machine (docs/performance.md). It is
optional because it is a compiled library that not every platform has a wheel of.

Either way the results are the same: the same bytes out of a gzip stream, the same
checksums, so a row's key does not change with what is installed. Failures read alike
too: a stream cut short raises `EOFError`, a failed CRC `gzip.BadGzipFile`, and a broken
deflate stream either library's error (`CORRUPT` holds them all). One difference: bytes
after the last gzip member that are not gzip read as a stream cut short with zlib-ng and
as corrupt data with the standard library; a failed download either way.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from importlib import import_module

try:
    _GZIP = import_module("zlib_ng.gzip_ng")
    _ZLIB = import_module("zlib_ng.zlib_ng")
except ImportError:
    _GZIP, _ZLIB = gzip, zlib

# What the tap uses: gzip.GzipFile or zlib-ng's subclass of it.
GzipFile: type[gzip.GzipFile] = _GZIP.GzipFile
# zlib.decompressobj or zlib-ng's (`wbits=31` for one gzip member).
decompressobj: Callable[..., zlib._Decompress] = _ZLIB.decompressobj
crc32: Callable[[bytes], int] = _ZLIB.crc32
adler32: Callable[[bytes], int] = _ZLIB.adler32
# A gzip stream that is not valid (a stream cut short is an EOFError, apart).
CORRUPT: tuple[type[Exception], ...] = (gzip.BadGzipFile, zlib.error, _ZLIB.error)
