"""The sandbox on HTTP: an API listener and a separate download (storage) listener.

Two listeners because the real thing has two hosts: the provider's API (JSON, served by
the emulator `SandboxConfig.provider` names) and S3 (presigned URLs, XML errors). The
download host refuses a request that carries an Authorization header as S3 does ("only
one auth mechanism allowed"), so a tap that leaks its API key to the storage host fails
the tests instead of passing silently. Nothing here knows a provider: what every
provider shares lives here, the rest behind `emulator.Emulator`.
"""

from __future__ import annotations

import hashlib
import logging
import re
import socket
import threading
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import ClassVar, Self
from urllib.parse import urlsplit

import orjson

from tap_exports.engine.clock import Clock, SystemClock
from tap_exports.sandbox.config import SandboxConfig
from tap_exports.sandbox.presign import UrlSigner, Verdict
from tap_exports.sandbox.registry import build_emulator

logger = logging.getLogger(__name__)

# Where the storage host keeps every file: `/exports/{name}`, as a bucket's key prefix.
_FILES_PREFIX = "/exports/"
# How many downloads and API answers the sandbox remembers (see `Sandbox.api_answers`).
_JOURNAL_LENGTH = 100_000


@dataclass(frozen=True, slots=True)
class Answer:
    """One answer of the API: when (the sandbox clock's `monotonic`), to what, with which status."""

    at: float
    method: str
    path: str
    status: int


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tap-exports-sandbox"
    sandbox: ClassVar[Sandbox]

    def setup(self) -> None:
        """Send small answers at once (TCP_NODELAY).

        Headers and body go out in separate writes; Nagle's algorithm would hold the
        body until the client's delayed ACK, adding 40 ms to every request.
        """
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: object) -> None:
        # The request line holds presigned signatures: log the path only.
        logger.debug("%s %s", self.command, urlsplit(self.path).path)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _ApiHandler(_Handler):
    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        body = self._body()
        faults = self.sandbox.config.faults
        if faults.take("connection_resets"):
            self.close_connection = True  # hang up without a word
            return
        emulator = self.sandbox.emulator
        path = urlsplit(self.path).path
        if path != emulator.api_prefix and not path.startswith(f"{emulator.api_prefix}/"):
            reply = emulator.error_reply(404, "Not found.")
        else:
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = emulator.handle(self.command, path[len(emulator.api_prefix) :], headers, body)
        answer = Answer(self.sandbox.clock.monotonic(), self.command, path, reply.status)
        self.sandbox._record_answer(answer)
        self._send(reply.status, orjson.dumps(reply.body), "application/json", dict(reply.headers))


class _DownloadHandler(_Handler):
    def do_GET(self) -> None:
        self._body()
        parts = urlsplit(self.path)
        if "Authorization" in self.headers:
            return self._s3_error(
                400,
                "InvalidArgument",
                "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
                "Signature query string parameter or the Authorization header should be "
                "specified",
            )
        verdict = self.sandbox.signer.verify(parts.path, parts.query)
        if verdict is Verdict.EXPIRED:
            return self._s3_error(403, "AccessDenied", "Request has expired")
        if verdict is Verdict.BAD_SIGNATURE:
            return self._s3_error(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        stored = None
        if parts.path.startswith(_FILES_PREFIX):
            stored = self.sandbox.emulator.file(parts.path.removeprefix(_FILES_PREFIX))
        if stored is None:
            return self._s3_error(404, "NoSuchKey", "The specified key does not exist.")
        content, content_type = stored.content, stored.content_type
        faults = self.sandbox.config.faults
        if faults.take("truncated_files"):
            content = content[: len(content) // 2]
        if faults.take("corrupt_files"):
            content = content[:-8] + bytes(b ^ 0xFF for b in content[-8:-4]) + content[-4:]
        status, headers, body = self._ranged(content)
        self.sandbox._record_download(status, self.headers.get("Range"))
        if faults.take("dropped_downloads"):
            if faults.take("urls_revoked_mid_download"):
                self.sandbox.signer.revoke(parts.query)
            return self._send_half_and_hang_up(status, body, content_type, headers)
        return self._send(status, body, content_type, headers)

    def _ranged(self, content: bytes) -> tuple[int, dict[str, str], bytes]:
        """Answer `Range: bytes=N-` with 206 like S3, when the sandbox supports it."""
        etag = f'"{hashlib.md5(content).hexdigest()}"'  # an ETag, as S3's
        if not self.sandbox.config.range_requests:
            return 200, {"ETag": etag}, content
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if_range = self.headers.get("If-Range")
        if match is None or (if_range is not None and if_range != etag):
            return 200, {"Accept-Ranges": "bytes", "ETag": etag}, content
        start = int(match.group(1))
        if start >= len(content):
            return 416, {"Content-Range": f"bytes */{len(content)}"}, b""
        content_range = f"bytes {start}-{len(content) - 1}/{len(content)}"
        headers = {"Accept-Ranges": "bytes", "Content-Range": content_range, "ETag": etag}
        return 206, headers, content[start:]

    def _send_half_and_hang_up(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str]
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self.close_connection = True

    def _s3_error(self, status: int, code: str, message: str) -> None:
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ).encode()
        self._send(status, body, "application/xml", {})


class Sandbox:
    """A running sandbox: `with Sandbox(config) as sandbox: sandbox.api_url ...`."""

    def __init__(self, config: SandboxConfig | None = None, *, clock: Clock | None = None) -> None:
        """Bind both listeners (port 0 picks free ports); call `start` to serve.

        The sandbox reads the time and waits only on `clock` (jobs, rate limits, URL
        expiry, the answer journal, the `slow_responses` fault), the system clock by
        default: a test that sends its own requests passes a manual one and advances it
        instead of sleeping. An unknown `config.provider` raises ValueError before any
        port is bound.
        """
        self.config = config or SandboxConfig()
        self.clock: Clock = SystemClock() if clock is None else clock
        self.signer = UrlSigner(self.clock)
        self.emulator = build_emulator(self.config, self._sign, self.clock)
        handler_base = type("_Bound", (), {"sandbox": self})
        self._api = ThreadingHTTPServer(
            (self.config.host, self.config.api_port),
            type("_BoundApi", (_ApiHandler, handler_base), {}),
        )
        self._storage = ThreadingHTTPServer(
            (self.config.host, self.config.download_port),
            type("_BoundDownload", (_DownloadHandler, handler_base), {}),
        )
        for server in (self._api, self._storage):
            server.daemon_threads = True
        self._threads: list[threading.Thread] = []
        # (status, Range header) of each file served, and each API answer, for tests and
        # demos; handler threads append concurrently, so under the lock.
        # The latest `_JOURNAL_LENGTH` of each: a sandbox left serving for days stays small.
        self._downloads: deque[tuple[int, str | None]] = deque(maxlen=_JOURNAL_LENGTH)
        self._answers: deque[Answer] = deque(maxlen=_JOURNAL_LENGTH)
        self._journal_lock = threading.Lock()

    @property
    def api_url(self) -> str:
        """Base URL to give the tap as `api_url`: the API listener plus the provider's prefix."""
        host, port = self._api.server_address[:2]
        return f"http://{host!s}:{port}{self.emulator.api_prefix}"

    @property
    def download_url(self) -> str:
        """Base URL of the storage host."""
        host, port = self._storage.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def downloads(self) -> list[tuple[int, str | None]]:
        """(status, Range header) of each file served so far, oldest first (a snapshot)."""
        with self._journal_lock:
            return list(self._downloads)

    def _record_download(self, status: int, range_header: str | None) -> None:
        """Note one file served (called by the storage host's handler threads)."""
        with self._journal_lock:
            self._downloads.append((status, range_header))

    @property
    def api_answers(self) -> list[Answer]:
        """Every answer of the API so far, oldest first (a snapshot)."""
        with self._journal_lock:
            return list(self._answers)

    def _record_answer(self, answer: Answer) -> None:
        """Note one API answer (called by the API host's handler threads)."""
        with self._journal_lock:
            self._answers.append(answer)

    def start(self) -> Self:
        """Serve both listeners on background threads."""
        for server in (self._api, self._storage):
            # A short poll interval makes `stop` return in milliseconds, not half a second.
            thread = threading.Thread(
                target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        """Stop serving and free the ports."""
        for server in (self._api, self._storage):
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join()

    def __enter__(self) -> Self:
        """Start on entering a `with` block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop on leaving it."""
        self.stop()

    def _sign(self, file_name: str, *, ttl_seconds: int, born_expired: bool) -> str:
        return self.signer.sign(
            self.download_url,
            f"{_FILES_PREFIX}{file_name}",
            ttl_seconds=ttl_seconds,
            born_expired=born_expired,
        )
