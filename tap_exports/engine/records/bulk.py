"""Which export lines can go on as they are? Checked in bulk, at C speed.

Two callers: BATCH mode asks it of a whole file (`FileCheck`), RECORD mode of each run
of lines (`LineSorter`), to forward lines inside RECORD messages without parsing and
dumping each record again.

In BATCH mode the target reads gzipped JSONL files, which is what many providers'
export files already are. Handing the downloaded file over unchanged skips decoding and
re-encoding every record, but only if the file holds exactly the records the
per-record path would have delivered:

- every line is one JSON object whose top-level fields have the types the schema
  allows, with the primary key present (what `validate.record_check` enforces);
- its replication key (an incremental stream's) is a canonical UTC timestamp (what the
  per-record path rewrites every key to, `timestamps.is_canonical`) inside the slice
  (`slices.StampBounds`, the one membership rule). Records just outside (an API's
  inclusive end bound lets in the next window's first second) are counted: the caller
  then drops those lines, still without re-encoding any record.

`FileCheck` is fed the compressed bytes as they are downloaded. It decompresses them
(which also verifies the gzip CRC and length), decodes complete lines many at a time
with a msgspec decoder built from the schema, and checks the keys with `min`, `max`
and one regular expression over them all (`stamps`): no Python code runs per record.
Anything it cannot prove is a verdict of "no", never an error: the caller then reads
the file record by record, which names the bad line or skips it as configured.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import orjson

from tap_exports.engine import compression
from tap_exports.engine.errors import DownloadError
from tap_exports.engine.files.decode import GZIP_MAGIC
from tap_exports.engine.planning.coverage import Coverage
from tap_exports.engine.planning.slices import StampBounds
from tap_exports.engine.records.rows import RowTypes, json_array
from tap_exports.engine.records.stamps import Stamps

_LINE_IN_ERROR = re.compile(r"at `\$\[(\d+)\]")
# A line msgspec cannot decode: not JSON, not UTF-8, or not of the declared types.
_UNDECODABLE = (msgspec.DecodeError, UnicodeDecodeError)
_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the check found in a file.

    `records` counts the lines; `outside` those whose key falls outside the window
    (edge records an inclusive API bound lets in). `refusal` says why the lines
    cannot be used as they are, if so.
    """

    records: int
    outside: int = 0
    refusal: str | None = None
    # Some line has a key the schema does not declare (the per-record path drops it).
    undeclared: bool = False

    @property
    def lines_usable(self) -> bool:
        """True when every line is a record the per-record path would keep or filter."""
        return self.refusal is None

    @property
    def usable_as_is(self) -> bool:
        """True when the file holds exactly what the per-record path would deliver."""
        return self.refusal is None and self.outside == 0 and not self.undeclared


class FileCheck:
    """Checks one export file fed in compressed chunks (see the module docstring)."""

    def __init__(
        self,
        row: type[msgspec.Struct] | None,
        key: str | None,
        bounds: StampBounds | None,
        *,
        exact: RowTypes | None = None,
        coverage: Coverage | None = None,
        learn: Callable[[list[bytes]], RowTypes | None] | None = None,
    ) -> None:
        """Use `row` (`row_type(exact=False)`) to check a file of a slice with `bounds`.

        `key` is the replication key (None for a full-snapshot stream). Without `row`
        (a schema msgspec cannot express) only the gzip stream is checked, and the
        verdict is always "no". `exact` (`row_type(exact=True)`, and the same dropping
        undeclared keys) tells whether conformance would change a line: lines are decoded
        with the first until one fails, then with the second (only undeclared keys, at
        any depth: `without_undeclared` leaves them out); a line neither decodes is a "no".
        `learn`, if given, is shown the lines the exact type fails on first: it declares
        the fields they bring (`evolve`) and answers the new exact types, or None if the
        schema did not change.
        """
        self._rows = None if row is None else msgspec.json.Decoder(row)
        self._exact = None if exact is None else msgspec.json.Decoder(exact[0])
        self._dropping = None if exact is None else msgspec.json.Decoder(exact[1])
        self._undeclared = exact is None
        self._learn = learn
        self._stamps = Stamps(key, bounds, coverage)
        self._inflate = compression.gzip_inflater()
        self._head = b""
        self._not_gzip = False
        self._partial = b""
        self._records = 0
        self._outside = 0
        self._refusal: str | None = None if row is not None else "a schema not checkable in bulk"

    def feed(self, compressed: bytes) -> None:
        """Check the next compressed bytes of the file.

        Raises:
            DownloadError: the bytes are not a valid gzip stream (corrupt, not gzip).
        """
        if self._not_gzip or not compressed:
            return
        if len(self._head) < len(GZIP_MAGIC):
            self._head += compressed[: len(GZIP_MAGIC)]
            if not GZIP_MAGIC.startswith(self._head[: len(GZIP_MAGIC)]):
                self._not_gzip = True  # read record by record, which says what it is
                self._refusal = "the file is not gzip"
                return
        try:
            inflated = self._inflated(compressed)
        except compression.CORRUPT as exc:
            raise DownloadError(f"the file is corrupt: {exc}") from None
        if self._refusal is None:
            self._lines(inflated)

    def verdict(self) -> Verdict:
        """The verdict once the whole file was fed.

        Raises:
            DownloadError: the gzip stream ended early (the file was cut short).
        """
        if not self._not_gzip and not self._inflate.eof:
            raise DownloadError("the file ends before its gzip stream does (cut short)")
        if self._partial:
            self._check(self._partial, 0)
            self._partial = b""
        return Verdict(self._records, self._outside, self._refusal, self._undeclared)

    def _inflated(self, compressed: bytes) -> bytes:
        """Decompress, following gzip members one after the other (as `gzip` does).

        Zero bytes after a member are padding, skipped as `gzip` skips them (some
        writers pad files to a block size): until a byte that is not zero comes, the
        ended member's decompressor keeps them (its `unused_data`).
        """
        out = [self._inflate.decompress(compressed)]
        while self._inflate.eof and (rest := self._inflate.unused_data.lstrip(b"\0")):
            self._inflate = compression.gzip_inflater()
            out.append(self._inflate.decompress(rest))
        return b"".join(out)

    def _lines(self, data: bytes) -> None:
        """Check the complete lines in `data`, keeping the last, partial one for later.

        The lines between the first and last line break are checked in place (a
        memoryview, no copy); only the line straddling two chunks is joined.
        """
        last = data.rfind(b"\n")
        if last < 0:
            self._partial += data
            return
        first = data.find(b"\n")
        self._check(self._partial + data[:first], 0)
        if first < last:
            self._check(memoryview(data)[first + 1 : last], data.count(b"\n", first + 1, last))
        self._partial = data[last + 1 :]

    def _check(self, lines: bytes | memoryview, breaks: int) -> None:
        """Check complete lines (`breaks` line breaks between them): all in one call."""
        if self._refusal is not None:
            return
        assert self._rows is not None  # a refusal is set without them
        try:
            rows = self._conforming_rows(lines)
        except _UNDECODABLE as exc:
            self._refusal = f"a line is not a conforming record ({exc})"
            return
        if len(rows) != breaks + 1:
            # A blank line (the target would choke on it), or two records on one line.
            self._refusal = "a line does not hold exactly one record"
            return
        stamps = self._stamps.of(rows)
        if stamps is None:
            self._refusal = "a replication key is not a canonical timestamp of a real date"
            return
        self._records += len(rows)
        self._outside += self._stamps.count_outside(stamps)

    def _conforming_rows(self, lines: bytes | memoryview) -> list[Any]:
        """The rows, decoded with the strictest type that still takes every line so far.

        Raises:
            msgspec.DecodeError: a line conformance would change beyond dropping keys.
        """
        assert self._rows is not None
        if self._exact is None or self._dropping is None:
            return self._rows.decode_lines(lines)
        if not self._undeclared:
            try:
                return self._exact.decode_lines(lines)
            except _UNDECODABLE:
                pass
            learnt = None if self._learn is None else self._learn(bytes(lines).split(b"\n"))
            if learnt is not None:
                self._exact = msgspec.json.Decoder(learnt[0])
                self._dropping = msgspec.json.Decoder(learnt[1])
                with contextlib.suppress(*_UNDECODABLE):
                    return self._exact.decode_lines(lines)
            self._undeclared = True  # undeclared keys, perhaps: the dropping type says
        return self._dropping.decode_lines(lines)

    def without_undeclared(self, lines: list[bytes]) -> list[bytes]:
        """Complete lines already found usable, each without keys the schema does not declare.

        Decoded and encoded again by the dropping type (or the row type, without it),
        which holds the declared keys only: what conformance would leave of them.
        """
        decoder = self._dropping or self._rows
        assert decoder is not None
        encode = _ENCODER.encode
        return [encode(row) for row in decoder.decode_lines(b"\n".join(lines))]

    def inside(self, lines: list[bytes]) -> list[bytes]:
        """Of complete lines already found usable, those whose record is in the slice."""
        assert self._rows is not None
        rows = self._rows.decode_lines(b"\n".join(lines))
        stamps = self._stamps.of(rows)
        assert stamps is not None  # the lines were found usable
        return self._stamps.keep(lines, stamps)


class LineSorter:
    """Sorts a run of lines for RECORD mode: forwarded, re-encoded in C, dropped, or parsed.

    A line can be forwarded inside a RECORD message without being parsed and dumped
    again when singer-sdk would write exactly its content: it passes `record_check`,
    conformance leaves it unchanged (`row_type(exact=True)`), its replication key is
    canonical and inside the window. A line whose only difference is undeclared keys
    is decoded and encoded again by msgspec, which leaves them out as conformance does
    (`drop_unknown`). A canonical line outside the window is dropped, as the record
    path drops it. Anything else goes to the record path, to be parsed and checked.
    """

    def __init__(
        self,
        rows: RowTypes,
        key: str | None,
        bounds: StampBounds | None,
        *,
        on_unknown: Callable[[tuple[str, ...]], None],
        coverage: Coverage | None = None,
    ) -> None:
        """Sort lines of a slice's file with `rows` (exact, and exact but dropping).

        `key` is the replication key and `bounds` the slice's (None for a snapshot);
        `coverage` sees the keys outside them (see `engine/planning/coverage.py`).

        `on_unknown` hears the undeclared keys of the first record of a run that had
        some (singer-sdk warns about them).
        """
        exact, dropping = rows
        self._many = msgspec.json.Decoder(list[exact])  # type: ignore[valid-type]
        self._one = msgspec.json.Decoder(exact)
        self._many_dropping = msgspec.json.Decoder(list[dropping])  # type: ignore[valid-type]
        self._one_dropping = msgspec.json.Decoder(dropping)
        self._declared = frozenset(dropping.__struct_encode_fields__)
        self._encoder = msgspec.json.Encoder()
        self._stamps = Stamps(key, bounds, coverage)
        self._on_unknown = on_unknown
        # Whether the last run sorted had lines with undeclared keys (at any depth).
        self.dropped = False

    def sort(self, lines: list[bytes]) -> Sequence[bytes | int]:
        """In file order: each record to forward (bytes) or the index of a line to parse.

        Returns `lines` itself when every line can be forwarded, the common case,
        decided for the whole run with one decode and one regular expression.
        """
        self.dropped = False
        joined = json_array(lines)
        forward: Sequence[bytes] = lines
        try:
            rows = self._many.decode(joined)
        except _UNDECODABLE as exc:
            try:
                rows = self._many_dropping.decode(joined)
            except _UNDECODABLE:
                return self._one_by_one(lines)
            self.dropped = True
            self._report_unknown(str(exc), lines)
            forward = self._encoder.encode_lines(rows).split(b"\n")[:-1]
        stamps = self._stamps.of(rows) if len(rows) == len(lines) else None
        if stamps is None:
            return self._one_by_one(lines)  # a line holding two records, or a bad date
        if self._stamps.count_outside(stamps) == 0:
            return forward
        return self._stamps.keep(forward, stamps)

    def _one_by_one(self, lines: list[bytes]) -> list[bytes | int]:
        plan: list[bytes | int] = []
        for index, line in enumerate(lines):
            out: bytes | None = line
            try:
                row = self._one.decode(line)
            except _UNDECODABLE:
                try:
                    row = self._one_dropping.decode(line)
                except _UNDECODABLE:
                    plan.append(index)  # blank, bad or to be conformed: the record path says
                    continue
                out = None
                self.dropped = True
            stamps = self._stamps.of([row])
            if stamps is None:
                plan.append(index)
            elif self._stamps.count_outside(stamps) == 0:
                if out is None:
                    self._report_unknown("", [line])
                    out = self._encoder.encode(row)
                plan.append(out)
        return plan

    def _report_unknown(self, error: str, lines: list[bytes]) -> None:
        """Name the undeclared keys of the line the exact decoder stopped at."""
        at = _LINE_IN_ERROR.search(error)
        line = lines[int(at.group(1))] if at else lines[0]
        try:
            keys = tuple(key for key in orjson.loads(line) if key not in self._declared)
        except (orjson.JSONDecodeError, TypeError):
            return
        if keys:
            self._on_unknown(keys)
