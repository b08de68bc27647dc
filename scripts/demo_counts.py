"""Print the demo's row counts per provider schema against what each sandbox holds.

Called by `scripts/demo.sh` with the counts before and after the run (JSON in BEFORE and
AFTER, keyed `schema.table`). The demo's date ranges cover each sandbox's whole dataset,
so every table must hold exactly the sandbox's rows, and a second run adds nothing.
"""

from __future__ import annotations

import json
import os
from datetime import date
from zoneinfo import ZoneInfo

from tap_exports.sandbox import USERPILOT_DEMO_TOKEN, UserpilotData
from tap_exports.sandbox.cometly.data import DataSpec, generate
from tap_exports.sandbox.cornect.config import CornectData
from tap_exports.sandbox.userpilot.config import default_environments
from tap_exports.sandbox.userpilot.data import generate as generate_userpilot


def cometly() -> dict[str, int]:
    truth = generate(DataSpec(), ZoneInfo("America/New_York"))
    return {table: len(truth.stream(table)) for table in ("companies", "contacts", "events")}


def userpilot() -> dict[str, int]:
    """Events, and one row per user and company identified (the latest, merged by key)."""
    environments = default_environments()
    app_token = next(e.app_token for e in environments if e.api_key == USERPILOT_DEMO_TOKEN)
    rows = generate_userpilot(UserpilotData(start=date(2025, 3, 1), days=14), app_token)
    return {
        "events": len(rows),
        "users": len({r["user_id"] for r in rows if r["event_type"] == "identify_user"}),
        "companies": len({r["company_id"] for r in rows if r["event_type"] == "identify_company"}),
    }


def cornect() -> dict[str, int]:
    """Every company of the demo workspace: the demo exports them all (`search_filters: {}`)."""
    return {"companies": CornectData().companies}


def main() -> None:
    before, after = json.loads(os.environ["BEFORE"]), json.loads(os.environ["AFTER"])
    for schema, truth in (
        ("cometly", cometly()),
        ("userpilot", userpilot()),
        ("cornect", cornect()),
    ):
        print(f"\nRows in output/demo.duckdb (schema {schema}):")
        print(f"  {'table':<10} {'rows':>6} {'sandbox':>8}  this run")
        for table, expected in truth.items():
            name = f"{schema}.{table}"
            total = after.get(name, 0)
            verdict = "" if total == expected else "   <- MISMATCH"
            added = total - before.get(name, 0)
            print(f"  {table:<10} {total:>6} {expected:>8}  +{added}{verdict}")


if __name__ == "__main__":
    main()
