"""BATCH and RECORD deliver the same records, as a real singer-sdk target reads them.

MeltanoLabs target-csv (`.venv-targets`, which `make test` installs in a virtualenv of its
own) reads the tap's output in both modes (it parses a RECORD's date-times but writes a
BATCH record's as they are: timestamps are compared as instants). The sandbox's records
carry a key no schema declares in about one in seven: RECORD mode drops it, and BATCH
mode must too, or target-csv stops (`dict contains fields not in fieldnames`).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tap_exports.sandbox import Sandbox
from tests.conftest import STREAMS, tap_config
from tests.test_batch import batch_config

ROOT = Path(__file__).resolve().parent.parent
TARGET_CSV = ROOT / ".venv-targets" / "bin" / "target-csv"
pytestmark = pytest.mark.skipif(
    not TARGET_CSV.exists(), reason="target-csv is not installed: run `make test`"
)


def tap_into_target_csv(config: dict[str, Any], workdir: Path) -> dict[str, list[dict[str, str]]]:
    """`tap-exports --config ... | target-csv --config ...`; the rows of each stream's CSV."""
    (workdir / "tap.json").write_text(json.dumps(config))
    output = workdir / "csv"
    output.mkdir()
    target_config = {"output_path": str(output), "file_naming_scheme": "{stream_name}.csv"}
    (workdir / "target.json").write_text(json.dumps(target_config))
    tap = subprocess.Popen(
        [sys.executable, "-m", "tap_exports", "--config", str(workdir / "tap.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    target = subprocess.run(
        [str(TARGET_CSV), "--config", str(workdir / "target.json")],
        stdin=tap.stdout,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert tap.stdout is not None and tap.stderr is not None
    tap.stdout.close()
    tap_log = tap.stderr.read().decode()
    assert tap.wait(timeout=60) == 0, tap_log
    assert target.returncode == 0, target.stderr[-2000:]
    rows = {}
    for stream in STREAMS:
        with (output / f"{stream}.csv").open(newline="") as handle:
            rows[stream] = sorted(csv.DictReader(handle), key=lambda row: int(row["id"]))
    return rows


def test_batch_into_target_csv_delivers_what_record_mode_does(sandbox: Sandbox, tmp_path: Path):
    (tmp_path / "record").mkdir()
    (tmp_path / "batch").mkdir()
    # `drop`: the field is left out by both modes (the provider x feature matrix,
    # test_sdk_features, covers `evolve`, which declares it).
    base = tap_config(sandbox, window_days=2, undeclared_fields="drop")
    in_records = tap_into_target_csv(base, tmp_path / "record")
    config = {**base, "batch_config": batch_config(tmp_path / "files")}
    in_batches = tap_into_target_csv(config, tmp_path / "batch")
    for stream in STREAMS:
        assert in_records[stream], stream
        assert same_instants(in_batches[stream]) == same_instants(in_records[stream]), stream
        assert all("x_legacy_score" not in row for row in in_batches[stream])


def same_instants(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Rows with their timestamps in one form: target-csv writes a RECORD's date-times as
    it parsed them (`2025-03-01 16:47:25+00:00`) and a BATCH record's as they came."""
    return [{name: instant(value) for name, value in row.items()} for row in rows]


def instant(value: str) -> str:
    if len(value) < 19 or value[4] != "-" or value[10] not in "T ":
        return value
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
    except ValueError:
        return value
