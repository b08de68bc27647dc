"""Can an export file be handed to the target as it is? Checked in bulk, at C speed.

In BATCH mode the target reads gzipped JSONL files, which is what Cometly's export
files already are. Handing the downloaded file over unchanged skips decoding and
re-encoding every record, but only if the file holds exactly the records the
per-record path would have delivered:

- every line is one JSON object whose top-level fields have the types the schema
  allows, with the primary key present (what `validate.record_check` enforces);
- its replication key is a canonical UTC timestamp (`YYYY-MM-DDTHH:MM:SSZ`, what the
  per-record path rewrites every key to) inside the window, so no edge record of a
  neighbouring window rides along.

`FileCheck` is fed the compressed bytes as they are downloaded. It decompresses them
(which also verifies the gzip CRC and length), decodes complete lines many at a time
with a msgspec decoder built from the schema, and checks the keys with `min`, `max`
and one regular expression over them all: no Python code runs per record. Anything
it cannot prove is a verdict of "no", never an error: the caller then reads the file
record by record, which names the bad line or skips it as configured.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, Union

import msgspec

from tap_exports.engine.errors import DownloadError
from tap_exports.engine.windows import Window

_GZIP_MAGIC = b"\x1f\x8b"
_CANONICAL_STAMPS = re.compile(rb"(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)*")

_MSGSPEC_TYPES: dict[str, Any] = {
    "string": str,
    "integer": int,
    "number": float,  # msgspec's float accepts JSON integers too
    "boolean": bool,
    "null": None,
    "array": list[msgspec.Raw],  # nested values are left to the target, as per record
    "object": dict[str, msgspec.Raw],
}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the check found: how many records, and why the file cannot go as it is."""

    records: int
    refusal: str | None = None

    @property
    def usable_as_is(self) -> bool:
        """True when the file holds exactly what the per-record path would deliver."""
        return self.refusal is None


class FileCheck:
    """Checks one export file fed in compressed chunks (see the module docstring)."""

    def __init__(
        self, rows: msgspec.json.Decoder[list[Any]] | None, key: str, window: Window
    ) -> None:
        """Use `rows` (from `file_check_for`) to check a file of `window`.

        Without `rows` (a schema msgspec cannot express) only the gzip stream is
        checked, and the verdict is always "no".
        """
        self._rows = rows
        self._key_of = attrgetter(_field_name(key))
        self._start = window.start_text
        self._end = window.end_text
        self._inflate = zlib.decompressobj(wbits=31)
        self._head = b""
        self._not_gzip = False
        self._partial = b""
        self._records = 0
        self._refusal: str | None = None if rows is not None else "a schema not checkable in bulk"

    def feed(self, compressed: bytes) -> None:
        """Check the next compressed bytes of the file.

        Raises:
            DownloadError: the bytes are not a valid gzip stream (corrupt, not gzip).
        """
        if self._not_gzip or not compressed:
            return
        if len(self._head) < len(_GZIP_MAGIC):
            self._head += compressed[: len(_GZIP_MAGIC)]
            if not _GZIP_MAGIC.startswith(self._head[: len(_GZIP_MAGIC)]):
                self._not_gzip = True  # read record by record, which says what it is
                self._refusal = "the file is not gzip"
                return
        try:
            inflated = self._inflated(compressed)
        except zlib.error as exc:
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
            self._check(self._partial)
            self._partial = b""
        return Verdict(self._records, self._refusal)

    def _inflated(self, compressed: bytes) -> bytes:
        """Decompress, following gzip members one after the other (as `gzip` does)."""
        out = [self._inflate.decompress(compressed)]
        while self._inflate.eof and self._inflate.unused_data:
            rest = self._inflate.unused_data
            self._inflate = zlib.decompressobj(wbits=31)
            out.append(self._inflate.decompress(rest))
        return b"".join(out)

    def _lines(self, data: bytes) -> None:
        cut = data.rfind(b"\n")
        if cut < 0:
            self._partial += data
            return
        complete = self._partial + data[:cut]
        self._partial = data[cut + 1 :]
        self._check(complete)

    def _check(self, lines: bytes) -> None:
        """Check complete lines (without the final newline): all of them in one call."""
        if self._refusal is not None or not lines:
            return
        assert self._rows is not None  # a refusal is set without them
        body = lines.replace(b"\r\n", b"\n")
        if b"\n\n" in body or body.startswith(b"\n"):
            self._refusal = "the file has blank lines"
            return
        try:
            rows = self._rows.decode(b"[" + body.replace(b"\n", b",") + b"]")
        except msgspec.DecodeError as exc:
            self._refusal = f"a line is not a conforming record ({exc})"
            return
        stamps = list(map(self._key_of, rows))
        if min(stamps) < self._start or max(stamps) >= self._end:
            self._refusal = "records outside the window"
        elif not _CANONICAL_STAMPS.fullmatch("".join(stamps).encode()):
            self._refusal = "timestamps not in canonical form"
        self._records += len(rows)


def file_check_for(
    schema: Mapping[str, Any], *, primary_keys: Sequence[str], replication_key: str
) -> msgspec.json.Decoder[list[Any]] | None:
    """A decoder of many lines at once that enforces the schema's top-level types.

    Keys other than the primary and replication keys may be missing, as in
    `record_check`; undeclared keys pass (BATCH files carry what the stream yields).
    None when the schema has what msgspec cannot decode unambiguously: then files are
    always read record by record.
    """
    properties = schema.get("properties", {})
    if replication_key not in properties:
        return None
    required: list[tuple[str, Any]] = []
    optional: list[tuple[str, Any, None]] = []
    for name, spec in properties.items():
        types = spec.get("type") if isinstance(spec, Mapping) else None
        types = [types] if isinstance(types, str) else types
        if name == replication_key:
            types = ["string"]  # a timestamp: its form is checked afterwards
        if not types or any(t not in _MSGSPEC_TYPES for t in types):
            continue  # no type to enforce: any value passes, as in `record_check`
        python_type: Any = Union[tuple(_MSGSPEC_TYPES[t] for t in types)]  # noqa: UP007
        if name in primary_keys or name == replication_key:
            required.append((_field_name(name), python_type))
        else:
            optional.append((_field_name(name), python_type, None))
    required += [(_field_name(k), msgspec.Raw) for k in primary_keys if k not in properties]
    names = [*properties, *primary_keys]
    try:
        row = msgspec.defstruct(
            "Row", [*required, *optional], rename={_field_name(n): n for n in names}
        )
        return msgspec.json.Decoder(list[row])  # type: ignore[valid-type]
    except TypeError:  # a union msgspec cannot decode unambiguously
        return None


def _field_name(name: str) -> str:
    """A valid identifier for any JSON key (msgspec renames it back when decoding)."""
    return "f_" + name.encode().hex()
