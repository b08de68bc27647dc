"""Pure parts of the API client: Retry-After parsing and error-body messages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import requests

from tap_exports.engine.api import _retry_after_seconds, api_error_message


def response(status: int, body: bytes = b"", **headers: str) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = body
    answer.headers.update(headers)
    return answer


def test_retry_after_in_seconds():
    assert _retry_after_seconds(response(429, **{"Retry-After": "7"}), default=1) == 7


def test_retry_after_as_an_http_date():
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= _retry_after_seconds(response(429, **{"Retry-After": later}), default=1) <= 30


def test_missing_retry_after_falls_back_to_the_default():
    assert _retry_after_seconds(response(429), default=12) == 12


def test_error_messages_from_each_providers_envelope():
    assert api_error_message(response(422, b'{"message": "Bad date."}')) == "Bad date."
    cornect = b'{"detail": {"code": "INVALID_TOKEN", "message": "Token revoked."}}'
    assert api_error_message(response(401, cornect)) == "Token revoked."
    userpilot = b'{"errors": [{"message": "Export job already in progress"}]}'
    assert api_error_message(response(409, userpilot)) == "Export job already in progress"
    assert api_error_message(response(502, b"<html>Bad Gateway</html>")) == (
        "<html>Bad Gateway</html>"
    )
