"""A small scripted HTTP server on loopback, for engine parts below the providers.

The provider sandboxes exercise whole providers; this serves what an engine unit test
needs over real HTTP: files by path (with Range, like S3, and faults per file) and
scripted JSON answers by path.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson


@dataclass
class Script:
    """What the server answers: files by path, JSON answers by path, and faults."""

    files: dict[str, bytes] = field(default_factory=dict)
    answers: dict[str, tuple[int, object]] = field(default_factory=dict)
    # path -> answers (status, JSON body, headers) sent once each, in order, before `answers`.
    queued: dict[str, list[tuple[int, object, dict[str, str]]]] = field(default_factory=dict)
    # path -> how many of its next downloads send half the body, then hang up.
    drops: dict[str, int] = field(default_factory=dict)
    # path -> how many of its next downloads answer 403 (an expired URL).
    refusals: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, faults: dict[str, int], path: str) -> bool:
        with self.lock:
            if faults.get(path, 0) > 0:
                faults[path] -= 1
                return True
            return False


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script: Script

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self._answer()

    def _answer(self) -> None:
        path = self.path.split("?", 1)[0]
        script = self.script
        with script.lock:
            script.requests.append((path, self.headers.get("Range")))
            queued = script.queued.get(path)
            once = queued.pop(0) if queued else None
        if once is not None:
            status, body, headers = once
            return self._send(status, orjson.dumps(body), headers)
        if path in script.answers:
            status, body = script.answers[path]
            return self._send(status, orjson.dumps(body), {})
        content = script.files.get(path)
        if content is None:
            return self._send(404, b"no such file", {})
        if script.take(script.refusals, path):
            return self._send(403, b"<Error><Code>AccessDenied</Code></Error>", {})
        status, headers = 200, {"Accept-Ranges": "bytes", "ETag": f'"{hash(content)}"'}
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        if match:
            start = int(match.group(1))
            headers["Content-Range"] = f"bytes {start}-{len(content) - 1}/{len(content)}"
            status, content = 206, content[start:]
        if script.take(script.drops, path):
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(content))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(content[: len(content) // 2])
            self.wfile.flush()
            self.close_connection = True
            return None
        return self._send(status, content, headers)

    def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


@contextmanager
def serving(script: Script) -> Iterator[str]:
    """Serve `script` on a free loopback port; yield the base URL."""
    handler = type("_Scripted", (_Handler,), {"script": script})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02})
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
