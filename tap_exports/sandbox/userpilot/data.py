"""Deterministic Userpilot event rows: the ground truth the sandbox's exports are cut from.

Rows follow the documented "Userpilot Event Data Schema" (docs/providers/userpilot.md):
every event type, `inserted_at` in UTC to the microsecond, auto-captured fields only on
`web-client` rows (null on backend sources), and `metadata` shaped by the event type:
user properties on `identify_user`, company properties on `identify_company`, event
properties on `track`, null on the rest. `event_name` is the empty string where the docs
say it is empty (identify, page_view, session_start), never null.

Every UTC day also gets what a tap can get wrong:
- rows exactly at midnight (`T00:00:00.000000Z`) and at `23:59:59.999999`, the edges of
  a `[start, end)` window and of an inclusive `to`;
- one row twice, identical: rows have no id, so only a multiset comparison sees a loss;
- an `identify_user` row for the first user with properties that change day by day, so
  "the latest properties of a user" has one right answer;
- text with commas, quotes, a line break and non-ASCII letters (CSV quoting, UTF-8);
- on some rows a field no schema declares (`x_sdk_version`), as APIs add fields unasked.

The same spec and app token always give the same rows.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

Record = dict[str, Any]

EVENT_TYPES = (
    "identify_user", "identify_company", "interaction", "track", "track_feature",
    "page_view", "session_start",
)  # fmt: skip
# The documented columns, in the documented order: a file's columns when it has a header.
COLUMNS = (
    "app_token", "event_type", "event_name", "user_id", "company_id", "source",
    "inserted_at", "hostname", "pathname", "screen_width", "screen_height", "device_type",
    "user_agent", "operating_system", "browser", "browser_language", "session",
    "country_code", "metadata",
)  # fmt: skip
EXTRA_FIELD = "x_sdk_version"  # the undeclared field some rows carry (a string)

_WEIGHTS = (2, 1, 2, 4, 2, 4, 2)  # per EVENT_TYPES entry
_BACKEND_SOURCES = ("backend-http", "backend-hubspot", "backend-salesforce", "backend-segment")
_NAMES = ("Zoë Ångström", "Jürgen Müller", "李雷", "Chloé O'Brien", "Анна Каренина", "Ada")
_COMPANY_NAMES = ("Ÿotta GmbH", "Acme, Inc.", 'The "Best" Co', "株式会社テスト")
_PLANS = ("trial", "growth", "enterprise")
_TRACK_NAMES = (
    "Subscription Purchased", "Report Exported", "Einladung verschickt",
    'Note "quick",\nadded',  # a comma, quotes and a line break in one cell
)  # fmt: skip
_INTERACTIONS = ("checklist:2:SEEN", "experience:448:DISMISSED", "flow:12:COMPLETED")
_PATHS = ("/features/subscription", "/über-uns", "/reports?q=a,b", "/日本語/ヘルプ", "/")
_DEVICES = (
    ("desktop", "Windows", "Chrome", 1920, 1080,
     "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/124.0 Safari/537.36"),
    ("mobile", "iOS", "Safari", 390, 844,
     "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15"),
    ("tablet", "Android", "Firefox", 800, 1280,
     "Mozilla/5.0 (Android 14; Tablet; rv:125.0) Gecko/125.0 Firefox/125.0"),
)  # fmt: skip
_LANGUAGES = ("en-US", "de-CH", "ja-JP", "pt-BR")
_COUNTRIES = ("US", "CH", "JP", "BR")
_DAY = timedelta(days=1)
_EDGES = (time(0, 0, 0, 0), time(23, 59, 59, 999_999))


@dataclass(frozen=True, slots=True)
class UserpilotData:
    """How many rows an environment has, over which UTC days, from which seed."""

    start: date = date(2025, 3, 1)
    days: int = 7
    events_per_day: int = 30
    users: int = 8
    companies: int = 3
    seed: int = 11


def user_ids(spec: UserpilotData) -> list[str]:
    """The ids of the environment's users, `user-001` onwards."""
    return [f"user-{number:03d}" for number in range(1, spec.users + 1)]


def utc_micros(moment: datetime) -> str:
    """`moment` as Userpilot writes `inserted_at`: UTC, six fraction digits, a `Z`."""
    # isoformat, not strftime: it pads years below 1000, so texts always sort as instants.
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def generate(spec: UserpilotData, app_token: str) -> list[Record]:
    """Every row of an environment, in `inserted_at` order (identical rows side by side)."""
    return _Generator(spec, app_token).rows()


class _Generator:
    """One pass over the days; holds the evolving user and company properties."""

    def __init__(self, spec: UserpilotData, app_token: str) -> None:
        self.spec = spec
        self.app_token = app_token
        self.rng = random.Random(f"{spec.seed}:{app_token}")
        self.users = user_ids(spec)
        self.companies = [f"company-{number:02d}" for number in range(1, spec.companies + 1)]
        self.identified: dict[str, int] = {}  # identify rows so far, per user or company

    def rows(self) -> list[Record]:
        """Day by day, in time order, so properties evolve forward in time."""
        rows: list[Record] = []
        for offset in range(self.spec.days):
            midnight = datetime.combine(self.spec.start + offset * _DAY, time(), tzinfo=UTC)
            stamps = sorted(
                [datetime.combine(midnight.date(), edge, UTC) for edge in _EDGES]
                + [
                    midnight + timedelta(microseconds=self.rng.randrange(86_400_000_000))
                    for _ in range(self.spec.events_per_day)
                ]
            )
            first_user = self.rng.randrange(len(stamps))  # where its daily identify goes
            day = [
                self._identify_user(self.users[0], stamp)
                if index == first_user
                else self._row(stamp)
                for index, stamp in enumerate(stamps)
            ]
            twice = self.rng.randrange(len(day))
            day.insert(twice + 1, copy.deepcopy(day[twice]))
            rows += day
        return rows

    def _row(self, moment: datetime) -> Record:
        event_type = self.rng.choices(EVENT_TYPES, _WEIGHTS)[0]
        if event_type == "identify_user":
            return self._identify_user(self.rng.choice(self.users), moment)
        if event_type == "identify_company":
            return self._identify_company(self.rng.choice(self.companies), moment)
        user = self.rng.choice(self.users)
        name, metadata = "", None
        if event_type == "track":
            name = self.rng.choice(_TRACK_NAMES)
            metadata = {
                "amount": round(self.rng.uniform(1, 500), 2),
                "currency": self.rng.choice(("EUR", "USD", "JPY")),
                "items": [{"sku": f"A-{n}", "qty": n} for n in range(1, self.rng.randrange(2, 4))],
                "coupon": None,
            }
        elif event_type == "track_feature":
            name = str(self.rng.choice((1723, 1724, 2001)))  # a feature tag's id
        elif event_type == "interaction":
            name = self.rng.choice(_INTERACTIONS)
        return self._base(
            event_type,
            name,
            user=user,
            company=self._company_of(user),
            moment=moment,
            metadata=metadata,
        )

    def _identify_user(self, user: str, moment: datetime) -> Record:
        count = self.identified[user] = self.identified.get(user, 0) + 1
        index = self.users.index(user)
        metadata = {
            "name": _NAMES[index % len(_NAMES)],
            "email": f"{user}@example.com",
            "plan": _PLANS[min(count // 3, len(_PLANS) - 1)],
            "logins": count,
            "address": {"city": ("Zürich", "São Paulo", "東京")[count % 3], "zip": None},
            "tags": ["beta"] * (count % 2) + ["vip"] * (count > 4),
        }
        company = self._company_of(user)
        return self._base(
            "identify_user", "", user=user, company=company, moment=moment, metadata=metadata
        )

    def _identify_company(self, company: str, moment: datetime) -> Record:
        count = self.identified[company] = self.identified.get(company, 0) + 1
        index = self.companies.index(company)
        metadata = {
            "name": _COMPANY_NAMES[index % len(_COMPANY_NAMES)],
            "plan": _PLANS[min(count // 2, len(_PLANS) - 1)],
            "seats": 5 * count,
            "industry": None if index % 2 else "Software",
        }
        return self._base(
            "identify_company", "", user=None, company=company, moment=moment, metadata=metadata
        )

    def _company_of(self, user: str) -> str | None:
        index = self.users.index(user)
        if index % 4 == 3 or not self.companies:
            return None  # a user without a company
        return self.companies[index % len(self.companies)]

    def _base(
        self,
        event_type: str,
        name: str,
        *,
        user: str | None,
        company: str | None,
        moment: datetime,
        metadata: dict[str, Any] | None,
    ) -> Record:
        """A row in the documented column order; auto-captured fields for web rows only."""
        web = event_type not in ("identify_user", "identify_company") or self.rng.random() < 0.3
        row: Record = {
            "app_token": self.app_token,
            "event_type": event_type,
            "event_name": name,
            "user_id": user,
            "company_id": company,
            "source": "web-client" if web else self.rng.choice(_BACKEND_SOURCES),
            "inserted_at": utc_micros(moment),
        }
        if web:
            device, system, browser, width, height, agent = self.rng.choice(_DEVICES)
            country = self.rng.randrange(len(_COUNTRIES))
            row |= {
                "hostname": "app.example.com",
                "pathname": self.rng.choice(_PATHS),
                "screen_width": width,
                "screen_height": height,
                "device_type": device,
                "user_agent": agent,
                "operating_system": system,
                "browser": browser,
                "browser_language": _LANGUAGES[country],
                "session": str(self.rng.randrange(1, 40)),
                "country_code": _COUNTRIES[country],
            }
        else:
            row |= dict.fromkeys(COLUMNS[7:18])
        row["metadata"] = metadata
        if self.rng.random() < 0.1:
            row[EXTRA_FIELD] = "2.3.1"
        return row
