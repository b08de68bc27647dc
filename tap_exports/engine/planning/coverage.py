"""Records an export should not hold: beyond the instants the tap asked it for.

Some APIs read the dates they are sent in an account setting they cannot report (a
space's timezone): the tap sends them in the zone its settings name. If that zone is
wrong, every export covers a shifted range, the records outside the window are filtered
away, and the records of the shift are lost without a word. The files tell: an export
holds only what the API read the request as, so records beyond what the tap asked for
(in the zone it meant, covering bounds included) show the API read it differently.

A port that knows what it asked for returns a `Coverage` per slice; every record path
shows it the replication keys that fall outside the slice's window (few, normally: an
inclusive end second), and the stream stops the run with the provider's explanation
before the slice's state moves. Nothing here runs for a record inside its window.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from tap_exports.engine.errors import TapExportsError
from tap_exports.engine.planning.slices import StampBounds

# (earliest, latest, count) of the keys found beyond the request -> the error to stop with.
Explain = Callable[[str, str, int], TapExportsError]


@dataclass
class Coverage:
    """What one export was asked for (canonical stamps), and what was found beyond it."""

    bounds: StampBounds
    explain: Explain
    beyond: int = 0
    earliest: str = field(default="")
    latest: str = field(default="")

    def see_outside(self, stamps: Iterable[str]) -> None:
        """Look at canonical keys already found outside the slice's window."""
        for stamp in stamps:
            if self.bounds.admits(stamp):
                continue
            self.beyond += 1
            self.earliest = min(self.earliest or stamp, stamp)
            self.latest = max(self.latest, stamp)

    def check(self) -> None:
        """Stop if any record lay beyond the request.

        Raises:
            TapExportsError: the port's explanation (which setting, what to set).
        """
        if self.beyond:
            raise self.explain(self.earliest, self.latest, self.beyond)
