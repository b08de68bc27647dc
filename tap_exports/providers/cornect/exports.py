"""Cornect's export port: a snapshot planned in parts, priced, created, read.

Part of the Cornect provider (`__init__.py` declares it; see docs/providers/cornect.md):
a search is sized with the free search `total` and cut into parts of at most 10,000
companies (`engine/planning/partition.py`); each create is sized again and held to
`max_credits` (`engine/costs/`), its answer checked for the cap and for companies the
balance could not pay for; URLs come from a download call of their own.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from tap_exports.engine.costs.exported import ExportedKeys
from tap_exports.engine.costs.pricing import NewRecordPricing
from tap_exports.engine.costs.spending import SpendingGuard
from tap_exports.engine.errors import (
    ApiError,
    BusyError,
    ConfigError,
    DownloadError,
    NotFoundError,
    NothingToExportError,
    OutOfCreditsError,
    RequestRejectedError,
    SliceTooLargeError,
    UncertainRequestError,
)
from tap_exports.engine.exports.jobs import ExportFile, JobStatus, StatusReport, StatusWords
from tap_exports.engine.http.api import ApiClient
from tap_exports.engine.planning.coverage import Coverage
from tap_exports.engine.planning.partition import Dimension, PartPlanner, Uncoverable
from tap_exports.engine.planning.slices import Partition, Slice
from tap_exports.engine.timestamps import parse_utc
from tap_exports.providers.job_api import JobApi

logger = logging.getLogger(__name__)

CAP = 10_000
LIST_PART = "list"
DIMENSIONS = (
    Dimension("employee_count", "employee_count_min", "employee_count_max", 0, 2**31 - 1),
    Dimension("founded_year", "founded_year_min", "founded_year_max", 0, 9999),
)

JOB_API = JobApi(
    auth_scheme="Bearer",
    id_path=("export_job", "id"),
    words=StatusWords(
        {
            "pending": JobStatus.QUEUED,
            "processing": JobStatus.PROCESSING,
            "completed": JobStatus.COMPLETED,
            "failed": JobStatus.FAILED,
        }
    ),
    message_keys=("error_message", "error"),
    # A completed export says how many records its file holds: a file cut short is caught.
    records_key="total_records",
)


class CornectExports:
    """Plans, prices, creates and reads the exports of one snapshot of `companies`."""

    def __init__(self, client: ApiClient, config: Mapping[str, Any]) -> None:
        """Read the source, the format and the limit from the (validated) settings."""
        self._client = client
        self._list_id = config.get("list_id")
        self._filters: dict[str, Any] = dict(config.get("search_filters") or {})
        self._format = config.get("export_format") or "json"
        searched = self._list_id is None
        self._pricing = NewRecordPricing(
            guard=SpendingGuard(
                limit=int(config["max_credits"]),
                setting="max_credits",
                unit="credits",
                balance=self.balance,
            ),
            cap=CAP,
            count=self._count if searched else None,
            list_keys=self._ids if searched else None,
            noun="companies",
        )

    # -- planning and pricing ----------------------------------------------------------

    def partitions(self) -> list[Partition]:
        """A list is one part; a search is cut into parts of at most 10,000 companies."""
        if self._list_id is not None:
            return [Partition(LIST_PART)]
        return self._plan(self._filters, key="p")

    def source(self) -> str:
        """The list, or the filters (keys sorted): a changed one starts a new snapshot."""
        if self._list_id is not None:
            return f"list {self._list_id}"
        return f"search {json.dumps(self._filters, sort_keys=True)}"

    def costs(self, parts: Sequence[Partition], exported: ExportedKeys) -> list[str]:
        """The credits estimate against `max_credits` and the balance, for `--plan`."""
        self._pricing.exported = exported
        return self._pricing.costs(parts)

    def check_plan(self, parts: Sequence[Partition], exported: ExportedKeys) -> None:
        """Stop before creating anything if the worst case is over `max_credits`."""
        self._pricing.exported = exported
        self._pricing.check_plan(parts)

    def _plan(self, filters: Mapping[str, Any], *, key: str) -> list[Partition]:
        cap = self._pricing.cap
        try:
            sized = PartPlanner(self._count, DIMENSIONS, cap).plan(filters, key=key)
        except Uncoverable as exc:
            raise ConfigError(
                "search_filters",
                f"{exc}: an export holds at most {cap:,} companies; narrow the filters (for "
                f"example by countries) until the set is at most {cap:,}, or bound "
                "employee_count or founded_year (which leaves out companies without one)",
            ) from None
        self._pricing.sizes.update((s.part.key, s.size) for s in sized)
        return [s.part for s in sized]

    # -- the export lifecycle ----------------------------------------------------------

    def create(self, slice: Slice) -> str:
        """Size the part again, check the spending limit, and create its export."""
        assert isinstance(slice, Partition), "Cornect exports partitions"
        subject = f"companies {slice}"
        if self._list_id is None:
            size = self._pricing.size(slice)
            if size == 0:
                raise NothingToExportError(f"{subject}: no company matches it now")
            if size > self._pricing.cap:
                parts = self._plan(slice.request_filters(), key=f"{slice.key}.")
                if not parts:  # emptied while it was cut
                    raise NothingToExportError(f"{subject}: no company matches it now")
                raise SliceTooLargeError(
                    f"{subject} now matches {size:,} companies, over the {self._pricing.cap:,} cap",
                    tuple(parts),
                )
        self._pricing.before_create(slice, subject)
        answer = self._post_export(slice, subject)
        return self._accept(answer, slice, subject)

    def _post_export(self, part: Partition, subject: str) -> dict[str, Any]:
        body: dict[str, Any] = {"name": f"tap-exports companies {part.key}"}
        body["export_format"] = self._format
        if self._list_id is not None:
            body |= {"source_type": "list", "list_id": self._list_id}
        else:
            body |= {"source_type": "search", "search_filters": part.request_filters()}
        try:
            return self._client.post_json("/exports", body, budget="create", once=True)
        except UncertainRequestError as exc:
            # It may have made (and charged for) an export: the next try is sized and
            # checked against max_credits again, the balance showing any such charge.
            raise BusyError(f"{exc}; checking the spending limit again before a new try") from None
        except RequestRejectedError as exc:
            if exc.code == "no_candidates":
                raise NothingToExportError(f"{subject}: no company matches it now") from None
            raise
        except NotFoundError as exc:
            if self._list_id is not None:
                raise ConfigError("list_id", f"no saved list has this id ({exc})") from None
            raise

    def _accept(self, answer: Mapping[str, Any], part: Partition, subject: str) -> str:
        """The export id of a create's answer, once its charge is counted and checked."""
        charged = _count_in(answer, "credits_charged")
        self._pricing.guard.charged(charged)
        export_id = JOB_API.created(answer, subject=subject)
        if answer.get("capped_at_10k"):
            held = _count_in(answer, "requested_count")
            if self._list_id is not None:
                raise ConfigError(
                    "list_id",
                    f"export {export_id} was capped at {held:,} companies: the list holds more, "
                    "and a list cannot be split; export it with search_filters instead",
                )
            if held > 0:
                self._pricing.cap = min(self._pricing.cap, held)
            parts = self._plan(part.request_filters(), key=f"{part.key}.")
            if len(parts) < 2:  # cutting it again would give the same export: never ends
                counted = sum(self._pricing.sizes.get(p.key, 0) for p in parts)
                raise ApiError(
                    f"{subject}: export {export_id} came back capped at {held:,} companies, "
                    f"but the search counts {counted:,}: search and export disagree; try "
                    "again later"
                )
            raise SliceTooLargeError(
                f"{subject}: export {export_id} came back capped at {held:,} companies (the "
                "set grew, or the cap is lower than documented); it is not read",
                tuple(parts),
            )
        new = _count_in(answer, "new_count")
        skipped = max(_count_in(answer, "would_skip"), new - charged)
        if skipped:
            raise OutOfCreditsError(
                f"{subject}: export {export_id} left out {skipped:,} new companies, as the "
                f"balance covered {charged:,} credits of {new:,}; "
                "none of it is delivered. Top up credits at app.cornect.io/account/credits and "
                "run again (companies paid for are free from now on)"
            )
        logger.info(
            "%s: export %s created: %s companies, %s exported before, %s credits charged",
            subject,
            export_id,
            f"{_count_in(answer, 'requested_count'):,}",
            f"{_count_in(answer, 'already_unlocked'):,}",
            f"{charged:,}",
        )
        return export_id

    def status(self, export_id: str) -> StatusReport:
        """Read the export's status (documented words only)."""
        answer = self._client.get_json(f"/exports/{quote(export_id)}", budget="status")
        return JOB_API.report(answer, subject=f"companies export {export_id}")

    def files(self, export_id: str) -> tuple[ExportFile, ...]:
        """A fresh URL for the export's one file, from the download call."""
        try:
            answer = self._client.post_json(
                f"/exports/{quote(export_id)}/download", {}, budget="download"
            )
        except RequestRejectedError as exc:
            raise DownloadError(f"companies export {export_id}: {exc}") from None
        url = answer.get("download_url")
        if not isinstance(url, str) or not url:
            raise DownloadError(f"companies export {export_id}: no download_url in the answer")
        expires = answer.get("expires_at")
        expires_at = parse_utc(expires) if isinstance(expires, str) and expires else None
        return (ExportFile(f"{export_id}.{self._format}", url, expires_at),)

    def covers(self, slice: Slice) -> Coverage | None:
        """Exports are defined by filters, not dates: nothing to be beyond."""
        return None

    # -- free reads --------------------------------------------------------------------

    def _count(self, filters: Mapping[str, Any]) -> int:
        """How many companies a search with `filters` matches now (free)."""
        return _count_in(self._search(filters), "total", required=True)

    def _search(self, filters: Mapping[str, Any]) -> dict[str, Any]:
        return self._client.post_json("/companies/search", filters, budget="search")

    def _ids(self, filters: Mapping[str, Any]) -> list[object]:
        """The id of every company a search with `filters` matches now (every page, free)."""
        ids: list[object] = []
        cursors: set[str] = set()
        cursor = None
        while True:
            answer = self._search({**filters, "cursor": cursor} if cursor else filters)
            ids += [item.get("id") for item in answer.get("items") or () if isinstance(item, dict)]
            cursor = answer.get("next_cursor")
            if not cursor:
                return ids
            if cursor in cursors:
                raise ApiError("Cornect's search repeated a page cursor: paging would not end")
            cursors.add(str(cursor))

    def matched(self) -> int | None:
        """How many companies the search filters match now (free); None for a list."""
        return None if self._list_id else self._count(self._filters)

    def sample(self) -> list[dict[str, Any]]:
        """The first page of the search (or of every company, for a list): schema inference."""
        items = self._search(self._filters).get("items")
        return [item for item in items or () if isinstance(item, dict)]

    def balance(self) -> int:
        """The workspace's credit balance now (free); the workspace is noted with it."""
        answer = self._client.get_json("/credits", budget="credits")
        workspace = answer.get("workspace_id")
        self._pricing.account(str(workspace) if workspace else "")
        return _count_in(answer, "balance", required=True)


def _count_in(answer: Mapping[str, Any], name: str, *, required: bool = False) -> int:
    """A whole-number field of an answer; a missing one is 0 unless `required`.

    Raises:
        ApiError: the field is malformed, or required and missing.
    """
    value = answer.get(name)
    if value is None and not required:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiError(f"Cornect answered {name}={value!r}, not a whole number")
    return value
