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
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, cast

import orjson
import requests
import urllib3.exceptions

from tap_exports.engine.errors import DecodeError, DownloadError

GZIP_MAGIC = b"\x1f\x8b"
_READ_BUFFER = 1 << 16
_NETWORK_ERRORS = (
    urllib3.exceptions.HTTPError,
    requests.RequestException,
    ConnectionError,
    TimeoutError,
)


def iter_ndjson(raw: BinaryIO, *, source: str) -> Iterator[dict[str, Any]]:
    """Yield each JSON object of a (possibly gzipped) NDJSON stream.

    `source` names the export in errors, which also give the 1-based line number.

    Raises:
        DecodeError: a line is not JSON, or not a JSON object.
        DownloadError: the stream was cut short, is corrupt, or the connection failed.

    """
    buffered = io.BufferedReader(cast(io.RawIOBase, raw), buffer_size=_READ_BUFFER)
    line_number = 0
    try:
        # The peek is the first read from the network: inside the try, so a stalled
        # host is reported with the export's name like any later failure.
        lines: Iterable[bytes] = (
            gzip.GzipFile(fileobj=buffered) if buffered.peek(2)[:2] == GZIP_MAGIC else buffered
        )
        for line_number, line in enumerate(lines, start=1):
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if not line.strip():
                    continue
                raise DecodeError(f"{source}, line {line_number}: not valid JSON ({exc})") from None
            if type(record) is not dict:
                raise DecodeError(
                    f"{source}, line {line_number}: expected a JSON object, "
                    f"got {type(record).__name__}"
                )
            yield record
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
