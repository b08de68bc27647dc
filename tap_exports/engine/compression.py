"""gzip and CRC-32/Adler-32: zlib-ng's when it is installed, else the standard library's.

Inflating gzip files is a tenth or more of a sync's CPU, and the two checksums of every
line are about a third of what a row key costs (`rowkey`). zlib-ng, a zlib
rewritten for today's CPUs (the `speed` extra: `pip install 'tap-exports[speed]'`),
inflates about 2.8 times and checksums about 2 times as fast on the benchmarks' machine
(docs/performance.md). It is optional because it is a compiled library that not every
platform has a wheel of.

Either way a valid file gives the same bytes, and a line the same checksums, so a row's
key does not change with what is installed. A file that is cut short or corrupt is a
failed download with both: a stream cut short raises `EOFError`, a failed CRC
`gzip.BadGzipFile`, a broken deflate stream either library's error (`CORRUPT` holds them
all). Which of "cut short" and "corrupt" a damaged file reads as, and after which record,
can differ: bytes after the last member that are not gzip read as cut short with zlib-ng
and as corrupt with the standard library. One file reads differently: a header whose
optional CRC (FHCRC) is wrong is refused by zlib-ng and read by the standard library,
which does not check it (the BATCH check, `bulk`, refuses it with both).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Callable
from typing import Protocol, cast

try:
    from zlib_ng import gzip_ng as _gzip
    from zlib_ng import zlib_ng as _zlib
except ImportError:  # the standard library's, with the same names and behaviour
    import gzip as _gzip  # type: ignore[no-redef]
    import zlib as _zlib  # type: ignore[no-redef]


class Inflater(Protocol):
    """What `bulk` uses of a decompressor object (zlib's and zlib-ng's alike)."""

    @property
    def eof(self) -> bool:
        """Whether the end of the compressed stream (one gzip member) was reached."""

    @property
    def unused_data(self) -> bytes:
        """Bytes after the end of the stream (the next gzip member, if any)."""

    def decompress(self, data: bytes, /) -> bytes:
        """The bytes `data` inflates to, so far."""


# What the tap uses: gzip.GzipFile or zlib-ng's subclass of it.
GzipFile: type[gzip.GzipFile] = _gzip.GzipFile
crc32: Callable[[bytes], int] = _zlib.crc32
adler32: Callable[[bytes], int] = _zlib.adler32


def gzip_inflater() -> Inflater:
    """A decompressor of one gzip member (`unused_data` holds what follows it)."""
    return _zlib.decompressobj(wbits=31)


# A gzip stream that is not valid (a stream cut short is an EOFError, apart). zlib-ng's
# stub calls its error class an instance, hence the cast.
CORRUPT: tuple[type[Exception], ...] = (
    gzip.BadGzipFile,
    zlib.error,
    cast("type[Exception]", _zlib.error),
)
