"""A Userpilot export job as data, and what it looks like at a given moment.

A job is a pure function of the time since its creation, so the emulator never needs a
background thread: it walks through its status words in equal shares of its duration,
then is `completed` (or `failed`, or, if stuck, stays on its last word for good). Its
rows are cut into parts when it is created; each part is rendered the first time it is
downloaded and its URL signed the first time a completed status is read.

The status answer's shape is the OpenAPI's; the values are undocumented, so they are:
- `progress`: a whole percentage with `%` ("40%"), `100%` only when completed;
- chunks are the parts: `all_chunks` their file names, `completed_chunks` those done so
  far, `current_chunk` the one in progress (null once the job ends);
- `end_time` is null, not "", while the job runs; `type` is `export`;
- `elapsed_time` is `H:MM:SS`, `elapsed_time_seconds` whole seconds, both strings (so
  far, while the job runs);
- times are UTC to the second with a `Z`, like the documented examples.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tap_exports.sandbox.cometly.data import utc_text
from tap_exports.sandbox.emulator import StoredFile
from tap_exports.sandbox.userpilot.data import Record

TERMINAL_STATUSES = frozenset(("completed", "failed"))  # the words after which a job is over


@dataclass
class Part:
    """One file of a job: its name in the status answer, its name in storage, its rows."""

    filename: str
    storage_name: str
    rows: list[Record]
    file: StoredFile | None = None
    url: str | None = None
    # What the part is the rendering of (request and part number), if shareable.
    render_key: tuple[Any, ...] | None = None


@dataclass
class Job:
    """One export job of one app token; times are on the emulator clock's monotonic time."""

    job_id: str
    app_token: str
    created_at: datetime  # UTC, for `start_time`
    started: float
    duration: float
    statuses: tuple[str, ...]
    export_format: str
    gzipped: bool
    rows: list[Record]
    parts: list[Part]
    will_fail: bool = False
    stuck: bool = False
    vanished: bool = False

    @property
    def ends(self) -> float:
        """When the job turns `completed` or `failed` (were it not stuck)."""
        return self.started + self.duration

    def status(self, now: float) -> str:
        """The status word at `now`."""
        if now >= self.ends and not self.stuck:
            return "failed" if self.will_fail else "completed"
        index = int(self._share(now) * len(self.statuses))
        return self.statuses[min(index, len(self.statuses) - 1)]

    def terminal(self, now: float) -> bool:
        """Whether the job has ended (and so no longer blocks its app token)."""
        return self.status(now) in TERMINAL_STATUSES

    def gone(self, now: float, retention_seconds: float) -> bool:
        """Whether the job is forgotten: vanished, or older than the retention."""
        return self.vanished or now - self.started > retention_seconds

    def summary(self, now: float) -> dict[str, Any]:
        """The job as the jobs list shows it."""
        status = self.status(now)
        ended = status in TERMINAL_STATUSES
        elapsed = int((min(now, self.ends) if ended else now) - self.started)
        return {
            "job_id": self.job_id,
            "status": status,
            "progress": self._progress(now, status),
            "start_time": utc_text(self.created_at),
            "end_time": self._end_time() if ended else None,
            "elapsed_time": str(timedelta(seconds=elapsed)),
            "elapsed_time_seconds": str(elapsed),
        }

    def view(self, now: float) -> dict[str, Any]:
        """The job as its status answer shows it, without `presigned_urls`."""
        status = self.status(now)
        names = [part.filename for part in self.parts]
        done = len(names) if status == "completed" else min(self._done(now), len(names) - 1)
        ended = status in TERMINAL_STATUSES
        return {
            "app_token": self.app_token,
            "job_id": self.job_id,
            "status": status,
            "type": "export",
            "progress": self._progress(now, status),
            "start_time": utc_text(self.created_at),
            "end_time": self._end_time() if ended else None,
            "current_chunk": None if ended else names[done],
            "completed_chunks": names[:done],
            "all_chunks": names,
        }

    def _share(self, now: float) -> float:
        """How much of its duration the job has run (1 or more once it is over)."""
        return (now - self.started) / self.duration if self.duration > 0 else 1.0

    def _done(self, now: float) -> int:
        return int(self._share(now) * len(self.parts))

    def _progress(self, now: float, status: str) -> str:
        if status == "completed":
            return "100%"
        return f"{min(int(self._share(now) * 100), 99)}%"

    def _end_time(self) -> str:
        return utc_text(self.created_at + timedelta(seconds=self.duration))
