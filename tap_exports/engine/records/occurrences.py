"""How often one export has shown each row digest: in memory up to a bound, then on disk.

Row keys (`rowkey`) number the identical rows of an export: the n-th copy of a line gets
`-n`. That needs, for every row of the export, to know whether its digest was seen
before: a dict of every digest costs about 80 bytes a row, 0.8 GB for a window of 10
million rows, which a container with a 512 MB limit does not survive.

So the counts live in a dict up to `memory_rows` distinct digests. Past that, they are
moved (sorted) into a table of a SQLite database in a temporary folder (a file, so on
disk whatever SQLite's build does with temporary databases), which the standard library
ships and which looks digests up in C, with its page cache capped; the dict then starts
again. A bitmap of the digests on disk (8 MB, one bit per CRC-32 half of a digest, set
and read with C-level iteration) tells which digests of a run may be there: only those
are looked up, in queries of up to a thousand, so a run of new rows (the rule) rarely
asks the disk anything. Memory stays flat whatever a window holds, and a window under
the bound never touches the disk. The counts are exact either way, so a row's key does
not depend on where its digest's count was kept: a window read again gives every row the
key it had. The folder is removed when the export has been read (or when the process
ends); a disk that fills up stops the run with a line naming the folder.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from itertools import compress, repeat
from operator import and_, rshift

from tap_exports.engine.errors import DecodeError

# Distinct digests kept in memory before they move to disk: ~80 bytes each, so ~8 MB.
MEMORY_ROWS = 100_000
# Digests per lookup query (SQLite allows 32,766 parameters; a statement is cached per size).
_LOOKUP = 1_000
_SIGN = 1 << 63
# The bitmap of digests on disk: 2**26 bits (8 MB), indexed by the low bits of the CRC-32
# half (`rowkey` puts it in the high 32 bits); the Adler-32 half is poorly spread.
_BITS = 26
_MASK = (1 << _BITS) - 1
# The database's settings: no journal (it is thrown away), and at most 4 MB of cache.
_SETUP = (
    "PRAGMA journal_mode = OFF",
    "PRAGMA synchronous = OFF",
    "PRAGMA cache_size = -4096",
    "CREATE TABLE seen (digest INTEGER PRIMARY KEY, copies INTEGER NOT NULL) WITHOUT ROWID",
)
_MERGE = (
    "INSERT INTO seen (digest, copies) VALUES (?, ?) "
    "ON CONFLICT (digest) DO UPDATE SET copies = copies + excluded.copies"
)


def _signed(digest: int) -> int:
    """A 64-bit digest as the signed integer SQLite stores (the same order of bits)."""
    return digest - (_SIGN << 1) if digest >= _SIGN else digest


class Occurrences:
    """Counts the sightings of each 64-bit digest of one export (see the module)."""

    def __init__(self, *, memory_rows: int = MEMORY_ROWS) -> None:
        """Keep up to `memory_rows` distinct digests in memory before moving them to disk."""
        self._memory_rows = memory_rows
        self._recent: dict[int, int] = {}
        self._disk: sqlite3.Connection | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._on_disk = bytearray()  # the bitmap, made at the first spill

    @property
    def in_memory(self) -> int:
        """How many distinct digests are counted in memory now (at most the bound)."""
        return len(self._recent)

    @property
    def spilled(self) -> bool:
        """Whether counts have moved to disk (the export showed more than the bound)."""
        return self._disk is not None

    def copies_before(self, digests: Sequence[int]) -> list[int] | None:
        """How many times each digest was seen before, in order; each sighting is counted.

        None when every digest is new and distinct, the rule: the caller then keys them
        all as first copies without a number per row.
        """
        recent = self._recent
        stored = self._stored(digests) if self._disk is not None else {}
        copies: list[int] | None = None
        if not stored and len(set(digests)) == len(digests) and recent.keys().isdisjoint(digests):
            recent.update(zip(digests, repeat(1)))
        else:
            copies = []
            for digest in digests:
                before = recent.get(digest, 0)
                copies.append(before + stored.get(digest, 0))
                recent[digest] = before + 1
        if len(recent) > self._memory_rows:
            self._spill()
        return copies

    def close(self) -> None:
        """Drop the counts (SQLite deletes its temporary database)."""
        self._recent = {}
        self._on_disk = bytearray()
        if self._disk is not None:
            self._disk.close()
            self._disk = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def _stored(self, digests: Sequence[int]) -> dict[int, int]:
        """The counts on disk of those of `digests` that are there."""
        assert self._disk is not None
        found: dict[int, int] = {}
        maybe = list(compress(digests, self._marked(digests)))
        if not maybe:
            return found
        signed = [_signed(digest) for digest in maybe]
        for start in range(0, len(signed), _LOOKUP):
            chunk = signed[start : start + _LOOKUP]
            marks = ",".join(repeat("?", len(chunk)))
            query = f"SELECT digest, copies FROM seen WHERE digest IN ({marks})"
            for digest, copies in self._disk.execute(query, chunk):
                found[digest % (_SIGN << 1)] = copies
        return found

    def _marked(self, digests: Sequence[int]) -> Iterator[int]:
        """1 for each digest whose bit is set (it may be on disk), else 0."""
        bits = list(map(and_, map(rshift, digests, repeat(32)), repeat(_MASK)))
        held = map(self._on_disk.__getitem__, map(rshift, bits, repeat(3)))
        return map(and_, map(rshift, held, map(and_, bits, repeat(7))), repeat(1))

    def _spill(self) -> None:
        """Move the counts in memory to disk, merged with those already there."""
        if self._disk is None:
            self._folder = tempfile.TemporaryDirectory(prefix="tap-exports-row-keys-")
            path = os.path.join(self._folder.name, "counts.sqlite")
            # Used by one thread at a time, not always the one that opened it.
            self._disk = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            for statement in _SETUP:
                self._disk.execute(statement)
            self._on_disk = bytearray(1 << (_BITS - 3))
        recent, self._recent = self._recent, {}
        bitmap = self._on_disk
        for bit in map(and_, map(rshift, recent, repeat(32)), repeat(_MASK)):
            bitmap[bit >> 3] |= 1 << (bit & 7)
        # In the table's order (signed), without a list of pairs beside the dict.
        ordered = sorted(recent, key=_signed)
        try:
            self._disk.execute("BEGIN")
            self._disk.executemany(_MERGE, ((_signed(d), recent[d]) for d in ordered))
            self._disk.execute("COMMIT")
        except sqlite3.Error as exc:
            folder = self._folder.name if self._folder else "?"
            raise DecodeError(
                f"row keys: cannot keep the counts of identical rows in {folder} (about 15 "
                f"bytes a row of the window): {exc}; free space there or point TMPDIR elsewhere"
            ) from None
