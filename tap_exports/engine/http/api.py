"""The JSON API client: pacing, retries and error classification in one place.

Every request to a provider's API goes through `ApiClient.request_json`, which
- takes a slot from the named `RateBudget` before sending and reads the rate headers
  after, so limits are respected by construction;
- on 429 waits exactly the `Retry-After` the server asked for (holding the whole
  budget, not just this request) and sends again;
- retries 5xx, connection errors and read timeouts with jittered exponential backoff (a
  5xx that carries `Retry-After` is retried after that long instead),
  bounded both by attempts and by total time (`RetryPolicy`);
- turns what cannot succeed (401, 403, 404, 422, other 4xx) into one-line errors that
  carry the API's own message and never the request's headers or query string. Which
  error class a status becomes, and the advice added to it, is the provider's to say
  (`ErrorRule`), over defaults that fit most APIs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any, cast

import backoff
import orjson
import requests

from tap_exports.engine.clock import Clock, raise_if_cancelled
from tap_exports.engine.errors import (
    ApiError,
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RequestRejectedError,
    RetriesExhaustedError,
    UncertainRequestError,
)
from tap_exports.engine.http.budget import RateBudget
from tap_exports.engine.http.redact import strip_query

logger = logging.getLogger(__name__)

_TRANSIENT_STATUSES = frozenset({500, 502, 503, 504})
# Network trouble, including a body cut off mid-response.
_TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
_TOO_MANY_REQUESTS = 429


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """What an HTTP error status means for one provider: an error class and advice."""

    kind: type[ApiError]
    advice: str = ""


DEFAULT_ERROR_RULES: Mapping[int, ErrorRule] = {
    401: ErrorRule(
        AuthenticationError, "The API key was not accepted: check the 'api_key' setting"
    ),
    403: ErrorRule(PermissionDeniedError, "The key lacks permission for this request"),
    404: ErrorRule(NotFoundError),
}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounds for retrying transient failures; both bounds apply, whichever is first."""

    max_attempts: int = 6
    max_elapsed_seconds: float = 300.0
    base_delay_seconds: float = 1.0
    max_delay_seconds: float = 60.0

    def delays(self) -> Iterator[float]:
        """Yield full-jitter exponential delays (AWS's "Full Jitter")."""
        waits = backoff.expo(factor=self.base_delay_seconds, max_value=self.max_delay_seconds)
        next(waits)  # the generator's first value is a priming 0
        for wait in waits:
            yield backoff.full_jitter(wait)


class ApiClient:
    """A `requests` session bound to one API base URL, one key and its budgets."""

    def __init__(
        self,
        *,
        base_url: str,
        headers: Mapping[str, str],
        budgets: Mapping[str, RateBudget],
        timeout_seconds: float,
        retry: RetryPolicy,
        clock: Clock,
        error_rules: Mapping[int, ErrorRule] | None = None,
    ) -> None:
        """Prepare a session; `headers` carry the provider's authentication.

        `error_rules` are the provider's, over `DEFAULT_ERROR_RULES`.
        """
        self._error_rules = {**DEFAULT_ERROR_RULES, **(error_rules or {})}
        self._base_url = base_url.rstrip("/")
        self._budgets = budgets
        self._timeout = timeout_seconds
        self._retry = retry
        self._clock = clock
        self._session = requests.Session()
        self._session.headers.update(headers)

    def get_json(self, path: str, *, budget: str) -> dict[str, Any]:
        """GET `path` and return its JSON object."""
        return cast("dict[str, Any]", self.request_json("GET", path, budget=budget))

    def get_list(self, path: str, *, budget: str) -> list[Any]:
        """GET `path` and return its JSON array (a listing endpoint)."""
        return cast("list[Any]", self.request_json("GET", path, budget=budget, expect=list))

    def post_json(
        self, path: str, body: Mapping[str, Any], *, budget: str, once: bool = False
    ) -> dict[str, Any]:
        """POST a JSON body to `path` and return the JSON object answered.

        `once`: never send it twice (see `request_json`).
        """
        return cast(
            "dict[str, Any]", self.request_json("POST", path, budget=budget, body=body, once=once)
        )

    def request_json(
        self,
        method: str,
        path: str,
        *,
        budget: str,
        body: Mapping[str, Any] | None = None,
        expect: type[dict[str, Any]] | type[list[Any]] = dict,
        once: bool = False,
    ) -> dict[str, Any] | list[Any]:
        """Send one logical request, waiting and retrying as the module docstring says.

        `once`: a request that costs something (a paid create) is not sent again after a
        5xx or a lost connection, which it may have survived: `UncertainRequestError`
        lets the caller check first. A 429 is still waited out and sent again (the
        server refused it before doing anything).
        """
        url = f"{self._base_url}{path}"
        what = f"{method} {strip_query(url)}"
        rate = self._budgets[budget]
        payload = None if body is None else orjson.dumps(body)
        started = self._clock.monotonic()
        delays = self._retry.delays()
        failures = 0
        while True:
            raise_if_cancelled()
            problem: str
            asked: float | None = None  # a transient answer's Retry-After, if it has one
            try:
                with rate.slot() as used:
                    response = self._session.request(
                        method,
                        url,
                        data=payload,
                        headers={"Content-Type": "application/json"} if payload else None,
                        timeout=self._timeout,
                    )
                    # Still holding the slot: no other thread may send before a 429's
                    # hold is in place.
                    wait = self._obey_rate_headers(response, rate, used)
            except _TRANSIENT_ERRORS as exc:
                problem = type(exc).__name__
            except requests.RequestException as exc:
                # Invalid header, URL or redirect loop: retrying cannot help, and the
                # exception's text may quote a header (the key) or a query string.
                raise ApiError(f"{what} could not be sent ({type(exc).__name__})") from None
            else:
                if wait is not None:
                    logger.info("%s: 429 Too Many Requests, waiting %.1fs as asked", what, wait)
                    if self._clock.monotonic() + wait - started > self._retry.max_elapsed_seconds:
                        raise RetriesExhaustedError(
                            f"{what} is still rate limited after "
                            f"{self._retry.max_elapsed_seconds:.0f}s of waiting; "
                            "another client may be using this key's budget",
                            status=_TOO_MANY_REQUESTS,
                        )
                    continue
                if response.status_code in _TRANSIENT_STATUSES:
                    problem = f"{response.status_code} {response.reason}"
                    if "Retry-After" in response.headers:
                        asked = _retry_after_seconds(response, default=0.0, now=self._clock.now())
                else:
                    return _json_or_raise(response, what, self._error_rules, expect)
            if once:
                raise UncertainRequestError(
                    f"{what} got no answer ({problem}); it may have been carried out",
                    status=None,
                )
            failures += 1
            # A 503 that says when to come back: that long, not our guess.
            delay = next(delays) if asked is None else asked
            elapsed = self._clock.monotonic() - started
            if (
                failures >= self._retry.max_attempts
                or elapsed + delay > self._retry.max_elapsed_seconds
            ):
                raise RetriesExhaustedError(
                    f"{what} failed {failures} times over {elapsed:.0f}s "
                    f"(last: {problem}); the API may be down, try again later"
                )
            logger.warning("%s: %s, retrying in %.1fs", what, problem, delay)
            self._clock.sleep(delay)

    def _obey_rate_headers(
        self, response: requests.Response, rate: RateBudget, used: int
    ) -> float | None:
        """Apply the answer's rate headers to `rate`; for a 429, the hold it asks for."""
        advertised = response.headers.get("X-RateLimit-Limit")
        if advertised is not None and advertised.strip().isdigit():
            rate.observe_limit(int(advertised))
        reset = _reset_seconds(response, epoch_now=self._clock.now().timestamp())
        if reset is not None:
            rate.observe_reset(reset)
        if response.status_code != _TOO_MANY_REQUESTS:
            remaining = response.headers.get("X-RateLimit-Remaining")
            if remaining is not None and remaining.strip().isdigit():
                rate.observe_remaining(int(remaining), used=used)
            return None
        wait = _retry_after_seconds(
            response, default=rate.period / rate.limit, now=self._clock.now()
        )
        rate.hold_for(wait)
        rate.refused(used)
        return wait


# A reset value above this is an epoch (seconds since 1970), below it a delay in seconds.
_EPOCH_SECONDS = 1_000_000_000


def _reset_seconds(response: requests.Response, *, epoch_now: float) -> float | None:
    """Seconds until the server's rate window resets, if it says.

    `X-RateLimit-Reset` or the IETF draft's `RateLimit-Reset`: a delay, or an epoch
    (read against `epoch_now`, the wall clock's).
    """
    value = (
        response.headers.get("X-RateLimit-Reset") or response.headers.get("RateLimit-Reset") or ""
    ).strip()
    try:
        seconds = float(value)
    except ValueError:
        return None
    if seconds > _EPOCH_SECONDS:
        seconds -= epoch_now
    return max(0.0, seconds)


def _retry_after_seconds(response: requests.Response, *, default: float, now: datetime) -> float:
    """Read `Retry-After` (seconds, or an HTTP date read against `now`); else `default`."""
    value = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, (moment - now).total_seconds())


def _json_or_raise(
    response: requests.Response,
    what: str,
    rules: Mapping[int, ErrorRule],
    expect: type[dict[str, Any]] | type[list[Any]],
) -> dict[str, Any] | list[Any]:
    status = response.status_code
    if 200 <= status < 300:
        try:
            document = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise ApiError(
                f"{what} answered {status} with a body that is not JSON: {exc}"
            ) from None
        if not isinstance(document, expect):
            shape = "an object" if expect is dict else "an array"
            raise ApiError(f"{what} answered {status} with JSON that is not {shape}")
        return document
    code = api_error_code(response)
    message = " ".join(api_error_message(response).split())  # one line, no trailing space
    said = f"{what} answered {status}{f' {code}' if code else ''}: {message}"
    rule = rules.get(status, ErrorRule(RequestRejectedError))
    if rule.advice:
        said = f"{said.rstrip('.')}. {rule.advice}"
    raise rule.kind(said, status=status, code=code)


def api_error_code(response: requests.Response) -> str | None:
    """The machine-readable code of an error body (`detail.code`, or a top-level `code`)."""
    try:
        document = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(document, dict):
        return None
    for part in (document.get("detail"), document):
        code = part.get("code") if isinstance(part, dict) else None
        if isinstance(code, str) and code:
            return code
    return None


def api_error_message(response: requests.Response) -> str:
    """Extract the human message of an error body, whatever envelope the API uses.

    The envelopes export APIs use: `{"message"}`, `{"detail": {"message"}}` (or a
    plain or listed `detail`), `{"errors": [{"message"}]}`; anything else is quoted,
    shortened.
    """
    try:
        document = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        document = None
    if isinstance(document, dict):
        for key in ("message", "detail", "errors"):
            message = _message_in(document.get(key))
            if message:
                return message
    text = response.text.strip().replace("\n", " ")
    return text[:200] or response.reason or "no message"


def _message_in(part: object) -> str | None:
    """The message in one part of an error body: a string, an object, or a list of them.

    An object's message is its `message`, or `msg` (FastAPI's validation errors, after
    the field they name in `loc`).
    """
    if isinstance(part, str):
        return part
    if isinstance(part, dict):
        message = _message_in(part.get("message", part.get("msg")))
        where = part.get("loc")
        if message and isinstance(where, list) and where:
            return f"{'.'.join(str(step) for step in where)}: {message}"
        return message
    if isinstance(part, list) and part:
        return _message_in(part[0])
    return None
