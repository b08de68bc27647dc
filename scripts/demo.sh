#!/usr/bin/env bash
# The demo sync, called by `make demo`: start a sandbox per provider on loopback, run
# `meltano run tap-exports--cometly target-duckdb` and the same for Userpilot and Cornect
# (one DuckDB schema per provider), print each table's row count against the sandbox's and
# how many rows this run added, stop the sandboxes. A second run adds nothing: the
# bookmarks hold, and Cornect's snapshot is merged on its primary key (and costs 0 credits).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv-meltano/bin:$PATH"
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false

meltano install >output.install.log 2>&1 || { cat output.install.log; exit 1; }
rm -f output.install.log

# The six ports the sandboxes use, from DEMO_PORT on (`make demo DEMO_PORT=9000`); the
# demo environment of meltano.yml reads them from these variables.
base=${DEMO_PORT:-8765}
export DEMO_COMETLY_PORT=$base DEMO_USERPILOT_PORT=$((base + 2)) DEMO_CORNECT_PORT=$((base + 4))

mkdir -p output
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT

# start_sandbox PROVIDER API_PORT DOWNLOAD_PORT [FLAGS...]: serve it, wait until it answers.
start_sandbox() {
    local provider=$1 log="output/sandbox-$1.log"
    .venv/bin/python -m tap_exports.sandbox --provider "$provider" --port "$2" \
        --download-port "$3" --rate-period 1 "${@:4}" >"$log" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do
        grep -q "sandbox API" "$log" 2>/dev/null && return
        if ! kill -0 "${pids[-1]}" 2>/dev/null; then
            cat "$log"
            echo "make demo: ports $base-$((base + 5)) must be free: run 'make demo DEMO_PORT=9000'" \
                "(or another free range)" >&2
            exit 1
        fi
        sleep 0.2
    done
}
start_sandbox cometly "$DEMO_COMETLY_PORT" $((base + 1)) --queued-seconds 0.1 --processing-seconds 0.3
start_sandbox userpilot "$DEMO_USERPILOT_PORT" $((base + 3)) --processing-seconds 0.3
start_sandbox cornect "$DEMO_CORNECT_PORT" $((base + 5)) --export-seconds 0.3

count_rows() {
    if [ ! -f output/demo.duckdb ]; then echo "{}"; return; fi
    .meltano/loaders/target-duckdb/venv/bin/python - <<'PY'
import json

import duckdb

connection = duckdb.connect("output/demo.duckdb", read_only=True)
tables = connection.execute(
    "select table_schema, table_name from information_schema.tables"
).fetchall()
print(json.dumps({
    f"{schema}.{table}": connection.execute(f"select count(*) from {schema}.{table}").fetchone()[0]
    for schema, table in tables
}))
PY
}

before=$(count_rows)
meltano run tap-exports--cometly target-duckdb
meltano run tap-exports--userpilot target-duckdb--userpilot
meltano run tap-exports--cornect target-duckdb--cornect
after=$(count_rows)

BEFORE="$before" AFTER="$after" .venv/bin/python scripts/demo_counts.py
