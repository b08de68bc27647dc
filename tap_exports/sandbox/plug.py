"""What a provider's sandbox folder declares, so nothing outside it names the provider.

Each `sandbox/NAME/` package holds an `entry.py` whose `SANDBOX` is one
`ProviderSandbox`: how to build its emulator, the command line flags only it reads and
how they shape its config, what it prints on start, and how `make demo` runs it (its
flags, the tap's settings, and the rows each table must hold afterwards). The registry
finds these by looking at the folders (`registry.py`); the server, the CLI, the demo
and the Meltano project's demo plugins (`demo.py`) are built from them.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tap_exports.engine.clock import Clock
from tap_exports.sandbox.config import SandboxConfig
from tap_exports.sandbox.emulator import Emulator, SignUrl

# Builds a provider's emulator from a run's config, the server's URL signer and the clock
# the emulator reads and waits on.
EmulatorFactory = Callable[[SandboxConfig, SignUrl, Clock], Emulator]


class Flags(Protocol):
    """Where a provider adds its command line flags (its `argparse` group)."""

    def add_argument(self, *names: str, **options: Any) -> Any:
        """Declare one flag, as `argparse.ArgumentParser.add_argument` does."""
        ...


@dataclass(frozen=True)
class Demo:
    """How `make demo` runs one provider: sandbox flags, tap settings, rows expected.

    `tap_config` leaves out `api_url` (the demo's port decides it). `tables` counts the
    rows the sandbox holds per table: the demo's dates cover all of it, so after a run
    each table must hold exactly that many.
    """

    flags: tuple[str, ...]
    tap_config: Mapping[str, Any]
    tables: Callable[[], Mapping[str, int]]


def no_arguments(group: Flags) -> None:
    """A sandbox with no flags of its own."""


def as_given(args: argparse.Namespace, config: SandboxConfig) -> SandboxConfig:
    """A sandbox whose config no flag changes."""
    return config


@dataclass(frozen=True)
class ProviderSandbox:
    """One provider's sandbox, as the server, the CLI and the demo see it."""

    name: str
    build: EmulatorFactory
    # The path the API lives under: the tail of the tap's `api_url` (the emulator's).
    api_prefix: str
    # Seconds a download URL stays valid by default (the CLI's `--url-ttl` help says it).
    url_ttl_seconds: int
    # `--help` groups these under the provider's name; `configure` reads them.
    add_arguments: Callable[[Flags], None] = no_arguments
    # The run's config with what the flags say (only called for the provider served).
    configure: Callable[[argparse.Namespace, SandboxConfig], SandboxConfig] = as_given
    # Lines printed once it serves: keys to use, the data it holds.
    banner: Callable[[argparse.Namespace], list[str]] = lambda args: []
    demo: Demo | None = None
