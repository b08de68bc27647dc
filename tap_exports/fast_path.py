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
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from tap_exports.engine.bulk import LineSorter
from tap_exports.engine.decode import decode_line
from tap_exports.engine.jobs import ExportJob, ExportPort, StatusReport
from tap_exports.engine.reader import ExportReader, FileDecoding
from tap_exports.engine.validate import RecordCheck

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
        data = self._head + (self._tail + self._head).join(records) + self._tail
        if self._binary is not None:
            self._binary.write(data)
        else:  # a text-only stdout (a test capturing output)
            self._out.write(data.decode())
        return len(records)


class Forwarder:
    """Reads one export's lines and writes its records; yields how many per run."""

    def __init__(
        self,
        *,
        reader: ExportReader,
        decoding: FileDecoding,
        writer: RecordWriter,
        sorter: Callable[[ExportJob], LineSorter | None],
        check: RecordCheck,
        skip: Callable[[str], None] | None,
        keep: Callable[[Record, ExportJob], bool],
        write_parsed: Callable[[Record], None],
        between_runs: Callable[[], None],
    ) -> None:
        """Wire the stream's parts: the line sorter per job, the record path's pieces.

        `keep` is the record path's membership test (it also makes the key canonical);
        `write_parsed` writes one parsed record; `between_runs` runs after every run of
        lines (the stream puts new export ids into STATE there).
        """
        self._reader = reader
        self._decoding = decoding
        self._writer = writer
        self._sorter = sorter
        self._check = check
        self._skip = skip
        self._keep = keep
        self._write_parsed = write_parsed
        self._between_runs = between_runs

    def __call__(self, port: ExportPort, job: ExportJob, report: StatusReport) -> Iterator[int]:
        """Write `job`'s records; yield how many were written after each run of lines."""
        sorter = self._sorter(job)
        writer = self._writer
        for sourced in self._reader.line_runs(port, job, report, self._decoding):
            self._between_runs()
            run = sourced.run
            plan = sorter.sort(run.lines) if sorter is not None else range(len(run.lines))
            if plan is run.lines:
                writer.write_lines(run.lines)
                yield len(run.lines)
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
                    check=self._check,
                    skip=self._skip,
                )
                if record is not None and self._keep(record, job):
                    self._write_parsed(record)
                    written += 1
            yield written + writer.write_lines(forward)
