"""The providers the sandbox can emulate, by name: how `SandboxConfig.provider` is served.

Adding a provider is one module with its `Emulator` and one entry here; the server, the
download host, the faults and the CLI's `--provider` choices need no change.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from tap_exports.engine.clock import Clock
from tap_exports.sandbox.cometly.emulator import CometlyEmulator
from tap_exports.sandbox.config import SandboxConfig
from tap_exports.sandbox.cornect.emulator import CornectEmulator
from tap_exports.sandbox.emulator import Emulator, SignUrl
from tap_exports.sandbox.userpilot.emulator import UserpilotEmulator

# Builds a provider's emulator from a run's config, the server's URL signer and the clock
# the emulator reads and waits on.
EmulatorFactory = Callable[[SandboxConfig, SignUrl, Clock], Emulator]


def _cometly(config: SandboxConfig, sign_url: SignUrl, clock: Clock) -> Emulator:
    return CometlyEmulator(
        spaces=config.spaces,
        timing=config.timing,
        limits=config.limits,
        faults=config.faults,
        sign_url=sign_url,
        clock=clock,
    )


def _userpilot(config: SandboxConfig, sign_url: SignUrl, clock: Clock) -> Emulator:
    return UserpilotEmulator(
        config=config.userpilot, faults=config.faults, sign_url=sign_url, clock=clock
    )


def _cornect(config: SandboxConfig, sign_url: SignUrl, clock: Clock) -> Emulator:
    return CornectEmulator(
        config=config.cornect, faults=config.faults, sign_url=sign_url, clock=clock
    )


EMULATORS: Mapping[str, EmulatorFactory] = MappingProxyType(
    {
        CometlyEmulator.name: _cometly,
        CornectEmulator.name: _cornect,
        UserpilotEmulator.name: _userpilot,
    }
)


def build_emulator(config: SandboxConfig, sign_url: SignUrl, clock: Clock) -> Emulator:
    """The emulator of `config.provider`; a ValueError naming the choices if unknown."""
    factory = EMULATORS.get(config.provider)
    if factory is None:
        known = ", ".join(sorted(EMULATORS))
        raise ValueError(f"unknown sandbox provider {config.provider!r}; known: {known}")
    return factory(config, sign_url, clock)
