"""The generic half of an export port, declared instead of written again per provider.

Every export API sends its key in an `Authorization` header with a scheme word, names
the job it created somewhere in the create's answer, and answers a status read with a
status word and, when the job failed, a message under a key of its own. Those are facts,
not code: a provider states them in one `JobApi` and its port calls `created` and
`report`, so the three ports differ only in what truly differs (request bodies, where
the files' URLs come from, what a create costs).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tap_exports.engine.errors import ApiError
from tap_exports.engine.exports.jobs import ExportFile, JobStatus, StatusReport, StatusWords


@dataclass(frozen=True)
class JobApi:
    """How one API authenticates, names a created job and reports a job's status.

    Every API here answers a status read with the word under `status`.

    `id_path`: the keys leading to the job id in the create's answer (`("export_job",
    "id")` for `{"export_job": {"id": ...}}`). `message_keys`: where a failed job's
    reason may be, first found wins. `records_key`: where a completed job says how many
    records its files hold, if the API says.
    """

    auth_scheme: str
    id_path: tuple[str, ...]
    words: StatusWords
    message_keys: tuple[str, ...] = ("message",)
    records_key: str | None = None

    def headers(self, api_key: str) -> dict[str, str]:
        """The headers of every API request: the key, and JSON both ways."""
        return {"Authorization": f"{self.auth_scheme} {api_key}", "Accept": "application/json"}

    def created(self, answer: Mapping[str, Any], *, subject: str) -> str:
        """The id of the job a create answered with.

        Raises:
            ApiError: the answer has no id where the API puts it.
        """
        value: object = answer
        for key in self.id_path:
            value = value.get(key) if isinstance(value, Mapping) else None
        if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
            raise ApiError(f"{subject}: the create answer has no {'.'.join(self.id_path)}")
        return str(value)

    def report(
        self,
        answer: Mapping[str, Any],
        *,
        subject: str,
        files: Sequence[ExportFile] = (),
    ) -> StatusReport:
        """A status answer read: its word, the files given, the reason, the record count."""
        status = self.words.read(answer.get("status"), subject=subject)
        message = next((answer[key] for key in self.message_keys if answer.get(key)), None)
        records = answer.get(self.records_key) if self.records_key else None
        counted = (
            status is JobStatus.COMPLETED
            and isinstance(records, int)
            and not isinstance(records, bool)
        )
        return StatusReport(
            status=status,
            files=tuple(files),
            message=str(message) if message is not None else None,
            records=records if counted else None,
        )
