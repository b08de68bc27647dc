"""Stream-decode an export file into runs of lines, and lines into records.

Memory stays flat in the file size: bytes flow from the socket through gzip into
runs of about a megabyte of lines, each handed on before the next is read. gzip is
detected by its magic bytes rather than assumed, because not every provider says.
A gzip stream that ends early or fails its CRC is an error, never a short file.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

import orjson

from tap_exports.engine.download import NETWORK_ERRORS
from tap_exports.engine.errors import DecodeError, DownloadError
from tap_exports.engine.validate import RecordCheck

GZIP_MAGIC = b"\x1f\x8b"
_READ_BUFFER = 1 << 16
# Decompressed bytes split into lines at a time.
_RUN_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class LineRun:
    """Consecutive complete lines of a file (without their line breaks)."""

    first_line: int  # 1-based number of `lines[0]`
    lines: list[bytes]


def iter_line_runs(
    raw: io.RawIOBase | BinaryIO, *, source: str, require_gzip: bool = False
) -> Iterator[LineRun]:
    """Yield the lines of a (possibly gzipped) file, many at a time, in order.

    Reading a megabyte at a time and splitting it in C is what lets callers check
    and forward lines in bulk. `source` names the export in errors. With
    `require_gzip` (a provider that always compresses), anything else (an empty body,
    an error page) is a `DownloadError`, never "a file without records".

    Raises:
        DownloadError: the stream was cut short, is corrupt, or the connection failed.
    """
    line_number = 0
    try:
        # The first reads from the network: inside the try, so a stalled host is
        # reported with the export's name like any later failure.
        head = _read_head(raw, len(GZIP_MAGIC))
        stream: io.BufferedIOBase | gzip.GzipFile = io.BufferedReader(
            _Prefixed(head, raw), buffer_size=_READ_BUFFER
        )
        if head == GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=stream)
        elif require_gzip:
            raise DownloadError(
                f"{source}: not a gzip file (it starts with {head!r}); the storage host may "
                "have answered with an error page"
            )
        pending = b""
        while chunk := stream.read(_RUN_BYTES):
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            if lines:
                yield LineRun(line_number + 1, lines)
                line_number += len(lines)
        if pending:
            yield LineRun(line_number + 1, [pending])
            line_number += 1
    except EOFError:
        raise DownloadError(
            f"{source}: the file ends inside its gzip stream after line {line_number} "
            "(truncated download)"
        ) from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DownloadError(
            f"{source}: corrupt gzip data after line {line_number} ({exc})"
        ) from None
    except NETWORK_ERRORS as exc:
        raise DownloadError(
            f"{source}: the connection failed after line {line_number} ({type(exc).__name__})"
        ) from None


def decode_line(
    line: bytes,
    line_number: int,
    *,
    source: str,
    check: RecordCheck | None = None,
    skip: Callable[[str], None] | None = None,
) -> dict[str, Any] | None:
    """Parse one line into a record; None for a blank line or a skipped bad one.

    `check` may refuse a record (see `validate.py`). A bad line raises, unless `skip`
    is given: then its description, with `source` and the 1-based line number, goes
    to `skip`.

    Raises:
        DecodeError: the line is not JSON, not a JSON object, or refused by `check`.
    """
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        if not line.strip():
            return None
        problem: str | None = f"not valid JSON ({exc})"
    else:
        if type(record) is not dict:
            problem = f"expected a JSON object, got {type(record).__name__}"
        else:
            problem = check(record) if check is not None else None
            if problem is None:
                return record
    message = f"{source}, line {line_number}: {problem}"
    if skip is None:
        raise DecodeError(message)
    skip(message)
    return None


def iter_ndjson(
    raw: io.RawIOBase | BinaryIO,
    *,
    source: str,
    check: RecordCheck | None = None,
    skip: Callable[[str], None] | None = None,
    require_gzip: bool = False,
) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of a (possibly gzipped) NDJSON stream.

    See `iter_line_runs` and `decode_line`.

    Raises:
        DecodeError: a line is not JSON, not a JSON object, or refused by `check`.
        DownloadError: the stream was cut short, is corrupt, or the connection failed.
    """
    for run in iter_line_runs(raw, source=source, require_gzip=require_gzip):
        yield from decode_run(run, source=source, check=check, skip=skip)


def decode_run(
    run: LineRun,
    *,
    source: str,
    check: RecordCheck | None = None,
    skip: Callable[[str], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Decode the lines of a run, as `decode_line` does each (inlined for good lines)."""
    loads = orjson.loads
    for number, line in enumerate(run.lines, start=run.first_line):
        try:
            record = loads(line)
        except orjson.JSONDecodeError:
            record = None
        if type(record) is dict and (check is None or check(record) is None):
            yield record
            continue
        # Not a record: `decode_line` raises or reports it (a blank line it ignores).
        decode_line(line, number, source=source, check=check, skip=skip)


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
