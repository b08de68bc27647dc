"""Cornect as the tests set it up: a 300-company workspace, rate periods of one second."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tap_exports.sandbox import Faults, Sandbox, SandboxConfig
from tap_exports.sandbox.cornect.config import (
    CORNECT_DEMO_TOKEN,
    CornectConfig,
    CornectData,
    CornectTiming,
)
from tap_exports.sandbox.cornect.data import SCORE_FIELD

TOKEN = CORNECT_DEMO_TOKEN
GERMANY = {"countries": ["Germany"]}


def sandbox_config(faults: Faults | None = None, **cornect: Any) -> SandboxConfig:
    values: dict[str, Any] = {
        "data": CornectData(companies=300),
        "timing": CornectTiming(pending_seconds=0.01, processing_seconds=0.03),
        "rate_period_seconds": 1.0,
    }
    values.update(cornect)
    return SandboxConfig(
        provider="cornect", cornect=CornectConfig(**values), faults=faults or Faults()
    )


def tap_config(sandbox: Sandbox, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "provider": "cornect",
        "api_key": TOKEN,
        "api_url": sandbox.api_url,
        "search_filters": {},
        "max_credits": 100_000,
        "poll_interval_seconds": 0.02,
        "rate_limit_period_seconds": 1.0,
        "export_retry_cooldown_seconds": 0.02,
    }
    config.update(overrides)
    return config


def truth(
    sandbox: Sandbox, filters: dict[str, Any], export_format: str = "json"
) -> list[dict[str, Any]]:
    """The companies the sandbox matches, the export-only field included (declared on the
    way): text in a CSV export, whose cells carry no type the schema does not give."""
    rows = sandbox.emulator.matching(TOKEN, filters, exported=True)
    if export_format == "csv":
        for row in rows:
            row[SCORE_FIELD] = str(row[SCORE_FIELD])
    return rows


def by_id(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    counts = Counter(record["id"] for record in records)
    assert max(counts.values(), default=1) == 1, "a company was delivered twice"
    return {record["id"]: record for record in records}
