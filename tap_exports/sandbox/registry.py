"""The providers the sandbox can emulate, by name: each folder of `sandbox/` with an `entry`.

A provider's sandbox is its folder, `sandbox/NAME/`, whose `entry.py` declares one
`plug.ProviderSandbox` as `SANDBOX`: the registry finds it by looking, so adding a
provider edits nothing here, in the server, the download host, the faults, the CLI's
`--provider` choices and flags, or the demo. `SANDBOXES` may also be given one at run
time (a test's own provider, say) before a `Sandbox` is made for it.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

import tap_exports.sandbox as _package
from tap_exports.engine.clock import Clock
from tap_exports.sandbox.config import SandboxConfig
from tap_exports.sandbox.emulator import Emulator, SignUrl
from tap_exports.sandbox.plug import ProviderSandbox


def _found() -> dict[str, ProviderSandbox]:
    """Every `sandbox/NAME/entry.py`'s `SANDBOX`, by name, in the folders' order.

    A folder without an `entry.py` is not a provider's (shared code, say): left alone.
    """
    found: dict[str, ProviderSandbox] = {}
    for folder in sorted(pkgutil.iter_modules(_package.__path__), key=lambda m: m.name):
        entry = f"{_package.__name__}.{folder.name}.entry"
        if not folder.ispkg or importlib.util.find_spec(entry) is None:
            continue
        module = importlib.import_module(entry)
        sandbox: ProviderSandbox = module.SANDBOX
        found[sandbox.name] = sandbox
    return found


SANDBOXES: dict[str, ProviderSandbox] = _found()


def build_emulator(config: SandboxConfig, sign_url: SignUrl, clock: Clock) -> Emulator:
    """The emulator of `config.provider`; a ValueError naming the choices if unknown."""
    sandbox = SANDBOXES.get(config.provider)
    if sandbox is None:
        known = ", ".join(sorted(SANDBOXES))
        raise ValueError(f"unknown sandbox provider {config.provider!r}; known: {known}")
    return sandbox.build(config, sign_url, clock)
