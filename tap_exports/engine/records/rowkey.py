"""A key for rows that have no id: what the row says, and which copy of it this is.

Some export APIs send rows without any id (an event log). A row delivered twice (the
window in flight when a run stopped is read again on resume) must then be harmless
downstream, so the tap adds a key an upserting target can merge on:

- `<hash>-<n>`: a 64-bit hash of the row's line (CRC-32 and Adler-32 of its bytes, both
  computed in C) and the number of identical lines before it in the same export;
- the hash is of the line as decoded from the file, so the same window read again, from
  the same job or from a new one, gives every row the same key. Rows that are truly
  identical (the same instant to the microsecond and every field equal) get `-0`,
  `-1`, ... in whatever order they come: identical rows are interchangeable, so the
  set of keys delivered is the same every time and none of them is lost to a merge;
- the counts cover the whole export (all its files). They are kept in memory up to a
  bound (about 11 MB) and partly on disk past it (`occurrences`), so a window of any
  size keys its rows in flat memory, and with the same keys either way.

The key depends on the file format the rows were exported in (CSV renders a row
differently from NDJSON): changing the format setting changes every row's key. Streams
pair it with their replication key as the primary key, so two different rows would have
to share both the instant and the 64-bit hash to collide.
"""

from __future__ import annotations

from itertools import repeat
from operator import lshift, or_

import orjson

from tap_exports.engine.compression import adler32, crc32
from tap_exports.engine.records.occurrences import MEMORY_ROWS, MEMORY_RUNS, Occurrences

# How a plain object line starts: a key right after the brace (so the key goes in with a
# comma after it). Others (an empty object, white space, not an object) go one by one.
_PLAIN = b'{"'


class RowKeys:
    """Adds a key field to each line of one export, counting identical lines across files."""

    def __init__(
        self, field: str, *, memory_rows: int = MEMORY_ROWS, memory_runs: int = MEMORY_RUNS
    ) -> None:
        """Write the key into `field`, which the stream's schema declares.

        `memory_rows` and `memory_runs`: the bounds of the counts' tiers (`occurrences`).
        """
        name = field.encode()
        if orjson.dumps(field) != b'"' + name + b'"':
            # It goes into every line as it is, and a run's starts are split at line breaks.
            raise ValueError(f"row key field {field!r}: a name JSON writes without escapes")
        self._head = b'{"' + name + b'":"'
        # A run's new line starts, formatted at once (`add`): first copies, numbered copies.
        escaped = self._head.replace(b"%", b"%%")
        self._firsts = escaped + b'%016x-0","\n'
        self._numbered = escaped + b'%016x-%d","\n'
        self._seen = Occurrences(memory_rows=memory_rows, memory_runs=memory_runs)

    def close(self) -> None:
        """Drop the counts: the export has been read."""
        self._seen.close()

    def add(self, lines: list[bytes]) -> list[bytes]:
        """The lines with the key first in each JSON object, in order.

        A line that is not a JSON object is left as it is, for the decoder to report.
        A run of plain object lines (the rule) is keyed with C-level iteration only;
        Python code runs per line only for a run holding a copy of an earlier line.
        """
        if not all(map(bytes.startswith, lines, repeat(_PLAIN))):
            return [self._one(line) for line in lines]
        digests = list(map(or_, map(lshift, map(crc32, lines), repeat(32)), map(adler32, lines)))
        copies = self._seen.copies_before(digests)
        # Every line's new start (`{"<field>":"<key>","`) formatted by one call (a C
        # loop), then split apart; each line's `{"` replaced by it: one copy a line.
        if copies is None:  # every row new: the rule
            starts = (self._firsts * len(digests) % tuple(digests)).split(b"\n")
        else:
            numbered = [n for pair in zip(digests, copies, strict=True) for n in pair]
            starts = (self._numbered * len(digests) % tuple(numbered)).split(b"\n")
        return list(map(bytes.replace, lines, repeat(_PLAIN), starts, repeat(1)))

    def _counted(self, digest: int) -> bytes:
        """The key of a line with this digest: the digest and the copies before it."""
        copies = self._seen.copies_before([digest])
        return b"%016x-%d" % (digest, copies[0] if copies else 0)

    def _one(self, line: bytes) -> bytes:
        """One line of a run that is not all plain object lines."""
        if not line.startswith(b"{"):
            line = line.lstrip()
            if not line.startswith(b"{"):
                return line
        key = self._counted(crc32(line) << 32 | adler32(line))
        rest = line[1:]
        empty = rest.lstrip().startswith(b"}")
        return self._head + key + (b'"' if empty else b'",') + rest
