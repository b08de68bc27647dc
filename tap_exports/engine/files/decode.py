"""Stream-decode an export file into runs of lines, and lines into records.

Memory stays flat in the file size: bytes flow from the socket through gzip into
runs of about a megabyte of lines, each handed on before the next is read.

A file's format is found from its content, not assumed, because not every provider
says, and a storage host's error page must not pass for a file: gzip by its magic
bytes, then in what it holds, Parquet and Avro by theirs, a JSON array by its `[`,
NDJSON by its `{` (or by being empty), CSV otherwise. A format the provider did not
declare is a failed download. Whatever the format, the file comes out as the same
thing, lines that each hold one JSON object, so everything downstream (the checks,
BATCH regrouping) is written once. NDJSON lines pass through untouched, as fast as
before; other formats are split or rendered by their own modules (`json_array`,
`csv_rows`, `parquet_avro`, with `render`).

A gzip stream that ends early or fails its CRC is an error, never a short file.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

import orjson

from tap_exports.engine import compression
from tap_exports.engine.errors import DecodeError, DownloadError
from tap_exports.engine.files.csv_rows import ColumnTypes, column_types, iter_csv_records
from tap_exports.engine.files.download import NETWORK_ERRORS
from tap_exports.engine.files.json_array import iter_elements
from tap_exports.engine.files.parquet_avro import iter_avro_records, iter_parquet_records
from tap_exports.engine.files.render import json_text_columns
from tap_exports.engine.records.validate import RecordCheck

__all__ = [
    "FORMATS",
    "GZIP_MAGIC",
    "ColumnTypes",
    "FileFormats",
    "LineRun",
    "column_types",
    "decode_line",
    "decode_run",
    "iter_line_runs",
    "iter_records",
]

GZIP_MAGIC = b"\x1f\x8b"
FORMATS = ("ndjson", "json", "csv", "parquet", "avro")
_PARQUET_MAGIC = b"PAR1"
_AVRO_MAGIC = b"Obj\x01"
_UTF8_BOM = b"\xef\xbb\xbf"
_JSON_WHITESPACE = b" \t\r\n"
_READ_BUFFER = 1 << 16
# About how many bytes of lines make a run (NDJSON: decompressed bytes split at a time).
_RUN_BYTES = 1 << 20
# How far past leading whitespace to look for a file's first character.
_SNIFF_BYTES = _READ_BUFFER
_DESCRIBED = {
    "ndjson": "NDJSON",
    "json": "a JSON array",
    "csv": "CSV",
    "parquet": "Parquet",
    "avro": "Avro",
    "markup": "XML or HTML",
}


@dataclass(frozen=True, slots=True)
class FileFormats:
    """What a provider says its export files may be.

    A file of another format is a failed download (an error page where data was
    expected), never data read the wrong way.
    """

    formats: frozenset[str] = frozenset({"ndjson"})  # a subset of FORMATS
    # True: a file that is not gzip is a failed download (an empty body, an error page).
    always_gzip: bool = False

    def __post_init__(self) -> None:
        """Refuse names outside `FORMATS`: a typo would otherwise refuse every file."""
        if not self.formats or not self.formats <= set(FORMATS):
            raise ValueError(f"file formats must be some of {FORMATS}, not {set(self.formats)}")


@dataclass(frozen=True, slots=True)
class LineRun:
    """Consecutive complete lines of a file (without their line breaks)."""

    first_line: int  # 1-based number of `lines[0]`
    lines: list[bytes]


def iter_line_runs(
    raw: io.RawIOBase | BinaryIO,
    *,
    source: str,
    formats: FileFormats = FileFormats(),
    columns: ColumnTypes | None = None,
) -> Iterator[LineRun]:
    """Yield a file's records, each as a line of JSON, many at a time, in order.

    Reading a megabyte at a time and splitting it in C is what lets callers check
    and forward lines in bulk. `source` names the export in errors. `formats` says
    what the provider's files may be; `columns` gives the JSON types of the stream's
    columns, by which CSV cells are read (see `csv_rows`) and JSON text in a Parquet
    or Avro column declared an object or list is read back (see `render`). For NDJSON,
    `first_line` counts the file's physical lines; for the other formats, records (the
    Nth element, data row or record is line N).

    Raises:
        DownloadError: the stream was cut short, is corrupt, the connection failed,
            or the file is not of a format `formats` allows.
        DecodeError: the file is of a declared format but not readable as such (see
            the format's module).
    """
    unit, reached = "line", 0
    compressed = False
    try:
        # The first reads from the network: inside the try, so a stalled host is
        # reported with the export's name like any later failure.
        head = _read_head(raw, len(GZIP_MAGIC))
        stream: io.BufferedIOBase | gzip.GzipFile = io.BufferedReader(
            _Prefixed(head, raw), buffer_size=_READ_BUFFER
        )
        if head == GZIP_MAGIC:
            stream = compression.GzipFile(fileobj=stream)
            compressed = True
        elif formats.always_gzip:
            raise DownloadError(
                f"{source}: not a gzip file (it starts with {head!r}); the storage host may "
                "have answered with an error page"
            )
        found, head = _sniff(stream)
        if found not in formats.formats:
            raise DownloadError(_undeclared(source, found, head, formats))
        if found != "ndjson":
            unit = "record"
        for lines in _lines(found, head, stream, source, columns):
            yield LineRun(reached + 1, lines)
            reached += len(lines)
    except EOFError:
        inside = " inside its gzip stream" if compressed else ""
        raise DownloadError(
            f"{source}: the file ends{inside} after {unit} {reached} (truncated download)"
        ) from None
    except compression.CORRUPT as exc:
        raise DownloadError(f"{source}: corrupt gzip data after {unit} {reached} ({exc})") from None
    except NETWORK_ERRORS as exc:
        raise DownloadError(
            f"{source}: the connection failed after {unit} {reached} ({type(exc).__name__})"
        ) from None


def iter_records(
    raw: io.RawIOBase | BinaryIO,
    *,
    source: str,
    formats: FileFormats = FileFormats(),
    columns: ColumnTypes | None = None,
    check: RecordCheck | None = None,
    skip: Callable[[str], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield each record of an export file, as a dict.

    See `iter_line_runs` and `decode_line` (whose "line N" is record N for the
    formats other than NDJSON).

    Raises:
        DecodeError: a record is not a JSON object, or refused by `check`.
        DownloadError: the stream was cut short, is corrupt, the connection failed,
            or the file is not of a format `formats` allows.
    """
    for run in iter_line_runs(raw, source=source, formats=formats, columns=columns):
        yield from decode_run(run, source=source, check=check, skip=skip)


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


def _sniff(stream: io.BufferedIOBase | gzip.GzipFile) -> tuple[str, bytes]:
    """Tell a (decompressed) file's format from its first bytes; return it and them.

    Reads past leading whitespace (up to `_SNIFF_BYTES`) to the first character, a
    pretty-printed JSON array may start on a later line. A UTF-8 byte order mark is
    dropped: it marks the encoding, it is not part of any line or cell.
    """
    head = stream.read(len(_PARQUET_MAGIC))
    if head == _PARQUET_MAGIC:
        return "parquet", head
    if head == _AVRO_MAGIC:
        return "avro", head
    head = head.removeprefix(_UTF8_BOM)
    while not head.lstrip(_JSON_WHITESPACE) and len(head) < _SNIFF_BYTES:
        more = stream.read1(_READ_BUFFER)
        if not more:
            break
        head += more
    first = head.lstrip(_JSON_WHITESPACE)[:1]
    if first in (b"", b"{"):
        return "ndjson", head
    if first == b"[":
        return "json", head
    if first == b"<":  # never data: an error page
        return "markup", head
    return "csv", head


def _undeclared(source: str, found: str, head: bytes, formats: FileFormats) -> str:
    expected = " or ".join(_DESCRIBED[name] for name in FORMATS if name in formats.formats)
    if not head.strip():
        seen = "is empty"
    else:
        seen = f"starts with {head[:32]!r}, which reads as {_DESCRIBED[found]}"
    return (
        f"{source}: expected {expected}, but the file {seen}; the storage host may have "
        "answered with an error page"
    )


def _lines(
    found: str,
    head: bytes,
    stream: io.BufferedIOBase | gzip.GzipFile,
    source: str,
    columns: ColumnTypes | None,
) -> Iterator[list[bytes]]:
    """The file's records as lists of lines, read by the reader of its format."""
    if found == "ndjson":
        return _ndjson_lines(head, stream)
    if found == "json":
        return iter_elements(_chunks(head, stream), source=source, run_bytes=_RUN_BYTES)
    whole = io.BufferedReader(_Prefixed(head, stream), buffer_size=_READ_BUFFER)
    if found == "csv":
        return iter_csv_records(whole, source=source, columns=columns, run_bytes=_RUN_BYTES)
    json_columns = json_text_columns(columns)
    if found == "parquet":
        return iter_parquet_records(
            whole, source=source, run_bytes=_RUN_BYTES, json_columns=json_columns
        )
    return iter_avro_records(whole, source=source, run_bytes=_RUN_BYTES, json_columns=json_columns)


def _ndjson_lines(head: bytes, stream: io.BufferedIOBase | gzip.GzipFile) -> Iterator[list[bytes]]:
    """Split NDJSON into its physical lines (blank ones too), a megabyte at a time."""
    pending = head
    while chunk := stream.read(_RUN_BYTES):
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        if lines:
            yield lines
    if pending:
        yield [pending]


def _chunks(head: bytes, stream: io.BufferedIOBase | gzip.GzipFile) -> Iterator[bytes]:
    """The stream's bytes as they arrive (one read each), `head` first."""
    if head:
        yield head
    while chunk := stream.read1(_READ_BUFFER):
        yield chunk


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

    def __init__(self, head: bytes, rest: io.RawIOBase | io.BufferedIOBase | BinaryIO) -> None:
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
