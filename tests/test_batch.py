"""BATCH mode: export files handed over as they are, cut, or re-encoded; STATE never ahead.

Each BATCH manifest names files in the batch storage (a temporary directory here);
the tests open them as an SDK target would and compare with the sandbox's data, and
with the very bytes the sandbox served for each export.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import re
from pathlib import Path

import requests

from tap_exports.engine.errors import DecodeError
from tap_exports.sandbox import DEMO_KEY, DataSpec, Faults, Sandbox, Space
from tap_exports.sdk.tap import TapExports
from tests.batches import batch_config, batch_files, file_lines
from tests.setups.cometly import (
    END,
    REPLICATION_KEYS,
    STREAMS,
    expected,
    sandbox_config,
    tap_config,
)
from tests.singer import ids, sync, sync_until_stopped

# Files the tap hands over as they are, or cut from one: named after the export.
_EXPORT_FILE = re.compile(r"tap-exports--(\w+)-(\d+)-(export|part\d+)-")

# The field some sandbox records carry that no schema declares (sandbox/cometly/data.py).
EXTRA_FIELD = "x_legacy_score"


def served_file(sandbox: Sandbox, stream: str, export_id: str) -> bytes:
    """The bytes the sandbox serves for an export, fetched as any client would."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {DEMO_KEY}"
    status = session.get(f"{sandbox.api_url}/{stream}/exports/{export_id}", timeout=10).json()
    return requests.get(status["download_url"], timeout=10).content


def undeclared_out(line: bytes) -> bytes:
    """A served line as the tap delivers it without the undeclared key: re-encoded, its
    keys in the schema's order (the primary and replication keys first)."""
    record = json.loads(line)
    record.pop(EXTRA_FIELD, None)
    first = {k: record.pop(k) for k in ("id", "created_at", "event_time_utc") if k in record}
    return json.dumps({**first, **record}, separators=(",", ":"), ensure_ascii=False).encode()


def test_export_files_are_handed_over_byte_for_byte(sandbox: Sandbox, tmp_path: Path):
    """Events exports are whole local days: a file goes as it is, its undeclared field
    declared first (a SCHEMA message before the BATCH one). The companies and contacts
    exports also hold the next window's first second (the sandbox's end bound is
    inclusive): their lines go unchanged, minus those."""
    result = sync(tap_config(sandbox, window_days=2, batch_config=batch_config(tmp_path)))
    files = batch_files(result)
    events = [path for stream, path in files if stream == "events"]
    assert events and all(re.search(r"-export-", path.name) for path in events)
    for stream, path in files:
        match = _EXPORT_FILE.search(path.name)
        assert match, path.name
        served = gzip.decompress(served_file(sandbox, stream, match.group(2))).splitlines()
        assert set(file_lines(path)) <= set(served)  # its lines, as they were
    for stream in STREAMS:  # declared before the first file holding it is announced
        messages = [m for m in result.messages if m.get("stream") == stream]
        declared = next(
            i
            for i, m in enumerate(messages)
            if m["type"] == "SCHEMA" and EXTRA_FIELD in m["schema"]["properties"]
        )
        holding = next(
            i
            for i, m in enumerate(messages)
            if m["type"] == "BATCH"
            and any(
                EXTRA_FIELD.encode() in b"".join(file_lines(Path(uri[7:]))) for uri in m["manifest"]
            )
        )
        assert declared < holding, stream
    for stream in STREAMS:
        rows = [json.loads(row) for s, path in files if s == stream for row in file_lines(path)]
        assert ids(rows) == ids(expected(sandbox, stream)), stream


def test_undeclared_fields_dropped_re_encode_the_lines_that_carry_them(
    sandbox: Sandbox, tmp_path: Path
):
    """With `undeclared_fields: drop` a file goes as it is unless a record in it has a key
    no schema declares: then its records go without it."""
    config = tap_config(
        sandbox, window_days=2, batch_config=batch_config(tmp_path), undeclared_fields="drop"
    )
    result = sync(config)
    files = batch_files(result)
    assert all(message["type"] != "RECORD" for message in result.messages)
    re_encoded = as_is = 0
    for stream, path in files:
        match = _EXPORT_FILE.search(path.name)
        assert match, path.name
        served = served_file(sandbox, stream, match.group(2))
        if match.group(3) == "export":
            as_is += 1
            assert path.read_bytes() == served
            assert EXTRA_FIELD.encode() not in gzip.decompress(served)
            continue
        lines = file_lines(path)
        served_lines = gzip.decompress(served).splitlines()
        if any(EXTRA_FIELD.encode() in line for line in served_lines):
            re_encoded += 1  # its records, each without the key
            assert {line for line in lines} <= {undeclared_out(line) for line in served_lines}
        else:
            assert set(lines) <= set(served_lines)  # its lines, as they were
    assert re_encoded > 0
    for stream in STREAMS:
        rows = [json.loads(row) for s, path in files if s == stream for row in file_lines(path)]
        assert ids(rows) == ids(expected(sandbox, stream)), stream
    assert len(list(tmp_path.iterdir())) == len(files)  # no stray copies left behind


def test_files_whose_every_key_is_declared_go_as_they_are(tmp_path: Path):
    declared = DataSpec(undeclared_share=0.0)
    with Sandbox(sandbox_config(spaces=[Space(api_key=DEMO_KEY, data=declared)])) as sandbox:
        result = sync(tap_config(sandbox, window_days=2, batch_config=batch_config(tmp_path)))
        for stream, path in batch_files(result):
            match = _EXPORT_FILE.search(path.name)
            assert match, path.name
            if stream == "events":  # whole local days: nothing to drop
                assert match.group(3) == "export"
                assert path.read_bytes() == served_file(sandbox, stream, match.group(2))


def test_files_over_batch_size_are_regrouped_at_line_boundaries_not_re_encoded(
    sandbox: Sandbox, tmp_path: Path
):
    config = tap_config(
        sandbox, window_days=2, batch_config=batch_config(tmp_path, 7), undeclared_fields="drop"
    )
    result = sync(config)
    parts: dict[tuple[str, str], list[bytes]] = {}
    for stream, path in batch_files(result):
        match = _EXPORT_FILE.search(path.name)
        assert match, path.name
        lines = file_lines(path)
        assert 0 < len(lines) <= 7
        parts.setdefault((stream, match.group(2)), []).extend(lines)
    assert any(len(lines) > 7 for lines in parts.values())  # some were cut
    for (stream, export_id), lines in parts.items():
        served = gzip.decompress(served_file(sandbox, stream, export_id)).splitlines()
        # Same order; unchanged, or (a file with a key no schema declares) without it.
        if any(EXTRA_FIELD.encode() in line for line in served):
            served = [undeclared_out(line) for line in served]
        assert lines == [line for line in served if line in set(lines)]
    for stream in STREAMS:
        rows = [json.loads(row) for (s, _), lines in parts.items() if s == stream for row in lines]
        assert ids(rows) == ids(expected(sandbox, stream)), stream
    assert len(list(tmp_path.iterdir())) == len(batch_files(result))  # originals removed


def test_a_file_with_a_bad_line_is_re_encoded_with_bad_record_policy_skip(tmp_path: Path):
    with Sandbox(sandbox_config(faults=Faults(garbled_lines=1))) as sandbox:
        config = tap_config(
            sandbox, bad_record_policy="skip", window_days=2, batch_config=batch_config(tmp_path)
        )
        result = sync(config)
        files = batch_files(result)
        re_encoded = [path for _, path in files if not _EXPORT_FILE.search(path.name)]
        assert len(re_encoded) == 1  # the damaged window only; the others went as they are
        for stream in STREAMS:
            rows = [
                json.loads(line) for s, path in files if s == stream for line in file_lines(path)
            ]
            assert ids(rows) == ids(expected(sandbox, stream)), stream


def test_a_file_with_a_bad_line_stops_batch_mode_like_record_mode(tmp_path: Path):
    with Sandbox(sandbox_config(faults=Faults(garbled_lines=1))) as sandbox:
        config = tap_config(sandbox, window_days=2, batch_config=batch_config(tmp_path))
        result, failure = sync_until_stopped(config)
    assert isinstance(failure, DecodeError)
    assert re.search(r"companies export \d+ .*line \d+", str(failure))
    assert "replication_key_value" not in result.final_state["bookmarks"].get("companies", {})


def test_stream_maps_leave_batching_to_singer_sdk_and_apply_as_in_record_mode(
    sandbox: Sandbox, tmp_path: Path
):
    maps = {"companies": {"name_upper": "(name or '').upper()", "domain": "__NULL__"}}
    config = tap_config(
        sandbox, window_days=2, batch_config=batch_config(tmp_path), stream_maps=maps
    )
    result = sync(config)
    companies = [path for stream, path in batch_files(result) if stream == "companies"]
    assert companies and not any(_EXPORT_FILE.search(path.name) for path in companies)
    rows = [json.loads(line) for path in companies for line in file_lines(path)]
    assert ids(rows) == ids(expected(sandbox, "companies"))
    in_record_mode = sync(tap_config(sandbox, window_days=2, stream_maps=maps))
    assert sorted(rows, key=lambda r: r["id"]) == sorted(
        in_record_mode.records("companies"), key=lambda r: r["id"]
    )
    assert all("domain" not in row for row in rows)
    assert any(EXTRA_FIELD in row for row in rows)  # declared on the way, as in RECORD mode


def test_batch_mode_never_emits_state_ahead_of_the_batch_holding_its_records(
    sandbox: Sandbox, tmp_path: Path
):
    config = tap_config(sandbox, window_days=2, batch_config=batch_config(tmp_path, 25))
    result = sync(config)
    delivered: dict[str, list[dict]] = {stream: [] for stream in STREAMS}
    for message in result.messages:
        if message["type"] == "BATCH":
            for uri in message["manifest"]:
                with gzip.open(Path(uri.removeprefix("file://")), "rt") as handle:
                    delivered[message["stream"]] += [json.loads(line) for line in handle]
        elif message["type"] == "STATE":
            for stream, state in message["value"]["bookmarks"].items():
                bookmark = state.get("replication_key_value")
                if bookmark is None:
                    continue
                key = REPLICATION_KEYS[stream]
                owed = [r for r in expected(sandbox, stream) if r[key] < bookmark]
                missing = set(ids(owed)) - set(ids(delivered[stream]))
                assert not missing, f"{stream} STATE {bookmark} ran ahead of records {missing}"
    for stream in STREAMS:
        assert ids(delivered[stream]) == ids(expected(sandbox, stream))


def test_batch_mode_state_in_memory_never_passes_unannounced_records(
    sandbox: Sandbox, tmp_path: Path
):
    """On SIGTERM the SDK writes the tap's in-memory state, whatever it holds at that
    moment; so at every moment it must only cover records already in a BATCH message."""
    tap = TapExports(
        config=tap_config(sandbox, window_days=2, batch_config=batch_config(tmp_path, 25)),
        parse_env_config=False,
    )
    announced: dict[str, set[int]] = {stream: set() for stream in STREAMS}
    truth = {stream: expected(sandbox, stream) for stream in STREAMS}
    checks = 0

    def check_state() -> None:
        nonlocal checks
        checks += 1
        for stream, state in tap.state.get("bookmarks", {}).items():
            bookmark = state.get("replication_key_value")
            if bookmark:
                key = REPLICATION_KEYS[stream]
                owed = {r["id"] for r in truth[stream] if r[key] < bookmark}
                assert owed <= announced[stream], f"{stream} state {bookmark} ran ahead"

    class Probe(io.StringIO):
        def write(self, text: str) -> int:
            check_state()  # the state as it stood since the previous message
            for line in filter(str.strip, text.splitlines()):
                message = json.loads(line)
                if message["type"] == "BATCH":
                    for uri in message["manifest"]:
                        with gzip.open(Path(uri.removeprefix("file://")), "rt") as handle:
                            announced[message["stream"]] |= {
                                json.loads(row)["id"] for row in handle
                            }
            return super().write(text)

    with contextlib.redirect_stdout(Probe()):
        tap.sync_all()
    check_state()
    assert checks > 20
    assert tap.state["bookmarks"]["events"]["replication_key_value"] == END
