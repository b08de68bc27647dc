"""What becomes of a slice whose export cannot be delivered: one decision, made here.

The stream carries a decision out (its state, its scheduler tickets, its log line); the
rule for which one applies is provider-neutral and needs no tap to test:

- the provider says the slice holds more than one export may: export it in the parts
  it named (`SliceTooLargeError`);
- the export's files could not be fetched (expired for good, gone, damaged on every
  download): create it once more in this run, since a new export has new files;
- the provider keeps failing the export, and the stream may split its slices: halve
  the slice, unless halves would be smaller than the smallest slice allowed;
- anything else: give up, and let the run stop with the error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from tap_exports.engine.errors import (
    DownloadError,
    ExportFailedError,
    ExportTimeoutError,
    SliceTooLargeError,
)
from tap_exports.engine.planning.slices import Slice

# The failures a slice's delivery can end with that `after_failure` decides about.
SLICE_FAILURES = (SliceTooLargeError, ExportFailedError, ExportTimeoutError, DownloadError)


@dataclass(frozen=True, slots=True)
class Replace:
    """Export `parts` instead of the slice (the slice itself again, when recreated)."""

    parts: tuple[Slice, ...]
    message: str
    # The slice's own export again, because its files could not be fetched (a second
    # time in the same run is not tried); otherwise the parts replace the slice in the
    # stream's plan.
    recreated: bool = False


@dataclass(frozen=True, slots=True)
class GiveUp:
    """Nothing more to try in this run: the error stands."""


def after_failure(
    error: Exception,
    piece: Slice,
    *,
    stream: str,
    fetched_again: bool,
    splittable: bool,
    smallest: timedelta,
) -> Replace | GiveUp:
    """The decision for `piece`, whose delivery ended with `error` (see the module).

    `fetched_again`: this export is already the one created again after a download
    failure. `splittable`: the stream's provider lets a failing slice be halved.
    """
    if isinstance(error, SliceTooLargeError):
        parts = tuple(part for part in error.parts if isinstance(part, type(piece)))
        return Replace(parts, f"{error}; exporting it in {len(parts)} part(s)")
    if isinstance(error, DownloadError) and not fetched_again:
        return Replace((piece,), f"{error}; creating the export again", recreated=True)
    if isinstance(error, ExportFailedError) and splittable:
        halves = piece.split(smallest)
        if halves is not None:
            return Replace(halves, f"{stream} {piece} keeps failing: splitting it in two")
    return GiveUp()
