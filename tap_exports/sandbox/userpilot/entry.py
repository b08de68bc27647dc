"""Userpilot's sandbox as the CLI and the demo see it: its flags, its banner, its demo run."""

from __future__ import annotations

import argparse
from dataclasses import replace
from datetime import date

from tap_exports.engine.clock import Clock
from tap_exports.sandbox.config import SandboxConfig
from tap_exports.sandbox.emulator import Emulator, SignUrl
from tap_exports.sandbox.plug import Demo, Flags, ProviderSandbox
from tap_exports.sandbox.userpilot.config import (
    USERPILOT_DEMO_TOKEN,
    USERPILOT_NO_EXPORT_TOKEN,
    UserpilotConfig,
    UserpilotTiming,
    default_environments,
)
from tap_exports.sandbox.userpilot.data import UserpilotData, generate
from tap_exports.sandbox.userpilot.emulator import UserpilotEmulator

_DEFAULTS = UserpilotConfig()
_DATA = UserpilotData()
_GZIP_CHOICES = {"auto": None, "on": True, "off": False}
_DEMO_DATA = UserpilotData(start=date(2025, 3, 1), days=14)


def build(config: SandboxConfig, sign_url: SignUrl, clock: Clock) -> Emulator:
    """The emulator, on the config's `userpilot` part."""
    return UserpilotEmulator(
        config=config.userpilot, faults=config.faults, sign_url=sign_url, clock=clock
    )


def _statuses(text: str) -> tuple[str, ...]:
    words = tuple(word.strip() for word in text.split(","))
    try:
        UserpilotTiming(statuses=words)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return words


def add_arguments(group: Flags) -> None:
    """The flags only Userpilot's sandbox reads."""
    timing = _DEFAULTS.timing
    group.add_argument(
        "--job-seconds",
        type=float,
        default=timing.processing_seconds,
        help="how long an export job takes from its creation to completed",
    )
    group.add_argument(
        "--statuses",
        type=_statuses,
        default=",".join(timing.statuses),  # a string default goes through `type` too
        metavar="WORD,WORD",
        help="the status words a job goes through before completed or failed",
    )
    group.add_argument(
        "--retention",
        type=float,
        default=timing.retention_seconds,
        help="seconds a job is kept (then its status is 404)",
    )
    group.add_argument(
        "--rows-per-part",
        type=int,
        default=_DEFAULTS.rows_per_part,
        help="rows per file of a job",
    )
    group.add_argument(
        "--gzip",
        choices=sorted(_GZIP_CHOICES),
        default="auto",
        help="gzip the parts (auto: NDJSON and CSV yes, Parquet and Avro no)",
    )
    group.add_argument(
        "--request-limit",
        type=int,
        default=_DEFAULTS.rate_limit,
        help="API requests per app token per rate period, every endpoint together",
    )


def configure(args: argparse.Namespace, config: SandboxConfig) -> SandboxConfig:
    """Every environment holding the UTC days of events asked for."""
    data = UserpilotData(
        start=args.data_start,
        days=args.days,
        events_per_day=round(_DATA.events_per_day * args.scale),
    )
    timing = _DEFAULTS.timing
    userpilot = UserpilotConfig(
        environments=[replace(env, data=data) for env in default_environments()],
        timing=UserpilotTiming(
            statuses=args.statuses,
            processing_seconds=args.job_seconds,
            url_ttl_seconds=getattr(args, "url_ttl", timing.url_ttl_seconds),
            retention_seconds=args.retention,
        ),
        rows_per_part=args.rows_per_part,
        gzip=_GZIP_CHOICES[args.gzip],
        rate_limit=args.request_limit,
        rate_period_seconds=args.rate_period,
    )
    return replace(config, userpilot=userpilot)


def banner(args: argparse.Namespace) -> list[str]:
    """The tokens to use, and the data served."""
    return [
        f"api_key:      {USERPILOT_DEMO_TOKEN}; {USERPILOT_NO_EXPORT_TOKEN} → 401 "
        "(no export add-on)",
        f"data:         {args.days} UTC days from {args.data_start}",
    ]


def demo_tables() -> dict[str, int]:
    """Events, and one row per user and company identified (the latest, merged by key)."""
    environments = default_environments()
    app_token = next(e.app_token for e in environments if e.api_key == USERPILOT_DEMO_TOKEN)
    rows = generate(_DEMO_DATA, app_token)
    return {
        "events": len(rows),
        "users": len({r["user_id"] for r in rows if r["event_type"] == "identify_user"}),
        "companies": len({r["company_id"] for r in rows if r["event_type"] == "identify_company"}),
    }


SANDBOX = ProviderSandbox(
    name=UserpilotEmulator.name,
    build=build,
    api_prefix=UserpilotEmulator.api_prefix,
    url_ttl_seconds=_DEFAULTS.timing.url_ttl_seconds,
    add_arguments=add_arguments,
    configure=configure,
    banner=banner,
    demo=Demo(
        # The data `demo_tables` counts, whatever the CLI's defaults.
        flags=(
            *("--data-start", _DEMO_DATA.start.isoformat(), "--days", str(_DEMO_DATA.days)),
            *("--job-seconds", "0.3"),
        ),
        tap_config={
            "api_key": USERPILOT_DEMO_TOKEN,
            "start_date": "2025-03-01T00:00:00Z",
            "end_date": "2025-03-15T00:00:00Z",
            "window_days": 7,
        },
        tables=demo_tables,
    ),
)
