"""Cometly's sandbox as the CLI and the demo see it: its flags, its banner, its demo run."""

from __future__ import annotations

import argparse
from dataclasses import replace
from zoneinfo import ZoneInfo

from tap_exports.engine.clock import Clock
from tap_exports.sandbox.cometly.data import DataSpec, generate
from tap_exports.sandbox.cometly.emulator import (
    API_PREFIX,
    DEMO_KEY,
    INACTIVE_KEY,
    CometlyEmulator,
    Limits,
    Space,
    Timing,
)
from tap_exports.sandbox.config import SandboxConfig
from tap_exports.sandbox.emulator import Emulator, SignUrl
from tap_exports.sandbox.plug import Demo, Flags, ProviderSandbox

_DATA = DataSpec()
_LIMITS = Limits()
_SPACE = Space(api_key=DEMO_KEY)
_TIMING = Timing()


def build(config: SandboxConfig, sign_url: SignUrl, clock: Clock) -> Emulator:
    """The emulator, on the config's top-level `spaces`, `timing` and `limits`."""
    return CometlyEmulator(
        spaces=config.spaces,
        timing=config.timing,
        limits=config.limits,
        faults=config.faults,
        sign_url=sign_url,
        clock=clock,
    )


def add_arguments(group: Flags) -> None:
    """The flags only Cometly's sandbox reads."""
    group.add_argument("--timezone", default=_SPACE.timezone, help="the demo space's timezone")
    group.add_argument(
        "--create-limit",
        type=int,
        default=_LIMITS.create,
        help="export creations per space per rate period",
    )
    group.add_argument(
        "--status-limit",
        type=int,
        default=_LIMITS.status,
        help="status reads per space per rate period",
    )
    group.add_argument(
        "--queued-seconds",
        type=float,
        default=_TIMING.queued_seconds,
        help="how long a new export stays queued",
    )
    group.add_argument(
        "--processing-seconds",
        type=float,
        default=_TIMING.processing_seconds,
        help="how long an export then stays processing",
    )


def configure(args: argparse.Namespace, config: SandboxConfig) -> SandboxConfig:
    """A demo space (and an inactive one) holding the days of data asked for."""
    data = DataSpec(
        start=args.data_start,
        days=args.days,
        companies_per_day=round(_DATA.companies_per_day * args.scale),
        contacts_per_day=round(_DATA.contacts_per_day * args.scale),
        events_per_day=round(_DATA.events_per_day * args.scale),
    )
    return replace(
        config,
        spaces=[
            Space(api_key=DEMO_KEY, timezone=args.timezone, data=data),
            Space(api_key=INACTIVE_KEY, timezone=args.timezone, active=False, data=data),
        ],
        timing=Timing(
            args.queued_seconds,
            args.processing_seconds,
            getattr(args, "url_ttl", _TIMING.url_ttl_seconds),
        ),
        limits=Limits(args.create_limit, args.status_limit, args.rate_period),
    )


def banner(args: argparse.Namespace) -> list[str]:
    """The keys to use, and the data served."""
    return [
        f"api_key:      {DEMO_KEY} (timezone {args.timezone}); {INACTIVE_KEY} → 403",
        f"data:         {args.days} days from {args.data_start}",
    ]


def demo_tables() -> dict[str, int]:
    """Rows per stream of the demo space (its whole dataset)."""
    truth = generate(_DATA, ZoneInfo(_SPACE.timezone))
    return {table: len(truth.stream(table)) for table in ("companies", "contacts", "events")}


SANDBOX = ProviderSandbox(
    name=CometlyEmulator.name,
    build=build,
    api_prefix=API_PREFIX,
    url_ttl_seconds=_TIMING.url_ttl_seconds,
    add_arguments=add_arguments,
    configure=configure,
    banner=banner,
    demo=Demo(
        # The data `demo_tables` counts, whatever the CLI's defaults.
        flags=(
            *("--data-start", _DATA.start.isoformat(), "--days", str(_DATA.days)),
            *("--queued-seconds", "0.1", "--processing-seconds", "0.3"),
        ),
        tap_config={
            "api_key": DEMO_KEY,
            "timezone": _SPACE.timezone,
            "start_date": "2025-03-01T05:00:00Z",
            "end_date": "2025-03-15T04:00:00Z",
            "window_days": 7,
        },
        tables=demo_tables,
    ),
)
