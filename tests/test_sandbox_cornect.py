"""The Cornect sandbox as a product: it must behave like Cornect's documented API.

Over real HTTP, with a few hundred companies, exports that finish in a few hundredths of
a second and rate budgets per second instead of per minute.
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from tap_exports.sandbox import (
    CORNECT_DEMO_LIST,
    CORNECT_DEMO_TOKEN,
    CORNECT_EMPTY_LIST,
    CORNECT_EXPIRED_TOKEN,
    CORNECT_LEGACY_TOKEN,
    CORNECT_READ_TOKEN,
    CORNECT_REMOVED_TOKEN,
    CornectConfig,
    CornectData,
    CornectTiming,
    CornectToken,
    Faults,
    Sandbox,
    SandboxConfig,
)
from tap_exports.sandbox.cornect.config import default_tokens
from tap_exports.sandbox.cornect.data import FIELDS, generate
from tap_exports.sandbox.cornect.emulator import CornectEmulator
from tap_exports.sandbox.cornect.requests import Invalid
from tap_exports.sandbox.registry import SANDBOXES
from tap_exports.sandbox.tokenbucket import TokenBucketLimiter
from tests.fakes import ManualClock

TOKEN = CORNECT_DEMO_TOKEN
OTHER_TOKEN = "cornect_other_workspace"
REVOKED_TOKEN = "cornect_revoked"
SCORE = "data_quality_score"
FAST = CornectTiming(pending_seconds=0.02, processing_seconds=0.05)


def config(faults: Faults | None = None, **cornect: Any) -> SandboxConfig:
    values: dict[str, Any] = {
        "tokens": [
            *default_tokens(),
            CornectToken(OTHER_TOKEN, workspace_id=str(uuid.UUID(int=7))),
            CornectToken(REVOKED_TOKEN, state="revoked"),
        ],
        "data": CornectData(companies=300, employee_count_null_share=0.1,
                            founded_year_null_share=0.1),
        "timing": FAST,
        "rate_period_seconds": 1.0,
    }  # fmt: skip
    values.update(cornect)
    return SandboxConfig(
        provider="cornect", cornect=CornectConfig(**values), faults=faults or Faults()
    )


@pytest.fixture
def cornect() -> Iterator[Sandbox]:
    """The sandbox on a manual clock: a client's waits move it, nobody sleeps for real."""
    with Sandbox(config(), clock=ManualClock()) as running:
        yield running


def emulator(sandbox: Sandbox) -> CornectEmulator:
    assert isinstance(sandbox.emulator, CornectEmulator)
    return sandbox.emulator


class CornectClient:
    """A Cornect client as simple as a test can make it; it waits out a 429 as told.

    It waits on the sandbox's clock: on a manual one, waiting is advancing it.
    """

    def __init__(self, sandbox: Sandbox, token: str = TOKEN) -> None:
        self.api = sandbox.api_url
        self.clock = sandbox.clock
        self.last_url = ""
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        for _ in range(5):
            answer = self.session.request(method, self.api + path, json=body)
            if answer.status_code != 429:
                return answer
            self.clock.sleep(int(answer.headers["Retry-After"]))
        raise AssertionError("still rate limited")

    def search(self, body: dict[str, Any]) -> requests.Response:
        return self.call("POST", "/companies/search", body)

    def every_page(self, filters: dict[str, Any]) -> tuple[list[dict[str, Any]], int]:
        items: list[dict[str, Any]] = []
        page = self.search(filters).json()
        while True:
            items += page["items"]
            if page["next_cursor"] is None:
                return items, page["total"]
            assert len(page["items"]) == 25
            page = self.search({**filters, "cursor": page["next_cursor"]}).json()

    def create(self, body: dict[str, Any]) -> requests.Response:
        return self.call("POST", "/exports", body)

    def status(self, export_id: str) -> requests.Response:
        return self.call("GET", f"/exports/{export_id}")

    def finished(self, export_id: str) -> dict[str, Any]:
        for _ in range(200):
            body = self.status(export_id).json()
            if body["status"] in ("completed", "failed"):
                return body
            self.clock.sleep(0.02)
        raise AssertionError("the export never finished")

    def export(self, body: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        created = self.create({"name": "test", **body})
        assert created.status_code == 201, created.text
        export_id = created.json()["export_job"]["id"]
        assert self.finished(export_id)["status"] == "completed"
        url = self.call("POST", f"/exports/{export_id}/download").json()["download_url"]
        self.last_url = url
        return created.json(), requests.get(url).content


def code(answer: requests.Response) -> str:
    detail = answer.json()["detail"]
    assert set(detail) <= {"code", "message", "details"} and detail["message"]
    return str(detail["code"])


def exported_rows(content: bytes, export_format: str) -> list[dict[str, Any]]:
    """A file's rows, with what CSV writes as text read back into types."""
    data = gzip.decompress(content) if content[:2] == b"\x1f\x8b" else content
    if export_format == "json":
        if data.startswith(b"["):
            return list(json.loads(data))
        return [json.loads(line) for line in data.splitlines()]
    rows = []
    for cells in csv.DictReader(io.StringIO(data.decode(), newline="")):
        row: dict[str, Any] = {key: value or None for key, value in cells.items()}
        for key in ("employee_count", "founded_year"):
            row[key] = None if row[key] is None else int(row[key])
        row[SCORE] = float(row[SCORE])
        row["technologies"] = json.loads(row["technologies"])
        row["connections"] = json.loads(row["connections"])
        rows.append(row)
    return rows


# Auth, routing, errors -----------------------------------------------------------------


def test_every_auth_failure_is_401_with_its_documented_code(cornect: Sandbox):
    url = cornect.api_url + "/credits"
    cases = {
        None: "MISSING_AUTH_HEADER",
        f"Token {TOKEN}": "INVALID_TOKEN_FORMAT",
        "Bearer sk_live_123": "INVALID_TOKEN_FORMAT",
        "Bearer cornect_nobody": "INVALID_TOKEN",
        f"Bearer {REVOKED_TOKEN}": "INVALID_TOKEN",
        f"Bearer {CORNECT_EXPIRED_TOKEN}": "TOKEN_EXPIRED",
        f"Bearer {CORNECT_LEGACY_TOKEN}": "TOKEN_NOT_WORKSPACE_BOUND",
        f"Bearer {CORNECT_REMOVED_TOKEN}": "NOT_WORKSPACE_MEMBER",
    }
    for header, expected in cases.items():
        answer = requests.get(url, headers={} if header is None else {"Authorization": header})
        assert (answer.status_code, code(answer)) == (401, expected), header
    assert requests.get(url, headers={"Authorization": f"bearer {TOKEN}"}).status_code == 200


def test_unknown_paths_are_404_and_wrong_methods_405_before_auth(cornect: Sandbox):
    assert requests.get(cornect.api_url + "/nope").json() == {"detail": "Not Found"}
    assert requests.get(cornect.api_url + "/exports").status_code == 405
    assert requests.get(f"{cornect.api_url}/../v2/credits").status_code == 404


# Search ----------------------------------------------------------------------------------


def test_search_pages_through_a_cursor_covering_exactly_the_total(cornect: Sandbox):
    filters = {"countries": ["United States", "canada"]}
    items, total = CornectClient(cornect).every_page(filters)
    expected = emulator(cornect).matching(TOKEN, filters)
    assert items == expected and len(items) == total > 50
    assert all(list(item) == list(FIELDS) for item in items)  # no data_quality_score
    first = CornectClient(cornect).search(filters).json()
    cursor = first["next_cursor"]
    assert json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))["offset"] == 25
    assert sum(first["aggregations"]["countries"].values()) == total
    assert set(first["aggregations"]["countries"]) == {"United States", "Canada"}
    assert sum(first["aggregations"]["industries"].values()) == total
    assert emulator(cornect).search_calls == -(-total // 25) + 1  # every page, then page 1


def test_a_cursor_with_other_filters_or_garbled_is_400_invalid_cursor(cornect: Sandbox):
    client = CornectClient(cornect)
    cursor = client.search({"countries": ["Germany", "United States"]}).json()["next_cursor"]
    for body in ({"countries": ["France"], "cursor": cursor}, {"cursor": "not-a-cursor"}):
        answer = client.search(body)
        assert (answer.status_code, code(answer)) == (400, "INVALID_CURSOR")


def test_filters_match_as_documented_and_nulls_never_match(cornect: Sandbox):
    companies = emulator(cornect).companies(TOKEN)
    match = emulator(cornect).matching

    def where(keep: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        return [company for company in companies if keep(company)]

    def text(company: dict[str, Any]) -> str:
        return f"{company['name']}\n{company['description']}".lower()

    assert match(TOKEN, {"countries": ["US"]}) == []  # full names only
    london = match(TOKEN, {"cities": ["London"]})
    assert {c["country"] for c in london} == {"United Kingdom", "Canada"}
    assert match(TOKEN, {"cities": ["london"], "countries": ["Canada"]}) == where(
        lambda c: c["city"] == "London" and c["country"] == "Canada"
    )
    assert match(TOKEN, {"states": ["ONTARIO"]}) == where(lambda c: c["state"] == "Ontario")
    assert match(TOKEN, {"states": [""]}) == [] and any(c["state"] is None for c in companies)
    assert match(TOKEN, {"industries": ["software"], "exclude_industries": []}) == where(
        lambda c: c["industry"] == "Software"
    )
    assert match(TOKEN, {"exclude_industries": ["Software", "Retail"]}) == where(
        lambda c: c["industry"] not in ("Software", "Retail")
    )
    assert match(TOKEN, {"naics_codes": ["541511"]}) == where(lambda c: c["naics_code"] == "541511")
    assert match(TOKEN, {"technologies": ["aws", "Stripe"]}) == where(
        lambda c: bool({"AWS", "Stripe"} & set(c["technologies"]))
    )
    assert match(TOKEN, {"technology_categories": ["CRM"]}) == where(
        lambda c: bool({"Salesforce", "HubSpot"} & set(c["technologies"]))
    )
    sized = match(TOKEN, {"employee_count_min": 50, "employee_count_max": 5000})
    assert sized == where(lambda c: 50 <= (c["employee_count"] or -1) <= 5000)
    assert any(c["employee_count"] is None for c in companies)
    assert len(match(TOKEN, {"employee_count_min": 0})) == len(
        where(lambda c: c["employee_count"] is not None)
    )
    assert any(c["founded_year"] is None for c in companies)
    assert match(TOKEN, {"founded_year_max": 2025}) == where(
        lambda c: c["founded_year"] is not None
    )
    assert match(TOKEN, {"query": "ACME"}) == where(lambda c: "acme" in text(c))
    assert match(TOKEN, {"keywords": ["cloud  security", "banks"]}) == where(
        lambda c: "cloud security" in text(c) or "banks" in text(c)
    )
    assert match(TOKEN, {"keywords": ["bank"]}) == []  # whole words: "banks" is no "bank"
    assert match(TOKEN, {"keywords": ["BANKS"]}) == where(lambda c: "banks" in text(c)) != []
    assert match(TOKEN, {"exclude_keywords": ["hospitals"]}) == where(
        lambda c: "hospitals" not in text(c)
    )
    vendor = {"category": "vendor", "connected_domain": "Stripe.com"}
    assert match(TOKEN, {"connections": [vendor]}) == where(
        lambda c: {"category": "vendor", "connected_domain": "stripe.com"} in c["connections"]
    )
    ids = {company["domain"]: company["id"] for company in companies}
    domain = next(
        link["connected_domain"]
        for company in companies
        for link in company["connections"]
        if link["connected_domain"] in ids
    )
    linked = match(TOKEN, {"connections": [{"connected_company_id": ids[domain]}]})
    assert linked and linked == where(
        lambda c: domain in [link["connected_domain"] for link in c["connections"]]
    )
    assert len(match(TOKEN, {})) == len(companies) == 300
    answer = CornectClient(cornect).search({"countries": ["Germany"], "employee_count_min": 10})
    assert answer.json()["total"] == len(
        match(TOKEN, {"countries": ["Germany"], "employee_count_min": 10})
    )


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({"countries": "Germany"}, ["body", "countries"], "list_type"),
        ({"technologies": ["AWS", 1]}, ["body", "technologies", 1], "string_type"),
        ({"employee_count_min": "5"}, ["body", "employee_count_min"], "int_type"),
        ({"founded_year_max": True}, ["body", "founded_year_max"], "int_type"),
        ({"country": ["Germany"]}, ["body", "country"], "extra_forbidden"),
        ({"connections": [{"category": "friend"}]}, ["body", "connections", 0, "category"],
         "literal_error"),
        ({"connections": [{"domain": "x.com"}]}, ["body", "connections", 0, "domain"],
         "extra_forbidden"),
        ({"query": 5}, ["body", "query"], "string_type"),
        ({"cursor": 25}, ["body", "cursor"], "string_type"),
    ],
)  # fmt: skip
def test_invalid_search_bodies_are_422_with_fastapi_detail_arrays(cornect, body, loc, kind):
    answer = CornectClient(cornect).search(body)
    assert answer.status_code == 422
    (error,) = answer.json()["detail"]
    assert (error["loc"], error["type"]) == (loc, kind) and error["msg"]


@pytest.mark.parametrize(
    ("body", "locs"),
    [
        ({}, [["body", "name"]]),
        ({"name": "x", "search_filters": {"countries": "x"}, "export_format": "xml"},
         [["body", "export_format"], ["body", "search_filters", "countries"]]),
        ({"name": "x", "sort_by": "revenue", "sort_order": "up"},
         [["body", "sort_by"], ["body", "sort_order"]]),
        ({"name": "x", "source_type": "list"}, [["body", "list_id"]]),
        ({"name": "x", "search_filters": []}, [["body", "search_filters"]]),
        ({"name": "x", "limit": 5}, [["body", "limit"]]),
    ],
)  # fmt: skip
def test_invalid_create_bodies_are_422_listing_every_error(cornect: Sandbox, body, locs):
    answer = CornectClient(cornect).create(body)
    assert answer.status_code == 422
    assert sorted(error["loc"] for error in answer.json()["detail"]) == sorted(locs)
    assert emulator(cornect).created == [] and emulator(cornect).balance(TOKEN) == 100_000


def test_bodies_that_are_not_json_objects_are_422(cornect: Sandbox):
    client = CornectClient(cornect)
    for data, kind in ((b"{", "json_invalid"), (b"[1]", "model_attributes_type")):
        answer = client.session.post(cornect.api_url + "/companies/search", data=data)
        assert answer.status_code == 422 and answer.json()["detail"][0]["type"] == kind


def test_company_detail_is_the_search_item_or_404(cornect: Sandbox):
    first = emulator(cornect).companies(TOKEN)[0]
    assert CornectClient(cornect).call("GET", f"/companies/{first['id']}").json() == first
    missing = CornectClient(cornect).call("GET", f"/companies/{uuid.uuid4()}")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Company not found"})


# Exports and files -----------------------------------------------------------------------


def test_create_poll_download_csv_holds_exactly_the_matching_companies():
    timing = CornectTiming(pending_seconds=0.05, processing_seconds=0.15)
    clock = ManualClock()
    with Sandbox(config(timing=timing), clock=clock) as sandbox:
        client = CornectClient(sandbox)
        created = client.create({"name": "All of them"})
        assert created.status_code == 201
        job = created.json()["export_job"]
        assert job["status"] == "pending" and uuid.UUID(job["id"])
        assert (job["name"], job["export_format"], job["source_type"]) == (
            "All of them", "csv", "search",
        )  # fmt: skip
        seen: list[str] = []
        for _ in range(100):
            status = client.status(job["id"]).json()
            if not seen or seen[-1] != status["status"]:
                seen.append(status["status"])
            if status["status"] == "completed":
                break
            assert status["file_size_bytes"] is None and status["completed_at"] is None
            clock.sleep(0.01)
        assert seen == ["pending", "processing", "completed"]
        assert status["total_records"] == status["processed_records"] == 300
        assert "error_message" not in status
        answer = client.call("POST", f"/exports/{job['id']}/download").json()
        assert set(answer) == {"download_url", "expires_at"} and answer["expires_at"].endswith("Z")
        assert urlsplit(answer["download_url"]).path.endswith(f"/{job['id']}/companies.csv")
        content = requests.get(answer["download_url"]).content
        assert len(content) == status["file_size_bytes"]
        rows = exported_rows(content, "csv")
        expected = emulator(sandbox).export_rows(job["id"])
        assert rows == expected
        assert [{k: v for k, v in row.items() if k != SCORE} for row in rows] == emulator(
            sandbox
        ).matching(TOKEN, {})
        names = [row["name"] for row in rows]
        assert any("\n" in name for name in names) and any('"' in name for name in names)
        assert content.startswith(b"id,name,domain,") and b"\r\n" in content
        again = client.call("POST", f"/exports/{job['id']}/download").json()["download_url"]
        assert again != answer["download_url"] and requests.get(again).content == content
        assert requests.get(again, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 400


@pytest.mark.parametrize(
    ("export_format", "layout", "zipped", "suffix"),
    [
        ("json", "array", False, "companies.json"),
        ("json", "ndjson", False, "companies.json"),
        ("json", "array", True, "companies.json.gz"),
        ("csv", "array", True, "companies.csv.gz"),
    ],
)
def test_json_layouts_and_gzip_decode_to_the_same_rows(export_format, layout, zipped, suffix):
    with Sandbox(config(json_layout=layout, gzip=zipped), clock=ManualClock()) as sandbox:
        client = CornectClient(sandbox)
        filters = {"industries": ["Software", "Healthcare"]}
        body = {"search_filters": filters, "export_format": export_format}
        created, content = client.export(body)
        assert (content[:2] == b"\x1f\x8b") is zipped
        plain = gzip.decompress(content) if zipped else content
        assert plain.startswith(b"[") is (export_format == "json" and layout == "array")
        rows = exported_rows(content, export_format)
        assert rows == emulator(sandbox).export_rows(created["export_job"]["id"])
        matching = emulator(sandbox).matching(TOKEN, filters)
        assert [row["id"] for row in rows] == [company["id"] for company in matching]
        assert all(isinstance(row[SCORE], float) for row in rows)
        export_id = created["export_job"]["id"]
        assert urlsplit(client.last_url).path == f"/exports/{export_id}/{suffix}"


def test_sort_by_orders_the_file_with_nulls_last(cornect: Sandbox):
    _, content = CornectClient(cornect).export(
        {"sort_by": "employee_count", "sort_order": "desc", "export_format": "json"}
    )
    counts = [row["employee_count"] for row in exported_rows(content, "json")]
    known = [count for count in counts if count is not None]
    assert known == sorted(known, reverse=True) and counts[len(known) :] == [None] * (
        len(counts) - len(known)
    )


def test_credits_already_unlocked_are_free_and_the_ledger_records_charges(cornect: Sandbox):
    client = CornectClient(cornect)
    unlocked_before = emulator(cornect).unlocked(TOKEN)
    filters = {"countries": ["Germany", "France"]}
    matching = [c["id"] for c in emulator(cornect).matching(TOKEN, filters)]
    already = len(set(matching) & unlocked_before)
    assert 0 < already < len(matching)
    first, _ = client.export({"search_filters": filters})
    assert {key: first[key] for key in first if key not in ("export_job", "transaction_id")} == {
        "requested_count": len(matching), "already_unlocked": already,
        "new_count": len(matching) - already, "cost": len(matching) - already,
        "credits_charged": len(matching) - already, "would_skip": 0, "capped_at_10k": False,
    }  # fmt: skip
    assert emulator(cornect).balance(TOKEN) == 100_000 - first["credits_charged"]
    assert emulator(cornect).unlocked(TOKEN) == unlocked_before | set(matching)
    second, _ = client.export({"search_filters": filters, "export_format": "json"})
    assert (second["already_unlocked"], second["new_count"], second["credits_charged"]) == (
        len(matching), 0, 0,
    )  # fmt: skip
    assert second["transaction_id"] is None
    credits = client.call("GET", "/credits").json()
    assert credits["balance"] == 100_000 - first["credits_charged"]
    (charge,) = credits["recent_transactions"]
    assert charge["id"] == first["transaction_id"] and charge["amount"] == -first["cost"]
    assert charge["reason"] == "export_charge" and charge["created_at"].endswith("Z")
    assert charge["reference"] == f"export:{first['export_job']['id']}:create"
    assert [entry[2] for entry in emulator(cornect).created] == [first["cost"], 0]


def test_the_cap_cuts_an_export_and_says_so():
    data = CornectData(companies=200, same_size_share=0.3)
    with Sandbox(config(data=data, cap=12), clock=ManualClock()) as sandbox:
        filters = {"employee_count_min": 50, "employee_count_max": 50}
        matching = emulator(sandbox).matching(TOKEN, filters)
        assert len(matching) > 12
        created, content = CornectClient(sandbox).export({"search_filters": filters})
        assert created["capped_at_10k"] is True and created["requested_count"] == 12
        rows = exported_rows(content, "csv")
        assert [row["id"] for row in rows] == [c["id"] for c in matching[:12]]


def test_a_short_balance_is_402_and_creates_nothing_by_default():
    with Sandbox(config(balance=5)) as sandbox:
        answer = CornectClient(sandbox).create({"name": "too big"})
        assert (answer.status_code, code(answer)) == (402, "insufficient_balance")
        needed = 300 - len(emulator(sandbox).unlocked(TOKEN))
        assert answer.json()["detail"]["details"] == {"required": needed, "balance": 5}
        assert emulator(sandbox).created == [] and emulator(sandbox).balance(TOKEN) == 5


def test_partial_mode_charges_the_balance_and_skips_the_rest():
    with Sandbox(config(balance=5, short_balance="partial"), clock=ManualClock()) as sandbox:
        client = CornectClient(sandbox)
        unlocked = emulator(sandbox).unlocked(TOKEN)
        filters = {"countries": ["United States"]}
        matching = [c["id"] for c in emulator(sandbox).matching(TOKEN, filters)]
        new = [company_id for company_id in matching if company_id not in unlocked]
        created, content = client.export({"search_filters": filters})
        assert (created["new_count"], created["credits_charged"]) == (len(new), 5)
        assert created["would_skip"] == len(new) - 5 > 0
        kept = [row["id"] for row in exported_rows(content, "csv")]
        assert kept == [c for c in matching if c in unlocked or c in new[:5]]
        assert emulator(sandbox).balance(TOKEN) == 0
        broke, _ = client.export({"search_filters": {"countries": ["Japan"]}})
        assert broke["credits_charged"] == 0 and broke["transaction_id"] is None
        assert broke["would_skip"] == broke["new_count"]


def test_no_matching_companies_is_400_no_candidates(cornect: Sandbox):
    answer = CornectClient(cornect).create({"name": "x", "search_filters": {"countries": ["US"]}})
    assert (answer.status_code, code(answer)) == (400, "no_candidates")


def test_a_read_token_reads_but_cannot_create(cornect: Sandbox):
    reader = CornectClient(cornect, CORNECT_READ_TOKEN)
    refused = reader.create({"name": "x"})
    assert refused.status_code == 403
    assert refused.json() == {
        "detail": {
            "code": "INSUFFICIENT_SCOPE",
            "message": "This endpoint requires a read_write token.",
            "details": {"token_scope": "read", "required": "read_write"},
        }
    }
    created, _ = CornectClient(cornect).export({"search_filters": {"countries": ["France"]}})
    export_id = created["export_job"]["id"]
    assert reader.status(export_id).json()["status"] == "completed"
    assert reader.call("POST", f"/exports/{export_id}/download").status_code == 200
    assert reader.call("GET", "/credits").json()["balance"] == emulator(cornect).balance(TOKEN)
    assert reader.search({}).status_code == 200


def test_saved_lists_export_their_companies_and_unknown_lists_are_404(cornect: Sandbox):
    client = CornectClient(cornect)
    members = emulator(cornect).saved_list(CORNECT_DEMO_LIST)
    assert len(members) == 40
    created, content = client.export({"source_type": "list", "list_id": CORNECT_DEMO_LIST})
    assert created["export_job"]["source_type"] == "list"
    assert [row["id"] for row in exported_rows(content, "csv")] == members
    empty = client.create({"name": "x", "source_type": "list", "list_id": CORNECT_EMPTY_LIST})
    assert (empty.status_code, code(empty)) == (400, "no_candidates")
    unknown = client.create({"name": "x", "source_type": "list", "list_id": str(uuid.uuid4())})
    assert (unknown.status_code, code(unknown)) == (404, "LIST_NOT_FOUND")


def test_download_before_completion_is_400_and_unknown_exports_404():
    with Sandbox(config(timing=CornectTiming(pending_seconds=5))) as sandbox:
        client = CornectClient(sandbox)
        export_id = client.create({"name": "slow"}).json()["export_job"]["id"]
        early = client.call("POST", f"/exports/{export_id}/download")
        assert (early.status_code, code(early)) == (400, "EXPORT_NOT_READY")
        assert early.json()["detail"]["message"] == "Export is pending, not completed."
        for other in (CornectClient(sandbox, OTHER_TOKEN), client):
            path = export_id if other is not client else str(uuid.uuid4())
            for answer in (other.status(path), other.call("POST", f"/exports/{path}/download")):
                assert (answer.status_code, answer.json()) == (404, {"detail": "Export not found"})


def test_an_expired_url_is_403_from_storage_and_a_fresh_one_works():
    with Sandbox(config(Faults(expired_urls=1)), clock=ManualClock()) as sandbox:
        client = CornectClient(sandbox)
        export_id = client.create({"name": "x"}).json()["export_job"]["id"]
        client.finished(export_id)
        stale = client.call("POST", f"/exports/{export_id}/download").json()["download_url"]
        expired = requests.get(stale)
        assert expired.status_code == 403 and "<Code>AccessDenied</Code>" in expired.text
        fresh = client.call("POST", f"/exports/{export_id}/download").json()["download_url"]
        assert requests.get(fresh).status_code == 200


def test_a_ghost_create_is_charged_behind_a_503():
    with Sandbox(config(Faults(ghost_creates=1)), clock=ManualClock()) as sandbox:
        client = CornectClient(sandbox)
        ghost = client.create({"name": "ghost", "search_filters": {"countries": ["Germany"]}})
        assert (ghost.status_code, ghost.json()) == (503, {"detail": "Service Unavailable"})
        ((export_id, body, charged),) = emulator(sandbox).created
        assert body["name"] == "ghost" and charged > 0
        assert emulator(sandbox).balance(TOKEN) == 100_000 - charged
        assert client.finished(export_id)["status"] == "completed"
        (entry,) = client.call("GET", "/credits").json()["recent_transactions"]
        assert entry["reference"] == f"export:{export_id}:create"


def test_a_failed_export_keeps_its_charge_and_its_companies_stay_unlocked():
    with Sandbox(config(Faults(failed_exports=1)), clock=ManualClock()) as sandbox:
        client = CornectClient(sandbox)
        body = {"name": "x", "search_filters": {"countries": ["Germany"]}}
        created = client.create(body).json()
        status = client.finished(created["export_job"]["id"])
        assert status["status"] == "failed" and status["error_message"]
        assert status["file_size_bytes"] is None and status["completed_at"] is None
        refused = client.call("POST", f"/exports/{created['export_job']['id']}/download")
        assert (refused.status_code, code(refused)) == (400, "EXPORT_NOT_READY")
        assert emulator(sandbox).balance(TOKEN) == 100_000 - created["credits_charged"] < 100_000
        retry = client.create(body).json()
        assert (
            retry["credits_charged"] == 0 and retry["already_unlocked"] == retry["requested_count"]
        )


def test_a_stuck_export_stays_processing():
    clock = ManualClock()
    with Sandbox(config(Faults(stuck_exports=1)), clock=clock) as sandbox:
        client = CornectClient(sandbox)
        export_id = client.create({"name": "x"}).json()["export_job"]["id"]
        clock.sleep(0.15)
        status = client.status(export_id).json()
        assert status["status"] == "processing" and status["processed_records"] < 300


def test_concurrent_creates_charge_each_company_once():
    with Sandbox(config(data=CornectData(companies=300, unlocked_share=0.0))) as sandbox:
        answers: list[requests.Response] = []
        body = {"name": "x", "search_filters": {"countries": ["Germany"]}}

        def create() -> None:
            answers.append(
                CornectClient(sandbox).session.post(sandbox.api_url + "/exports", json=body)
            )

        threads = [threading.Thread(target=create) for _ in range(5)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [answer.status_code for answer in answers] == [201] * 5
        germany = len(emulator(sandbox).matching(TOKEN, body["search_filters"]))
        assert sorted(a.json()["credits_charged"] for a in answers) == [0, 0, 0, 0, germany]
        assert emulator(sandbox).balance(TOKEN) == 100_000 - germany


# Rate limits -----------------------------------------------------------------------------


def test_the_bucket_refills_steadily_not_per_window():
    clock = ManualClock()
    bucket = TokenBucketLimiter(5, 1.0, clock=clock)
    assert all(bucket.decide().allowed for _ in range(5))
    refused = bucket.decide()
    assert (refused.allowed, refused.retry_after) == (False, 1)
    clock.sleep(0.25)  # a fifth of the period: one token back, not five
    assert bucket.decide().allowed and not bucket.decide().allowed
    # Both later requests came within the second the first refusal asked to hold.
    assert (bucket.refusals, bucket.violations) == (2, 2)


def test_over_the_limit_is_429_with_retry_after_and_a_patient_client_never_violates(
    cornect: Sandbox,
):
    session = CornectClient(cornect).session
    url = cornect.api_url + "/exports"
    answers = [session.post(url, json={}) for _ in range(6)]  # 422s still spend the budget
    refused = answers[-1]
    assert [a.status_code for a in answers] == [422] * 5 + [429]
    assert refused.json() == {"detail": "Rate limit exceeded."}
    assert refused.headers["Retry-After"] == "1"
    assert not any(name.lower().startswith("x-ratelimit") for name in refused.headers)
    cornect.clock.sleep(int(refused.headers["Retry-After"]))
    patient = [CornectClient(cornect).create({}) for _ in range(8)]  # waits out every 429
    assert all(answer.status_code == 422 for answer in patient)
    limiter = emulator(cornect).limiter(TOKEN, "create")
    assert limiter.refusals >= 2 and emulator(cornect).violations() == 0
    while session.post(url, json={}).status_code != 429:  # spend what refilled meanwhile
        pass
    assert session.post(url, json={}).status_code == 429
    assert emulator(cornect).violations() == 1  # the last one did not wait
    assert CornectClient(cornect).search({}).status_code == 200  # another endpoint, another bucket
    assert CornectClient(cornect, CORNECT_READ_TOKEN).create({}).status_code == 403  # another token


def test_api_faults_apply_storms_and_server_errors():
    clock = ManualClock()
    with Sandbox(config(Faults(rate_limit_storms=1, server_errors=1)), clock=clock) as sandbox:
        session = CornectClient(sandbox).session
        stormed = session.get(sandbox.api_url + "/credits")
        assert (stormed.status_code, stormed.headers["Retry-After"]) == (429, "1")
        clock.sleep(1)
        failed = session.get(sandbox.api_url + "/credits")
        assert (failed.status_code, failed.json()) == (503, {"detail": "Service Unavailable"})
        assert session.get(sandbox.api_url + "/credits").status_code == 200
        assert emulator(sandbox).violations() == 0


# Data, config, registry, command line ------------------------------------------------------


def test_companies_are_deterministic_and_carry_the_hard_cases():
    spec = CornectData(companies=2000, employee_count_null_share=0.05, same_size_share=0.1)
    first, again = generate(spec), generate(spec)
    rows = [company.row() for company in first.companies]
    assert rows == [company.row() for company in again.companies]
    assert rows[0] != generate(CornectData(companies=1, seed=1)).companies[0].row()
    assert len({row["id"] for row in rows}) == 2000 and all(uuid.UUID(r["id"]) for r in rows)
    hostile = [row for row in rows if "," in row["name"] or '"' in row["name"]]
    assert 0.02 < len(hostile) / 2000 < 0.09
    assert any("\n" in row["name"] for row in hostile)
    counts = [row["employee_count"] for row in rows]
    assert 0.03 < counts.count(None) / 2000 < 0.07 and counts.count(50) >= 180
    known = [count for count in counts if count is not None]
    assert min(known) >= 1 and max(known) > 50_000 and sorted(known)[len(known) // 2] < 2_000
    assert {row["country"] for row in rows} >= {"United States", "Germany", "United Kingdom"}
    assert all(row["state"] is None for row in rows if row["country"] == "Germany")
    assert all(re.fullmatch(r"\d{6}", row["naics_code"]) for row in rows)
    assert all(1900 <= row["founded_year"] <= 2025 for row in rows)
    assert all(row["created_at"] <= row["updated_at"] for row in rows)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row["created_at"]) for row in rows)
    assert any(row["connections"] for row in rows)
    started = time.perf_counter()
    big = generate(CornectData(companies=25_000))
    assert time.perf_counter() - started < 3.0  # about 0.2 s on a laptop
    assert len(big.companies) == 25_000


def test_obviously_bad_config_is_refused():
    for bad in (
        lambda: CornectConfig(cap=0),
        lambda: CornectConfig(balance=-1),
        lambda: CornectConfig(short_balance="maybe"),
        lambda: CornectConfig(json_layout="csv"),
        lambda: CornectConfig(rate_period_seconds=0),
        lambda: CornectData(unlocked_share=1.5),
        lambda: CornectData(employee_count_null_share=0.6, same_size_share=0.6),
        lambda: CornectTiming(url_ttl_seconds=0),
        lambda: CornectToken("sk_123"),
        lambda: CornectToken("cornect_x", scope="admin"),
        lambda: CornectConfig(tokens=[CornectToken("cornect_a"), CornectToken("cornect_a")]),
    ):
        with pytest.raises(ValueError):
            bad()

    def no_urls(file_name: str, *, ttl_seconds: int, born_expired: bool) -> str:
        raise AssertionError("nothing is signed here")

    plain = CornectEmulator(
        config=CornectConfig(), faults=Faults(), sign_url=no_urls, clock=ManualClock()
    )
    with pytest.raises(Invalid):
        plain.matching(TOKEN, {"countries": "x"})


def test_registry_builds_the_cornect_emulator_under_api_v1(cornect: Sandbox):
    assert "cornect" in SANDBOXES and isinstance(cornect.emulator, CornectEmulator)
    assert urlsplit(cornect.api_url).path == "/api/v1"


def test_command_line_serves_cornect():
    process = subprocess.Popen(
        [
            sys.executable, "-m", "tap_exports.sandbox", "--provider", "cornect",
            "--port", "0", "--download-port", "0", "--companies", "60", "--balance", "70",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        api_url = process.stdout.readline().split()[-1]
        assert urlsplit(api_url).path == "/api/v1"
        assert process.stdout.readline().split() == ["provider:", "cornect"]
        tokens = process.stdout.readline()
        assert TOKEN in tokens and CORNECT_READ_TOKEN in tokens
        data = process.stdout.readline().split()
        assert data == ["data:", "60", "companies,", "balance", "70", "credits"]
        headers = {"Authorization": f"Bearer {TOKEN}"}
        found = requests.post(api_url + "/companies/search", json={}, headers=headers, timeout=5)
        assert found.json()["total"] == 60
    finally:
        process.terminate()
        process.wait(timeout=10)
