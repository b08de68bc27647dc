"""BATCH mode: each export file goes to the target as it is, whenever it can.

singer-sdk's own BATCH path decodes every record and encodes it again into gzipped
JSONL files. Export files that already are gzipped JSONL need neither: each file of a
slice's export is downloaded into the batch storage (a presigned URL cannot go into a
manifest: its query string would be stripped) and checked on the way
(`engine/records/bulk.py`). Then one of three things happens:

- the file holds exactly what the per-record path would deliver and no more than
  `batch_size` records: it is the batch file, byte for byte;
- it holds such records but more of them (SDK targets read each batch file wholly into
  memory), or also a few just outside the slice, or keys the schema does not declare:
  its lines are regrouped into files of at most `batch_size`, those outside dropped,
  and recompressed (fast gzip level); only lines with undeclared keys are re-encoded,
  without them (as RECORD mode's conformance drops them);
- anything else (another format, a bad line, a timestamp to rewrite): its records are
  read one by one from the stored copy, exactly as in RECORD mode (`as_delivered`:
  deselected properties removed, types conformed, the stream map applied), and written
  with singer-sdk's own JSONL batcher.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, cast
from uuid import uuid4

import orjson
from singer_sdk.batch import Batcher, lazy_chunked_generator
from upath import UPath

from tap_exports.engine.files.decode import FileFormats, decode_run, iter_line_runs
from tap_exports.engine.records.bulk import FileCheck, Verdict
from tap_exports.engine.records.evolve import lines_with_new_keys, records_in
from tap_exports.sdk.internals import (
    BaseBatchFileEncoding,
    BatchConfig,
    BatchFileFormat,
    conform_record_data_types,
    pop_deselected_record_properties,
)

if TYPE_CHECKING:
    from singer_sdk.streams import Stream

    from tap_exports.engine.exports.jobs import CompletedExport, ExportFile
    from tap_exports.engine.planning.coverage import Coverage
    from tap_exports.engine.planning.slices import StampBounds
    from tap_exports.engine.records.rows import RowTypes
    from tap_exports.sdk.record_path import RecordPath

logger = logging.getLogger(__name__)

Manifest = tuple["BaseBatchFileEncoding", list[str]]
Record = dict[str, Any]

# Bytes read at a time when a stored file is checked again.
_CHUNK = 1 << 20
# gzip level for cut parts: fast; the target decompresses them once.
_CUT_LEVEL = 1
# What a file found usable as it is must be: the stored copy is read back as such.
_GZIP_NDJSON = FileFormats(always_gzip=True)


def as_delivered(stream: Stream) -> Callable[[Record], Record | None]:
    """What RECORD mode writes of a record, for records that go into BATCH files instead.

    singer-sdk's own BATCH path writes records as `get_records` yields them; RECORD mode
    first removes deselected properties, conforms the types (which drops keys the schema
    does not declare, with one warning) and applies the stream map (None: filtered out).
    BATCH and RECORD must deliver the same records, so batch files get the same. With
    several maps (a stream copied under another name), singer-sdk announces the same
    files under each name: no one map's transform may shape them, so none is applied.
    The schema and maps are read for each record: a field declared during the sync
    (`undeclared_fields: evolve`) changes them.
    """
    mask, level = stream.mask, stream.TYPE_CONFORMANCE_LEVEL

    def deliver(record: Record) -> Record | None:
        pop_deselected_record_properties(record, stream.schema, mask)
        conformed = conform_record_data_types(
            stream_name=stream.name,
            record=record,
            schema=stream.effective_schema,
            level=level,
            logger=stream.logger,
        )
        maps = stream.stream_maps
        return conformed if len(maps) != 1 else maps[0].transform(conformed)

    return deliver


def record_batches(
    tap_name: str, stream_name: str, batch_config: BatchConfig, records: Iterable[Record]
) -> Iterator[list[str]]:
    """singer-sdk's batches of `records`, in the compression the config asks for.

    singer-sdk 0.54's JSONL batcher gzips its files whatever `compression` says, and
    an SDK target then reads gzip bytes as text: uncompressed JSONL is written here.
    """
    encoding = batch_config.encoding
    if encoding.format != BatchFileFormat.JSONL or encoding.compression == "gzip":
        yield from Batcher(tap_name, stream_name, batch_config).get_batches(iter(records))
        return
    storage = batch_config.storage
    prefix = storage.prefix or ""
    name = f"{prefix}{tap_name}--{stream_name}-{uuid4().hex}"
    for number, chunk in enumerate(lazy_chunked_generator(iter(records), batch_config.batch_size)):
        with storage.open(f"{name}-{number + 1}.json", "wb") as sink:
            sink.writelines(orjson.dumps(record) + b"\n" for record in chunk)
        yield [storage.get_url(f"{name}-{number + 1}.json")]


def can_pass_through(batch_config: BatchConfig) -> bool:
    """True when the target expects gzipped JSONL, which export files already are."""
    encoding = batch_config.encoding
    return encoding.format == BatchFileFormat.JSONL and encoding.compression == "gzip"


class SliceBatches:
    """Turns one slice's completed export into BATCH manifests (see the module)."""

    def __init__(
        self,
        *,
        tap_name: str,
        stream_name: str,
        batch_config: BatchConfig,
        path: RecordPath,
        delivered: Callable[[Record], Record | None],
    ) -> None:
        """Wire the stream's parts: how it reads records, and what RECORD mode makes of one.

        `path.in_slice` keeps a slice's records, canonical, as RECORD mode does.
        """
        self._tap_name = tap_name
        self._stream = stream_name
        self._config = batch_config
        self._path = path
        self._delivered = delivered

    def __call__(
        self,
        export: CompletedExport,
        observe: Callable[[list[bytes]], None] | None = None,
    ) -> Iterator[Manifest]:
        """Download each of the export's files into storage; yield their batch manifests.

        Files copied as they are show no lines to an `observe`r: the stream passes
        files through only when it has none.
        """
        assert observe is None, "no observer when passing files through"
        for file in self._path.reader.files(export):
            yield from self._file_batches(export, file)

    def _file_batches(self, export: CompletedExport, file: ExportFile) -> Iterator[Manifest]:
        job = export.job
        storage = self._config.storage
        name = self._file_name(job.export_id, "export")
        bounds = job.slice.bounds
        verdict = self._path.reader.save(
            export,
            file,
            open_sink=lambda: storage.open(name, "wb"),
            check=lambda: self._check_file(bounds, export.coverage),
        )
        if verdict.undeclared and verdict.lines_usable and self._declared_fields_of(name):
            verdict = self._check_stored(name, bounds)
        limit = self._config.batch_size
        if verdict.usable_as_is and verdict.records <= limit:
            logger.info("%s: %d records handed over as they are", job, verdict.records)
            if verdict.records:
                yield self._config.encoding, [storage.get_url(name)]
            else:
                self._remove(name)
            return
        try:
            if verdict.lines_usable:
                logger.info(
                    "%s: %d lines regrouped in files of up to %d (%d outside the slice dropped%s)",
                    job,
                    verdict.records - verdict.outside,
                    limit,
                    verdict.outside,
                    ", undeclared keys left out" if verdict.undeclared else "",
                )
                checker = self._check_file(bounds, export.coverage)
                keep = checker.inside if verdict.outside else None
                strip = checker.without_undeclared if verdict.undeclared else None
                parts = self._regrouped(name, job.export_id, limit, keep, strip)
            else:
                logger.info("%s: records re-encoded (%s)", job, verdict.refusal)
                parts = self._re_encoded(name, export)
            if parts:
                yield self._config.encoding, parts
        finally:
            self._remove(name)

    def _check_file(self, bounds: StampBounds | None, coverage: Coverage | None) -> FileCheck:
        types = self._path.types()
        return FileCheck(
            types.file_row,
            self._path.replication_key,
            bounds,
            exact=types.exact_rows,
            coverage=coverage,
            learn=self._learn if self._path.evolve is not None else None,
        )

    def _learn(self, lines: list[bytes]) -> RowTypes | None:
        """Declare the fields `lines` bring, as the file is checked; the new exact types.

        The common case: the file then goes as it is, with no second look at it.
        """
        assert self._path.evolve is not None
        types = self._path.types()
        if not self._path.evolve(records_in(lines_with_new_keys(lines, types.known))):
            return None
        return self._path.types().exact_rows

    def _declared_fields_of(self, name: str) -> bool:
        """Declare the fields the stored file's records bring; True if the schema changed."""
        if self._path.evolve is None:
            return False
        known = self._path.types().known
        with self._config.storage.open(name, "rb") as source:
            runs = iter_line_runs(cast("BinaryIO", source), source=name, formats=_GZIP_NDJSON)
            return self._path.evolve(
                record
                for run in runs
                for record in records_in(lines_with_new_keys(run.lines, known))
            )

    def _check_stored(self, name: str, bounds: StampBounds | None) -> Verdict:
        """Check the stored file again, against the schema as it is now."""
        # The lines outside the slice were shown to the coverage on the first check.
        checker = self._check_file(bounds, None)
        with self._config.storage.open(name, "rb") as source:
            while chunk := source.read(_CHUNK):
                checker.feed(chunk)
        return checker.verdict()

    def _regrouped(
        self,
        name: str,
        export_id: str,
        limit: int,
        keep: Callable[[list[bytes]], list[bytes]] | None,
        strip: Callable[[list[bytes]], list[bytes]] | None,
    ) -> list[str]:
        """Regroup a checked file's lines into gzip files of `limit` lines.

        `keep` filters each run of lines (dropping those outside the window); `strip`
        re-encodes them without undeclared keys.
        """
        urls: list[str] = []
        part: list[bytes] = []
        with self._config.storage.open(name, "rb") as source:
            for run in iter_line_runs(cast("BinaryIO", source), source=name, formats=_GZIP_NDJSON):
                lines = keep(run.lines) if keep else run.lines
                part += strip(lines) if strip else lines
                full = len(part) - len(part) % limit
                for start in range(0, full, limit):
                    urls.append(
                        self._write_part(export_id, len(urls) + 1, part[start : start + limit])
                    )
                if full:  # (copying the list on every run would cost quadratic time)
                    part = part[full:]
        if part:
            urls.append(self._write_part(export_id, len(urls) + 1, part))
        return urls

    def _write_part(self, export_id: str, number: int, lines: list[bytes]) -> str:
        storage = self._config.storage
        name = self._file_name(export_id, f"part{number}")
        with storage.open(name, "wb") as sink:
            body = b"\n".join(lines) + b"\n"
            sink.write(gzip.compress(body, compresslevel=_CUT_LEVEL, mtime=0))
        return storage.get_url(name)

    def _re_encoded(self, name: str, export: CompletedExport) -> list[str]:
        """Read the stored file record by record (as RECORD mode does) and batch them."""
        with self._config.storage.open(name, "rb") as source:
            records = self._record_runs(cast("BinaryIO", source), str(export))
            delivered = map(self._delivered, self._path.in_slice(records, export))
            kept = (record for record in delivered if record is not None)
            return [
                url
                for manifest in record_batches(self._tap_name, self._stream, self._config, kept)
                for url in manifest
            ]

    def _record_runs(self, source: BinaryIO, label: str) -> Iterator[Record]:
        """The stored file's records, a run at a time: each run's new fields declared first."""
        decoding = self._path.decoding
        for run in iter_line_runs(
            source, source=label, formats=decoding.formats, columns=decoding.columns
        ):
            records = list(
                decode_run(run, source=label, check=self._path.types().check, skip=self._path.skip)
            )
            if self._path.evolve is not None:
                self._path.evolve(records)
            yield from records

    def _file_name(self, export_id: str, part: str) -> str:
        prefix = self._config.storage.prefix or ""
        return f"{prefix}{self._tap_name}--{self._stream}-{export_id}-{part}-{uuid4().hex}.json.gz"

    def _remove(self, name: str) -> None:
        storage = self._config.storage
        UPath(storage.get_url(name), **storage.params).unlink(missing_ok=True)
