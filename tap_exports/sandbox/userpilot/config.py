"""What a Userpilot sandbox can be told: its environments, job timing, files and limits.

Defaults are the documented facts (URLs valid 2 days, status kept 3 days) and, where the
docs are silent, a lenient but real choice that the docstrings below name. Time scales
down for tests and demos (`UserpilotTiming`); `SandboxConfig.userpilot` carries it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tap_exports.sandbox.userpilot.data import UserpilotData
from tap_exports.sandbox.userpilot.jobs import TERMINAL_STATUSES

USERPILOT_DEMO_TOKEN = "NX-DEMO-TOKEN"
# A plan without the export add-on: every call answers 401.
USERPILOT_NO_EXPORT_TOKEN = "NX-NO-EXPORT-TOKEN"
_DAY = 86_400


def default_segments() -> dict[str, frozenset[str]]:
    """Segment id -> its users: three of the demo users, and an empty segment."""
    return {"1001": frozenset({"user-001", "user-002", "user-003"}), "1002": frozenset()}


@dataclass
class UserpilotEnvironment:
    """One Userpilot environment: the API key that reaches it, its app token, its data.

    Jobs and the request-rate limit belong to the app token ("one export job per
    application token"), so two keys of one app share them; the data is each key's own.
    """

    api_key: str
    app_token: str = "NX-DEMO0001"
    name: str = "production"
    export_addon: bool = True
    data: UserpilotData = field(default_factory=UserpilotData)
    segments: dict[str, frozenset[str]] = field(default_factory=default_segments)


def default_environments() -> list[UserpilotEnvironment]:
    """The demo environment, and one on a plan without the export add-on."""
    return [
        UserpilotEnvironment(api_key=USERPILOT_DEMO_TOKEN),
        UserpilotEnvironment(
            api_key=USERPILOT_NO_EXPORT_TOKEN, app_token="NX-GROWTH01", export_addon=False
        ),
    ]


@dataclass
class UserpilotTiming:
    """How an export job moves and how long what it hands out lives.

    A job spends `processing_seconds` going through `statuses`, an equal share each,
    then turns `completed` (or `failed`). Only `pending` and `completed` are documented:
    the default words are others on purpose, so a tap's handling of unknown words is
    exercised; `statuses=("pending",)` gives the documented ones alone.
    """

    statuses: tuple[str, ...] = ("queued", "running")
    processing_seconds: float = 1.0
    url_ttl_seconds: int = 2 * _DAY
    retention_seconds: float = 3 * _DAY

    def __post_init__(self) -> None:
        """Refuse a sequence a client could not read: empty, or passing a terminal word."""
        if not self.statuses or TERMINAL_STATUSES & set(self.statuses):
            raise ValueError(f"statuses must be non-terminal words, got {self.statuses!r}")


@dataclass
class UserpilotConfig:
    """Everything the Userpilot emulator reads from a sandbox run's config.

    `gzip` None gzips NDJSON and CSV parts and leaves Parquet and Avro ones as they are
    (see `userpilot_files`); True or False applies to every format. Request-rate limits
    are undocumented: `rate_limit` requests per app token per `rate_period_seconds`,
    every endpoint together, is lenient by default.
    """

    environments: list[UserpilotEnvironment] = field(default_factory=default_environments)
    timing: UserpilotTiming = field(default_factory=UserpilotTiming)
    rows_per_part: int = 500
    gzip: bool | None = None
    rate_limit: int = 60
    rate_period_seconds: float = 60.0

    def __post_init__(self) -> None:
        """Refuse parts that could hold no row."""
        if self.rows_per_part < 1:
            raise ValueError(f"rows_per_part must be at least 1, got {self.rows_per_part}")
