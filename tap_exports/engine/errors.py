"""The errors the tap can end with, each worded so the user knows what to act on.

Every message is one line and names the setting, export id, window or line involved.
`TapExportsError` subclasses are expected failures: the CLI prints them without a
traceback and exits non-zero. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class TapExportsError(Exception):
    """Base class for failures the user can act on."""


class ConfigError(TapExportsError):
    """A setting has a value the tap cannot work with."""

    def __init__(self, setting: str, problem: str) -> None:
        """Name the setting first, because that is what the user has to change."""
        self.setting = setting
        super().__init__(f"setting '{setting}': {problem}")


class ApiError(TapExportsError):
    """The export API answered in a way that retrying cannot fix."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None) -> None:
        """Keep the HTTP status and the API's error code, so callers branch without parsing text."""
        self.status = status
        self.code = code
        super().__init__(message)


class AuthenticationError(ApiError):
    """401: the key is missing, wrong or revoked."""


class PermissionDeniedError(ApiError):
    """403: the key lacks permission or the subscription is inactive."""


class NotFoundError(ApiError):
    """404: the export does not exist (or belongs to another account)."""


class RequestRejectedError(ApiError):
    """422 or another 4xx: the API refused the request's parameters."""


class RetriesExhaustedError(ApiError):
    """Transient failures (5xx, 429, network) outlasted the retry bounds."""


class UncertainRequestError(ApiError):
    """A request that must not be sent twice got no answer (5xx, timeout, connection lost).

    It may have been carried out: a create may have made (and charged for) an export.
    The caller decides what to check before sending it again.
    """


class BusyError(ApiError):
    """The provider cannot take the request now, through no fault of the request.

    For example a second export while the one job an API allows per key runs: the
    scheduler waits and sends it again, without spending one of the slice's attempts.
    """


class OutOfCreditsError(ApiError):
    """The account cannot pay for the export (402): no other slice can do better."""


class SliceTooLargeError(TapExportsError):
    """The slice holds more than one export may: `parts` (planned by the provider) replace it.

    Raised before creating (the provider sized the slice again and it grew past its cap)
    or after (the export came back capped: it is not read, its rows come with the parts).
    """

    def __init__(self, message: str, parts: tuple[object, ...]) -> None:
        """Keep the replacement slices (`slices.Slice`, typed loosely to avoid a cycle)."""
        self.parts = parts
        super().__init__(message)


class NothingToExportError(TapExportsError):
    """The slice matches nothing now: no export is created, and it is done with zero rows."""


class ExportFailedError(TapExportsError):
    """The provider reported the export as failed more times than allowed."""


class ExportTimeoutError(TapExportsError):
    """An export did not complete within the configured time."""


class DownloadError(TapExportsError):
    """The export file could not be fetched or was cut short."""


class DecodeError(TapExportsError):
    """A line of an export file is not a usable record."""


@contextmanager
def naming(subject: str) -> Iterator[None]:
    """Prefix an API error raised inside the block with the export or window it concerns."""
    try:
        yield
    except ApiError as exc:
        exc.args = (f"{subject}: {exc}",)
        raise
