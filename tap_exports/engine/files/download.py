"""Fetch an export file from its presigned URL: resumable, and without credentials.

The download host is a storage service (S3, typically) that authenticates by the
URL's signature. It must not see the API's `Authorization` header: S3 rejects a
request with two auth mechanisms, and the key would leak to a third party. The
download session is therefore separate from the API session and strips any
`Authorization` header (including one `requests` would build from `~/.netrc`).

A connection that drops mid-file is resumed where it stopped with `Range: bytes=N-`,
counting *compressed* bytes, so the gzip decoder above never notices and no record is
read twice. A host that ignores `Range` makes resuming impossible; that is reported as
a `DownloadError`, and the caller fetches the file again and skips what it delivered.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from tap_exports.engine.clock import Clock, SystemClock
from tap_exports.engine.errors import DownloadError
from tap_exports.engine.http.api import RetryPolicy
from tap_exports.engine.http.redact import is_loopback_url, strip_query

logger = logging.getLogger(__name__)

# Network trouble while reading a body: the one list the reader and the decoder share.
NETWORK_ERRORS = (
    urllib3.exceptions.HTTPError,
    requests.RequestException,
    ConnectionError,
    TimeoutError,
)
_CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+)")


class DownloadUrls(Protocol):
    """Where the downloader gets presigned URLs; `refresh` asks the API for a new one."""

    def current(self) -> str:
        """A URL believed valid now."""
        ...

    def refresh(self) -> str:
        """A newly issued URL (the last one was refused); raises when out of tries."""
        ...


class _NoAuthorization(requests.auth.AuthBase):
    """Make sure no Authorization header leaves for the download host."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        return request


class Downloader:
    """Opens presigned URLs as byte streams that resume after a dropped connection."""

    def __init__(
        self,
        *,
        timeout_seconds: float,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        max_resumes: int = 5,
    ) -> None:
        """Set the per-read timeout and how reconnections are spaced out.

        `timeout_seconds` bounds connecting and each wait for more bytes; `retry` spaces
        reconnections out, so a short storage outage is waited out rather than fatal.
        """
        self._timeout = timeout_seconds
        self._retry = retry or RetryPolicy()
        self._clock = clock or SystemClock()
        self._max_resumes = max_resumes
        self._session = requests.Session()

    def pause(self, delays: Iterator[float]) -> None:
        """Wait the next backoff delay before reconnecting."""
        self._clock.sleep(next(delays))

    def backoff(self) -> Iterator[float]:
        """A fresh sequence of reconnection delays."""
        return self._retry.delays()

    @contextmanager
    def open(self, urls: DownloadUrls, *, label: str) -> Iterator[io.RawIOBase]:
        """Yield the file's undecoded bytes as a stream, closed afterwards.

        Raises:
            DownloadError: the file could not be fetched whole (after resuming).
        """
        stream = _ResumingStream(self, urls, label, max_resumes=self._max_resumes)
        try:
            yield stream
        finally:
            stream.close()

    def get(self, url: str, *, offset: int, etag: str | None) -> requests.Response:
        """Send one GET for the file from byte `offset` on (never with credentials).

        A resumed request carries `If-Range` with the first answer's ETag: if the object
        changed, the host sends it whole (200) instead of splicing two versions.
        Redirects are not followed: `requests` would rebuild credentials (`~/.netrc`)
        for the new host and could follow an https URL to plain http.
        """
        headers = {}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if etag:
                headers["If-Range"] = etag
        response = self._session.get(
            url,
            stream=True,
            timeout=self._timeout,
            headers=headers,
            auth=_NoAuthorization(),
            allow_redirects=False,
        )
        # Undecoded bytes (gzip is detected by magic, not by headers), and no auto-close
        # at EOF: the gzip reader reads past the last byte to see the end.
        response.raw.decode_content = False
        response.raw.auto_close = False
        return response


class _ResumingStream(io.RawIOBase):
    """A raw byte stream over one or more HTTP responses for the same file."""

    def __init__(
        self, downloader: Downloader, urls: DownloadUrls, label: str, *, max_resumes: int
    ) -> None:
        super().__init__()
        self._downloader = downloader
        self._urls = urls
        self._label = label
        self._offset = 0
        self._total: int | None = None
        self._etag: str | None = None
        self._resumes_left = max_resumes
        self._delays = downloader.backoff()
        self._response: requests.Response | None = None
        self._connect(urls.current())

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while True:
            assert self._response is not None
            try:
                count = self._response.raw.readinto(buffer)
            except NETWORK_ERRORS as exc:
                self._resume(type(exc).__name__)
                continue
            if count == 0 and self._total is not None and self._offset < self._total:
                self._resume(f"connection closed at byte {self._offset} of {self._total}")
                continue
            self._offset += count
            return count

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None
        super().close()

    def _resume(self, why: str) -> None:
        if self._resumes_left <= 0:
            raise DownloadError(f"{self._label}: download kept failing ({why})")
        self._resumes_left -= 1
        logger.warning("%s: %s; resuming at byte %d", self._label, why, self._offset)
        self._downloader.pause(self._delays)
        self._connect(self._urls.current())

    def _connect(self, url: str) -> None:
        if self._response is not None:
            self._response.close()
        shown = strip_query(url)
        while True:
            if urlsplit(url).scheme != "https" and not is_loopback_url(url):
                raise DownloadError(
                    f"{self._label}: refusing to download {shown}: not https, so the signed "
                    "URL would travel in clear"
                )
            try:
                response = self._downloader.get(url, offset=self._offset, etag=self._etag)
            except NETWORK_ERRORS as exc:
                if self._resumes_left <= 0:
                    raise DownloadError(
                        f"{self._label}: could not reach {shown} ({type(exc).__name__})"
                    ) from None
                self._resumes_left -= 1
                self._downloader.pause(self._delays)
                continue
            if response.status_code != 403:
                break
            response.close()
            logger.info("%s: download URL refused (expired), asking for a new one", self._label)
            url = self._urls.refresh()
            shown = strip_query(url)
        self._response = response
        self._check_start(response, shown)

    def _check_start(self, response: requests.Response, shown: str) -> None:
        status = response.status_code
        if status == 200 and self._offset == 0:
            length = response.headers.get("Content-Length")
            self._total = int(length) if length and length.isdigit() else None
            self._etag = response.headers.get("ETag")
            logger.info("%s: downloading %s", self._label, shown)
            return
        if status == 206:
            match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", ""))
            total = int(match.group(2)) if match else None
            if match and int(match.group(1)) == self._offset and self._total in (None, total):
                self._total = total
                return
        response.close()
        if status == 200:
            raise DownloadError(
                f"{self._label}: the connection dropped at byte {self._offset} and {shown} "
                "cannot resume (no Range support)"
            )
        raise DownloadError(
            f"{self._label}: download from {shown} answered {status} {response.reason}"
        )
