"""Cometly as the tests set it up: two weeks of New York data, rate periods of one second.

The sandbox runs the documented limits scaled from per-minute to per-second budgets and
finishes exports in a few hundredths of a second, so every test talks real HTTP over
loopback and the whole suite still takes a few minutes.
"""

from __future__ import annotations

from typing import Any

from tap_exports.engine.timestamps import parse_utc
from tap_exports.sandbox import DEMO_KEY, Limits, Sandbox, SandboxConfig, Timing

TOKEN = DEMO_KEY
STREAMS = ("companies", "contacts", "events")
REPLICATION_KEYS = {"companies": "created_at", "contacts": "created_at", "events": "event_time_utc"}
# Local midnight 2025-03-01 to local midnight 2025-03-15 in New York: the sandbox's data.
START = "2025-03-01T05:00:00Z"
END = "2025-03-15T04:00:00Z"


def fast_timing() -> Timing:
    return Timing(queued_seconds=0.02, processing_seconds=0.04, url_ttl_seconds=900)


def scaled_limits() -> Limits:
    """Cometly's 1:6 ratio of creates to status reads, per second instead of per minute.

    Four times the documented counts keep multi-window tests quick; the pacing tests
    use the documented counts themselves.
    """
    return Limits(create=20, status=120, period_seconds=1.0)


def sandbox_config(**overrides: Any) -> SandboxConfig:
    values: dict[str, Any] = {"timing": fast_timing(), "limits": scaled_limits()}
    values.update(overrides)
    return SandboxConfig(**values)


def tap_config(sandbox: Sandbox, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "api_key": TOKEN,
        "api_url": sandbox.api_url,
        "start_date": START,
        "end_date": END,
        "timezone": "America/New_York",
        "poll_interval_seconds": 0.02,
        "rate_limit_period_seconds": 1.0,
        "create_rate_limit": 20,
        "status_rate_limit": 120,
        "export_retry_cooldown_seconds": 0.02,
    }
    config.update(overrides)
    return config


def expected(
    sandbox: Sandbox, stream: str, start: str = START, end: str = END
) -> list[dict[str, Any]]:
    """The sandbox's records of `stream` whose replication key is in [start, end)."""
    key = REPLICATION_KEYS[stream]
    lower, upper = parse_utc(start), parse_utc(end)
    return [
        record
        for record in sandbox.emulator.dataset(TOKEN).stream(stream)
        if lower <= parse_utc(record[key]) < upper
    ]
