"""`python -m tap_exports.sandbox`: serve the sandbox until interrupted.

Defaults are the documented API's (5 creates and 30 status reads per 60 s, 15-minute
URLs); the flags scale time down for demos, and switch faults on.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import threading
from datetime import date

from tap_exports.sandbox import (
    DEMO_KEY,
    DataSpec,
    Faults,
    Limits,
    Sandbox,
    SandboxConfig,
    Space,
    Timing,
)
from tap_exports.sandbox.faults import KINDS
from tap_exports.sandbox.server import INACTIVE_KEY

_DATA_DEFAULTS = DataSpec()
_TIMING_DEFAULTS = Timing()


def _fault(text: str) -> tuple[str, int]:
    kind, _, count = text.partition("=")
    if kind not in KINDS or not count.isdigit():
        raise argparse.ArgumentTypeError(f"expected KIND=N with KIND one of {', '.join(KINDS)}")
    return kind, int(count)


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tap-exports-sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765, help="API port (0: any free port)")
    parser.add_argument("--download-port", type=int, default=8766, help="storage host port")
    parser.add_argument("--timezone", default="America/New_York", help="the demo space's zone")
    parser.add_argument("--data-start", type=date.fromisoformat, default=_DATA_DEFAULTS.start)
    parser.add_argument("--days", type=int, default=_DATA_DEFAULTS.days)
    parser.add_argument("--scale", type=float, default=1.0, help="records per day multiplier")
    parser.add_argument("--rate-period", type=float, default=60.0, help="seconds per budget")
    parser.add_argument("--create-limit", type=int, default=5)
    parser.add_argument("--status-limit", type=int, default=30)
    parser.add_argument("--queued-seconds", type=float, default=_TIMING_DEFAULTS.queued_seconds)
    parser.add_argument(
        "--processing-seconds", type=float, default=_TIMING_DEFAULTS.processing_seconds
    )
    parser.add_argument("--url-ttl", type=int, default=_TIMING_DEFAULTS.url_ttl_seconds)
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
    parser.add_argument("--seed", type=int, default=0, help="seed of the chaos")
    parser.add_argument("--no-range", action="store_true", help="storage ignores Range requests")
    parser.add_argument("--verbose", action="store_true", help="log every request path")
    return parser.parse_args()


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
    config = SandboxConfig(
        host=args.host,
        api_port=args.port,
        download_port=args.download_port,
        spaces=[
            Space(api_key=DEMO_KEY, timezone=args.timezone, data=data),
            Space(api_key=INACTIVE_KEY, timezone=args.timezone, active=False, data=data),
        ],
        timing=Timing(args.queued_seconds, args.processing_seconds, args.url_ttl),
        limits=Limits(args.create_limit, args.status_limit, args.rate_period),
        faults=Faults(**dict(args.fault), chaos=args.chaos, seed=args.seed),
        range_requests=not args.no_range,
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
        print(f"api_key:      {DEMO_KEY} (timezone {args.timezone}); {INACTIVE_KEY} → 403")
        print(f"data:         {args.days} days from {args.data_start}", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
