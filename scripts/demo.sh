#!/usr/bin/env bash
# The demo sync, called by `make demo`: start the sandbox on loopback, run
# `meltano run tap-exports target-duckdb`, print each table's row count and how many
# rows this run added, stop the sandbox. A second run adds nothing: the bookmark holds.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv-meltano/bin:$PATH"
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false

meltano install >output.install.log 2>&1 || { cat output.install.log; exit 1; }
rm -f output.install.log

mkdir -p output
.venv/bin/python -m tap_exports.sandbox --port 8765 --download-port 8766 \
    --rate-period 1 --queued-seconds 0.1 --processing-seconds 0.3 >output/sandbox.log 2>&1 &
sandbox_pid=$!
trap 'kill "$sandbox_pid" 2>/dev/null || true' EXIT

for _ in $(seq 50); do
    grep -q "sandbox API" output/sandbox.log 2>/dev/null && break
    kill -0 "$sandbox_pid" 2>/dev/null || { cat output/sandbox.log; exit 1; }
    sleep 0.2
done

count_rows() {
    if [ ! -f output/demo.duckdb ]; then echo "{}"; return; fi
    .meltano/loaders/target-duckdb/venv/bin/python - <<'PY'
import json

import duckdb

connection = duckdb.connect("output/demo.duckdb", read_only=True)
tables = {row[0] for row in connection.execute(
    "select table_name from information_schema.tables where table_schema = 'cometly'"
).fetchall()}
print(json.dumps({
    table: connection.execute(f"select count(*) from cometly.{table}").fetchone()[0]
    for table in ("companies", "contacts", "events") if table in tables
}))
PY
}

before=$(count_rows)
meltano run tap-exports target-duckdb
after=$(count_rows)

BEFORE="$before" AFTER="$after" .venv/bin/python - <<'PY'
import json
import os
from zoneinfo import ZoneInfo

from tap_exports.sandbox.data import DataSpec, generate

# The demo's date range covers the sandbox's whole dataset: every record must arrive.
truth = generate(DataSpec(), ZoneInfo("America/New_York"))
before, after = json.loads(os.environ["BEFORE"]), json.loads(os.environ["AFTER"])
print("\nRows in output/demo.duckdb (schema cometly):")
print(f"  {'table':<10} {'rows':>6} {'sandbox':>8}  this run")
for table in ("companies", "contacts", "events"):
    total, expected = after.get(table, 0), len(truth.stream(table))
    verdict = "" if total == expected else "   <- MISMATCH"
    print(f"  {table:<10} {total:>6} {expected:>8}  +{total - before.get(table, 0)}{verdict}")
PY
