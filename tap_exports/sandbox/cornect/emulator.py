"""Cornect's company-data API, emulated: auth, routing, limits, credits and exports.

Everything the sandbox knows about Cornect lives in the `cornect*` modules: this one
answers requests and keeps workspaces and exports; `cornect_requests` reads routes,
tokens, bodies and cursors, `cornect_data` makes the companies, `cornect_filters`
matches filters, `cornect_credits` keeps balances, `cornect_files` says what an export
looks like over time and renders its file, `cornect_replies` shapes the answers and
`cornect_config` holds the knobs. Behaviour follows the documented API
(docs/providers/cornect.md); where the docs are silent the emulator picks a reading and
says so:
- errors use the documented envelope where the docs give a code, FastAPI's plain
  `detail` where they give none, and a 422 is FastAPI's array (see `cornect_replies`);
- rate limits are per token and per endpoint, token buckets (`tokenbucket`) that refill
  steadily; a 429 carries `Retry-After` and no `X-RateLimit-*` headers;
- a create answers 201; the export holds the matching companies in the catalog's
  order (or `sort_by`, nulls last), cut at the cap; a short balance is refused (402) or
  charged partially, as `CornectConfig.short_balance` says, and a partial export drops
  the new companies it cannot pay for (the already-unlocked ones stay);
- a failed export keeps its charge, and its companies stay unlocked;
- every download call signs a fresh URL valid `url_ttl_seconds`; `expired_urls` hands
  one out already expired while `expires_at` still says otherwise, as a storage host
  with a skewed clock would;
- the data faults (`faults.DATA_FAULTS`) and `vanished_jobs` are not emulated: they
  damage NDJSON lines and job retention, neither of which Cornect documents.

This module is plain logic (request in, reply out, an `emulator.Emulator`); `server.py`
puts it on HTTP. It deliberately shares no code with the tap, so a bug in the tap's
credit math or job handling cannot hide by being repeated here.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import orjson

from tap_exports.engine.clock import Clock
from tap_exports.sandbox.cometly.data import utc_text
from tap_exports.sandbox.cornect.config import RATE_LIMITS, CornectConfig, CornectToken
from tap_exports.sandbox.cornect.credits import ShortBalance, Workspace
from tap_exports.sandbox.cornect.data import (
    PAGE_SIZE,
    Company,
    Record,
    default_lists,
    facets,
    generate,
    sort_companies,
)
from tap_exports.sandbox.cornect.files import Export, file_name, render
from tap_exports.sandbox.cornect.replies import coded, created, unauthorized
from tap_exports.sandbox.cornect.requests import (
    ExportRequest,
    Invalid,
    bearer,
    decode_cursor,
    encode_cursor,
    parse_export,
    parse_filters,
    parse_search,
    route,
)
from tap_exports.sandbox.emulator import Reply, SignUrl, StoredFile
from tap_exports.sandbox.faults import Faults
from tap_exports.sandbox.tokenbucket import TokenBucketLimiter

API_PREFIX = "/api/v1"


class CornectEmulator:
    """Cornect's API for the sandbox server; thread-safe."""

    name = "cornect"
    api_prefix = API_PREFIX

    def __init__(
        self, *, config: CornectConfig, faults: Faults, sign_url: SignUrl, clock: Clock
    ) -> None:
        """Serve `config`'s tokens, companies and credits; `sign_url` presigns files.

        Exports run, buckets refill and slow answers wait on `clock`.
        """
        self.config = config
        self.faults = faults
        self._clock = clock
        self._tokens = {token.key: token for token in config.tokens}
        self._catalog = generate(config.data)
        lists = default_lists(config.data) if config.lists is None else config.lists
        self._lists = {list_id.lower(): ids for list_id, ids in lists.items()}
        workspace_ids = sorted({t.workspace_id for t in config.tokens if t.workspace_id})
        data = config.data
        self._workspaces = {
            workspace_id: Workspace.opened(
                workspace_id,
                balance=config.balance,
                companies=data.companies,
                unlocked_share=data.unlocked_share,
                seed=data.seed,
            )
            for workspace_id in workspace_ids
        }
        period = config.rate_period_seconds
        self._limiters = {
            (token.key, endpoint): TokenBucketLimiter(limit, period, clock=clock)
            for token in config.tokens
            for endpoint, limit in RATE_LIMITS.items()
        }
        self._exports: dict[str, Export] = {}
        self._files: dict[str, Export] = {}
        # What clients did, for tests and demos (see the properties below).
        self._created: list[tuple[str, dict[str, Any], int]] = []
        self._search_calls = 0
        self._sign_url = sign_url
        # Guards every dict and list above and the workspaces: server threads call in
        # concurrently, and a create must check and charge a balance in one step.
        self._lock = threading.Lock()

    # Introspection for tests and demos -----------------------------------------------------

    @property
    def created(self) -> list[tuple[str, dict[str, Any], int]]:
        """(export id, request body, credits charged) of every export created, oldest first.

        Ghost creates are in it (the export exists and was charged); refused ones are not.
        """
        with self._lock:
            return list(self._created)

    @property
    def search_calls(self) -> int:
        """How many search requests were admitted (past auth and the rate limit)."""
        with self._lock:
            return self._search_calls

    def balance(self, token: str) -> int:
        """The credit balance of the workspace behind `token`."""
        with self._lock:
            return self._workspace(token).balance

    def unlocked(self, token: str) -> set[str]:
        """The ids of the companies the workspace behind `token` has unlocked (a snapshot)."""
        with self._lock:
            indexes = set(self._workspace(token).unlocked)
        return {self._catalog.companies[index].record["id"] for index in indexes}

    def companies(self, token: str) -> list[Record]:
        """Every company the workspace behind `token` can search, as search items."""
        self._workspace(token)
        return [company.item() for company in self._catalog.companies]

    def matching(
        self, token: str, filters: Mapping[str, Any], *, exported: bool = False
    ) -> list[Record]:
        """What a search with `filters` matches, every page, in order; `Invalid` if bad.

        `exported`: as an export file holds them (with the export-only field).
        """
        self._workspace(token)
        companies = parse_filters(filters).select(self._catalog)
        return [company.row() if exported else company.item() for company in companies]

    def saved_list(self, list_id: str) -> list[str]:
        """The company ids of a saved list, as configured."""
        return list(self._lists[list_id.lower()])

    def export_rows(self, export_id: str) -> list[Record]:
        """The rows an export's file holds, in its order (file shape)."""
        with self._lock:
            companies = self._exports[export_id].companies
        return [company.row() for company in companies]

    def violations(self) -> int:
        """Requests sent while told to hold, over every token and endpoint."""
        return sum(limiter.violations for limiter in self._limiters.values())

    def limiter(self, token: str, endpoint: str) -> TokenBucketLimiter:
        """The bucket of `token` for `endpoint` (a key of `cornect_config.RATE_LIMITS`)."""
        return self._limiters[(token, endpoint)]

    def _workspace(self, token: str) -> Workspace:
        workspace_id = self._tokens[token].workspace_id
        if workspace_id is None:
            raise KeyError(f"{token} is bound to no workspace")
        return self._workspaces[workspace_id]

    # The emulator interface ----------------------------------------------------------------

    def error_reply(self, status: int, message: str) -> Reply:
        """An error without a documented code: FastAPI's plain `{"detail": message}`."""
        return Reply(status, {"detail": message})

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one API request; `path` is relative to `API_PREFIX`."""
        found = route(method, path)
        if isinstance(found, int):
            return self.error_reply(found, "Not Found" if found == 404 else "Method Not Allowed")
        endpoint, ident = found
        header = headers.get("authorization")
        token = self._tokens.get(bearer(header) or "")
        if token is None or token.state != "active":
            return unauthorized(header, token)
        limiter = self._limiters[(token.key, endpoint)]
        decision = limiter.decide()
        if not decision.allowed:
            retry_after = {"Retry-After": str(decision.retry_after)}
            return self.error_reply(429, "Rate limit exceeded.").with_headers(retry_after)
        if self.faults.take("rate_limit_storms"):
            limiter.refuse_admitted(seconds=1)
            return self.error_reply(429, "Rate limit exceeded.").with_headers({"Retry-After": "1"})
        if self.faults.take("server_errors"):
            return self.error_reply(503, "Service Unavailable")
        if self.faults.take("slow_responses"):
            # Slow only once admitted: a client that gave up was never told to hold.
            self._clock.sleep(self.faults.slow_seconds)
        workspace_id = str(token.workspace_id)
        if endpoint == "search":
            return self._search(body)
        if endpoint == "detail":
            company = self._catalog.by_id.get(ident.lower())
            if company is None:
                return self.error_reply(404, "Company not found")
            return Reply(200, company.item())
        if endpoint == "credits":
            return self._credits(workspace_id)
        if endpoint == "create":
            return self._create(token, body)
        if endpoint == "status":
            return self._status(workspace_id, ident)
        return self._download(workspace_id, ident)

    def file(self, name: str) -> StoredFile | None:
        """An export's file, rendered on its first download (or completed status read)."""
        with self._lock:
            export = self._files.get(name)
        return None if export is None else self._render(export)

    # Internals -------------------------------------------------------------------------------

    def _search(self, body: bytes) -> Reply:
        with self._lock:
            self._search_calls += 1
        try:
            filters, cursor = parse_search(body)
        except Invalid as exc:
            return Reply(422, {"detail": exc.errors})
        offset = 0
        if cursor is not None:
            try:
                offset = decode_cursor(cursor, filters)
            except ValueError as exc:
                return coded(400, "INVALID_CURSOR", str(exc))
        matches = filters.select(self._catalog)
        end = offset + PAGE_SIZE
        return Reply(
            200,
            {
                "items": [company.item() for company in matches[offset:end]],
                "total": len(matches),
                "aggregations": facets(matches),
                "next_cursor": encode_cursor(end, filters) if end < len(matches) else None,
            },
        )

    def _credits(self, workspace_id: str) -> Reply:
        with self._lock:
            return Reply(200, self._workspaces[workspace_id].view())

    def _create(self, token: CornectToken, body: bytes) -> Reply:
        if token.scope != "read_write":
            scope = {"token_scope": token.scope, "required": "read_write"}
            message = "This endpoint requires a read_write token."
            return coded(403, "INSUFFICIENT_SCOPE", message, scope)
        try:
            request = parse_export(body)
        except Invalid as exc:
            return Reply(422, {"detail": exc.errors})
        if request.source_type == "list":
            ids = self._lists.get(str(request.list_id).lower())
            if ids is None:
                message = f"No saved list {request.list_id} in this workspace."
                return coded(404, "LIST_NOT_FOUND", message)
            by_id = self._catalog.by_id
            found = [by_id[key.lower()] for key in ids if key.lower() in by_id]
            candidates = list({company.index: company for company in found}.values())
        else:
            candidates = request.filters.select(self._catalog)
        if not candidates:
            return coded(400, "no_candidates", "No companies match the export criteria.")
        ordered = sort_companies(candidates, request.sort_by, request.sort_order)
        chosen = ordered[: self.config.cap]
        export_id, now = str(uuid.uuid4()), self._clock.now()
        with self._lock:
            workspace = self._workspaces[str(token.workspace_id)]
            partial = self.config.short_balance == "partial"
            try:
                charge = workspace.charge(chosen, partial=partial, export_id=export_id, at=now)
            except ShortBalance as short:
                amounts = {"required": short.required, "balance": short.balance}
                return coded(402, "insufficient_balance", str(short), amounts)
            self._new_export(export_id, workspace.workspace_id, request, charge.kept, now)
            self._created.append((export_id, orjson.loads(body), charge.charged))
        if self.faults.take("ghost_creates"):
            return self.error_reply(503, "Service Unavailable")
        return created(export_id, request, charge, capped=len(ordered) > self.config.cap)

    def _new_export(
        self,
        export_id: str,
        workspace_id: str,
        request: ExportRequest,
        companies: list[Company],
        created_at: datetime,
    ) -> Export:
        """Create and keep an export (the caller holds the lock)."""
        export = Export(
            export_id=export_id,
            workspace_id=workspace_id,
            name=request.name,
            export_format=request.export_format,
            source_type=request.source_type,
            companies=companies,
            created_at=created_at,
            started=self._clock.monotonic(),
            storage_name=file_name(export_id, request.export_format, gzipped=self.config.gzip),
            will_fail=self.faults.take("failed_exports"),
            stuck=self.faults.take("stuck_exports"),
        )
        self._exports[export_id] = export
        self._files[export.storage_name] = export
        return export

    def _status(self, workspace_id: str, export_id: str) -> Reply:
        with self._lock:
            export = self._exports.get(export_id.lower())
        if export is None or export.workspace_id != workspace_id:
            return self.error_reply(404, "Export not found")
        now = self._clock.monotonic()
        if export.status(now, self.config.timing) != "completed":
            return Reply(200, export.view(now, self.config.timing, size=None))
        size = len(self._render(export).content)
        return Reply(200, export.view(now, self.config.timing, size=size))

    def _download(self, workspace_id: str, export_id: str) -> Reply:
        with self._lock:
            export = self._exports.get(export_id.lower())
        if export is None or export.workspace_id != workspace_id:
            return self.error_reply(404, "Export not found")
        status = export.status(self._clock.monotonic(), self.config.timing)
        if status != "completed":
            return coded(400, "EXPORT_NOT_READY", f"Export is {status}, not completed.")
        ttl = self.config.timing.url_ttl_seconds
        url = self._sign_url(
            export.storage_name, ttl_seconds=ttl, born_expired=self.faults.take("expired_urls")
        )
        expires_at = utc_text(self._clock.now() + timedelta(seconds=ttl))
        return Reply(200, {"download_url": url, "expires_at": expires_at})

    def _render(self, export: Export) -> StoredFile:
        """An export's file, rendered once (outside the lock: it may take a while)."""
        with self._lock:
            if export.file is not None:
                return export.file
        rows = [company.row() for company in export.companies]
        rendered = render(
            rows,
            export.export_format,
            json_layout=self.config.json_layout,
            gzipped=self.config.gzip,
        )
        with self._lock:  # two first renderings may race: the first one stays
            if export.file is None:
                export.file = rendered
            return export.file
