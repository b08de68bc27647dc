"""Keep secrets out of logs: presigned query strings and API keys.

A presigned URL's query string *is* a credential (anyone holding it can download the
export until it expires), so URLs are only ever logged through `strip_query`.
urllib3 logs full request lines at DEBUG; `QueryStringFilter` scrubs those too.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import urlsplit, urlunsplit

_QUERY_IN_TEXT = re.compile(r"(\S+?)\?\S*")


def strip_query(url: str) -> str:
    """Return `url` without its query string and fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class QueryStringFilter(logging.Filter):
    """Remove query strings from log records of loggers that print request lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record's message without any `?query` part; never drop it."""
        message = record.getMessage()
        if "?" in message:
            record.msg = _QUERY_IN_TEXT.sub(r"\1?<redacted>", message)
            record.args = None
        return True


def install_log_redaction() -> None:
    """Attach the filter to urllib3's connection-pool logger (idempotent)."""
    pool_logger = logging.getLogger("urllib3.connectionpool")
    if not any(isinstance(f, QueryStringFilter) for f in pool_logger.filters):
        pool_logger.addFilter(QueryStringFilter())
