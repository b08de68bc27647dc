"""An Avro object container file cut into groups of whole blocks, each a file of its own.

polars reads Avro in Rust, about five times fastavro's rows/s, but only a whole file at
a time: a file of millions of rows would be held in memory at once. An Avro container
is a header (the schema, the codec, a 16-byte sync marker) followed by blocks that each
hold a count of records, their size, the (compressed) records and the sync marker. So
the blocks are read here, as they are, a group of about a batch's rows at a time, and
each group is handed on with the header before it: a small, whole Avro file that any
reader takes, with memory bounded by the group. The records are not decoded here.

A file that ends inside its header or a block, or whose block is not followed by the
header's sync marker, is a `DownloadError`: cut short or corrupt.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import IO, Any

from tap_exports.engine.errors import DownloadError

_MAGIC = b"Obj\x01"
_SYNC_BYTES = 16
_READ_BYTES = 1 << 16  # read from the stream at a time
_LONG_BYTES = 10


class _Short(Exception):
    """The stream ended before the bytes asked for."""


class _Corrupt(Exception):
    """The bytes cannot be the framing of an Avro file (a negative size, a varint too long)."""


class _Bytes:
    """A byte stream read a chunk at a time, taken a piece at a time."""

    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream
        self._data = b""
        self._at = 0

    def at_end(self) -> bool:
        """Whether the stream has nothing left."""
        return not self._fill(1)

    def take(self, count: int) -> bytes:
        """The next `count` bytes; `_Short` if the stream ends first."""
        if count < 0:
            raise _Corrupt
        if not self._fill(count):
            raise _Short
        piece = self._data[self._at : self._at + count]
        self._at += count
        return piece

    def long(self) -> tuple[int, bytes]:
        """An Avro long (zig-zag varint): its value and its bytes as read."""
        raw = bytearray()
        while True:
            byte = self.take(1)[0]
            raw.append(byte)
            if not byte & 0x80:
                break
            if len(raw) == _LONG_BYTES:  # a long has at most 64 bits: 10 bytes of 7
                raise _Corrupt
        value = 0
        for shift, byte in enumerate(raw):
            value |= (byte & 0x7F) << (7 * shift)
        return (value >> 1) ^ -(value & 1), bytes(raw)

    def _fill(self, count: int) -> bool:
        while len(self._data) - self._at < count:
            chunk = self._stream.read(max(_READ_BYTES, count))
            if not chunk:
                return False
            self._data = self._data[self._at :] + chunk
            self._at = 0
        return True


class AvroBlocks:
    """The header of an Avro container and its blocks in groups (see the module)."""

    def __init__(self, stream: IO[bytes], *, source: str) -> None:
        """Read the header of the file `stream` holds; `source` names it in errors.

        Raises:
            DownloadError: the stream ends inside the header, or is not an Avro container.
        """
        self._bytes = _Bytes(stream)
        self._source = source
        pieces: list[bytes] = []
        try:
            magic = self._bytes.take(len(_MAGIC))
            if magic != _MAGIC:
                raise DownloadError(f"{source}: not an Avro object container file")
            pieces.append(magic)
            self.metadata = self._metadata(pieces)
            self._sync = self._bytes.take(_SYNC_BYTES)
            text = self.metadata.get("avro.schema")
            self.schema: Any = None if text is None else json.loads(text)
        except _Short:
            raise DownloadError(
                f"{source}: the Avro file ends early inside its header; truncated download?"
            ) from None
        except (_Corrupt, ValueError):  # a negative length, a schema that is not JSON
            raise DownloadError(
                f"{source}: the Avro file's header is corrupt; damaged download?"
            ) from None
        pieces.append(self._sync)
        self.header = b"".join(pieces)

    def groups(self, rows: int) -> Iterator[tuple[int, bytes]]:
        """(records, a whole Avro file) for groups of blocks of at least `rows` records.

        The last group may hold fewer; a block larger than `rows` is a group alone.

        Raises:
            DownloadError: a block is cut short or not followed by the sync marker.
        """
        group: list[bytes] = [self.header]
        records = done = 0  # in this group; in the groups handed on
        try:
            while not self._bytes.at_end():
                count, count_bytes = self._bytes.long()
                size, size_bytes = self._bytes.long()
                if count < 0:
                    raise _Corrupt
                group += (count_bytes, size_bytes, self._bytes.take(size))
                if self._bytes.take(_SYNC_BYTES) != self._sync:
                    raise self._corrupt(done + records, "a block without its sync marker")
                group.append(self._sync)
                records += count
                if records >= rows:
                    yield records, b"".join(group)
                    group, records, done = [self.header], 0, done + records
        except _Short:
            raise DownloadError(
                f"{self._source}: the Avro file ends early inside a block after record "
                f"{done + records}; truncated download?"
            ) from None
        except _Corrupt:
            raise self._corrupt(done + records, "a negative record count or size") from None
        if records:
            yield records, b"".join(group)

    def _metadata(self, pieces: list[bytes]) -> dict[str, bytes]:
        """The header's map of metadata (an Avro map of bytes, in blocks)."""
        found: dict[str, bytes] = {}
        while True:
            count, raw = self._bytes.long()
            pieces.append(raw)
            if count == 0:
                return found
            if count < 0:  # a block of -count entries, preceded by its size in bytes
                count = -count
                pieces.append(self._bytes.long()[1])
            for _ in range(count):
                key, value = (self._counted_bytes(pieces) for _ in range(2))
                found[key.decode("utf-8", "replace")] = value

    def _counted_bytes(self, pieces: list[bytes]) -> bytes:
        length, raw = self._bytes.long()
        value = self._bytes.take(length)
        pieces += (raw, value)
        return value

    def _corrupt(self, records: int, what: str) -> DownloadError:
        return DownloadError(
            f"{self._source}: the Avro file is corrupt after record {records} ({what}); "
            "truncated or damaged download?"
        )
