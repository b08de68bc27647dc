"""Switchable faults: what a real export API and its storage host do on a bad day.

Each fault has a countdown (the next N occurrences go wrong, then it stops), and all of
them can also strike at random (`chaos`, a probability per opportunity, seeded so a
failing soak run can be replayed). Every fault is one the tap must survive within a run:
a failed or stuck export is re-created, a refused or broken request is retried, a broken
download is resumed or fetched again. (Where a provider runs one job per token, a stuck
job blocks the token until the provider forgets it: the tap can only wait that out.)
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field

# Name -> what happens at the next opportunity.
KINDS: dict[str, str] = {
    "failed_exports": "an export created now ends as `failed`",
    "stuck_exports": "an export created now never finishes (stays in its running status)",
    "server_errors": "an API request answers 503",
    "connection_resets": "an API request gets its connection closed without an answer",
    "slow_responses": "an API request answers only after `slow_seconds`",
    "rate_limit_storms": "an API request answers 429 with Retry-After: 1",
    "expired_urls": "a download URL is issued already expired",
    "truncated_files": "a download serves the gzip file cut in half (as a whole, shorter file)",
    "corrupt_files": "a download serves the file with a damaged CRC",
    "dropped_downloads": "a download's connection closes halfway through the body",
    "urls_revoked_mid_download": "a dropped download's URL stops working (403) for the resume",
    "garbled_lines": "a file rendered now gets a line that is not JSON",
    "records_missing_keys": "a file rendered now gets a record without its replication key",
    "mistyped_fields": "a file rendered now gets a record whose id is a boolean",
    "ghost_creates": "a create makes the job (it runs, blocks its token where one job runs "
    "per token, and is charged where creating costs credits) but answers 503",
    "vanished_jobs": "a status read answers 404 and the job is gone, as after its retention",
}
# Faults that damage data itself: the tap must stop (or skip, if told to), not recover.
DATA_FAULTS = frozenset({"garbled_lines", "records_missing_keys", "mistyped_fields"})


@dataclass
class Faults:
    """Countdowns per fault kind, plus optional seeded random faults."""

    failed_exports: int = 0
    stuck_exports: int = 0
    server_errors: int = 0
    connection_resets: int = 0
    slow_responses: int = 0
    rate_limit_storms: int = 0
    expired_urls: int = 0
    truncated_files: int = 0
    corrupt_files: int = 0
    dropped_downloads: int = 0
    urls_revoked_mid_download: int = 0
    garbled_lines: int = 0
    records_missing_keys: int = 0
    mistyped_fields: int = 0
    ghost_creates: int = 0
    vanished_jobs: int = 0
    chaos: float = 0.0
    chaos_kinds: frozenset[str] = frozenset(KINDS) - DATA_FAULTS
    seed: int = 0
    slow_seconds: float = 2.0
    struck: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _random: random.Random = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Seed the chaos generator and check the kinds named."""
        unknown = set(self.chaos_kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds: {sorted(unknown)}")
        self._random = random.Random(self.seed)

    def may_strike(self, kinds: frozenset[str]) -> bool:
        """Tell whether any fault of `kinds` could strike now (consuming nothing)."""
        with self._lock:
            return any(
                getattr(self, kind) > 0 or (kind in self.chaos_kinds and self.chaos > 0)
                for kind in kinds
            )

    def take(self, kind: str) -> bool:
        """Tell whether fault `kind` strikes now (consuming one of its countdown)."""
        with self._lock:
            left: int = getattr(self, kind)
            if left > 0:
                setattr(self, kind, left - 1)
            elif not (kind in self.chaos_kinds and self._random.random() < self.chaos):
                return False
            self.struck[kind] = self.struck.get(kind, 0) + 1
            return True
