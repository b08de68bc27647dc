"""What the sandbox server needs from a provider emulator, and nothing more.

The server (`server.py`) owns everything every provider shares: the two listeners, the
download host (presigned URLs, Range/ETag/If-Range, S3's XML errors, refusing an
Authorization header) and the transport faults (`connection_resets` on the API;
`truncated_files`, `corrupt_files`, `dropped_downloads`, `urls_revoked_mid_download` on
downloads). An emulator is one provider's API as plain logic, request in, reply out; what
it must know to be a good neighbour:

- `handle` and `file` are called from many server threads at once: guard shared state with
  a lock, and hand introspection counters out as snapshots taken under it.
- The API faults (`server_errors`, `slow_responses`, `rate_limit_storms`), the job faults
  (`failed_exports`, `stuck_exports`), `expired_urls` (pass it to `sign_url` as
  `born_expired`) and the data faults (`faults.DATA_FAULTS`, in the provider's file format)
  are the emulator's to apply, where the provider would show them.
- A file is served at `/exports/{name}` of the storage host: names must be unique over the
  run and URL-safe (`/` is allowed, so a job's parts can share a folder).
- Request header names arrive lower-cased (HTTP names are case-insensitive).
- Time is read and waited on only through the `Clock` the factory is given, never
  `time`: a test that drives the sandbox on a manual clock then moves jobs, rate limits
  and URL expiry forward without sleeping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson

# A reply body as JSON: an object, or an array for APIs that list jobs as a bare array.
JsonBody = dict[str, Any] | list[Any]


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP answer of the API: status, JSON body and extra headers."""

    status: int
    body: JsonBody
    headers: Mapping[str, str] = field(default_factory=dict)

    def with_headers(self, headers: Mapping[str, str]) -> Reply:
        """A copy with `headers` added; the reply's own headers win a clash."""
        return Reply(self.status, self.body, {**headers, **self.headers})


@dataclass(frozen=True, slots=True)
class StoredFile:
    """A file on the storage host: its bytes and the Content-Type S3 would serve it with."""

    content: bytes
    content_type: str


class SignUrl(Protocol):
    """Presigns a download URL for a stored file (the server's signer and storage host)."""

    def __call__(self, file_name: str, *, ttl_seconds: int, born_expired: bool) -> str:
        """A URL for `file_name` valid `ttl_seconds`, or already expired if `born_expired`."""
        ...


class Emulator(Protocol):
    """One provider's export API, as the server sees it."""

    @property
    def name(self) -> str:
        """The provider's name in the registry and the CLI's `--provider`."""
        ...

    @property
    def api_prefix(self) -> str:
        """The path the API lives under, ending without `/`: the tail of the tap's `api_url`.

        Empty when the tap's `api_url` is the bare host; `handle` then sees whole paths.
        """
        ...

    def handle(self, method: str, path: str, headers: Mapping[str, str], body: bytes) -> Reply:
        """Answer one API request; `path` is relative to `api_prefix`."""
        ...

    def file(self, name: str) -> StoredFile | None:
        """The stored file behind a download name, or None (the storage host's 404)."""
        ...

    def error_reply(self, status: int, message: str) -> Reply:
        """An error in the provider's own envelope, for answers the server gives itself."""
        ...


def json_object_body(body: bytes) -> dict[str, Any]:
    """A request's body as a JSON object (an empty body is `{}`).

    Raises:
        ValueError: with the words an API would answer (each emulator wraps them in
            its own error envelope).
    """
    try:
        document = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError:
        raise ValueError("The request body must be valid JSON.") from None
    if not isinstance(document, dict):
        raise ValueError("The request body must be a JSON object.")
    return document
