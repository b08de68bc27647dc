"""How often one export has shown each row digest, in flat memory whatever its size.

Row keys (`rowkey`) number the identical rows of an export: the n-th copy of a line gets
`-n`. That needs, for every row of the export, to know whether its digest was seen
before: a dict of every digest costs about 80 bytes a row, 0.8 GB for a window of 10
million rows, which a container with a 512 MB limit does not survive. So the counts
live in three tiers, each denser than the one before:

- a dict, up to `memory_rows` distinct digests (about 4 MB): counted as rows come;
- past that, the dict becomes a run: its digests sorted in an array (8 bytes each,
  searched in C by `bisect`), the few counts above one beside it; up to `memory_runs`
  runs are kept (about 5 MB), so a window of up to 650,000 distinct rows is keyed in
  memory, at the cost of a sort per run;
- past those, the runs move into a table of a SQLite database in a temporary folder
  (a file, so on disk whatever SQLite's build does with temporary databases), which the
  standard library ships and which looks digests up in C, with its page cache capped.
  An insert costs about a microsecond a row, which is why the runs come first.

A bitmap per tier (2 MB for the runs, 8 MB for the disk; one bit per value of the low
bits of a digest's CRC-32 half) tells which digests of a run of lines may be there: only
those are searched, so a run of new rows (the rule) rarely leaves the dict. The
counts are exact in every tier, so a row's key does not depend on where its digest's
count was kept: a window read again gives every row the key it had. The folder is
removed when the export has been read (or when the process ends); a disk that fills up
stops the run with a line naming the folder.
"""

from __future__ import annotations

import heapq
import os
import sqlite3
import tempfile
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from itertools import compress, repeat
from operator import and_, gt, rshift, sub

from tap_exports.engine.errors import DecodeError

# Distinct digests kept in the dict before they become a run: ~80 bytes each, so ~4 MB.
MEMORY_ROWS = 50_000
# Runs kept in memory before they move to disk: 8 bytes a digest, so ~5 MB. Together
# with the bitmaps and SQLite's cache, the tap's peak stays under 100 MB at 10 million
# rows (docs/performance.md).
MEMORY_RUNS = 12
# Digests per lookup query (SQLite allows 32,766 parameters; a statement is cached per size).
_LOOKUP = 1_000
# Added to a digest to make it the signed 64-bit integer SQLite stores, in the same order.
_SIGN = 1 << 63
# The bitmaps of digests in runs (2**24 bits, 2 MB) and on disk (2**26 bits, 8 MB), indexed
# by the low bits of the CRC-32 half (`rowkey` puts it in the high 32 bits); the Adler-32
# half is poorly spread.
_RUN_BITS = 24
_DISK_BITS = 26
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


class _Run:
    """The counts of a former dict: its digests sorted, and those seen more than once."""

    __slots__ = ("digests", "repeated")

    def __init__(self, counts: dict[int, int]) -> None:
        self.digests = array("Q", sorted(counts))
        self.repeated = dict(compress(counts.items(), map(gt, counts.values(), repeat(1))))

    def count(self, digest: int) -> int:
        """How many times this run saw `digest`."""
        digests = self.digests
        at = bisect_left(digests, digest)
        if at == len(digests) or digests[at] != digest:
            return 0
        return self.repeated.get(digest, 1)

    def pairs(self) -> Iterator[tuple[int, int]]:
        """(signed digest, count) in the table's order, without Python code per digest."""
        return zip(
            map(sub, self.digests, repeat(_SIGN)),
            map(self.repeated.get, self.digests, repeat(1)),
            strict=True,
        )


class _Bitmap:
    """One bit per value of a digest's low CRC-32 bits: whether the digest may be held."""

    __slots__ = ("_held", "_mask")

    def __init__(self, bits: int) -> None:
        self._held = bytearray(1 << (bits - 3))
        self._mask = (1 << bits) - 1

    def mark(self, digests: Iterable[int]) -> None:
        """Set the bits of `digests`."""
        held = self._held
        for bit in map(and_, map(rshift, digests, repeat(32)), repeat(self._mask)):
            held[bit >> 3] |= 1 << (bit & 7)

    def marked(self, digests: Sequence[int]) -> list[int]:
        """Those of `digests` whose bit is set, each once, with C-level iteration."""
        bits = list(map(and_, map(rshift, digests, repeat(32)), repeat(self._mask)))
        held = map(self._held.__getitem__, map(rshift, bits, repeat(3)))
        flags = map(and_, map(rshift, held, map(and_, bits, repeat(7))), repeat(1))
        return list(set(compress(digests, flags)))


class Occurrences:
    """Counts the sightings of each 64-bit digest of one export (see the module)."""

    def __init__(self, *, memory_rows: int = MEMORY_ROWS, memory_runs: int = MEMORY_RUNS) -> None:
        """Keep up to `memory_rows` digests in the dict and `memory_runs` runs in memory."""
        self._memory_rows = memory_rows
        self._memory_runs = memory_runs
        self._recent: dict[int, int] = {}
        self._runs: list[_Run] = []
        self._disk: sqlite3.Connection | None = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._in_runs: _Bitmap | None = None  # made with the first run
        self._on_disk: _Bitmap | None = None  # made with the first move to disk

    @property
    def in_memory(self) -> int:
        """How many distinct digests the dict holds now (at most the bound)."""
        return len(self._recent)

    @property
    def runs(self) -> int:
        """How many runs are kept in memory now (at most the bound)."""
        return len(self._runs)

    @property
    def spilled(self) -> bool:
        """Whether counts have moved to disk (the export showed more than the runs hold)."""
        return self._disk is not None

    def copies_before(self, digests: Sequence[int]) -> list[int] | None:
        """How many times each digest was seen before, in order; each sighting is counted.

        None when every digest is new and distinct, the rule: the caller then keys them
        all as first copies without a number per row.
        """
        recent = self._recent
        stored = self._stored(digests) if self._in_runs is not None else {}
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
            self._freeze()
        return copies

    def close(self) -> None:
        """Drop the counts and the temporary folder."""
        self._recent = {}
        self._runs = []
        self._in_runs = self._on_disk = None
        if self._disk is not None:
            self._disk.close()
            self._disk = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None

    def _stored(self, digests: Sequence[int]) -> dict[int, int]:
        """The counts in runs and on disk of those of `digests` that are there."""
        found: dict[int, int] = {}
        if self._runs and self._in_runs is not None:
            maybe = self._in_runs.marked(digests)
            for run in self._runs:
                for digest in maybe:
                    if count := run.count(digest):
                        found[digest] = found.get(digest, 0) + count
        if self._disk is None or self._on_disk is None:
            return found
        signed = list(map(sub, self._on_disk.marked(digests), repeat(_SIGN)))
        for start in range(0, len(signed), _LOOKUP):
            chunk = signed[start : start + _LOOKUP]
            marks = ",".join(repeat("?", len(chunk)))
            query = f"SELECT digest, copies FROM seen WHERE digest IN ({marks})"
            for digest, copies in self._disk.execute(query, chunk):
                found[digest + _SIGN] = found.get(digest + _SIGN, 0) + copies
        return found

    def _freeze(self) -> None:
        """Make the dict a run, and move the runs to disk when there are too many."""
        if self._in_runs is None:
            self._in_runs = _Bitmap(_RUN_BITS)
        recent, self._recent = self._recent, {}
        self._in_runs.mark(recent)
        self._runs.append(_Run(recent))
        if len(self._runs) > self._memory_runs:
            self._spill()

    def _spill(self) -> None:
        """Move the runs to disk, merged with the counts already there."""
        if self._disk is None:
            self._folder = tempfile.TemporaryDirectory(prefix="tap-exports-row-keys-")
            path = os.path.join(self._folder.name, "counts.sqlite")
            # Used by one thread at a time, not always the one that opened it.
            self._disk = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            for statement in _SETUP:
                self._disk.execute(statement)
        on_disk = self._on_disk = self._on_disk or _Bitmap(_DISK_BITS)
        runs, self._runs = self._runs, []
        self._in_runs = _Bitmap(_RUN_BITS)
        for run in runs:
            on_disk.mark(run.digests)
        try:
            self._disk.execute("BEGIN")
            # The runs merged into one ordered pass over the table: inserted one after
            # the other, each would walk the whole table again.
            self._disk.executemany(_MERGE, heapq.merge(*(run.pairs() for run in runs)))
            self._disk.execute("COMMIT")
        except sqlite3.Error as exc:
            folder = self._folder.name if self._folder else "?"
            raise DecodeError(
                f"row keys: cannot keep the counts of identical rows in {folder} (about 15 "
                f"bytes a row of the window): {exc}; free space there or point TMPDIR elsewhere"
            ) from None
