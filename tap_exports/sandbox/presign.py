"""S3-style presigned URLs for the sandbox's download host.

The URL carries the same query parameters as an AWS SigV4 presigned URL, so the tap's
redaction is tested against the real shape, and expiry is checked the way S3 does:
at the start of the request, from `X-Amz-Date` plus `X-Amz-Expires`.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import secrets
import time
from enum import Enum
from urllib.parse import parse_qs, urlencode

from tap_exports.engine.clock import Clock

_DATE_FORMAT = "%Y%m%dT%H%M%SZ"


class Verdict(Enum):
    """What the storage host thinks of a presigned URL."""

    VALID = "valid"
    EXPIRED = "expired"
    BAD_SIGNATURE = "bad_signature"


class UrlSigner:
    """Signs and checks download URLs with a per-process secret."""

    def __init__(self, clock: Clock) -> None:
        """Pick a fresh secret, so URLs from an earlier sandbox run are void.

        Expiry is on `clock`'s wall time: a test's manual clock lets URLs expire at once.
        """
        self._clock = clock
        self._secret = secrets.token_bytes(32)
        self._revoked: set[str] = set()

    def revoke(self, query: str) -> None:
        """Make the URL with this query string fail as expired from now on."""
        self._revoked.update(parse_qs(query).get("X-Amz-Signature", []))

    def sign(self, base_url: str, path: str, *, ttl_seconds: int, born_expired: bool) -> str:
        """Return `base_url + path` with signature parameters valid for `ttl_seconds`."""
        issued = self._clock.now().timestamp() - (ttl_seconds + 60 if born_expired else 0)
        amz_date = time.strftime(_DATE_FORMAT, time.gmtime(issued))
        params = {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": f"SANDBOXKEY/{amz_date[:8]}/us-east-1/s3/aws4_request",
            "X-Amz-Date": amz_date,
            "X-Amz-Expires": str(ttl_seconds),
            "X-Amz-SignedHeaders": "host",
            # Like a session token: every URL issued differs, so one can be revoked alone.
            "X-Amz-Security-Token": secrets.token_urlsafe(12),
        }
        params["X-Amz-Signature"] = self._signature(
            path, amz_date, str(ttl_seconds), params["X-Amz-Security-Token"]
        )
        return f"{base_url}{path}?{urlencode(params)}"

    def verify(self, path: str, query: str) -> Verdict:
        """Check a request's path and query string."""
        params = {key: values[0] for key, values in parse_qs(query).items()}
        try:
            amz_date = params["X-Amz-Date"]
            expires = params["X-Amz-Expires"]
            token = params["X-Amz-Security-Token"]
            signature = params["X-Amz-Signature"]
            issued = calendar.timegm(time.strptime(amz_date, _DATE_FORMAT))
        except (KeyError, ValueError):
            return Verdict.BAD_SIGNATURE
        if not hmac.compare_digest(signature, self._signature(path, amz_date, expires, token)):
            return Verdict.BAD_SIGNATURE
        if self._clock.now().timestamp() > issued + int(expires) or signature in self._revoked:
            return Verdict.EXPIRED
        return Verdict.VALID

    def _signature(self, path: str, amz_date: str, expires: str, token: str) -> str:
        message = f"{path}\n{amz_date}\n{expires}\n{token}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()
