"""Cornect's sandbox as the CLI and the demo see it: its flags, its banner, its demo run."""

from __future__ import annotations

import argparse
from dataclasses import replace

from tap_exports.engine.clock import Clock
from tap_exports.sandbox.config import SandboxConfig
from tap_exports.sandbox.cornect.config import (
    CORNECT_DEMO_TOKEN,
    CORNECT_READ_TOKEN,
    JSON_LAYOUTS,
    SHORT_BALANCE_MODES,
    CornectConfig,
    CornectTiming,
)
from tap_exports.sandbox.cornect.emulator import API_PREFIX, CornectEmulator
from tap_exports.sandbox.emulator import Emulator, SignUrl
from tap_exports.sandbox.plug import Demo, Flags, ProviderSandbox

_DEFAULTS = CornectConfig()


def build(config: SandboxConfig, sign_url: SignUrl, clock: Clock) -> Emulator:
    """The emulator, on the config's `cornect` part."""
    return CornectEmulator(
        config=config.cornect, faults=config.faults, sign_url=sign_url, clock=clock
    )


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share within [0, 1], got {text}")
    return value


def add_arguments(group: Flags) -> None:
    """The flags only Cornect's sandbox reads."""
    data = _DEFAULTS.data
    group.add_argument(
        "--companies", type=int, default=data.companies, help="companies in the database"
    )
    group.add_argument(
        "--balance",
        type=int,
        default=_DEFAULTS.balance,
        help="credits each workspace starts with",
    )
    group.add_argument(
        "--unlocked-share",
        type=_share,
        default=data.unlocked_share,
        help="share of the companies each workspace has unlocked (exported before) at start",
    )
    group.add_argument(
        "--short-balance",
        choices=SHORT_BALANCE_MODES,
        default=_DEFAULTS.short_balance,
        help="a create the balance cannot pay for: reject it (402) or charge what is left "
        "and drop the companies it cannot pay for",
    )
    group.add_argument(
        "--json-layout",
        choices=JSON_LAYOUTS,
        default=_DEFAULTS.json_layout,
        help="how a JSON export file is written: a JSON array, or one object per line",
    )
    group.add_argument(
        "--export-seconds",
        type=float,
        default=_DEFAULTS.timing.processing_seconds,
        help="how long an export stays processing (after "
        f"{_DEFAULTS.timing.pending_seconds} s pending)",
    )
    group.add_argument(
        "--cap", type=int, default=_DEFAULTS.cap, help="most companies in one export"
    )


def configure(args: argparse.Namespace, config: SandboxConfig) -> SandboxConfig:
    """The companies, credits and export timing asked for (seeded with `--seed`).

    Raises:
        SystemExit: a value out of range, named without a traceback.
    """
    try:
        cornect = CornectConfig(
            data=replace(
                _DEFAULTS.data,
                companies=args.companies,
                seed=args.seed,
                unlocked_share=args.unlocked_share,
            ),
            balance=args.balance,
            cap=args.cap,
            short_balance=args.short_balance,
            timing=CornectTiming(
                pending_seconds=_DEFAULTS.timing.pending_seconds,
                processing_seconds=args.export_seconds,
                url_ttl_seconds=getattr(args, "url_ttl", _DEFAULTS.timing.url_ttl_seconds),
            ),
            json_layout=args.json_layout,
            rate_period_seconds=args.rate_period,
        )
    except ValueError as exc:
        raise SystemExit(f"tap-exports-sandbox: {exc}") from None
    return replace(config, cornect=cornect)


def banner(args: argparse.Namespace) -> list[str]:
    """The tokens to use, and the data served."""
    return [
        f"api_key:      {CORNECT_DEMO_TOKEN} (read_write); {CORNECT_READ_TOKEN} (read)",
        f"data:         {args.companies} companies, balance {args.balance} credits",
    ]


SANDBOX = ProviderSandbox(
    name=CornectEmulator.name,
    build=build,
    api_prefix=API_PREFIX,
    url_ttl_seconds=_DEFAULTS.timing.url_ttl_seconds,
    add_arguments=add_arguments,
    configure=configure,
    banner=banner,
    demo=Demo(
        flags=("--export-seconds", "0.3"),
        # Every company of the demo workspace (`{}` matches all).
        tap_config={"api_key": CORNECT_DEMO_TOKEN, "search_filters": {}, "max_credits": 1000},
        tables=lambda: {"companies": _DEFAULTS.data.companies},
    ),
)
