"""Deterministic synthetic data for a sandbox space: the ground truth tests compare to.

Records are spread over `days` local days of the space's timezone, and every day
also gets records at the edges a window planner can get wrong: exactly local midnight
and 23:59:59 local time. Names carry non-ASCII text, optional fields are sometimes
null, and some records carry a field no schema declares (`x_legacy_score`), as real
APIs add fields without notice. The same spec and timezone always give the same data.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

Record = dict[str, Any]

_NAMES = (
    "Ada Lovelace", "Zoë Ångström", "Jürgen Müller", "李雷", "Ólafur Arnalds",
    "Søren Kierkegaard", "Nguyễn Văn An", "Chloé O'Brien", "Ñandú Pérez", "Анна Каренина",
)  # fmt: skip
_COMPANY_WORDS = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Ÿotta")
_EVENT_NAMES = ("purchase", "lead_generated", "sign_up", "add_to_cart", "custom_event_7")
_SOURCES = ("facebook_ads", "google_ads", "email", "direct", "ai_claude")
_LOCATIONS = ("US", "DE", "FR", "JP", "BR", None)
_EDGE_TIMES = (time(0, 0, 0), time(23, 59, 59))


@dataclass(frozen=True, slots=True)
class DataSpec:
    """How much data a space has, and where in time."""

    start: date = date(2025, 3, 1)
    days: int = 14
    companies_per_day: int = 8
    contacts_per_day: int = 12
    events_per_day: int = 20
    seed: int = 7
    # Records with a field no schema declares (`x_legacy_score`); the data is otherwise
    # the same whatever the share.
    undeclared_share: float = 0.15


@dataclass(frozen=True, slots=True)
class Dataset:
    """Every record of one space, per stream, as the API would export it in full."""

    companies: list[Record]
    contacts: list[Record]
    events: list[Record]

    def stream(self, name: str) -> list[Record]:
        """The records of `name` (companies, contacts or events)."""
        return {"companies": self.companies, "contacts": self.contacts, "events": self.events}[name]


def generate(spec: DataSpec, zone: ZoneInfo) -> Dataset:
    """Build the dataset for a space in `zone`."""
    rng = random.Random(spec.seed)
    share = spec.undeclared_share
    companies: list[Record] = []
    contacts: list[Record] = []
    events: list[Record] = []
    for offset in range(spec.days):
        day = spec.start + timedelta(days=offset)
        for _ in range(spec.companies_per_day):
            company = _company(rng, len(companies) + 1, _stamp(rng, day, zone))
            companies.append(_maybe_extra(rng, company, share))
        for _ in range(spec.contacts_per_day):
            contact = _contact(rng, len(contacts) + 1, _stamp(rng, day, zone))
            contacts.append(_maybe_extra(rng, contact, share))
        for _ in range(spec.events_per_day):
            event = _event(rng, len(events) + 1, _stamp(rng, day, zone))
            events.append(_maybe_extra(rng, event, share))
        for edge in _EDGE_TIMES:
            stamp = utc_text(datetime.combine(day, edge, tzinfo=zone))
            companies.append(_maybe_extra(rng, _company(rng, len(companies) + 1, stamp), share))
            contacts.append(_maybe_extra(rng, _contact(rng, len(contacts) + 1, stamp), share))
            events.append(_maybe_extra(rng, _event(rng, len(events) + 1, stamp), share))
    return Dataset(companies=companies, contacts=contacts, events=events)


def _stamp(rng: random.Random, day: date, zone: ZoneInfo) -> str:
    """A random instant whose local date in `zone` is `day` (DST days included)."""
    start = datetime.combine(day, time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    seconds = int((end - start).total_seconds())
    return utc_text(start + timedelta(seconds=rng.randrange(seconds)))


def utc_text(moment: datetime) -> str:
    """`moment` as the APIs write instants: UTC, to the second, with a `Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _maybe_extra(rng: random.Random, record: Record, share: float) -> Record:
    """Give `share` of the records a field no schema declares, as real exports do."""
    if rng.random() < share:
        record["x_legacy_score"] = round(rng.random(), 3)
    return record


def _company(rng: random.Random, record_id: int, created_at: str) -> Record:
    word = rng.choice(_COMPANY_WORDS)
    return {
        "id": record_id,
        "domain": f"{word.lower()}{record_id}.example.com" if rng.random() > 0.05 else None,
        "name": f"{word} {record_id}" if rng.random() > 0.1 else None,
        "created_at": created_at,
    }


def _contact(rng: random.Random, record_id: int, created_at: str) -> Record:
    name = rng.choice(_NAMES)
    email = f"user{record_id}@example.com"
    return {
        "id": record_id,
        "email": email if rng.random() > 0.05 else None,
        "name": name if rng.random() > 0.1 else None,
        "phone": f"+1555{record_id:07d}" if rng.random() > 0.3 else None,
        "location": rng.choice(_LOCATIONS),
        "created_at": created_at,
        "comet_tokens": [f"ct_{record_id}_{n}" for n in range(rng.randrange(0, 6))],
        "emails": [email, f"alt{record_id}@example.org"],
    }


def _event(rng: random.Random, record_id: int, event_time: str) -> Record:
    name = rng.choice(_EVENT_NAMES)
    profile_id = rng.randrange(1, 500)
    source = rng.choice(_SOURCES)
    return {
        "id": record_id,
        "event_time_utc": event_time,
        "event_name": name,
        "configured_name": "Demo booked" if name == "custom_event_7" else name,
        # The REST reference types ids as strings, export samples as integers.
        "profile_id": profile_id if rng.random() > 0.2 else str(profile_id),
        "company_id": rng.randrange(1, 100) if rng.random() > 0.5 else None,
        "space_id": "1",
        "amount": round(rng.uniform(5, 500), 2) if name == "purchase" else None,
        "is_upsell": rng.random() < 0.1,
        "order_id": f"ord_{record_id}" if name == "purchase" else None,
        "order_name": f"#{1000 + record_id}" if name == "purchase" else None,
        "event_url": f"https://shop.example.com/p/{record_id}",
        "touchpoints": [
            {
                "source": source,
                "ad_name": f"Ad {record_id % 7}",
                "adset_name": f"Adset {record_id % 5}",
                "campaign_name": f"Campaign {record_id % 3}",
                "account_name": "Main account",
                "event_time_utc": event_time,
            }
        ],
    }
