"""`make demo` and `make demo-reset`: every provider's sandbox into DuckDB through Meltano.

`run`: start each provider's sandbox on loopback (the providers and their flags come from
the sandbox registry, `tap_exports/sandbox/demo.py`), `meltano run tap-exports--NAME
target-duckdb--NAME` for each (one DuckDB schema per provider), then print each table's
row count against what its sandbox holds and how many rows this run added, and stop the
sandboxes. The demo's dates cover each sandbox's whole dataset, so every table must hold
exactly the sandbox's rows (else the exit status is 1); a second run adds nothing: the
bookmarks hold, and a snapshot is merged on its primary key.

`reset`: forget the demo's Meltano state and its database, so the next run loads all.

Run with the tap's virtualenv's Python and Meltano on PATH (the Makefile does both):

    DEMO_PORT=8765 .venv/bin/python scripts/demo.py run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tap_exports.sandbox.demo import DemoProvider, demo_providers, ports_used

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "output"
DATABASE = OUTPUT / "demo.duckdb"
_COUNT_ROWS = """
import json, sys
import duckdb
connection = duckdb.connect(sys.argv[1], read_only=True)
tables = connection.execute(
    "select table_schema, table_name from information_schema.tables"
).fetchall()
count = 'select count(*) from "{}"."{}"'
print(json.dumps({
    f"{schema}.{table}": connection.execute(count.format(schema, table)).fetchone()[0]
    for schema, table in tables
}))
"""


def _environment() -> dict[str, str]:
    """The environment Meltano runs in: ours, with its usage statistics off."""
    return {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}


def _meltano(*args: str, quiet: bool = False) -> None:
    """Run Meltano in the project; its output goes to a log file if `quiet`."""
    environment = _environment()
    if not quiet:
        done = subprocess.run(["meltano", *args], cwd=ROOT, env=environment, check=False)
        if done.returncode != 0:
            sys.exit(f"make demo: meltano {' '.join(args)} failed (above)")
        return
    log = ROOT / "output.install.log"
    with log.open("w") as sink:
        done = subprocess.run(
            ["meltano", *args], cwd=ROOT, env=environment, stdout=sink, stderr=sink, check=False
        )
    if done.returncode != 0:
        sys.exit(f"{log.read_text()}\nmeltano {' '.join(args)} failed (above)")
    log.unlink()


@contextmanager
def _sandboxes(providers: list[DemoProvider], base: int) -> Iterator[None]:
    """Serve every provider's sandbox until the block ends; wait until each answers."""
    OUTPUT.mkdir(exist_ok=True)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for provider in providers:
            log = OUTPUT / f"sandbox-{provider.name}.log"
            with log.open("wb") as sink:
                processes.append(
                    subprocess.Popen(
                        provider.sandbox_command(sys.executable, base),
                        cwd=ROOT,
                        stdout=sink,
                        stderr=subprocess.STDOUT,
                    )
                )
            _wait_until_serving(processes[-1], log, base)
        yield
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


def _wait_until_serving(process: subprocess.Popen[bytes], log: Path, base: int) -> None:
    for _ in range(100):
        if "sandbox API" in log.read_text(errors="replace"):
            return
        if process.poll() is not None:
            break
        time.sleep(0.1)
    last = base + ports_used() - 1
    sys.exit(
        f"{log.read_text(errors='replace')}\nmake demo: the sandbox did not start (above); "
        f"ports {base}-{last} must be free: run 'make demo DEMO_PORT=9000' (or another range)"
    )


def _row_counts() -> dict[str, int]:
    """Rows per `schema.table` of the demo database ({} before the first run)."""
    if not DATABASE.exists():
        return {}
    pythons = sorted(ROOT.glob(".meltano/loaders/target-duckdb*/venv/bin/python"))
    if not pythons:
        sys.exit("make demo: target-duckdb's virtualenv is missing: run 'meltano install'")
    counted = subprocess.run(
        [str(pythons[0]), "-c", _COUNT_ROWS, str(DATABASE)],
        capture_output=True,
        text=True,
        check=True,
    )
    counts: dict[str, int] = json.loads(counted.stdout)
    return counts


def run(base: int) -> int:
    """The demo: sandboxes, one `meltano run` per provider, then the row counts."""
    providers = demo_providers()
    _meltano("install", quiet=True)
    for provider in providers:
        os.environ[provider.port_variable] = str(base + provider.offset)
    with _sandboxes(providers, base):
        before = _row_counts()
        for provider in providers:
            _meltano("run", provider.extractor, provider.loader)
        after = _row_counts()
    mismatches = 0
    for provider in providers:
        print(f"\nRows in output/demo.duckdb (schema {provider.name}):")
        print(f"  {'table':<10} {'rows':>6} {'sandbox':>8}  this run")
        for table, expected in provider.demo.tables().items():
            name = f"{provider.name}.{table}"
            total = after.get(name, 0)
            verdict = "" if total == expected else "   <- MISMATCH"
            mismatches += total != expected
            added = total - before.get(name, 0)
            print(f"  {table:<10} {total:>6} {expected:>8}  +{added}{verdict}")
    return 1 if mismatches else 0


def reset() -> int:
    """Forget the demo's state and database."""
    environment = _environment()
    for provider in demo_providers():
        # No state yet is fine: there is nothing to forget.
        subprocess.run(
            ["meltano", "state", "clear", "--force", provider.state_id],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
    DATABASE.unlink(missing_ok=True)
    return 0


def main() -> int:
    """`run` or `reset`, as the Makefile asks."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("action", choices=("run", "reset"))
    action = parser.parse_args().action
    if action == "reset":
        return reset()
    return run(int(os.environ.get("DEMO_PORT", "8765")))


if __name__ == "__main__":
    sys.exit(main())
