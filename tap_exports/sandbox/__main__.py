"""`python -m tap_exports.sandbox`: serve the sandbox until interrupted.

Defaults are the emulated provider's documented limits and URL lifetime; the flags scale
time down for demos, and switch faults on. Flags that only one provider reads are
grouped under its name.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import threading
from dataclasses import replace
from datetime import date

from tap_exports.sandbox import (
    CORNECT_DEMO_TOKEN,
    CORNECT_READ_TOKEN,
    DEMO_KEY,
    INACTIVE_KEY,
    USERPILOT_DEMO_TOKEN,
    USERPILOT_NO_EXPORT_TOKEN,
    CornectConfig,
    CornectTiming,
    DataSpec,
    Faults,
    Limits,
    Sandbox,
    SandboxConfig,
    Space,
    Timing,
    UserpilotConfig,
    UserpilotData,
    UserpilotTiming,
)
from tap_exports.sandbox.cornect.config import JSON_LAYOUTS, SHORT_BALANCE_MODES
from tap_exports.sandbox.faults import KINDS
from tap_exports.sandbox.registry import EMULATORS
from tap_exports.sandbox.userpilot.config import default_environments

_CONFIG_DEFAULTS = SandboxConfig()
_DATA_DEFAULTS = DataSpec()
_LIMIT_DEFAULTS = Limits()
_SPACE_DEFAULTS = Space(api_key=DEMO_KEY)
_TIMING_DEFAULTS = Timing()
_USERPILOT_DEFAULTS = UserpilotConfig()
_USERPILOT_DATA_DEFAULTS = UserpilotData()
_CORNECT_DEFAULTS = CornectConfig()
_GZIP_CHOICES = {"auto": None, "on": True, "off": False}


def _fault(text: str) -> tuple[str, int]:
    kind, _, count = text.partition("=")
    if kind not in KINDS or not count.isdigit():
        raise argparse.ArgumentTypeError(f"expected KIND=N with KIND one of {', '.join(KINDS)}")
    return kind, int(count)


def _statuses(text: str) -> tuple[str, ...]:
    words = tuple(word.strip() for word in text.split(","))
    try:
        UserpilotTiming(statuses=words)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return words


def _arguments() -> argparse.Namespace:
    # Every flag has a help text: the formatter shows a flag's default only beside one.
    parser = argparse.ArgumentParser(
        prog="tap-exports-sandbox",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--provider",
        choices=sorted(EMULATORS),
        default=_CONFIG_DEFAULTS.provider,
        help="whose export API to emulate",
    )
    parser.add_argument("--host", default=_CONFIG_DEFAULTS.host, help="address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="API port (0: any free port)")
    parser.add_argument("--download-port", type=int, default=8766, help="storage host port")
    parser.add_argument(
        "--data-start",
        type=date.fromisoformat,
        default=_DATA_DEFAULTS.start,
        help="first day with data (YYYY-MM-DD; a local day for Cometly, a UTC day for Userpilot)",
    )
    parser.add_argument("--days", type=int, default=_DATA_DEFAULTS.days, help="days of data")
    parser.add_argument("--scale", type=float, default=1.0, help="records per day multiplier")
    parser.add_argument(
        "--rate-period",
        type=float,
        default=_LIMIT_DEFAULTS.period_seconds,
        help="seconds per rate budget",
    )
    parser.add_argument(
        "--url-ttl",
        type=int,
        default=argparse.SUPPRESS,
        help="seconds a download URL stays valid (default: the provider's, Cometly "
        f"{_TIMING_DEFAULTS.url_ttl_seconds}, "
        f"Userpilot {_USERPILOT_DEFAULTS.timing.url_ttl_seconds}, "
        f"Cornect {_CORNECT_DEFAULTS.timing.url_ttl_seconds})",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="KIND=N",
        type=_fault,
        help="make the next N occurrences of KIND go wrong; kinds: "
        + "; ".join(f"{kind}: {what}" for kind, what in KINDS.items()),
    )
    parser.add_argument("--chaos", type=float, default=0.0, help="probability of every fault")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the chaos (and of Cornect's companies)"
    )
    parser.add_argument("--no-range", action="store_true", help="storage ignores Range requests")
    parser.add_argument("--verbose", action="store_true", help="log every request path")
    _cometly_arguments(parser)
    _userpilot_arguments(parser)
    _cornect_arguments(parser)
    return parser.parse_args()


def _cometly_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Cometly only")
    group.add_argument(
        "--timezone", default=_SPACE_DEFAULTS.timezone, help="the demo space's timezone"
    )
    group.add_argument(
        "--create-limit",
        type=int,
        default=_LIMIT_DEFAULTS.create,
        help="export creations per space per rate period",
    )
    group.add_argument(
        "--status-limit",
        type=int,
        default=_LIMIT_DEFAULTS.status,
        help="status reads per space per rate period",
    )
    group.add_argument(
        "--queued-seconds",
        type=float,
        default=_TIMING_DEFAULTS.queued_seconds,
        help="how long a new export stays queued",
    )
    group.add_argument(
        "--processing-seconds",
        type=float,
        default=_TIMING_DEFAULTS.processing_seconds,
        help="how long an export then stays processing",
    )


def _userpilot_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Userpilot only")
    timing = _USERPILOT_DEFAULTS.timing
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
        default=_USERPILOT_DEFAULTS.rows_per_part,
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
        default=_USERPILOT_DEFAULTS.rate_limit,
        help="API requests per app token per rate period, every endpoint together",
    )


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share within [0, 1], got {text}")
    return value


def _cornect_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("Cornect only")
    data = _CORNECT_DEFAULTS.data
    group.add_argument(
        "--companies", type=int, default=data.companies, help="companies in the database"
    )
    group.add_argument(
        "--balance",
        type=int,
        default=_CORNECT_DEFAULTS.balance,
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
        default=_CORNECT_DEFAULTS.short_balance,
        help="a create the balance cannot pay for: reject it (402) or charge what is left "
        "and drop the companies it cannot pay for",
    )
    group.add_argument(
        "--json-layout",
        choices=JSON_LAYOUTS,
        default=_CORNECT_DEFAULTS.json_layout,
        help="how a JSON export file is written: a JSON array, or one object per line",
    )
    group.add_argument(
        "--export-seconds",
        type=float,
        default=_CORNECT_DEFAULTS.timing.processing_seconds,
        help="how long an export stays processing (after "
        f"{_CORNECT_DEFAULTS.timing.pending_seconds} s pending)",
    )
    group.add_argument(
        "--cap", type=int, default=_CORNECT_DEFAULTS.cap, help="most companies in one export"
    )


def _cornect(args: argparse.Namespace) -> CornectConfig:
    defaults = _CORNECT_DEFAULTS
    try:
        return CornectConfig(
            data=replace(
                defaults.data,
                companies=args.companies,
                seed=args.seed,
                unlocked_share=args.unlocked_share,
            ),
            balance=args.balance,
            cap=args.cap,
            short_balance=args.short_balance,
            timing=CornectTiming(
                pending_seconds=defaults.timing.pending_seconds,
                processing_seconds=args.export_seconds,
                url_ttl_seconds=getattr(args, "url_ttl", defaults.timing.url_ttl_seconds),
            ),
            json_layout=args.json_layout,
            rate_period_seconds=args.rate_period,
        )
    except ValueError as exc:  # a value out of range: say which, without a traceback
        raise SystemExit(f"tap-exports-sandbox: {exc}") from None


def _userpilot(args: argparse.Namespace) -> UserpilotConfig:
    data = UserpilotData(
        start=args.data_start,
        days=args.days,
        events_per_day=round(_USERPILOT_DATA_DEFAULTS.events_per_day * args.scale),
    )
    defaults = _USERPILOT_DEFAULTS.timing
    return UserpilotConfig(
        environments=[replace(env, data=data) for env in default_environments()],
        timing=UserpilotTiming(
            statuses=args.statuses,
            processing_seconds=args.job_seconds,
            url_ttl_seconds=getattr(args, "url_ttl", defaults.url_ttl_seconds),
            retention_seconds=args.retention,
        ),
        rows_per_part=args.rows_per_part,
        gzip=_GZIP_CHOICES[args.gzip],
        rate_limit=args.request_limit,
        rate_period_seconds=args.rate_period,
    )


def main() -> None:
    """Start the sandbox and print how to point the tap at it."""
    args = _arguments()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    data = DataSpec(
        start=args.data_start,
        days=args.days,
        companies_per_day=round(_DATA_DEFAULTS.companies_per_day * args.scale),
        contacts_per_day=round(_DATA_DEFAULTS.contacts_per_day * args.scale),
        events_per_day=round(_DATA_DEFAULTS.events_per_day * args.scale),
    )
    url_ttl = getattr(args, "url_ttl", _TIMING_DEFAULTS.url_ttl_seconds)
    config = SandboxConfig(
        host=args.host,
        api_port=args.port,
        download_port=args.download_port,
        spaces=[
            Space(api_key=DEMO_KEY, timezone=args.timezone, data=data),
            Space(api_key=INACTIVE_KEY, timezone=args.timezone, active=False, data=data),
        ],
        timing=Timing(args.queued_seconds, args.processing_seconds, url_ttl),
        limits=Limits(args.create_limit, args.status_limit, args.rate_period),
        faults=Faults(**dict(args.fault), chaos=args.chaos, seed=args.seed),
        range_requests=not args.no_range,
        provider=args.provider,
        userpilot=_userpilot(args),
        cornect=_cornect(args),
    )

    try:
        sandbox = Sandbox(config)
    except OSError as exc:
        raise SystemExit(
            f"tap-exports-sandbox: cannot listen on {args.host} ports {args.port} and "
            f"{args.download_port} ({exc.strerror}); stop what uses them or pass "
            "--port/--download-port"
        ) from None
    with sandbox:
        print(f"sandbox API:  {sandbox.api_url}", flush=True)
        print(f"provider:     {sandbox.emulator.name}")
        if args.provider == "userpilot":
            print(
                f"api_key:      {USERPILOT_DEMO_TOKEN}; "
                f"{USERPILOT_NO_EXPORT_TOKEN} → 401 (no export add-on)"
            )
            print(f"data:         {args.days} UTC days from {args.data_start}", flush=True)
        elif args.provider == "cornect":
            print(f"api_key:      {CORNECT_DEMO_TOKEN} (read_write); {CORNECT_READ_TOKEN} (read)")
            print(
                f"data:         {args.companies} companies, balance {args.balance} credits",
                flush=True,
            )
        else:
            print(f"api_key:      {DEMO_KEY} (timezone {args.timezone}); {INACTIVE_KEY} → 403")
            print(f"data:         {args.days} days from {args.data_start}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
