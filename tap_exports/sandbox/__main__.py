"""`python -m tap_exports.sandbox`: serve the sandbox until interrupted.

Defaults are the emulated provider's documented limits and URL lifetime; the flags scale
time down for demos, and switch faults on. Flags that only one provider reads are
grouped under its name (each provider's `entry.py` declares them).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import threading
from datetime import date

from tap_exports.sandbox.config import SandboxConfig
from tap_exports.sandbox.faults import KINDS, Faults
from tap_exports.sandbox.registry import SANDBOXES
from tap_exports.sandbox.server import Sandbox

_CONFIG_DEFAULTS = SandboxConfig()
# The stretch of data every provider's sandbox holds by default (in its own terms: local
# days for one that reads a timezone, UTC days for the others).
_DATA_START = date(2025, 3, 1)
_DATA_DAYS = 14
_RATE_PERIOD_SECONDS = 60.0


def _fault(text: str) -> tuple[str, int]:
    kind, _, count = text.partition("=")
    if kind not in KINDS or not count.isdigit():
        raise argparse.ArgumentTypeError(f"expected KIND=N with KIND one of {', '.join(KINDS)}")
    return kind, int(count)


def _arguments() -> argparse.Namespace:
    # Every flag has a help text: the formatter shows a flag's default only beside one.
    parser = argparse.ArgumentParser(
        prog="tap-exports-sandbox",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--provider",
        choices=sorted(SANDBOXES),
        default=_CONFIG_DEFAULTS.provider,
        help="whose export API to emulate",
    )
    parser.add_argument("--host", default=_CONFIG_DEFAULTS.host, help="address to listen on")
    parser.add_argument("--port", type=int, default=8765, help="API port (0: any free port)")
    parser.add_argument("--download-port", type=int, default=8766, help="storage host port")
    parser.add_argument(
        "--data-start",
        type=date.fromisoformat,
        default=_DATA_START,
        help="first day with data (YYYY-MM-DD; a local day where the API reads a timezone, "
        "else a UTC day)",
    )
    parser.add_argument("--days", type=int, default=_DATA_DAYS, help="days of data")
    parser.add_argument("--scale", type=float, default=1.0, help="records per day multiplier")
    parser.add_argument(
        "--rate-period",
        type=float,
        default=_RATE_PERIOD_SECONDS,
        help="seconds per rate budget",
    )
    parser.add_argument(
        "--url-ttl",
        type=int,
        default=argparse.SUPPRESS,
        help="seconds a download URL stays valid (default: the provider's, "
        + ", ".join(f"{name} {SANDBOXES[name].url_ttl_seconds}" for name in sorted(SANDBOXES))
        + ")",
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
        "--seed",
        type=int,
        default=0,
        help="seed of the chaos (and of the data of sandboxes that draw it at random)",
    )
    parser.add_argument("--no-range", action="store_true", help="storage ignores Range requests")
    parser.add_argument("--verbose", action="store_true", help="log every request path")
    for name in sorted(SANDBOXES):
        SANDBOXES[name].add_arguments(parser.add_argument_group(f"{name} only"))
    return parser.parse_args()


def main() -> None:
    """Start the sandbox and print how to point the tap at it."""
    args = _arguments()
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO)
    provider = SANDBOXES[args.provider]
    config = provider.configure(
        args,
        SandboxConfig(
            host=args.host,
            api_port=args.port,
            download_port=args.download_port,
            faults=Faults(**dict(args.fault), chaos=args.chaos, seed=args.seed),
            range_requests=not args.no_range,
            provider=args.provider,
        ),
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
        print("\n".join(provider.banner(args)), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
