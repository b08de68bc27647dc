"""What pushing back costs, over HTTP, for every provider: a burst of 429s costs the
`Retry-After` of each and no more (never a rate period), and the tap sends nothing the
server told it to hold.

Rate periods are 20 s here, so a 429 taken for "the period is spent" would show as a
20 s silence; the sandbox's storms answer `Retry-After: 1` (Cometly's with
`X-RateLimit-Remaining: 0`, as refusing servers say).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from tap_exports.sandbox import Faults, Limits, Sandbox, SandboxConfig
from tests.setups import cometly as cometly_setup
from tests.setups import cornect as cornect_setup
from tests.setups import userpilot as userpilot_setup
from tests.singer import sync

PERIOD = 20.0
STORMS = 3
# What may come on top of a `Retry-After: 1` before the request is sent again: the tap's
# own bookkeeping and the loopback round trip, on a loaded machine. A period is 20 s.
SLACK = 0.9


def cometly() -> tuple[SandboxConfig, Callable[[Sandbox], dict[str, Any]]]:
    sandbox = cometly_setup.sandbox_config(
        limits=Limits(create=5, status=30, period_seconds=PERIOD)
    )

    def config(running: Sandbox) -> dict[str, Any]:
        documented = cometly_setup.tap_config(running, end_date="2025-03-02T05:00:00Z")
        del documented["create_rate_limit"], documented["status_rate_limit"]
        return documented

    return sandbox, config


def userpilot() -> tuple[SandboxConfig, Callable[[Sandbox], dict[str, Any]]]:
    sandbox = userpilot_setup.sandbox_config(rate_limit=60, rate_period_seconds=PERIOD)

    def config(running: Sandbox) -> dict[str, Any]:
        guessed = userpilot_setup.tap_config(running, end_date="2025-03-03T00:00:00Z")
        del guessed["api_rate_limit"]  # the guess, which a 429 may lower
        return guessed

    return sandbox, config


def cornect() -> tuple[SandboxConfig, Callable[[Sandbox], dict[str, Any]]]:
    return cornect_setup.sandbox_config(rate_period_seconds=PERIOD), cornect_setup.tap_config


@pytest.mark.parametrize("provider", [cometly, userpilot, cornect])
def test_a_burst_of_429s_costs_its_retry_after_and_no_more(
    provider: Callable[[], tuple[SandboxConfig, Callable[[Sandbox], dict[str, Any]]]],
) -> None:
    sandbox_config, tap_config = provider()
    stormy = dataclasses.replace(sandbox_config, faults=Faults(rate_limit_storms=STORMS))
    with Sandbox(stormy) as sandbox:
        config = tap_config(sandbox) | {"rate_limit_period_seconds": PERIOD}
        result = sync(config)
        answers = sandbox.api_answers
        assert any(m["type"] == "RECORD" for m in result.messages), "nothing delivered"
    refused = [index for index, answer in enumerate(answers) if answer.status == 429]
    assert len(refused) == STORMS  # the storms, and no 429 of the tap's own making
    for index in refused:
        # The next answer is the refused request sent again, after its Retry-After.
        waited = answers[index + 1].at - answers[index].at
        assert 1.0 <= waited < 1.0 + SLACK, (answers[index], waited)
    assert answers[-1].at - answers[0].at < PERIOD, "a 429 held a rate period"
