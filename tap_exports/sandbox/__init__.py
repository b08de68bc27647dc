"""A faithful local emulator of the providers' export APIs, for demos and tests.

Run it with `python -m tap_exports.sandbox` (or `tap-exports-sandbox`), or embed it:

    with Sandbox(SandboxConfig(limits=Limits(period_seconds=1))) as sandbox:
        config = {"api_url": sandbox.api_url, "api_key": DEMO_KEY, ...}

`SandboxConfig(provider=...)` picks the provider (a key of `registry.EMULATORS`).
"""

from tap_exports.sandbox.cometly import DEMO_KEY, INACTIVE_KEY, Limits, Space, Timing
from tap_exports.sandbox.config import SandboxConfig
from tap_exports.sandbox.data import DataSpec
from tap_exports.sandbox.faults import Faults
from tap_exports.sandbox.server import Sandbox

__all__ = [
    "DEMO_KEY",
    "INACTIVE_KEY",
    "DataSpec",
    "Faults",
    "Limits",
    "Sandbox",
    "SandboxConfig",
    "Space",
    "Timing",
]
