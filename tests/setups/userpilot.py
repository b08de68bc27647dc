"""Userpilot as the tests set it up: rows without ids, several files per job, four formats."""

from __future__ import annotations

from collections import Counter
from typing import Any

from tap_exports.engine.timestamps import parse_utc
from tap_exports.sandbox import (
    USERPILOT_DEMO_TOKEN,
    USERPILOT_NO_EXPORT_TOKEN,
    Faults,
    Sandbox,
    SandboxConfig,
    UserpilotConfig,
    UserpilotData,
    UserpilotEnvironment,
    UserpilotTiming,
)
from tap_exports.sandbox.userpilot.data import EXTRA_FIELD
from tests.builders import multiset

TOKEN = USERPILOT_DEMO_TOKEN
START, END = "2025-03-01T00:00:00Z", "2025-03-06T00:00:00Z"
DATA = UserpilotData(days=6, events_per_day=20)


def sandbox_config(faults: Faults | None = None, **userpilot: Any) -> SandboxConfig:
    values: dict[str, Any] = {
        "environments": [
            UserpilotEnvironment(api_key=TOKEN, data=DATA),
            UserpilotEnvironment(
                api_key=USERPILOT_NO_EXPORT_TOKEN, app_token="NX-GROWTH01", export_addon=False
            ),
        ],
        "timing": UserpilotTiming(processing_seconds=0.05),
        "rows_per_part": 15,
        "rate_limit": 400,
        "rate_period_seconds": 1.0,
    }
    values.update(userpilot)
    return SandboxConfig(
        provider="userpilot", userpilot=UserpilotConfig(**values), faults=faults or Faults()
    )


def tap_config(sandbox: Sandbox, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "provider": "userpilot",
        "api_key": TOKEN,
        "api_url": sandbox.api_url,
        "start_date": START,
        "end_date": END,
        "window_days": 2,
        "poll_interval_seconds": 0.02,
        "rate_limit_period_seconds": 1.0,
        "api_rate_limit": 200,
        "export_retry_cooldown_seconds": 0.02,
    }
    config.update(overrides)
    return config


def truth(sandbox: Sandbox, start: str = START, end: str = END) -> list[dict[str, Any]]:
    """The sandbox's rows in [start, end), with the field no schema declares where they have
    it (`undeclared_fields: evolve` declares it on the way)."""
    lower, upper = parse_utc(start), parse_utc(end)
    rows = []
    for row in sandbox.emulator.dataset(TOKEN):
        if lower <= parse_utc(row["inserted_at"]) < upper:
            rows.append(dict(row))
    return rows


def keyless_multiset(
    rows: list[dict[str, Any]], *, empty_is_null: bool = False, typed: bool = False
) -> Counter[bytes]:
    """Rows as a multiset, the row key left out.

    CSV cannot tell "" from null; Parquet and Avro store instants, not text (rendered
    without a zero fraction). The undeclared field absent or null is the same.
    """
    kept_rows = []
    for row in rows:
        # The undeclared field is a column of every row in CSV, Parquet and Avro: a row
        # without it there holds null, as absent is in NDJSON.
        kept = {
            name: value
            for name, value in row.items()
            if name != "_row_key" and not (name == EXTRA_FIELD and value is None)
        }
        if empty_is_null:
            kept = {name: None if value == "" else value for name, value in kept.items()}
        if typed:
            kept["inserted_at"] = parse_utc(kept["inserted_at"]).isoformat()
        kept_rows.append(kept)
    return multiset(kept_rows)
