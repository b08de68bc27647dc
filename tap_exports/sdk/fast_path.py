"""RECORD mode's fast path: forward the lines of a file that already conform, unparsed.

singer-sdk's per-record path (selection, type conformance, stream maps, its JSON
writer) costs several times what decoding does. Where it would be a no-op (decided by
the stream), the lines of an export file that already conform are written inside
RECORD messages without being parsed and dumped again (`bulk.LineSorter` decides, a
run of lines at a time); other lines are parsed, and a record that conforms except for
undeclared keys is written with orjson; anything else goes through the SDK. The tests
comparing both paths' messages keep them identical.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from singer_sdk import Stream
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform

from tap_exports.engine.exports.jobs import CompletedExport, ExportJob
from tap_exports.engine.files.decode import decode_line
from tap_exports.engine.records.bulk import LineSorter
from tap_exports.engine.records.evolve import lines_with_new_keys, records_in
from tap_exports.engine.records.record_types import RecordTypes
from tap_exports.sdk.internals import InternalsStream, warn_unmapped_properties
from tap_exports.sdk.record_path import RecordPath

Record = dict[str, Any]


class RecordWriter:
    """Writes RECORD messages as singer-sdk would, around records already serialised.

    Bytes go to stdout's binary buffer; singer-sdk writes STATE through the text layer
    and flushes it, which flushes these bytes first, so message order is kept.
    `time_extracted` is read at most once a second rather than for every record.
    """

    def __init__(self, stream: str) -> None:
        """Prepare the message head for `stream`."""
        self._head = b'{"type":"RECORD","stream":' + orjson.dumps(stream) + b',"record":'
        self._out = sys.stdout
        self._binary = getattr(self._out, "buffer", None)
        self._tail = b""
        self._read_at = float("-inf")

    def write_lines(self, records: list[bytes]) -> int:
        """Write one RECORD message per serialised record; return how many."""
        if not records:
            return 0
        now = time.monotonic()
        if now - self._read_at >= 1.0:
            extracted = datetime.now(UTC).isoformat()
            self._tail = b',"time_extracted":"' + extracted.encode() + b'"}\n'
            self._read_at = now
        # The messages in three writes: gluing head and tail onto the joined records would
        # copy the whole run twice more.
        pieces = (self._head, (self._tail + self._head).join(records), self._tail)
        if self._binary is not None:
            for piece in pieces:
                self._binary.write(piece)
        else:  # a text-only stdout (a test capturing output)
            self._out.write(b"".join(pieces).decode())
        return len(records)


def sdk_path_is_a_no_op(stream: InternalsStream) -> bool:
    """Tell whether singer-sdk's per-record path would leave a conforming record as it is.

    No stream maps or flattening, nothing deselected, no record limit (`--test`), no
    partitions or child streams, no `post_process`, full-table `version`s not asked for.
    """
    maps = stream.stream_maps
    return (
        stream.ABORT_AT_RECORD_COUNT is None
        and stream.stream_version is None  # RECORDs would need a `version`
        and stream.partitions is None
        and type(stream).post_process is Stream.post_process
        and not stream.child_streams
        and stream.TYPE_CONFORMANCE_LEVEL is TypeConformanceLevel.RECURSIVE
        and len(maps) == 1
        and type(maps[0]) is SameRecordTransform
        and not maps[0].flattening_enabled
        and all(stream.mask.values())
    )


class Forwarder:
    """Reads one export's lines and writes its records; yields how many per run."""

    def __init__(self, *, stream: InternalsStream, path: RecordPath) -> None:
        """Wire the stream's parts: how it reads records (`path`), and what it keeps.

        Without row types every line is parsed.
        """
        self._stream = stream
        self._path = path
        self._writer = RecordWriter(stream.name)
        self._sorter: tuple[RecordTypes, ExportJob, LineSorter] | None = None
        self._unknown: tuple[str, ...] = ()

    def _warn(self, unknown: tuple[str, ...]) -> None:
        warn_unmapped_properties(self._stream.name, unknown, self._stream.logger)

    def _heard_unknown(self, unknown: tuple[str, ...]) -> None:
        self._unknown = unknown

    def _sort(
        self, lines: list[bytes], export: CompletedExport, *, again: bool = False
    ) -> Sequence[bytes | int]:
        """Sort a run of lines (`bulk.LineSorter`), declaring the fields it brings first.

        The lines with new top-level keys, and those to parse (a value that would widen
        a type, perhaps), are parsed to learn what they need; the run is then sorted
        `again` with the schema that declares it. Keys still undeclared (inside objects,
        or only ever null) are left out with the SDK's warning.
        """
        types = self._path.types()
        if types.exact_rows is None:  # every line is parsed: look at them all first
            if self._path.evolve is not None:
                self._path.evolve(records_in(lines))
            return range(len(lines))
        sorter = self._sorter_for(types, export, again=again)
        self._unknown = ()
        plan = sorter.sort(lines)
        if self._path.evolve is not None and (sorter.dropped or plan is not lines):
            looked_at = [lines[i] for i in plan if isinstance(i, int)]
            if sorter.dropped:
                looked_at += lines_with_new_keys(lines, types.known)
            if looked_at and self._path.evolve(records_in(looked_at)):
                return self._sort(lines, export, again=True)
        if self._unknown:
            self._warn(self._unknown)
        return plan

    def _sorter_for(
        self, types: RecordTypes, export: CompletedExport, *, again: bool
    ) -> LineSorter:
        """The sorter of the export's lines with `types`.

        A run sorted `again` shows no coverage what the first sort showed it.
        """
        job = export.job
        if self._sorter is not None and self._sorter[0] is types and self._sorter[1] is job:
            return self._sorter[2]
        assert types.exact_rows is not None, "only called with row types"
        sorter = LineSorter(
            types.exact_rows,
            self._path.replication_key,
            job.slice.bounds,
            on_unknown=self._heard_unknown,
            coverage=None if again else export.coverage,
        )
        self._sorter = None if again else (types, job, sorter)
        return sorter

    def _write_parsed(self, record: Record, types: RecordTypes) -> None:
        """With orjson if conformance would only drop keys, else through the SDK.

        What the record needs declared was declared when its run was sorted (`_sort`).
        """
        as_is, unknown = types.unchanged(record)
        if not as_is:
            self._stream.write_record_message(record)
            return
        for name in unknown:
            del record[name]
        if unknown:
            self._warn(tuple(unknown))
        self._writer.write_lines([orjson.dumps(record)])

    def __call__(
        self,
        export: CompletedExport,
        observe: Callable[[list[bytes]], None] | None = None,
    ) -> Iterator[int]:
        """Write the export's records; yield how many after each run (`observe` sees it)."""
        writer = self._writer
        for sourced in self._path.reader.line_runs(export, self._path.decoding, observe=observe):
            self._path.notices()
            run = sourced.run
            plan = self._sort(run.lines, export)
            types = self._path.types()  # as the sort left them
            if plan is run.lines or (isinstance(plan, list) and int not in map(type, plan)):
                # Every line forwarded as it is, or encoded again without undeclared keys.
                yield writer.write_lines(cast("list[bytes]", plan))
                continue
            written = 0
            forward: list[bytes] = []
            for item in plan:
                if isinstance(item, bytes):
                    forward.append(item)
                    continue
                written += writer.write_lines(forward)
                forward = []
                record = decode_line(
                    run.lines[item],
                    run.first_line + item,
                    source=sourced.source,
                    check=types.check,
                    skip=self._path.skip,
                )
                if record is not None and self._path.keep(record, export):
                    self._write_parsed(record, types)
                    written += 1
            yield written + writer.write_lines(forward)
