"""Stream-decode an export file into records, one line at a time.

Memory stays flat in the file size: bytes flow from the socket through gzip into a
line buffer and each line is parsed and handed on before the next is read. gzip is
detected by its magic bytes rather than assumed, because not every provider says.
A gzip stream that ends early or fails its CRC is an error, never a short file.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, cast

import orjson
import requests
import urllib3.exceptions

from tap_exports.engine.errors import DecodeError, DownloadError
from tap_exports.engine.validate import RecordCheck

GZIP_MAGIC = b"\x1f\x8b"
_READ_BUFFER = 1 << 16
_NETWORK_ERRORS = (
    urllib3.exceptions.HTTPError,
    requests.RequestException,
    ConnectionError,
    TimeoutError,
)


def iter_ndjson(
    raw: io.RawIOBase | BinaryIO,
    *,
    source: str,
    check: RecordCheck | None = None,
    skip: Callable[[str], None] | None = None,
    require_gzip: bool = False,
) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of a (possibly gzipped) NDJSON stream.

    `source` names the export in errors, which also give the 1-based line number.
    `check` may refuse a record (see `validate.py`). A bad line raises, unless `skip`
    is given: then its description goes to `skip` and decoding goes on. With
    `require_gzip` (a provider that always compresses), anything else (an empty body,
    an error page) is a `DownloadError`, never "a file without records".

    Raises:
        DecodeError: a line is not JSON, not a JSON object, or refused by `check`.
        DownloadError: the stream was cut short, is corrupt, or the connection failed.
    """
    line_number = 0
    try:
        # The first reads from the network: inside the try, so a stalled host is
        # reported with the export's name like any later failure.
        head = _read_head(raw, len(GZIP_MAGIC))
        buffered = io.BufferedReader(_Prefixed(head, raw), buffer_size=_READ_BUFFER)
        lines: Iterable[bytes] = buffered
        if head == GZIP_MAGIC:
            lines = gzip.GzipFile(fileobj=buffered)
        elif require_gzip:
            raise DownloadError(
                f"{source}: not a gzip file (it starts with {head!r}); the storage host may "
                "have answered with an error page"
            )
        for line_number, line in enumerate(lines, start=1):
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if not line.strip():
                    continue
                problem: str | None = f"not valid JSON ({exc})"
            else:
                if type(record) is not dict:
                    problem = f"expected a JSON object, got {type(record).__name__}"
                else:
                    problem = check(record) if check is not None else None
                    if problem is None:
                        yield record
                        continue
            message = f"{source}, line {line_number}: {problem}"
            if skip is None:
                raise DecodeError(message)
            skip(message)
    except EOFError:
        raise DownloadError(
            f"{source}: the file ends inside its gzip stream after line {line_number} "
            "(truncated download)"
        ) from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DownloadError(
            f"{source}: corrupt gzip data after line {line_number} ({exc})"
        ) from None
    except _NETWORK_ERRORS as exc:
        raise DownloadError(
            f"{source}: the connection failed after line {line_number} ({type(exc).__name__})"
        ) from None


def _read_head(raw: io.RawIOBase | BinaryIO, size: int) -> bytes:
    """Read exactly `size` bytes (fewer only at the end of the stream).

    A single read may return less than asked (one byte of a dropped connection), and
    sniffing gzip on a partial magic number would take a gzip file for plain text.
    """
    head = b""
    while len(head) < size:
        chunk = raw.read(size - len(head))
        if not chunk:
            break
        head += chunk
    return head


class _Prefixed(io.RawIOBase):
    """A raw stream that gives back bytes already read before reading on."""

    def __init__(self, head: bytes, rest: io.RawIOBase | BinaryIO) -> None:
        super().__init__()
        self._head = head
        self._rest = cast(io.RawIOBase, rest)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int | None:  # type: ignore[override]
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count] = self._head[:count]
            self._head = self._head[count:]
            return count
        return self._rest.readinto(buffer)
