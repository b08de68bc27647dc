"""A full-snapshot stream's parts: planned or resumed, checked before anything is created.

A stream without a replication key is exported whole each run, cut into the partitions
its provider plans. The plan is kept in the stream's state (`engine/state/progress.py`), so a
run that stops resumes with the parts left. Before any export is created the provider's
port checks the parts this run will create (a spending limit, say): parts whose export an
earlier run created are re-attached and cost nothing more.

Where exports charge for records never exported before (`StreamSpec.remember_exported`),
the keys of every record read from an export file are remembered in state, so the next
estimate can leave them out.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tap_exports.engine.costs.exported import ExportedKeys
from tap_exports.engine.exports.jobs import SnapshotPort
from tap_exports.engine.planning.slices import Partition, Slice
from tap_exports.engine.state.progress import PlannedSlice, Progress
from tap_exports.providers.base import StreamSpec

# What sees each run of lines of an export file.
Observer = Callable[[list[bytes]], None]


class SnapshotParts:
    """One snapshot stream's planning and the records its exports held."""

    def __init__(
        self, spec: StreamSpec, port: Callable[[], SnapshotPort], logger: logging.Logger
    ) -> None:
        """`port` gives the stream's port once the run's engine exists."""
        self._spec = spec
        self._port = port
        self._logger = logger
        # Records exports held, this run and before; None when the provider does not charge.
        self._exported: ExportedKeys | None = None

    def plan(self, progress: Progress, write_progress: Callable[[], None]) -> list[PlannedSlice]:
        """The parts of a snapshot left from a stopped run, or a new snapshot's parts.

        A new plan is in state (written with `write_progress`) before any export exists.
        """
        port = self._port()
        self._exported = progress.exported() if self._spec.remember_exported else None
        exported = self._exported if self._exported is not None else ExportedKeys()
        parts = progress.snapshot_left(port.source())
        if parts is None:
            parts = port.partitions()
            port.check_plan(parts, exported)
            progress.start_snapshot(parts, port.source())
            write_progress()
            self._logger.info("%s: a new snapshot in %d part(s)", self._spec.name, len(parts))
        else:
            self._logger.info(
                "%s: resuming a snapshot, %d part(s) left", self._spec.name, len(parts)
            )
            port.check_plan(_to_create(progress, parts), exported)
        return progress.attach(parts)

    def preview(self, progress: Progress) -> tuple[list[Slice], list[str]]:
        """The parts a sync would export and what they may cost; writes nothing.

        Parts whose export an earlier run created cost nothing more: left out of the cost.
        """
        port = self._port()
        left = progress.snapshot_left(port.source())
        parts = port.partitions() if left is None else left
        return list(parts), port.costs(_to_create(progress, parts), progress.exported())

    def observer(self, derived: Observer | None) -> Observer | None:
        """What sees each run of lines: derived streams' readers, and the records' keys."""
        exported = self._exported
        if exported is None:
            return derived
        field = self._spec.primary_keys[0]

        def observe(lines: list[bytes]) -> None:
            exported.add_lines(lines, field)
            if derived is not None:
                derived(lines)

        return observe

    def delivered(self, progress: Progress) -> None:
        """A part was read: keep the records its export held in state."""
        if self._exported is not None:
            progress.keep_exported(self._exported)


def _to_create(progress: Progress, parts: list[Partition]) -> list[Partition]:
    """The parts no earlier run made an export for: those this run pays for."""
    planned = progress.attach(parts)
    return [p.slice for p in planned if p.attach is None and isinstance(p.slice, Partition)]
