"""A Cornect export as data: its status over time, its status answer, and its file.

An export is a pure function of the time since its creation, so the emulator needs no
background thread: `pending` for `pending_seconds`, then `processing` for
`processing_seconds`, then `completed` (or `failed`, or, if stuck, `processing` for
good). The status answer follows the docs' example; the failure reason is undocumented,
so a failed export says why in `error_message`, a field only failed exports have.
`processed_records` grows through processing; `file_size_bytes` and `completed_at` are
null until completed.

One file per export, CSV or JSON. The file layout is undocumented (neither the CSV
columns nor whether the JSON is an array or NDJSON; docs/providers/cornect.md), so each
format gets its most common shape, and the sandbox can switch what a tap must not
assume:
- CSV: a header row, then every field as a column in a fixed order (`FILE_FIELDS`),
  RFC 4180 quoting (cells with commas, quotes or line breaks are quoted, quotes doubled)
  and CRLF line ends; null is an empty cell; `technologies` and `connections` are JSON
  text, as a cell holds no list.
- JSON: a JSON array of objects (`json_layout="array"`, one line, as `json.dumps`
  writes it) or one object per line (`"ndjson"`), with the same name either way.
- Every file carries `data_quality_score`, a field the search items do not have.
- Files are plain by default; `gzip=True` gzips them and adds `.gz` to the name, so a
  tap must tell by the bytes, not by a setting.
The same rows always give the same bytes (gzip without a timestamp), so a download
resumed with `Range` continues the file it started.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from tap_exports.sandbox.cometly.data import utc_text
from tap_exports.sandbox.cornect.config import CornectTiming
from tap_exports.sandbox.cornect.data import FILE_FIELDS, Company, Record
from tap_exports.sandbox.emulator import StoredFile

_CONTENT_TYPES = {
    ("csv", "array"): "text/csv",
    ("csv", "ndjson"): "text/csv",
    ("json", "array"): "application/json",
    ("json", "ndjson"): "application/x-ndjson",
}
_JSON_CELLS = frozenset(("technologies", "connections"))
_FAILURE = "Export generation failed due to an internal error."


@dataclass
class Export:
    """One export of one workspace; `started` is on the emulator clock's monotonic time."""

    export_id: str
    workspace_id: str
    name: str
    export_format: str
    source_type: str
    companies: list[Company]  # what the file holds, in its order
    created_at: datetime  # UTC
    started: float
    storage_name: str
    will_fail: bool = False
    stuck: bool = False
    file: StoredFile | None = None  # rendered when first needed

    def status(self, now: float, timing: CornectTiming) -> str:
        """The status word at `now`."""
        return self._progress(now, timing)[0]

    def view(self, now: float, timing: CornectTiming, *, size: int | None) -> Record:
        """The export as `GET /exports/{id}` answers it; `size` is the file's, if completed."""
        status, share = self._progress(now, timing)
        total = len(self.companies)
        completed = status == "completed"
        ends = self.created_at + timedelta(
            seconds=timing.pending_seconds + timing.processing_seconds
        )
        body: Record = {
            "id": self.export_id,
            "workspace_id": self.workspace_id,
            "name": self.name,
            "export_format": self.export_format,
            "source_type": self.source_type,
            "status": status,
            "total_records": total,
            "processed_records": int(total * share),
            "file_size_bytes": size if completed else None,
            "created_at": utc_text(self.created_at),
            "completed_at": utc_text(ends) if completed else None,
        }
        if status == "failed":
            body["error_message"] = _FAILURE
        return body

    def _progress(self, now: float, timing: CornectTiming) -> tuple[str, float]:
        """The status at `now`, and the share of the records processed (0 to 1)."""
        elapsed = now - self.started
        if elapsed < timing.pending_seconds:
            return "pending", 0.0
        if elapsed >= timing.pending_seconds + timing.processing_seconds and not self.stuck:
            return ("failed", 0.5) if self.will_fail else ("completed", 1.0)
        share = (elapsed - timing.pending_seconds) / (timing.processing_seconds or 1.0)
        return "processing", min(share, 0.99)


def file_name(export_id: str, export_format: str, *, gzipped: bool) -> str:
    """An export's storage name: `<export id>/companies.csv` (or `.json`, `+ .gz`)."""
    return f"{export_id}/companies.{export_format}" + (".gz" if gzipped else "")


def render(
    rows: list[Record], export_format: str, *, json_layout: str, gzipped: bool
) -> StoredFile:
    """An export's file, holding `rows` (file-shaped records) in their order."""
    if export_format == "csv":
        content = _csv(rows)
    elif json_layout == "ndjson":
        content = b"".join(orjson.dumps(row) + b"\n" for row in rows)
    else:
        content = orjson.dumps(rows)
    if gzipped:
        return StoredFile(gzip.compress(content, compresslevel=5, mtime=0), "application/gzip")
    return StoredFile(content, _CONTENT_TYPES[(export_format, json_layout)])


def _cell(column: str, value: Any) -> Any:
    """A value as a CSV cell: null empty, lists and objects as JSON text, the rest as is."""
    if value is None:
        return ""
    if column in _JSON_CELLS:
        return orjson.dumps(value).decode()
    return value


def _csv(rows: list[Record]) -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)  # RFC 4180: minimal quoting, CRLF
    writer.writerow(FILE_FIELDS)
    writer.writerows([_cell(column, row[column]) for column in FILE_FIELDS] for row in rows)
    return text.getvalue().encode()
