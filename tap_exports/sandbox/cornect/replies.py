"""Cornect's answers in the shapes its docs give them: error envelopes and a create's 201.

Apart from the emulator, which decides what to answer, so that its request handling
reads as decisions and the documented shapes sit in one place:
- errors use the documented envelope `{"detail": {"code", "message", "details"?}}`
  where the docs give a code; where they give none (404, 429, 5xx) `detail` is a plain
  string, as FastAPI answers it (`CornectEmulator.error_reply`), and a 422 is FastAPI's
  array (see `cornect_requests`);
- a 401 names why the token may not pass, by its state, and carries `WWW-Authenticate`;
- a create's 201 holds the export job and the credit math of its charge.
"""

from __future__ import annotations

from tap_exports.sandbox.cornect.config import CornectToken
from tap_exports.sandbox.cornect.credits import Charge
from tap_exports.sandbox.cornect.data import Record
from tap_exports.sandbox.cornect.requests import ExportRequest, bearer
from tap_exports.sandbox.emulator import Reply

# Why a token is refused, by its state: (code, message). Unknown keys are INVALID_TOKEN.
_REFUSED = {
    "expired": ("TOKEN_EXPIRED", "The API token has expired; create a new one."),
    "legacy": ("TOKEN_NOT_WORKSPACE_BOUND", "Legacy token with no workspace; mint a new one."),
    "removed": ("NOT_WORKSPACE_MEMBER", "The token's owner was removed from the workspace."),
    "revoked": ("INVALID_TOKEN", "The API token is invalid or has been revoked."),
}


def coded(status: int, code: str, message: str, details: Record | None = None) -> Reply:
    """An error in the documented envelope, `{"detail": {"code", "message", "details"?}}`."""
    detail: Record = {"code": code, "message": message}
    if details is not None:
        detail["details"] = details
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    return Reply(status, {"detail": detail}, headers)


def unauthorized(header: str | None, token: CornectToken | None) -> Reply:
    """The 401 for an Authorization header whose token may not pass, with its code."""
    if header is None:
        message = "Missing Authorization header; send 'Authorization: Bearer cornect_…'."
        return coded(401, "MISSING_AUTH_HEADER", message)
    if bearer(header) is None:
        message = "The Authorization header must be 'Bearer cornect_…'."
        return coded(401, "INVALID_TOKEN_FORMAT", message)
    if token is None:
        return coded(401, *_REFUSED["revoked"])
    return coded(401, *_REFUSED[token.state])


def created(export_id: str, request: ExportRequest, charge: Charge, *, capped: bool) -> Reply:
    """A create's 201: the new export job and what it cost; `capped` if the cap cut it."""
    return Reply(
        201,
        {
            "export_job": {
                "id": export_id,
                "name": request.name,
                "status": "pending",
                "export_format": request.export_format,
                "source_type": request.source_type,
            },
            "requested_count": charge.requested,
            "already_unlocked": charge.already_unlocked,
            "new_count": charge.new_count,
            "cost": charge.new_count,
            "credits_charged": charge.charged,
            "would_skip": charge.would_skip,
            "capped_at_10k": capped,
            "transaction_id": charge.transaction_id,
        },
    )
