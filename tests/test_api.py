"""Pure parts of the API client: rate headers (Retry-After, Remaining, Reset) and error bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import requests

from tap_exports.engine.http.api import (
    ApiClient,
    RetryPolicy,
    _reset_seconds,
    _retry_after_seconds,
    api_error_message,
)
from tap_exports.engine.http.budget import RateBudget
from tests.fakes import ManualClock
from tests.loopback import Script, serving


def response(status: int, body: bytes = b"", **headers: str) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = body
    answer.headers.update(headers)
    return answer


NOW = datetime(2025, 3, 1, 12, tzinfo=UTC)


def test_retry_after_in_seconds():
    assert _retry_after_seconds(response(429, **{"Retry-After": "7"}), default=1, now=NOW) == 7


def test_retry_after_as_an_http_date_read_on_the_clock():
    later = format_datetime(NOW + timedelta(seconds=30), usegmt=True)
    assert _retry_after_seconds(response(429, **{"Retry-After": later}), default=1, now=NOW) == 30


def test_missing_retry_after_falls_back_to_the_default():
    assert _retry_after_seconds(response(429), default=12, now=NOW) == 12


def test_a_503_that_says_when_to_come_back_is_retried_then_and_not_at_a_guess():
    clock = ManualClock()
    script = Script(queued={"/jobs": [(503, {}, {"Retry-After": "3"}), (503, {}, {})]})
    script.answers["/jobs"] = (200, {"ok": True})
    with serving(script) as url:
        client = ApiClient(
            base_url=url,
            headers={},
            budgets={"api": RateBudget("api", limit=30, period=60, clock=clock)},
            timeout_seconds=5,
            retry=RetryPolicy(base_delay_seconds=100.0),
            clock=clock,
        )
        assert client.get_json("/jobs", budget="api") == {"ok": True}
    assert clock.sleeps[0] == 3  # as asked; the second 503 said nothing: our backoff
    assert 0 <= clock.sleeps[1] <= 60 and len(clock.sleeps) == 2


def test_error_messages_from_each_providers_envelope():
    assert api_error_message(response(422, b'{"message": "Bad date."}')) == "Bad date."
    cornect = b'{"detail": {"code": "INVALID_TOKEN", "message": "Token revoked."}}'
    assert api_error_message(response(401, cornect)) == "Token revoked."
    userpilot = b'{"errors": [{"message": "Export job already in progress"}]}'
    assert api_error_message(response(409, userpilot)) == "Export job already in progress"
    assert api_error_message(response(502, b"<html>Bad Gateway</html>")) == (
        "<html>Bad Gateway</html>"
    )


def client_and_budget() -> tuple[ApiClient, RateBudget, ManualClock]:
    clock = ManualClock()
    budget = RateBudget("create", limit=5, period=60, clock=clock)
    client = ApiClient(
        base_url="http://127.0.0.1:9",
        headers={},
        budgets={"create": budget},
        timeout_seconds=1,
        retry=RetryPolicy(),
        clock=clock,
    )
    return client, budget, clock


def test_a_429_costs_its_retry_after_even_when_it_says_nothing_remains():
    client, budget, _ = client_and_budget()
    with budget.slot() as used:
        refusal = response(429, **{"Retry-After": "2", "X-RateLimit-Remaining": "0"})
        assert client._obey_rate_headers(refusal, budget, used) == 2
    assert budget.wait_time() == 2  # not the 60 s period


def test_remaining_on_an_answer_that_is_not_a_429_still_slows_the_budget():
    client, budget, _ = client_and_budget()
    with budget.slot() as used:
        client._obey_rate_headers(response(200, **{"X-RateLimit-Remaining": "0"}), budget, used)
    assert budget.wait_time() == 60  # another client spent the rest of the period


@pytest.mark.parametrize(
    ("header", "value", "seconds"),
    [
        ("X-RateLimit-Reset", "12", 12),
        ("RateLimit-Reset", "3.5", 3.5),
        # An epoch: read against the clock's wall time (2025-01-01T00:00:00Z here).
        ("X-RateLimit-Reset", str(datetime(2025, 1, 1, 0, 0, 30, tzinfo=UTC).timestamp()), 30),
    ],
)
def test_a_reset_header_is_a_delay_or_an_epoch(header: str, value: str, seconds: float):
    epoch_now = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    assert _reset_seconds(response(200, **{header: value}), epoch_now=epoch_now) == seconds
