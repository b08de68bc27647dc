"""Where users wait on small or paced syncs: polling a quick export, and a raised limit.

1. Polling. One local day of Cometly (a companies, a contacts and an events export)
   whose exports take --export-seconds (0.6), with the default `poll_interval_seconds`
   (5). The tap as it is (reads soon after each create, backing off to the interval)
   against the same sync by `--baseline-tree`, a checkout of the code before that change
   (`git worktree add /tmp/before 4cf1ee1~1`), in the same run, alternating.
2. A raised limit. A week of events (7 exports, plus companies and contacts) against a
   sandbox that advertises 30 creates per 60 s (a quota raised on request; documented: 5).
   The tap adopting the advertised limit, against the same tap told
   `create_rate_limit: 5` (a limit the user set is never raised): the documented pace.

Wall time of `python -m tap_exports --config <file>` (stdout to /dev/null), medians of
--repeat; a fresh sandbox per run, in this process. Figures are printed, nothing asserted.

    .venv/bin/python benchmarks/small_syncs.py --baseline-tree /tmp/before [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tap_exports.sandbox import DEMO_KEY, DataSpec, Limits, Sandbox, SandboxConfig, Space, Timing

TAP_ENV = {k: v for k, v in os.environ.items() if not k.startswith(("TAP_EXPORTS_", "PYTHONPATH"))}


def wall(config: dict[str, Any], workdir: Path, tree: Path | None = None) -> float:
    """Seconds one sync takes, run from `tree` (a checkout) or from this one."""
    (workdir / "config.json").write_text(json.dumps(config))
    env = dict(TAP_ENV, PYTHONPATH=str(tree)) if tree is not None else TAP_ENV
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tap_exports", "--config", str(workdir / "config.json")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
        check=True,
        cwd=tree or None,
    )
    return time.perf_counter() - started


def day_sync(export_seconds: float, workdir: Path, tree: Path | None) -> float:
    spec = DataSpec(days=1)
    config = SandboxConfig(
        spaces=[Space(api_key=DEMO_KEY, data=spec)],
        timing=Timing(0.0, export_seconds, 900),
    )
    with Sandbox(config) as sandbox:
        return wall(
            {
                "api_key": DEMO_KEY,
                "api_url": sandbox.api_url,
                "timezone": "America/New_York",
                "start_date": "2025-03-01T05:00:00Z",
                "end_date": "2025-03-02T05:00:00Z",
            },
            workdir,
            tree,
        )


def week_sync(workdir: Path, *, own_limit: int | None) -> float:
    config = SandboxConfig(
        spaces=[Space(api_key=DEMO_KEY, data=DataSpec(days=7))],
        timing=Timing(0.0, 0.3, 900),
        limits=Limits(create=30, status=120, period_seconds=60.0),
    )
    with Sandbox(config) as sandbox:
        tap: dict[str, Any] = {
            "api_key": DEMO_KEY,
            "api_url": sandbox.api_url,
            "timezone": "America/New_York",
            "start_date": "2025-03-01T05:00:00Z",
            "end_date": "2025-03-08T05:00:00Z",
            "poll_interval_seconds": 0.5,
        }
        if own_limit is not None:
            tap["create_rate_limit"] = own_limit
        return wall(tap, workdir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--baseline-tree", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--export-seconds", type=float, default=0.6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        workdir = Path(directory)
        now, before = [], []
        for _ in range(args.repeat):
            now.append(day_sync(args.export_seconds, workdir, None))
            before.append(day_sync(args.export_seconds, workdir, args.baseline_tree))
        adopted, documented = [], []
        for _ in range(args.repeat):
            adopted.append(week_sync(workdir, own_limit=None))
            documented.append(week_sync(workdir, own_limit=5))
    median = statistics.median
    print(f"1. one local day, 3 exports of {args.export_seconds:g} s, poll_interval 5 s:")
    print(f"   this checkout                    {median(now):6.2f} s")
    print(f"   --baseline-tree                  {median(before):6.2f} s")
    print(f"   ratio                            {median(now) / median(before):6.2f}")
    print("2. a week of events, the server advertising 30 creates per 60 s (documented 5):")
    print(f"   advertised limit adopted         {median(adopted):6.2f} s")
    print(f"   create_rate_limit 5 (documented) {median(documented):6.2f} s")
    print(f"   ratio                            {median(adopted) / median(documented):6.2f}")


if __name__ == "__main__":
    main()
