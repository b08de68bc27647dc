"""Fixtures every test module may ask for: a fresh Cometly sandbox per test.

The providers' setups are in `tests/setups/`; running the tap and reading its messages is
in `tests/singer.py`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tap_exports.sandbox import Sandbox
from tests.setups import cometly


@pytest.fixture
def sandbox() -> Iterator[Sandbox]:
    """Cometly's sandbox as `tests/setups/cometly.py` sets it up, on the system clock."""
    with Sandbox(cometly.sandbox_config()) as running:
        yield running
