"""Counting identical rows of an export in flat memory: the same keys whether counted in
the dict, in sorted runs or on disk, across runs of lines and across each move."""

from __future__ import annotations

import random
import tempfile

import pytest

from tap_exports.engine.records.occurrences import Occurrences
from tap_exports.engine.records.rowkey import RowKeys


def lines_with_copies(count: int, seed: int = 5) -> list[bytes]:
    """`count` JSON lines, about one in ten a copy of an earlier one, in random order."""
    rng = random.Random(seed)
    lines: list[bytes] = []
    for n in range(count):
        if lines and rng.random() < 0.1:
            lines.append(rng.choice(lines))
        else:
            lines.append(b'{"n":%d,"at":"2025-03-01T00:00:00.%06dZ"}' % (n, n))
    return lines


def keyed(lines: list[bytes], *, memory_rows: int, run: int, memory_runs: int = 8) -> list[bytes]:
    keys = RowKeys("_row_key", memory_rows=memory_rows, memory_runs=memory_runs)
    out = [
        line for start in range(0, len(lines), run) for line in keys.add(lines[start : start + run])
    ]
    keys.close()
    return out


@pytest.mark.parametrize("memory_runs", [0, 3, 1_000])
def test_rows_keep_their_keys_when_the_counts_move_to_runs_and_to_disk(memory_runs):
    lines = lines_with_copies(5_000)
    in_memory = keyed(lines, memory_rows=1_000_000, run=700)
    # A move every run, and within runs: to disk at once, through 3 runs, runs only.
    moved = keyed(lines, memory_rows=97, run=700, memory_runs=memory_runs)
    assert moved == in_memory
    assert len(set(in_memory)) == len(lines)  # copies kept apart


def test_the_dict_and_the_runs_never_pass_their_bounds_and_the_rest_is_on_disk():
    counts = Occurrences(memory_rows=10, memory_runs=2)
    assert counts.copies_before(list(range(8))) is None and counts.runs == 0
    assert counts.copies_before([0, 0, *range(8, 16)]) == [1, 2, *[0] * 8]
    assert (counts.in_memory, counts.runs) == (0, 1)  # the dict became a run
    assert counts.copies_before(list(range(16, 27))) is None and counts.runs == 2
    assert not counts.spilled
    assert counts.copies_before(list(range(27, 38))) is None and counts.spilled
    assert (counts.in_memory, counts.runs) == (0, 0)  # the runs moved to disk
    assert counts.copies_before([0, 3, 3, 40]) == [3, 1, 2, 0]  # from disk, then the dict
    assert counts.copies_before([0, 40]) == [4, 1]
    counts.close()
    assert not counts.spilled and counts.runs == 0


def test_digests_past_the_signed_range_round_trip_through_the_disk():
    high = [(1 << 64) - 1, 1 << 63, (1 << 63) - 1, 0]
    counts = Occurrences(memory_rows=1, memory_runs=0)
    counts.copies_before(high)
    assert counts.spilled
    assert counts.copies_before(high) == [1, 1, 1, 1]
    counts.close()


def test_a_run_bigger_than_a_lookup_query_is_looked_up_in_parts():
    counts = Occurrences(memory_rows=100, memory_runs=0)
    digests = list(range(2_500))
    counts.copies_before(digests)
    assert counts.copies_before(digests) == [1] * 2_500
    counts.close()


def test_the_counts_on_disk_live_in_a_temporary_folder_removed_on_close(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where TMPDIR would point
    counts = Occurrences(memory_rows=5, memory_runs=0)
    counts.copies_before(list(range(10)))
    (folder,) = tmp_path.iterdir()
    assert folder.name.startswith("tap-exports-row-keys-")
    assert [f.name for f in folder.iterdir()] == ["counts.sqlite"]
    counts.close()
    assert list(tmp_path.iterdir()) == []
