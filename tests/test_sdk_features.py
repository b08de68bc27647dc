"""Every singer-sdk feature on every provider, as a real SDK target reads it: a matrix.

Each provider's sandbox is synced as a user would (`tap-exports | target-csv`, the
MeltanoLabs target in `.venv-targets`) in RECORD mode, then with one feature on: BATCH
(gzipped JSONL, and plain JSONL), a property deselected in the catalog, a stream map
(a property removed, one computed), a stream copied under another name, flattening.
Each run must deliver the RECORD run's rows, modulo the feature, including the field
each sandbox's exports carry beyond the schema (declared on the way: `evolve`).

Rows are compared as multisets (Userpilot's events have no id) with timestamps as
instants: target-csv writes a RECORD's date-times as it parsed them and a BATCH
record's as they came.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tap_exports.sandbox import Sandbox, SandboxConfig
from tap_exports.sandbox.cornect.data import SCORE_FIELD
from tap_exports.sandbox.userpilot.data import EXTRA_FIELD
from tests.batches import batch_config
from tests.builders import multiset
from tests.setups import cometly as cometly_setup
from tests.setups import cornect as cornect_setup
from tests.setups import userpilot as userpilot_setup
from tests.singer import discover

ROOT = Path(__file__).resolve().parent.parent
TARGET_CSV = ROOT / ".venv-targets" / "bin" / "target-csv"
pytestmark = pytest.mark.skipif(
    not TARGET_CSV.exists(), reason="target-csv is not installed: run `make test`"
)

Rows = dict[str, list[dict[str, str]]]


@dataclass(frozen=True)
class Case:
    """One provider as the matrix syncs it."""

    sandbox: Callable[[], SandboxConfig]
    config: Callable[[Sandbox], dict[str, Any]]
    streams: tuple[str, ...]
    stream: str  # the one the features are tried on
    prop: str  # a property of `stream` to deselect, remove or flatten around
    undeclared: str  # a field its exports carry that no schema declares


CASES = {
    "cometly": Case(
        cometly_setup.sandbox_config,
        lambda sandbox: cometly_setup.tap_config(sandbox, window_days=7),
        cometly_setup.STREAMS,
        "contacts",
        "email",
        "x_legacy_score",
    ),
    "userpilot": Case(
        userpilot_setup.sandbox_config,
        userpilot_setup.tap_config,
        ("events", "users", "companies"),
        "events",
        "browser",
        EXTRA_FIELD,
    ),
    "cornect": Case(
        cornect_setup.sandbox_config,
        cornect_setup.tap_config,
        ("companies",),
        "companies",
        "domain",
        SCORE_FIELD,
    ),
}


@pytest.fixture(scope="module", params=list(CASES))
def provider(request: pytest.FixtureRequest) -> Iterator[tuple[Case, Sandbox]]:
    case = CASES[request.param]
    with Sandbox(case.sandbox()) as sandbox:
        yield case, sandbox


@pytest.fixture(scope="module")
def baseline(provider: tuple[Case, Sandbox], tmp_path_factory: pytest.TempPathFactory) -> Rows:
    case, sandbox = provider
    return into_target_csv(case, case.config(sandbox), tmp_path_factory.mktemp("record"))


def into_target_csv(
    case: Case, config: dict[str, Any], workdir: Path, catalog: dict[str, Any] | None = None
) -> Rows:
    """`tap-exports --config ... [--catalog ...] | target-csv`; every CSV's rows by stream."""
    (workdir / "tap.json").write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_exports", "--config", str(workdir / "tap.json")]
    if catalog is not None:
        (workdir / "catalog.json").write_text(json.dumps(catalog))
        command += ["--catalog", str(workdir / "catalog.json")]
    output = workdir / "csv"
    output.mkdir()
    # A file per sink: target-csv starts a new sink when a SCHEMA message changes the
    # columns (a field declared on the way), and one CSV file has one header.
    target_config = {
        "output_path": str(output),
        "file_naming_scheme": "{stream_name}--{timestamp}.csv",
        "timestamp_format": "%H%M%S%f",
    }
    (workdir / "target.json").write_text(json.dumps(target_config))
    tap = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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
    assert target.returncode == 0, target.stderr[-3000:]
    assert tap.wait(timeout=60) == 0, tap_log[-3000:]
    rows: Rows = {}
    for path in sorted(output.glob("*.csv")):
        with path.open(newline="") as handle:
            rows.setdefault(path.stem.split("--")[0], []).extend(csv.DictReader(handle))
    for stream, written in rows.items():
        # Rows written before a field was declared lack its column: empty, as null is.
        columns = {name: "" for row in written for name in row}
        rows[stream] = [
            {name: instant(value) for name, value in {**columns, **row}.items()} for row in written
        ]
    return rows


def instant(value: str) -> str:
    """A timestamp in one form: target-csv writes a RECORD's date-times as it parsed them
    (`2025-03-01 16:47:25+00:00`) and a BATCH record's as they came."""
    if len(value) < 19 or value[4] != "-" or value[10] not in "T ":
        return value
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
    except ValueError:
        return value


def without(rows: list[dict[str, str]], *names: str) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k not in names} for row in rows]


def test_record_mode_delivers_every_stream_with_the_undeclared_field_as_a_column(
    provider: tuple[Case, Sandbox], baseline: Rows
):
    case, _ = provider
    for stream in case.streams:
        assert baseline[stream], stream
    rows = baseline[case.stream]
    assert case.undeclared in rows[0], "the field the exports carry is a column"
    assert any(row[case.undeclared] for row in rows)


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_batch_delivers_what_record_mode_does(
    provider: tuple[Case, Sandbox], baseline: Rows, tmp_path: Path, compression: str
):
    case, sandbox = provider
    config = {
        **case.config(sandbox),
        "batch_config": batch_config(tmp_path / "files", batch_size=50, compression=compression),
    }
    rows = into_target_csv(case, config, tmp_path)
    for stream in case.streams:
        assert multiset(rows[stream]) == multiset(baseline[stream]), stream


def test_batch_and_record_mode_both_leave_out_a_field_when_told_to_drop_it(
    provider: tuple[Case, Sandbox], tmp_path: Path
):
    case, sandbox = provider
    config = {**case.config(sandbox), "undeclared_fields": "drop"}
    (tmp_path / "record").mkdir()
    in_records = into_target_csv(case, config, tmp_path / "record")
    batched = {**config, "batch_config": batch_config(tmp_path / "files", batch_size=50)}
    in_batches = into_target_csv(case, batched, tmp_path)
    for stream in case.streams:
        assert multiset(in_batches[stream]) == multiset(in_records[stream]), stream
        assert all(case.undeclared not in row for row in in_batches[stream]), stream


def test_a_deselected_property_is_left_out_and_nothing_else(
    provider: tuple[Case, Sandbox], baseline: Rows, tmp_path: Path
):
    case, sandbox = provider
    config = case.config(sandbox)
    catalog = discover(config, tmp_path)
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            item["metadata"]["selected"] = item["breadcrumb"] != ["properties", case.prop] or (
                entry["tap_stream_id"] != case.stream
            )
    rows = into_target_csv(case, config, tmp_path, catalog)
    assert case.prop not in rows[case.stream][0]
    assert multiset(rows[case.stream]) == multiset(without(baseline[case.stream], case.prop))
    for stream in set(case.streams) - {case.stream}:
        assert multiset(rows[stream]) == multiset(baseline[stream]), stream


def test_a_stream_map_removes_and_computes_properties(
    provider: tuple[Case, Sandbox], baseline: Rows, tmp_path: Path
):
    case, sandbox = provider
    maps = {case.stream: {case.prop: None, "prop_present": f"str({case.prop} is not None)"}}
    rows = into_target_csv(case, {**case.config(sandbox), "stream_maps": maps}, tmp_path)
    mapped = rows[case.stream]
    assert multiset(without(mapped, "prop_present")) == multiset(
        without(baseline[case.stream], case.prop)
    )
    present = Counter(row["prop_present"] for row in mapped)
    assert present == Counter(str(bool(row[case.prop])) for row in baseline[case.stream]), (
        "computed from the property before it was removed"
    )


def test_a_stream_copied_under_another_name_gets_every_row(
    provider: tuple[Case, Sandbox], baseline: Rows, tmp_path: Path
):
    case, sandbox = provider
    maps = {f"{case.stream}_copy": {"__source__": case.stream}}
    rows = into_target_csv(case, {**case.config(sandbox), "stream_maps": maps}, tmp_path)
    assert multiset(rows[f"{case.stream}_copy"]) == multiset(baseline[case.stream])
    assert multiset(rows[case.stream]) == multiset(baseline[case.stream])


def test_flattening_keeps_every_row_and_every_flat_value(
    provider: tuple[Case, Sandbox], baseline: Rows, tmp_path: Path
):
    case, sandbox = provider
    config = {**case.config(sandbox), "flattening_enabled": True, "flattening_max_depth": 1}
    rows = into_target_csv(case, config, tmp_path)
    for stream in case.streams:
        flat, plain = rows[stream], baseline[stream]
        assert len(flat) == len(plain), stream
        # Scalar columns are as they were; nested ones become JSON text or columns.
        nested = {k for row in plain for k, v in row.items() if v[:1] in ("[", "{")}
        scalar = [name for name in plain[0] if name in flat[0] and name not in nested]
        assert case.undeclared in scalar or stream != case.stream
        assert multiset([{k: r[k] for k in scalar} for r in flat]) == multiset(
            [{k: r[k] for k in scalar} for r in plain]
        ), stream
