"""Fetch an export file from its presigned URL, without ever sending credentials.

The download host is a storage service (S3 for Cometly) that authenticates by the
URL's signature. It must not see the API's `Authorization` header: S3 rejects a
request with two auth mechanisms, and the key would leak to a third party. The
download session is therefore separate from the API session and strips any
`Authorization` header (including one `requests` would build from `~/.netrc`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, cast

import requests

from tap_exports.engine.errors import DownloadError
from tap_exports.engine.redact import strip_query

logger = logging.getLogger(__name__)


class PresignedUrlRejectedError(Exception):
    """The storage host refused the URL (expired or bad signature): fetch a new one."""


class _NoAuthorization(requests.auth.AuthBase):
    """Make sure no Authorization header leaves for the download host."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        return request


class Downloader:
    """Opens presigned URLs as raw byte streams."""

    def __init__(self, *, timeout_seconds: float) -> None:
        """`timeout_seconds` bounds connecting and each wait for more bytes."""
        self._timeout = timeout_seconds
        self._session = requests.Session()

    @contextmanager
    def open(self, url: str, *, label: str) -> Iterator[BinaryIO]:
        """Yield the body of `url` as an undecoded byte stream, closed afterwards.

        Raises:
            PresignedUrlRejectedError: the host answered 403 (the URL expired).
            DownloadError: any other failure to start the download.

        """
        shown = strip_query(url)
        try:
            response = self._session.get(
                url, stream=True, timeout=self._timeout, auth=_NoAuthorization()
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise DownloadError(f"{label}: could not reach {shown}: {type(exc).__name__}") from None
        try:
            if response.status_code == 403:
                raise PresignedUrlRejectedError(f"{label}: {shown} answered 403")
            if response.status_code != 200:
                raise DownloadError(
                    f"{label}: download from {shown} answered {response.status_code} "
                    f"{response.reason}"
                )
            logger.info("%s: downloading %s", label, shown)
            # Undecoded bytes (gzip is detected by magic, not by headers), and no
            # auto-close at EOF: the gzip reader reads past the last byte to see the end.
            response.raw.decode_content = False
            response.raw.auto_close = False
            # urllib3 streams are readable binary files in all but name.
            yield cast(BinaryIO, response.raw)
        finally:
            response.close()
