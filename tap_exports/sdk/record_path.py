"""What every record path of a stream reads with: one value, shared by all three.

The SDK path (`streams`), the fast path (`fast_path.Forwarder`) and BATCH
(`batch_files.SliceBatches`) read a slice's export the same way: the same reader and
decoding, the stream's current record types, the same way of declaring new fields,
and the same bad-line policy. Built once per stream, so the three cannot drift apart;
what belongs to one export (its coverage) comes with it (`CompletedExport`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from singer_sdk.helpers.types import Record

from tap_exports.engine.files.reader import ExportReader, FileDecoding
from tap_exports.engine.records.record_types import RecordTypes


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
