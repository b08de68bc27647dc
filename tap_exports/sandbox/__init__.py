"""A faithful local emulator of the providers' export APIs, for demos and tests.

Run it with `python -m tap_exports.sandbox` (or `tap-exports-sandbox`), or embed it:

    with Sandbox(SandboxConfig(limits=Limits(period_seconds=1))) as sandbox:
        config = {"api_url": sandbox.api_url, "api_key": DEMO_KEY, ...}

`SandboxConfig(provider=...)` picks the provider (a key of `registry.SANDBOXES`: a folder
of `sandbox/` with an `entry.py`); for Userpilot,
`SandboxConfig(provider="userpilot", userpilot=UserpilotConfig(...))`, and for Cornect,
`SandboxConfig(provider="cornect", cornect=CornectConfig(...))`.
`Sandbox(config, clock=...)` runs it on another `engine.clock.Clock` than the system's (a
test's manual clock, advanced instead of sleeping).
"""

from tap_exports.sandbox.cometly.data import DataSpec
from tap_exports.sandbox.cometly.emulator import DEMO_KEY, INACTIVE_KEY, Limits, Space, Timing
from tap_exports.sandbox.config import SandboxConfig
from tap_exports.sandbox.cornect.config import (
    CORNECT_DEMO_LIST,
    CORNECT_DEMO_TOKEN,
    CORNECT_DEMO_WORKSPACE,
    CORNECT_EMPTY_LIST,
    CORNECT_EXPIRED_TOKEN,
    CORNECT_LEGACY_TOKEN,
    CORNECT_READ_TOKEN,
    CORNECT_REMOVED_TOKEN,
    CornectConfig,
    CornectData,
    CornectTiming,
    CornectToken,
)
from tap_exports.sandbox.faults import Faults
from tap_exports.sandbox.server import Sandbox
from tap_exports.sandbox.userpilot.config import (
    USERPILOT_DEMO_TOKEN,
    USERPILOT_NO_EXPORT_TOKEN,
    UserpilotConfig,
    UserpilotEnvironment,
    UserpilotTiming,
)
from tap_exports.sandbox.userpilot.data import UserpilotData

__all__ = [
    "CORNECT_DEMO_LIST",
    "CORNECT_DEMO_TOKEN",
    "CORNECT_DEMO_WORKSPACE",
    "CORNECT_EMPTY_LIST",
    "CORNECT_EXPIRED_TOKEN",
    "CORNECT_LEGACY_TOKEN",
    "CORNECT_READ_TOKEN",
    "CORNECT_REMOVED_TOKEN",
    "DEMO_KEY",
    "INACTIVE_KEY",
    "USERPILOT_DEMO_TOKEN",
    "USERPILOT_NO_EXPORT_TOKEN",
    "CornectConfig",
    "CornectData",
    "CornectTiming",
    "CornectToken",
    "DataSpec",
    "Faults",
    "Limits",
    "Sandbox",
    "SandboxConfig",
    "Space",
    "Timing",
    "UserpilotConfig",
    "UserpilotData",
    "UserpilotEnvironment",
    "UserpilotTiming",
]
