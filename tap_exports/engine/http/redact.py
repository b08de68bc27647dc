"""Keep secrets out of logs and off the wire: API keys and presigned query strings.

A presigned URL's query string *is* a credential (anyone holding it can download the
export until it expires), so URLs are only ever logged through `strip_query`, and a
filter on every log handler scrubs the key and any query string that still slips into
a line or a traceback (urllib3 logs full request lines at DEBUG, for one). Plain http
would put both on the network in clear, so it is accepted for loopback addresses only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from ipaddress import ip_address
from urllib.parse import urlsplit, urlunsplit

REDACTED = "<redacted>"
_QUERY_IN_TEXT = re.compile(r"(\w+://[^\s?'\"]+|/[^\s?'\"]*)\?[^\s'\"]*")


def strip_query(url: str) -> str:
    """Return `url` without its query string and fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def is_loopback_url(url: str) -> bool:
    """Tell whether `url` points at this machine (127.0.0.0/8, ::1 or localhost)."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Replace each secret and every URL query string in `text`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    if "?" in text:
        text = _QUERY_IN_TEXT.sub(rf"\1?{REDACTED}", text)
    return text


class SecretsFilter(logging.Filter):
    """Rewrite log records (message and traceback) without secrets; never drop one."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        """Remember the secrets to scrub, besides query strings."""
        super().__init__()
        self.secrets = tuple(secret for secret in secrets if secret)

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub the formatted message, and pre-format a scrubbed traceback."""
        message = record.getMessage()
        clean = redact(message, self.secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(
                logging.Formatter().formatException(record.exc_info), self.secrets
            )
        return True


def install_log_redaction(secrets: Iterable[str] = ()) -> None:
    """Attach a `SecretsFilter` to every handler and to urllib3's logger (idempotent).

    Handler filters see records from every logger; the urllib3 logger filter catches
    its request lines even if a handler is added later.
    """
    log_filter = SecretsFilter(secrets)
    loggers = [logging.getLogger(), logging.getLogger("urllib3.connectionpool")]
    loggers += [
        candidate
        for candidate in logging.root.manager.loggerDict.values()
        if isinstance(candidate, logging.Logger)
    ]
    for logger in loggers:
        targets: list[logging.Filterer] = list(logger.handlers)
        if logger.name == "urllib3.connectionpool":
            targets.append(logger)
        for target in targets:
            for old in [f for f in target.filters if isinstance(f, SecretsFilter)]:
                target.removeFilter(old)
            target.addFilter(log_filter)
