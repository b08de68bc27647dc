"""What a Cornect sandbox can be told: its tokens, companies, lists, credits and timing.

Defaults are the documented facts (a 10,000-company cap per export, the per-endpoint
limits per minute) and, where the docs are silent, a choice the docstrings below name.
Time scales down for tests and demos (`CornectTiming`, `rate_period_seconds`);
`SandboxConfig.cornect` carries it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType

# The demo workspace every default token belongs to (the docs show workspace ids as UUIDs).
CORNECT_DEMO_WORKSPACE = "5b2fa9e8-3c1d-4e7a-9b2f-6d8e0a4c1f37"
CORNECT_DEMO_TOKEN = "cornect_sandbox_demo"  # read_write: may create exports
CORNECT_READ_TOKEN = "cornect_sandbox_read"  # read: everything but creating exports
CORNECT_EXPIRED_TOKEN = "cornect_sandbox_expired"  # 401 TOKEN_EXPIRED
CORNECT_LEGACY_TOKEN = "cornect_sandbox_legacy"  # 401 TOKEN_NOT_WORKSPACE_BOUND
CORNECT_REMOVED_TOKEN = "cornect_sandbox_removed"  # 401 NOT_WORKSPACE_MEMBER
# The saved lists every workspace has by default: 40 companies, and none.
CORNECT_DEMO_LIST = "3f6c1e2a-8b4d-4c7e-a915-2d0f7b3e6a58"
CORNECT_EMPTY_LIST = "9a0d4b7e-1f3c-4e2a-b6d8-c5e7f9a1b3d2"

SCOPES = ("read", "read_write")
# A token's state; every one but `active` answers 401 with its code.
TOKEN_STATES = ("active", "expired", "legacy", "removed", "revoked")
SHORT_BALANCE_MODES = ("reject", "partial")
JSON_LAYOUTS = ("array", "ndjson")
# Requests per token per endpoint per rate period (a minute by default), as documented.
RATE_LIMITS = MappingProxyType(
    {"search": 60, "detail": 120, "credits": 60, "create": 5, "status": 120, "download": 30}
)


@dataclass(frozen=True, slots=True)
class CornectToken:
    """An API token: its key, the workspace it is bound to, its scope and its state.

    A legacy token has no workspace (`workspace_id` None); a revoked one is answered
    exactly as a key nobody ever issued (`INVALID_TOKEN`), as documented.
    """

    key: str
    workspace_id: str | None = CORNECT_DEMO_WORKSPACE
    scope: str = "read_write"
    state: str = "active"

    def __post_init__(self) -> None:
        """Refuse a token no request could ever present, or one in no known state."""
        if not self.key.startswith("cornect_"):
            raise ValueError(f"a Cornect token starts with 'cornect_', got {self.key!r}")
        if self.scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}, got {self.scope!r}")
        if self.state not in TOKEN_STATES:
            raise ValueError(f"state must be one of {TOKEN_STATES}, got {self.state!r}")
        if self.state == "active" and self.workspace_id is None:
            raise ValueError(f"an active token needs a workspace: {self.key!r}")


def default_tokens() -> list[CornectToken]:
    """The demo and read tokens of the demo workspace, and one token per 401 code."""
    return [
        CornectToken(CORNECT_DEMO_TOKEN),
        CornectToken(CORNECT_READ_TOKEN, scope="read"),
        CornectToken(CORNECT_EXPIRED_TOKEN, state="expired"),
        CornectToken(CORNECT_LEGACY_TOKEN, workspace_id=None, state="legacy"),
        CornectToken(CORNECT_REMOVED_TOKEN, state="removed"),
    ]


@dataclass(frozen=True, slots=True)
class CornectData:
    """The company database: how many companies, from which seed, with which quirks.

    Every workspace sees the same companies (it is one database); what differs per
    workspace is which of them it has unlocked. `same_size_share` of the companies get
    exactly 50 employees, so a test can make one filter value match more than the cap.
    """

    companies: int = 500
    seed: int = 0
    employee_count_null_share: float = 0.02
    founded_year_null_share: float = 0.0
    same_size_share: float = 0.0
    # The share each workspace has unlocked (exported before) when the sandbox starts.
    unlocked_share: float = 0.2

    def __post_init__(self) -> None:
        """Refuse a negative count and shares outside [0, 1]."""
        if self.companies < 0:
            raise ValueError(f"companies must be >= 0, got {self.companies}")
        shares = {
            "employee_count_null_share": self.employee_count_null_share,
            "founded_year_null_share": self.founded_year_null_share,
            "same_size_share": self.same_size_share,
            "unlocked_share": self.unlocked_share,
        }
        for name, share in shares.items():
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {share}")
        if self.employee_count_null_share + self.same_size_share > 1.0:
            raise ValueError("employee_count_null_share + same_size_share must not exceed 1")


@dataclass
class CornectTiming:
    """How an export moves and how long a download URL lives.

    An export is `pending` for `pending_seconds`, then `processing` for
    `processing_seconds`, then `completed` (or `failed`). The URL lifetime is
    undocumented ("short-lived"): 15 minutes, like the docs' example `expires_at`.
    """

    pending_seconds: float = 0.2
    processing_seconds: float = 1.0
    url_ttl_seconds: int = 900

    def __post_init__(self) -> None:
        """Refuse negative durations and a URL that could never be used."""
        if self.pending_seconds < 0 or self.processing_seconds < 0:
            raise ValueError("pending_seconds and processing_seconds must be >= 0")
        if self.url_ttl_seconds < 1:
            raise ValueError(f"url_ttl_seconds must be >= 1, got {self.url_ttl_seconds}")


@dataclass
class CornectConfig:
    """Everything the Cornect emulator reads from a sandbox run's config.

    `lists` maps saved-list ids (UUID strings) to company ids; None gives every
    workspace the default lists, `CORNECT_DEMO_LIST` (40 companies of the data) and
    `CORNECT_EMPTY_LIST`. `balance` is every workspace's starting balance. On a balance
    short of an export's new companies, `short_balance` "reject" answers 402 and creates
    nothing (the create page); "partial" charges what is left and drops the companies it
    cannot pay for (the credit-consumption guide's `would_skip`). `json_layout` is how a
    JSON export is written (a JSON array, or NDJSON); `gzip` gzips every file.
    """

    tokens: list[CornectToken] = field(default_factory=default_tokens)
    data: CornectData = field(default_factory=CornectData)
    lists: dict[str, list[str]] | None = None
    balance: int = 100_000
    cap: int = 10_000
    short_balance: str = "reject"
    timing: CornectTiming = field(default_factory=CornectTiming)
    json_layout: str = "array"
    gzip: bool = False
    rate_period_seconds: float = 60.0

    def __post_init__(self) -> None:
        """Refuse values the emulator could not serve."""
        if self.balance < 0:
            raise ValueError(f"balance must be >= 0, got {self.balance}")
        if self.cap < 1:
            raise ValueError(f"cap must be >= 1, got {self.cap}")
        if self.short_balance not in SHORT_BALANCE_MODES:
            raise ValueError(f"short_balance must be one of {SHORT_BALANCE_MODES}")
        if self.json_layout not in JSON_LAYOUTS:
            raise ValueError(f"json_layout must be one of {JSON_LAYOUTS}")
        if self.rate_period_seconds <= 0:
            raise ValueError(f"rate_period_seconds must be > 0, got {self.rate_period_seconds}")
        keys = [token.key for token in self.tokens]
        if len(set(keys)) != len(keys):
            raise ValueError("token keys must be unique")
