"""What a sandbox run can be told: which provider, where to listen, what goes wrong.

The server reads the shared knobs (host, ports, faults, range requests); the emulator
that `registry.SANDBOXES` builds for `provider` reads the rest: Cometly the top-level
`spaces`, `timing` and `limits` (it came first), Userpilot and Cornect their own
`userpilot` and `cornect` fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tap_exports.sandbox.cometly.emulator import Limits, Space, Timing, default_spaces
from tap_exports.sandbox.cornect.config import CornectConfig
from tap_exports.sandbox.faults import Faults
from tap_exports.sandbox.userpilot.config import UserpilotConfig


@dataclass
class SandboxConfig:
    """Everything a sandbox run can be told; defaults are the emulated API's documented ones."""

    host: str = "127.0.0.1"
    api_port: int = 0  # 0: any free port
    download_port: int = 0
    spaces: list[Space] = field(default_factory=default_spaces)
    timing: Timing = field(default_factory=Timing)
    limits: Limits = field(default_factory=Limits)
    faults: Faults = field(default_factory=Faults)
    # Whether the storage host honours `Range: bytes=N-` (S3 does).
    range_requests: bool = True
    # Which provider's API to serve: a key of `registry.SANDBOXES`.
    provider: str = "cometly"
    # Userpilot's environments, job timing, files and request limit.
    userpilot: UserpilotConfig = field(default_factory=UserpilotConfig)
    # Cornect's tokens, companies, lists, credits, export timing, files and rate period.
    cornect: CornectConfig = field(default_factory=CornectConfig)
    # The config of a provider sandbox with no field above, by provider name: what its
    # `entry.py` builds its emulator from (a new provider needs no edit here).
    options: dict[str, Any] = field(default_factory=dict)
