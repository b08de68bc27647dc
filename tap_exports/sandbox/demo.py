"""`make demo`'s providers, from the sandbox registry: ports, Meltano plugins, row counts.

Every provider whose sandbox declares a `plug.Demo` takes part: it gets two ports from
the demo's base port on (API, then storage, in the order of the providers' names), an extractor
`tap-exports--NAME` and a loader `target-duckdb--NAME` (one DuckDB schema per provider)
in meltano.yml, and its settings in meltano.yml's `demo` environment. Those three blocks
of meltano.yml are written from here by `make hub` (scripts/hub_definition.py), and
tests/test_hub_definition.py fails when they drift; `scripts/demo.py` runs the demo.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tap_exports.sandbox.plug import Demo
from tap_exports.sandbox.registry import SANDBOXES

EXTRACTOR = "tap-exports"
LOADER = "target-duckdb"
ENVIRONMENT = "demo"
# What every demo run of the tap shares: the sandboxes' rate periods are one second.
_COMMON_TAP_CONFIG = {"poll_interval_seconds": 0.2, "rate_limit_period_seconds": 1}
_COMMON_SANDBOX_FLAGS = ("--rate-period", "1")


@dataclass(frozen=True)
class DemoProvider:
    """One provider in the demo: its sandbox's ports and flags, its plugins' names."""

    name: str
    api_prefix: str
    demo: Demo
    # Its API port is the base port plus `offset`, its storage port the one after.
    offset: int

    @property
    def extractor(self) -> str:
        """The Meltano extractor that reads it."""
        return f"{EXTRACTOR}--{self.name}"

    @property
    def loader(self) -> str:
        """The Meltano loader that writes its schema of the demo database."""
        return f"{LOADER}--{self.name}"

    @property
    def port_variable(self) -> str:
        """The environment variable meltano.yml reads its API port from."""
        return f"DEMO_{self.name.upper()}_PORT"

    @property
    def state_id(self) -> str:
        """The id Meltano keeps the run's state under."""
        return f"{ENVIRONMENT}:{self.extractor}-to-{self.loader}"

    def sandbox_command(self, python: str, base_port: int) -> list[str]:
        """The command that serves its sandbox for the demo."""
        return [
            python,
            "-m",
            "tap_exports.sandbox",
            "--provider",
            self.name,
            "--port",
            str(base_port + self.offset),
            "--download-port",
            str(base_port + self.offset + 1),
            *_COMMON_SANDBOX_FLAGS,
            *self.demo.flags,
        ]

    def tap_config(self) -> dict[str, Any]:
        """The extractor's settings in the demo environment (the port from its variable)."""
        url = f"http://127.0.0.1:${{{self.port_variable}}}{self.api_prefix}"
        return {"api_url": url, **self.demo.tap_config, **_COMMON_TAP_CONFIG}


def demo_providers() -> list[DemoProvider]:
    """The providers in the demo, in the registry's order."""
    found = [(s.name, s.api_prefix, s.demo) for s in SANDBOXES.values() if s.demo is not None]
    return [
        DemoProvider(name, prefix, demo, 2 * index)
        for index, (name, prefix, demo) in enumerate(found)
    ]


def ports_used() -> int:
    """How many ports the demo's sandboxes listen on, from the base port on."""
    return 2 * len(demo_providers())


def _scalar(value: Any) -> str:
    """A YAML scalar: JSON's syntax is YAML's, and a string quoted stays a string."""
    return json.dumps(value)


def _mapping(config: Mapping[str, Any], indent: str) -> list[str]:
    return [f"{indent}{key}: {_scalar(value)}\n" for key, value in config.items()]


def _inheriting(indent: str, name: str, parent: str, key: str, value: str) -> list[str]:
    """One plugin that is `parent` with one setting of its own."""
    return [
        f"{indent}- name: {name}\n",
        f"{indent}  inherit_from: {parent}\n",
        f"{indent}  config:\n",
        f"{indent}    {key}: {value}\n",
    ]


def extractors_block(indent: str) -> str:
    """meltano.yml's demo extractors: the tap once per provider, its own settings and state."""
    return "".join(
        line
        for p in demo_providers()
        for line in _inheriting(indent, p.extractor, EXTRACTOR, "provider", p.name)
    )


def loaders_block(indent: str) -> str:
    """meltano.yml's demo loaders: DuckDB once per provider, into a schema of its name."""
    return "".join(
        line
        for p in demo_providers()
        for line in _inheriting(indent, p.loader, LOADER, "default_target_schema", p.name)
    )


def environment_block(indent: str) -> str:
    """The demo environment's extractor settings: each sandbox's port, key and dates."""
    lines: list[str] = []
    for provider in demo_providers():
        lines += [f"{indent}- name: {provider.extractor}\n", f"{indent}  config:\n"]
        lines += _mapping(provider.tap_config(), f"{indent}    ")
    return "".join(lines)
