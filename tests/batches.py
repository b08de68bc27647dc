"""BATCH mode as the tests ask for it and read it: the batch config, then the files each
BATCH message announced, opened as an SDK target would."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

from tests.singer import SyncResult


def batch_config(
    root: Path, batch_size: int = 10_000, *, compression: str = "gzip"
) -> dict[str, Any]:
    """JSONL files under `root`, `batch_size` records at most in each."""
    return {
        "encoding": {"format": "jsonl", "compression": compression},
        "storage": {"root": root.as_uri(), "prefix": "batch-"},
        "batch_size": batch_size,
    }


def batch_files(result: SyncResult) -> list[tuple[str, Path]]:
    """(stream, file) for every file of every BATCH message, in order."""
    return [
        (message["stream"], Path(uri.removeprefix("file://")))
        for message in result.messages
        if message["type"] == "BATCH"
        for uri in message["manifest"]
    ]


def file_lines(path: Path) -> list[bytes]:
    """The lines of a gzipped batch file."""
    with gzip.open(path, "rb") as handle:
        return handle.read().splitlines()
