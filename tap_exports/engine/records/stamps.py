"""The replication keys of a run of decoded rows: all canonical, and which are inside.

`bulk` asks this of thousands of rows at a time, for BATCH files (`FileCheck`) and for
RECORD runs (`LineSorter`) alike, so the answer is found without Python code per row:
the keys are joined and matched by one regular expression, then placed by the slice's
one membership rule (`slices.StampBounds`). Kept apart from `bulk` so that module reads
as its two checks, and this one as the single place a run of keys is judged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from operator import attrgetter
from typing import Any, TypeVar

from tap_exports.engine.planning.coverage import Coverage
from tap_exports.engine.planning.slices import StampBounds
from tap_exports.engine.records.rows import field_name
from tap_exports.engine.timestamps import CANONICAL_STAMP, WHOLE_SECOND_STAMP

# Canonical UTC timestamps (`timestamps`), all checked by one regular expression. Where
# every stamp is a whole second, 20 characters each, they are joined as they are: the
# fixed-width pattern cannot straddle two. Otherwise they are joined by line breaks (a
# value holding one would pass as two, which the count of breaks catches). What a
# pattern cannot tell (February 29 of a common year, April 31) is checked on the few
# candidates.
_WHOLE_SECOND_WIDTH = 20
_WHOLE_SECOND_STAMPS = re.compile(rf"(?:{WHOLE_SECOND_STAMP})*")
_CANONICAL_STAMPS = re.compile(rf"{CANONICAL_STAMP}(?:\n{CANONICAL_STAMP})*")
_T = TypeVar("_T")
_SHORT_MONTH_ENDS = ("-02-29T", "-02-30T", "-02-31T", "-04-31T", "-06-31T", "-09-31T", "-11-31T")


class Stamps:
    """The replication keys of decoded rows, placed by the slice's one rule.

    A full-snapshot stream has no key: every row belongs, and there is nothing to check.
    """

    def __init__(
        self, key: str | None, bounds: StampBounds | None, coverage: Coverage | None = None
    ) -> None:
        self._key_of = None if key is None else attrgetter(field_name(key))
        self._bounds = bounds
        self._coverage = coverage

    def of(self, rows: Sequence[Any]) -> list[str] | None:
        """The rows' keys; None when one is not canonical ([] for a snapshot stream)."""
        if self._key_of is None:
            return []
        stamps = list(map(self._key_of, rows))
        return stamps if _canonical(stamps) else None

    def count_outside(self, stamps: list[str]) -> int:
        """How many keys fall outside the slice (shown to the coverage, if any)."""
        if self._bounds is None or not stamps:
            return 0
        outside = self._bounds.count_outside(stamps)
        if outside and self._coverage is not None:
            bounds = self._bounds
            self._coverage.see_outside(s for s in stamps if not bounds.admits(s))
        return outside

    def keep(self, items: Sequence[_T], stamps: list[str]) -> list[_T]:
        """The items whose key (same position) lies inside the slice."""
        if self._bounds is None or not stamps:
            return list(items)
        return self._bounds.keep(items, stamps)


def _canonical(stamps: list[str]) -> bool:
    """Tell whether every stamp is a canonical UTC timestamp of a real date and time."""
    if not stamps:
        return True
    if set(map(len, stamps)) == {_WHOLE_SECOND_WIDTH}:
        joined = "".join(stamps)
        if not _WHOLE_SECOND_STAMPS.fullmatch(joined):
            return False
    else:
        joined = "\n".join(stamps)
        if joined.count("\n") != len(stamps) - 1 or not _CANONICAL_STAMPS.fullmatch(joined):
            return False
    if not any(end in joined for end in _SHORT_MONTH_ENDS):
        return True
    try:
        for stamp in stamps:
            datetime.fromisoformat(stamp)
    except ValueError:
        return False
    return True
