"""What pushing back costs: each provider's sync with 429 bursts, 5xx and a failed export.

Per provider, the same sync against a sandbox with no faults and against one whose API
answers two 429s (`Retry-After: 1`, `X-RateLimit-Remaining: 0`), two 503s and fails one
export. Rate periods are scaled to --period seconds (documented per-minute counts per
period), so an old habit of waiting a whole period after a 429 shows as --period
seconds. The yardstick: the clean wall time plus what the server asked for (2 x 1 s)
plus the documented cooldown of the failed export (`export_retry_cooldown_seconds`, 1 s
here). The floor adds what no client can avoid on top: the failed export's second run
(its processing time) and the extra wait the create limit puts under the creates the
faults added (the failed export's second create, and 503s the server counted), computed by
replaying the budget (`least_seconds`) on the counts in the sandbox's journal. What is
left above the floor is the 503s' own backoff (full jitter from 1 s). With
`--baseline-tree` (repeatable), a checkout of the code before (`git worktree add
/tmp/before REV`), the same syncs by it, in the same run, alternating; each is named by
its folder.

Wall time of `python -m tap_exports --config <file>`, medians of --repeat; a fresh
sandbox per run, in this process. Figures are printed, nothing asserted.

    .venv/bin/python benchmarks/pressure.py [--baseline-tree /tmp/before] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from small_syncs import wall

from tap_exports.engine.http.budget import least_seconds
from tap_exports.sandbox import (
    DEMO_KEY,
    USERPILOT_DEMO_TOKEN,
    DataSpec,
    Faults,
    Limits,
    Sandbox,
    SandboxConfig,
    Space,
    Timing,
    UserpilotConfig,
    UserpilotData,
    UserpilotEnvironment,
    UserpilotTiming,
)
from tap_exports.sandbox.cornect.config import (
    CORNECT_DEMO_TOKEN,
    CornectConfig,
    CornectData,
    CornectTiming,
)
from tap_exports.sandbox.server import Answer

STORMS, SERVER_ERRORS, FAILED = 2, 2, 1
COOLDOWN = 1.0
PROCESSING = 0.3  # seconds an export takes in every sandbox here
# What the server asks for (two 429s of Retry-After 1) and the failed export's cooldown.
ASKED = STORMS * 1.0 + FAILED * COOLDOWN


def faults(on: bool) -> Faults:
    if not on:
        return Faults()
    return Faults(rate_limit_storms=STORMS, server_errors=SERVER_ERRORS, failed_exports=FAILED)


def cometly(period: float, faulted: bool) -> tuple[SandboxConfig, Callable[[str], dict[str, Any]]]:
    sandbox = SandboxConfig(
        spaces=[Space(api_key=DEMO_KEY, data=DataSpec(days=3))],
        timing=Timing(0.0, PROCESSING, 900),
        limits=Limits(create=5, status=30, period_seconds=period),
        faults=faults(faulted),
    )
    return sandbox, lambda url: {
        "api_key": DEMO_KEY,
        "api_url": url,
        "timezone": "America/New_York",
        "start_date": "2025-03-01T05:00:00Z",
        "end_date": "2025-03-04T05:00:00Z",
        "window_days": 1,
    }


def userpilot(
    period: float, faulted: bool
) -> tuple[SandboxConfig, Callable[[str], dict[str, Any]]]:
    sandbox = SandboxConfig(
        provider="userpilot",
        userpilot=UserpilotConfig(
            environments=[
                UserpilotEnvironment(api_key=USERPILOT_DEMO_TOKEN, data=UserpilotData(days=6))
            ],
            timing=UserpilotTiming(processing_seconds=PROCESSING),
            rate_limit=30,
            rate_period_seconds=period,
        ),
        faults=faults(faulted),
    )
    return sandbox, lambda url: {
        "provider": "userpilot",
        "api_key": USERPILOT_DEMO_TOKEN,
        "api_url": url,
        "start_date": "2025-03-01T00:00:00Z",
        "end_date": "2025-03-07T00:00:00Z",
        "window_days": 2,
    }


def cornect(period: float, faulted: bool) -> tuple[SandboxConfig, Callable[[str], dict[str, Any]]]:
    sandbox = SandboxConfig(
        provider="cornect",
        cornect=CornectConfig(
            data=CornectData(companies=300),
            timing=CornectTiming(pending_seconds=0.1, processing_seconds=PROCESSING),
            rate_period_seconds=period,
        ),
        faults=faults(faulted),
    )
    return sandbox, lambda url: {
        "provider": "cornect",
        "api_key": CORNECT_DEMO_TOKEN,
        "api_url": url,
        "search_filters": {},
        "max_credits": 100_000,
    }


PROVIDERS = {"cometly": cometly, "userpilot": userpilot, "cornect": cornect}
# Per provider: the answers its create budget counts (a 429 is not counted), and that
# budget's documented limit per period (Userpilot's one budget serves every request).
CREATE_BUDGETS: dict[str, tuple[Callable[[Answer], bool], int]] = {
    "cometly": (lambda answer: answer.method == "POST", 5),
    "userpilot": (lambda answer: True, 30),
    "cornect": (lambda answer: answer.method == "POST" and answer.path.endswith("/exports"), 5),
}


def one_sync(
    provider: str, period: float, faulted: bool, workdir: Path, tree: Path | None
) -> tuple[float, int]:
    """The sync's wall time, and how many requests its create budget's server counted."""
    sandbox_config, tap_config = PROVIDERS[provider](period, faulted)
    counted, _ = CREATE_BUDGETS[provider]
    with Sandbox(sandbox_config) as sandbox:
        config = tap_config(sandbox.api_url) | {
            "poll_interval_seconds": 0.2,
            "rate_limit_period_seconds": period,
            "export_retry_cooldown_seconds": COOLDOWN,
        }
        took = wall(config, workdir, tree)
        answers = sandbox.api_answers
    return took, sum(1 for answer in answers if answer.status != 429 and counted(answer))


def limit_extra(provider: str, period: float, clean: int, faulted: int) -> float:
    """The wait the create limit adds for the requests the faults added."""
    _, limit = CREATE_BUDGETS[provider]
    return least_seconds(faulted, limit=limit, period=period) - least_seconds(
        clean, limit=limit, period=period
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline-tree", type=Path, action="append", default=[])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--period", type=float, default=10.0)
    args = parser.parse_args()
    trees: dict[str, Path | None] = {"now": None}
    trees.update({tree.name: tree for tree in args.baseline_tree})
    median = statistics.median
    print(
        f"period {args.period:g} s; faults: {STORMS} x 429, {SERVER_ERRORS} x 503, "
        f"{FAILED} failed export; asked for {ASKED:g} s; medians of {args.repeat}"
    )
    print(
        f"{'provider':<10}{'code':<8}{'clean':>8}{'faulted':>9}{'yardstick':>11}{'ratio':>7}"
        f"{'floor':>8}{'ratio':>7}"
    )
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        for provider in PROVIDERS:
            times: dict[tuple[str, bool], list[float]] = {}
            counts: dict[tuple[str, bool], list[int]] = {}
            for _ in range(args.repeat):
                for name, tree in trees.items():
                    for faulted in (False, True):
                        took, counted = one_sync(provider, args.period, faulted, workdir, tree)
                        times.setdefault((name, faulted), []).append(took)
                        counts.setdefault((name, faulted), []).append(counted)
            for name in trees:
                clean, faulted_wall = median(times[name, False]), median(times[name, True])
                yardstick = clean + ASKED
                extra = limit_extra(
                    provider,
                    args.period,
                    min(counts[name, False]),
                    min(counts[name, True]),
                )
                floor = yardstick + FAILED * PROCESSING + extra
                print(
                    f"{provider:<10}{name:<8}{clean:>8.2f}{faulted_wall:>9.2f}"
                    f"{yardstick:>11.2f}{faulted_wall / yardstick:>7.2f}"
                    f"{floor:>8.2f}{faulted_wall / floor:>7.2f}"
                )


if __name__ == "__main__":
    main()
