"""Read a CSV export (a header row, then one row per record) into JSON lines.

CSV has no types: every cell is text, and an empty cell is all it has for null. The
stream's schema says what each column holds, so each cell is read as the first of its
column's types that fits, in this order:

- an empty cell is null; except in a column that allows a string but not null, where
  it is the empty string (the one thing it can be there);
- "integer": an optional sign and ASCII digits, within 64 bits;
- "number": an integer as above, else a decimal number (`1.5`, `-.5`, `2e10`; not
  `nan`, `inf` or anything Python alone would accept, such as `1_000`);
- "boolean": true/false/1/0, in any case;
- "object" / "array": JSON text of that kind (nested properties and lists, which CSV
  exports write as JSON text in a cell);
- "string": the text.

A cell that fits none of its types stays text, so that the record check downstream
names the record and the field rather than this module guessing. Columns the schema
does not declare stay text (empty: null).

The `csv` module does the splitting (quoted cells with commas, quotes and line breaks)
in strict mode, so a stray quote is an error, not a silently merged cell, and a file
ending inside a quoted cell is a truncated one. A row with more cells than the header
is an error; missing trailing cells read as empty ones, as some writers leave them
out. Record N in errors is the Nth data row (blank lines are skipped); the physical
line is given too, since quoted line breaks make the two differ.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import partial
from itertools import repeat
from typing import IO, Any

import orjson

from tap_exports.engine.errors import DecodeError, DownloadError
from tap_exports.engine.files.render import RenderedLines

ColumnTypes = Mapping[str, tuple[str, ...]]  # JSON-schema type names per column

_INTEGER = re.compile(r"[-+]?[0-9]+")
# A column's cells joined by line breaks: each an integer or empty (`_integers`).
_INTEGERS = re.compile(r"(?:[-+]?[0-9]+)?(?:\n(?:[-+]?[0-9]+)?)*")
_NULL_IF_EMPTY = {"": None}
_BATCH_ROWS = 512  # rows converted a column at a time
_NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_INT_RANGE = range(-(2**63), 2**64)  # what orjson can write
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
_MISSING = object()  # a parser's "the cell is not of my type"
_TRUNCATED = "unexpected end of data"  # the csv module's words for an unclosed quote

Parser = Callable[[str], Any]
ColumnParser = Callable[[Sequence[str]], Sequence[Any]]


def column_types(schema: Mapping[str, Any]) -> ColumnTypes:
    """The JSON types a stream's schema allows for each top-level property.

    `type` may be one name or a list; a property without one is left out (read as text).
    """
    types: dict[str, tuple[str, ...]] = {}
    for name, spec in schema.get("properties", {}).items():
        declared = spec.get("type", ())
        if declared:
            types[name] = (declared,) if isinstance(declared, str) else tuple(declared)
    return types


def iter_csv_records(
    stream: IO[bytes], *, source: str, columns: ColumnTypes | None, run_bytes: int
) -> Iterator[list[bytes]]:
    """Yield the data rows of a UTF-8 CSV file as JSON lines, about `run_bytes` at a time.

    A row with fewer cells than the header reads the missing ones as empty (some writers
    leave trailing empty cells out), except the file's last row: a file cut short ends
    in one, so it is a failed download, not a record.

    Raises:
        DecodeError: a row has more cells than the header, is not valid CSV, or is not UTF-8.
        DownloadError: the file ends inside a quoted cell, or in a short row (truncated).
    """
    reader = csv.reader(io.TextIOWrapper(stream, encoding="utf-8", newline=""), strict=True)
    number = 0  # data rows read
    lines = RenderedLines(source)
    try:
        header = next(reader, None)
        if header is None:
            return
        known = columns or {}
        rows = _Rows(header, [_column(known.get(name, ())) for name in header], lines)
        width = len(header)
        short: list[str] | None = None  # a short row, held until another row follows
        for row in reader:
            if not row:  # a blank line
                continue
            if short is not None:
                rows.add(short + [""] * (width - len(short)))
                short = None
            number += 1
            if len(row) > width:
                raise DecodeError(
                    f"{source}, record {number} (line {reader.line_num}): {len(row)} cells, "
                    f"but the header names {width} columns"
                )
            if len(row) < width:
                short = row
                continue
            rows.add(row)
            if len(lines) >= run_bytes:
                yield lines.take()
        if short is not None:
            raise DownloadError(
                f"{source}: the last record ({number}) has {len(short)} of {width} cells: "
                "the file was cut short"
            )
        rows.flush()
        if lines:
            yield lines.take()
    except csv.Error as exc:
        if str(exc) == _TRUNCATED:
            raise DownloadError(
                f"{source}: the file ends inside a quoted cell after record {number} "
                "(truncated download)"
            ) from None
        raise DecodeError(
            f"{source}, record {number + 1} (line {reader.line_num}): not valid CSV ({exc})"
        ) from None
    except UnicodeDecodeError as exc:
        raise DecodeError(f"{source}, record {number + 1}: not UTF-8 text ({exc})") from None


class _Rows:
    """Rows gathered and converted a column at a time, then rendered as records.

    Calling a converter per cell cost more than reading the CSV; a column's cells are
    converted together instead (`_column`), with C-level iteration for text and integer
    columns, and the records are zipped from the converted columns.
    """

    def __init__(
        self, header: list[str], columns: list[ColumnParser], lines: RenderedLines
    ) -> None:
        self._header = header
        self._columns = columns
        self._lines = lines
        self._rows: list[list[str]] = []
        self._rendered = 0  # records rendered so far

    def add(self, row: list[str]) -> None:
        """Gather a full-width row; a batch of them is rendered into the lines."""
        self._rows.append(row)
        if len(self._rows) == _BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        """Render the rows gathered (records are numbered from the file's first)."""
        if not self._rows:
            return
        by_column = zip(*self._rows, strict=True)
        converted = [read(cells) for read, cells in zip(self._columns, by_column, strict=True)]
        records = map(dict, map(zip, repeat(self._header), zip(*converted, strict=True)))
        for number, record in enumerate(records, self._rendered + 1):
            self._lines.add(record, number)
        self._rendered += len(self._rows)
        self._rows = []


def _column(types: tuple[str, ...]) -> ColumnParser:
    """How to read the cells of a column allowing `types` (built once per column)."""
    empty = "" if "string" in types and "null" not in types else None
    parsers = tuple(parse for name, parse in _PARSERS if name in types)
    if not parsers:
        if empty is None:
            return _empty_is_null
        return list
    convert = _converter(empty, parsers)
    if parsers[0] in (_integer, _number):
        return partial(_integers, empty=empty, convert=convert)
    return partial(_each, convert=convert)


def _empty_is_null(cells: Sequence[str]) -> list[Any]:
    return list(map(_NULL_IF_EMPTY.get, cells, cells))


def _each(cells: Sequence[str], *, convert: Parser) -> list[Any]:
    return list(map(convert, cells))


def _integers(cells: Sequence[str], *, empty: Any, convert: Parser) -> list[Any]:
    """A column of integers (or empty cells) read at once; any other goes cell by cell."""
    joined = "\n".join(cells)
    if joined.count("\n") == len(cells) - 1 and _INTEGERS.fullmatch(joined):
        try:
            values = list(map(int, filter(None, cells)))
        except ValueError:  # digits beyond Python's limit (4,300): read cell by cell
            return list(map(convert, cells))
        if not values or (min(values) in _INT_RANGE and max(values) in _INT_RANGE):
            if len(values) == len(cells):
                return values
            numbers = iter(values)
            return [next(numbers) if cell else empty for cell in cells]
    return list(map(convert, cells))


def _converter(empty: Any, parsers: tuple[Parser, ...]) -> Parser:
    """How to read one cell: the first of `parsers` that fits; `empty` for an empty cell."""

    def convert(cell: str) -> Any:
        if not cell:
            return empty
        for parse in parsers:
            value = parse(cell)
            if value is not _MISSING:
                return value
        return cell

    return convert


def _integer(cell: str) -> Any:
    if _INTEGER.fullmatch(cell):
        try:
            value = int(cell)
        except ValueError:  # more digits than Python converts (4,300): no int64 anyway
            return _MISSING
        if value in _INT_RANGE:
            return value
    return _MISSING


def _number(cell: str) -> Any:
    value = _integer(cell)
    if value is _MISSING and _NUMBER.fullmatch(cell):
        value = float(cell)
        return value if math.isfinite(value) else _MISSING
    return value


def _boolean(cell: str) -> Any:
    return _BOOLEANS.get(cell.lower(), _MISSING)


def _json_of(kind: type) -> Parser:
    def parse(cell: str) -> Any:
        try:
            value = orjson.loads(cell)
        except orjson.JSONDecodeError:
            return _MISSING
        return value if type(value) is kind else _MISSING

    return parse


# Tried in this order; "string" is what is left when none fits.
_PARSERS: tuple[tuple[str, Parser], ...] = (
    ("integer", _integer),
    ("number", _number),
    ("boolean", _boolean),
    ("object", _json_of(dict)),
    ("array", _json_of(list)),
)
