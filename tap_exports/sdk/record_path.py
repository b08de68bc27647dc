"""What every record path of a stream reads with: one value, shared by all three.

The SDK path (`streams`), the fast path (`fast_path.Forwarder`) and BATCH
(`batch_files.SliceBatches`) read a slice's export the same way: the same reader and
decoding, the stream's current record types, the same way of declaring new fields,
and the same bad-line policy. Built once per stream, so the three cannot drift apart;
what belongs to one export (its coverage) comes with it (`CompletedExport`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from singer_sdk.helpers.types import Record

from tap_exports.engine.exports.jobs import CompletedExport
from tap_exports.engine.files.reader import ExportReader, FileDecoding
from tap_exports.engine.records.record_types import RecordTypes
from tap_exports.engine.timestamps import canonical_utc


@dataclass(frozen=True, slots=True)
class RecordPath:
    """How one stream reads its exports' records, whichever path writes them."""

    reader: ExportReader
    decoding: FileDecoding
    # The stream's current record types: asked at every run of lines, since the schema
    # may have gained a field (`declared`).
    types: Callable[[], RecordTypes]
    # Declares the fields records bring before they are written (True if the schema
    # changed); None leaves undeclared fields out (`undeclared_fields: drop`).
    evolve: Callable[[Iterable[Record]], bool] | None
    replication_key: str | None
    # Notes a bad line and goes on (`bad_record_policy: skip`); None: a bad line stops.
    skip: Callable[[str], None] | None
    # Runs between records and runs of lines: the run puts new export ids into STATE.
    notices: Callable[[], None]
    # The stream's logger: what its records show is logged under the stream's name.
    logger: logging.Logger

    def records(
        self, export: CompletedExport, observe: Callable[[list[bytes]], None] | None
    ) -> Iterator[Record]:
        """The export's records inside its slice, for singer-sdk's own record path.

        A run of lines is decoded whole, so the fields its records bring are declared
        before the first of them goes out (one SCHEMA message for the run, not a change
        of columns halfway through it).
        """
        for records in self.reader.record_runs(
            export, self.decoding, check=self.types().check, skip=self.skip, observe=observe
        ):
            if self.evolve is not None:
                self.evolve(records)
            yield from self.in_slice(records, export)

    def in_slice(self, records: Iterable[Record], export: CompletedExport) -> Iterator[Record]:
        """Keep the records inside the export's slice, with the replication key canonical."""
        outside = 0
        for record in records:
            self.notices()
            if self.keep(record, export):
                yield record
            else:
                outside += 1
        if outside:
            self.logger.debug("%s: %d record(s) outside it", export.job, outside)

    def keep(self, record: Record, export: CompletedExport) -> bool:
        """Tell whether `record` is inside the export's slice; if so, make its key canonical.

        A record outside is shown to the export's coverage (`engine/planning/coverage.py`).
        The decoder's check has made sure the key is present and a timestamp.
        """
        key = self.replication_key
        if key is None:
            return True
        placed = export.job.slice.place(record[key])
        if placed is None:
            if export.coverage is not None:
                export.coverage.see_outside([canonical_utc(record[key])])
            return False
        record[key] = placed
        return True
