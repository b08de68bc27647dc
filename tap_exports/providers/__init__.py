"""Providers: one module each, knowing endpoints, bodies, status words and limits.

`PROVIDERS` is how the `provider` setting picks one.
"""

from __future__ import annotations

from tap_exports.providers.base import Provider
from tap_exports.providers.cometly import COMETLY
from tap_exports.providers.cornect import CORNECT
from tap_exports.providers.userpilot import USERPILOT

PROVIDERS: dict[str, Provider] = {
    provider.name: provider for provider in (COMETLY, USERPILOT, CORNECT)
}
