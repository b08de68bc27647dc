"""Read Parquet and Avro exports (binary, typed, self-describing) into JSON lines.

Their libraries are large and most providers never send these formats, so they are
optional extras, imported only when a file turns out to need one.

Values are rendered as `render` says. Two things are particular to these formats:
nanosecond timestamps and times (Parquet) are cut to microseconds, the engine's
precision; Parquet maps come out as arrays of `[key, value]` pairs, as Arrow lists
them (their keys need not be strings, nor unique). Record N in errors is the Nth
record of the file.
"""

from __future__ import annotations

import importlib
import io
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from types import ModuleType
from typing import IO, Any

from tap_exports.engine.errors import DecodeError, DownloadError
from tap_exports.engine.files.avro_blocks import AvroBlocks
from tap_exports.engine.files.columnar import avro_batch, render_batch
from tap_exports.engine.files.render import RenderedLines

# Parquet rows rendered at a time (by polars in one go where it can, `columnar`, a run of
# lines each; else made Python objects one by one): about a run's bytes, within these.
# Runs of more than 2,048 rows made the whole tap slower (docs/performance.md, Parquet).
_BATCH_ROWS = (64, 2048)
# Avro types polars reads as fastavro does (`_plain_avro`).
_PLAIN_PRIMITIVES = frozenset({"boolean", "int", "long", "string"})
_PLAIN_LOGICAL = frozenset(
    {
        ("date", "int"),
        ("timestamp-millis", "long"),
        ("timestamp-micros", "long"),
        ("local-timestamp-millis", "long"),
        ("local-timestamp-micros", "long"),
    }
)
_SPOOL_BYTES = 1 << 20  # copied to the temporary file at a time
_COLUMN_BUFFER_BYTES = 1 << 16  # read of each column's data at a time


def import_extra(module: str, *, extra: str, kind: str, source: str) -> ModuleType:
    """Import `module`, or say which extra to install for a file of `kind`.

    Raises:
        DecodeError: the module is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise DecodeError(
            f"{source}: the file is {kind}; install the extra: pip install 'tap-exports[{extra}]'"
        ) from None


def iter_parquet_records(
    stream: IO[bytes], *, source: str, run_bytes: int, json_columns: frozenset[str] = frozenset()
) -> Iterator[list[bytes]]:
    """Yield the records of a Parquet file as JSON lines, about `run_bytes` at a time.

    Parquet's index is in a footer at the end, so the stream is first copied to an
    anonymous temporary file: disk, not memory, holds the file. `json_columns` hold JSON
    text (see `render`). Memory then holds a read buffer per column, the pages being
    decoded, one batch of records and one run (a batch polars renders is a run itself).

    Raises:
        DownloadError: the file is not a whole, valid Parquet file (cut short, corrupt).
        DecodeError: pyarrow is not installed, or a value cannot be converted or rendered
            (a nanosecond timestamp nested in a list or struct, a duration).
    """
    pyarrow = import_extra("pyarrow", extra="parquet", kind="Parquet", source=source)
    parquet = import_extra("pyarrow.parquet", extra="parquet", kind="Parquet", source=source)
    runs = _Runs(RenderedLines(source, json_columns), run_bytes)
    with tempfile.TemporaryFile() as spool:
        shutil.copyfileobj(stream, spool, _SPOOL_BYTES)
        spool.seek(0)
        try:
            # Column chunks are read a buffer at a time as batches need them; pyarrow's
            # default (pre_buffer) reads every row group's bytes in a single read.
            file = parquet.ParquetFile(spool, pre_buffer=False, buffer_size=_COLUMN_BUFFER_BYTES)
            schema = file.schema_arrow
            wanted = _microsecond_timestamps(pyarrow, schema)
            for batch in file.iter_batches(batch_size=_batch_rows(file.metadata, run_bytes)):
                table = pyarrow.Table.from_batches([batch])
                if wanted != schema:
                    table = table.cast(wanted, safe=False)
                rendered = render_batch(table, json_columns, pyarrow.types)
                if rendered is None:
                    yield from runs.records(table.to_pylist())
                else:
                    yield from runs.rendered(rendered)
        except pyarrow.ArrowException as exc:
            raise DownloadError(
                f"{source}: not a whole Parquet file after record {runs.number}; "
                f"truncated download? ({exc})"
            ) from None
        except ValueError as exc:  # pyarrow's words for a value Python cannot hold
            raise DecodeError(
                f"{source}: a value after record {runs.number} has no Python equivalent ({exc})"
            ) from None
    yield from runs.rest()


def iter_avro_records(
    stream: IO[bytes], *, source: str, run_bytes: int, json_columns: frozenset[str] = frozenset()
) -> Iterator[list[bytes]]:
    """Yield the records of an Avro object container file as JSON lines, a run at a time.

    The file is read a group of whole blocks at a time (`avro_blocks`), so memory holds
    one group and one run of about `run_bytes`. polars reads a group and renders it
    (`columnar`) when the writer's schema has only types it reads as fastavro does
    (`_plain_avro`); otherwise, or when polars answers None, fastavro reads the group
    record by record. `json_columns` hold JSON text (see `render`).

    Raises:
        DownloadError: the file is cut short or corrupt (a block or sync marker missing).
        DecodeError: fastavro is not installed, or a value cannot be rendered.
    """
    fastavro = import_extra("fastavro", extra="avro", kind="Avro", source=source)
    blocks = AvroBlocks(stream, source=source)
    by_polars = _plain_avro(blocks.schema)
    runs = _Runs(RenderedLines(source, json_columns), run_bytes)
    for count, group in blocks.groups(_BATCH_ROWS[1]):
        rendered = avro_batch(group, json_columns, count) if by_polars else None
        by_polars = rendered is not None  # a group polars did not take: the rest to fastavro
        if rendered is not None:
            yield from runs.rendered(rendered)
            continue
        try:
            yield from runs.records(fastavro.reader(io.BytesIO(group)))
        except (EOFError, ValueError) as exc:
            # fastavro's words for a damaged block (a short block, a bad deflate stream).
            raise DownloadError(
                f"{source}: the Avro file is corrupt after record {runs.number}; "
                f"damaged download? ({exc})"
            ) from None
    yield from runs.rest()


class _Runs:
    """A typed file's records as runs of lines, for Parquet and Avro alike.

    Records rendered one by one are gathered into runs of about `run_bytes`; a batch
    polars rendered is a run of its own.
    """

    def __init__(self, lines: RenderedLines, run_bytes: int) -> None:
        self._lines = lines
        self._run_bytes = run_bytes
        self.number = 0  # records handed on so far (errors name the record after them)

    def records(self, records: Iterable[Any]) -> Iterator[list[bytes]]:
        """Render `records` one by one; a run whenever one is full."""
        for record in records:
            self.number += 1
            self._lines.add(record, self.number)
            if len(self._lines) >= self._run_bytes:
                yield self._lines.take()

    def rendered(self, lines: list[bytes]) -> Iterator[list[bytes]]:
        """A rendered batch, after what was gathered before it."""
        if lines:
            yield from self.rest()
            self.number += len(lines)
            yield lines

    def rest(self) -> Iterator[list[bytes]]:
        """What is gathered, as a run."""
        if self._lines:
            yield self._lines.take()


def _plain_avro(schema: Any) -> bool:
    """Whether polars reads every field of this writer's schema as fastavro does.

    Text, integers, booleans, dates and timestamps (UTC or local, milli- or microseconds),
    each alone or with null in a union, in a record of at least one field, none with a
    default other than null (polars refuses those). Anything else (floats, bytes, enums,
    nested or repeated values, decimals, UUIDs) is read by fastavro, whose values `render`
    knows.
    """
    if not isinstance(schema, dict) or schema.get("type") != "record":
        return False
    fields = schema.get("fields") or ()
    return bool(fields) and all(
        isinstance(field, dict)
        and field.get("default") is None
        and _plain_avro_type(field.get("type"))
        for field in fields
    )


def _plain_avro_type(kind: Any) -> bool:
    if isinstance(kind, list):  # a union: null and one other type
        others = [k for k in kind if k != "null"]
        return len(others) == 1 and _plain_avro_type(others[0])
    if isinstance(kind, dict):
        logical, base = kind.get("logicalType"), kind.get("type")
        if logical is None:
            return isinstance(base, str) and _plain_avro_type(base)
        return (logical, base) in _PLAIN_LOGICAL
    return kind in _PLAIN_PRIMITIVES


def _batch_rows(metadata: Any, run_bytes: int) -> int:
    """Rows of a batch holding about `run_bytes` (the file's own row size, uncompressed)."""
    rows = metadata.num_rows
    size = sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))
    fewest, most = _BATCH_ROWS
    return max(fewest, min(most, run_bytes * rows // size if size else most))


def _microsecond_timestamps(pyarrow: ModuleType, schema: Any) -> Any:
    """`schema` with its nanosecond timestamps and times made microsecond ones.

    Python's datetime and time stop at microseconds: pyarrow refuses to convert
    nanosecond values to them (without pandas), so they are cut first.
    """
    types = pyarrow.types
    fields = []
    for field in schema:
        kind = field.type
        if types.is_timestamp(kind) and kind.unit == "ns":
            field = field.with_type(pyarrow.timestamp("us", tz=kind.tz))  # noqa: PLW2901
        elif types.is_time64(kind) and kind.unit == "ns":
            field = field.with_type(pyarrow.time64("us"))  # noqa: PLW2901
        fields.append(field)
    return pyarrow.schema(fields, metadata=schema.metadata)
