"""Soak: a multi-window backfill with every recoverable fault striking at random.

The tap runs as a scheduler would run it: again and again with the last state, until
every stream reaches the end. Bounded in time; the sandbox is on loopback. Checked:
every record arrives, a record arrives twice only if a run had delivered it beyond the
last state that run saved (the window in flight when it stopped), and the server never
saw a request it had told the tap to hold.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tap_exports.sandbox import DEMO_KEY, Faults, Sandbox
from tests.setups.cometly import (
    END,
    REPLICATION_KEYS,
    STREAMS,
    expected,
    sandbox_config,
    tap_config,
)
from tests.singer import sync_until_stopped

MAX_RUNS = 12
_LONGEST_HOLD_SECONDS = 1.0  # the sandbox's 429s at a 1 s period ask for at most 1 s
DEADLINE_SECONDS = 150


@pytest.mark.parametrize("seed", [11, 23])
def test_soak_random_faults_deliver_everything_exactly_once(seed: int):
    # A slow answer outlasts the tap's request timeout, so some requests are given up
    # on. The timeout stays well above what a loaded 2-core machine needs to answer a
    # request at all: a 429 answered after the tap gave up sets a hold it never heard of.
    faults = Faults(chaos=0.05, seed=seed, slow_seconds=1.2)
    with Sandbox(sandbox_config(faults=faults)) as sandbox:
        # Tight bounds, so that some runs give up and the next one must pick up after them.
        config = tap_config(
            sandbox,
            window_days=3,
            request_timeout_seconds=1.0,
            request_max_attempts=3,
            max_export_attempts=1,
            export_timeout_seconds=1,
        )
        started = time.monotonic()
        state = None
        runs = []
        while len(runs) < MAX_RUNS and time.monotonic() - started < DEADLINE_SECONDS:
            result, failure = sync_until_stopped(config, state)
            runs.append((result, failure))
            if result.states():
                state = result.final_state
            if failure is None:
                break
            # A scheduler runs the next attempt later, not within the Retry-After (1 s
            # here) the failed run was told: a fresh process cannot know of that hold.
            # A real sleep: the tap lives on real time (threads, request timeouts that a
            # slow answer must outlast), so the sandbox does too.
            time.sleep(_LONGEST_HOLD_SECONDS)
        assert runs[-1][1] is None, f"still failing after {len(runs)} runs: {runs[-1][1]}"
        assert all(state["bookmarks"][stream]["replication_key_value"] == END for stream in STREAMS)
        assert sum(faults.struck.values()) >= 10, faults.struck
        for family in ("create", "status"):
            assert sandbox.emulator.limiter(DEMO_KEY, family).violations == 0

        for stream in STREAMS:
            key = REPLICATION_KEYS[stream]
            counts: Counter[int] = Counter()
            beyond_saved_state: set[int] = set()
            for result, _ in runs:
                saved = _bookmark(result, stream)
                for record in result.records(stream):
                    counts[record["id"]] += 1
                    if saved is None or record[key] >= saved:
                        beyond_saved_state.add(record["id"])
            truth = {record["id"] for record in expected(sandbox, stream)}
            assert set(counts) == truth, stream
            repeated = {record_id for record_id, count in counts.items() if count > 1}
            assert repeated <= beyond_saved_state, f"{stream}: duplicated outside the window"


def _bookmark(result, stream: str) -> str | None:  # type: ignore[no-untyped-def]
    for state in reversed(result.states()):
        value = state.get("bookmarks", {}).get(stream, {}).get("replication_key_value")
        if value:
            return str(value)
    return None
