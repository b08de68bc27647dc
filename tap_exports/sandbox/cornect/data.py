"""Cornect's company database, emulated: deterministic companies, their facets and order.

The record schema is undocumented (docs/providers/cornect.md: a guess from the
filter names); the sandbox makes that guess concrete, with what a tap can get wrong:
- `country` and `state` are full names ("United States", "Ontario"), `state` null
  outside the United States and Canada; cities repeat across countries (London is in
  the United Kingdom and in Ontario; Cambridge in England and Massachusetts), as the
  docs warn that `cities` is not country-scoped;
- `employee_count` is skewed (roughly log-uniform from 1 to 200,000) and sometimes null;
  `founded_year` may be null too; `same_size_share` of companies have exactly 50
  employees, so one filter value can match more than an export's cap;
- about 5% of the names hold commas, double quotes and sometimes a line break, and some
  text is not ASCII (CSV quoting, UTF-8);
- `technologies` is a list of strings and `connections` a list of objects, so a CSV must
  carry them as JSON text;
- export files carry `data_quality_score`, a field the search items lack (undocumented
  fields appear without notice).

What a search's filters match is `filters`'s job. The same `CornectData` always gives
the same companies.
"""

from __future__ import annotations

import gc
import hashlib
import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, TypeVar

from tap_exports.sandbox.cornect.config import CORNECT_DEMO_LIST, CORNECT_EMPTY_LIST, CornectData

Record = dict[str, Any]

SCORE_FIELD = "data_quality_score"  # in export files only
# A search item's fields, in order; an export file's columns are these and SCORE_FIELD.
FIELDS = (
    "id", "name", "domain", "description", "country", "state", "city", "industry",
    "naics_code", "technologies", "employee_count", "founded_year", "linkedin_url",
    "connections", "created_at", "updated_at",
)  # fmt: skip
FILE_FIELDS = (*FIELDS, SCORE_FIELD)
CATEGORIES = ("vendor", "customer", "partner")
SORT_FIELDS = ("name", "employee_count", "founded_year", "created_at")
PAGE_SIZE = 25
# `technology_categories` matches the category of any of a company's technologies.
TECHNOLOGY_CATEGORIES = {
    "Salesforce": "CRM", "HubSpot": "CRM", "AWS": "Cloud", "Google Cloud": "Cloud",
    "Microsoft Azure": "Cloud", "Stripe": "Payments", "Shopify": "E-commerce",
    "Snowflake": "Data", "Segment": "Data", "React": "Frontend", "Kubernetes": "DevOps",
    "Zendesk": "Support",
}  # fmt: skip

_LOCATIONS = (
    ("United States", "California", "San Francisco", 5),
    ("United States", "New York", "New York", 4),
    ("United States", "Texas", "Austin", 3),
    ("United States", "Massachusetts", "Cambridge", 2),
    ("Canada", "Ontario", "Toronto", 2),
    ("Canada", "Ontario", "London", 1),
    ("Canada", "Québec", "Montréal", 1),
    ("United Kingdom", None, "London", 3),
    ("United Kingdom", None, "Cambridge", 1),
    ("Germany", None, "Berlin", 2),
    ("Germany", None, "München", 1),
    ("France", None, "Paris", 2),
    ("Netherlands", None, "Amsterdam", 1),
    ("Switzerland", None, "Zürich", 1),
    ("Japan", None, "Tokyo", 1),
)
# Each location `weight` times, with the lower-cased names filters compare.
_WEIGHTED_LOCATIONS = tuple(
    (country, state, city, country.lower(), None if state is None else state.lower(), city.lower())
    for country, state, city, weight in _LOCATIONS
    for _ in range(weight)
)
_INDUSTRIES = tuple(
    (industry, industry.lower(), codes)
    for industry, codes in (
        ("Software", ("541511", "513210")), ("Financial Services", ("522320", "523150")),
        ("Healthcare", ("621111",)), ("Manufacturing", ("334111", "336390")),
        ("Retail", ("455110",)), ("Logistics", ("484121", "493110")),
        ("Education", ("611310",)), ("Marketing", ("541810",)),
    )
)  # fmt: skip
_PREFIXES = (
    ("Acme", "acme"), ("Globex", "globex"), ("Initech", "initech"),
    ("Nordlicht", "nordlicht"), ("Blue Harbor", "blueharbor"), ("Ÿotta", "yotta"),
    ("Zürich Analytik", "zurichanalytik"), ("Helix", "helix"), ("Summit", "summit"),
    ("Lumen", "lumen"), ("Kestrel", "kestrel"), ("Quanta", "quanta"),
    ("Cedar & Vale", "cedarvale"),
)  # fmt: skip
_SUFFIXES = ("Analytics", "Systems", "Labs", "Logistics", "Health", "Payments", "Robotics")
# (prefix, suffix, the name without a legal form, the domain's stem, the LinkedIn slug)
_STEMS = tuple(
    (prefix, suffix, f"{prefix} {suffix}", f"{slug}-{suffix.lower()}", slug)
    for prefix, slug in _PREFIXES
    for suffix in _SUFFIXES
)
_LEGAL = ("", "", " Inc.", " GmbH", " Ltd", " B.V.", " SAS")
_PRODUCTS = (
    "cloud security", "payment infrastructure", "machine learning tools", "B2B SaaS",
    "supply chain software", "electronic health records", "marketing automation",
)  # fmt: skip
_AUDIENCES = ("small businesses", "enterprises", "hospitals", "retailers", "banks")
_PITCHES = tuple(f"{product} for {audience}" for product in _PRODUCTS for audience in _AUDIENCES)
_VENDOR_DOMAINS = ("salesforce.com", "hubspot.com", "stripe.com", "snowflake.com", "slack.com")
_HOSTILE = (
    "{prefix} {suffix}, Inc.",
    '{prefix} "{suffix}" Group',
    '{prefix}, "{suffix}"\nHoldings',
)
_TECHNOLOGIES = tuple(TECHNOLOGY_CATEGORIES)
_LOWER_TECHNOLOGIES = {tech: tech.lower() for tech in TECHNOLOGY_CATEGORIES}
_LOWER_CATEGORIES = {tech: category.lower() for tech, category in TECHNOLOGY_CATEGORIES.items()}
_MAX_EMPLOYEES = 200_000
# Companies are created from 2019 to mid-2025; `_DAYS` are the dates as text, by offset.
_EPOCH = date(2019, 1, 1)
_DAYS = tuple(str(_EPOCH + timedelta(days=offset)) for offset in range(3_000))
_SPAN = (date(2025, 6, 1) - _EPOCH).days * 86_400
_T = TypeVar("_T")


def company_id(seed: int, index: int) -> str:
    """The id of the company at `index` of the data seeded `seed`: a stable UUID string.

    A version-4 UUID built from a digest (formatted by hand: `uuid.UUID` is the slowest
    part of generating a large database).
    """
    h = hashlib.md5(f"cornect:{seed}:{index}".encode()).hexdigest()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


def default_lists(spec: CornectData) -> dict[str, list[str]]:
    """Every workspace's saved lists by default: 40 companies of the data, and none."""
    step = max(1, spec.companies // 40)
    members = [company_id(spec.seed, index) for index in range(0, spec.companies, step)]
    return {CORNECT_DEMO_LIST: members[:40], CORNECT_EMPTY_LIST: []}


@dataclass(slots=True)
class Company:
    """One company: its record (file shape) and what filters compare, lower-cased.

    Not frozen only because a frozen dataclass is slow to build (every field goes through
    `object.__setattr__`) and a database has tens of thousands; nothing changes one.
    """

    index: int
    record: Record
    text: str  # name and description
    country: str
    state: str | None  # null outside the United States and Canada: matches no filter
    city: str
    industry: str
    naics: str
    technologies: frozenset[str]
    categories: frozenset[str]
    connections: tuple[tuple[str, str], ...] = ()  # (category, domain)

    def item(self) -> Record:
        """The company as search and detail answer it (a fresh copy)."""
        record = self.record
        item = {name: record[name] for name in FIELDS}
        item["technologies"] = list(item["technologies"])
        item["connections"] = [dict(link) for link in item["connections"]]
        return item

    def row(self) -> Record:
        """The company as an export file holds it (a fresh copy)."""
        return {**self.item(), SCORE_FIELD: self.record[SCORE_FIELD]}


class Catalog:
    """Every company of the database, in a stable order, and by id."""

    def __init__(self, companies: list[Company]) -> None:
        """Index `companies`."""
        self.companies = companies
        self.by_id = {company.record["id"]: company for company in companies}


def generate(spec: CornectData) -> Catalog:
    """The companies `spec` describes (25,000 take a fraction of a second).

    Draws go through `random()` and indexing, not `choice`/`randrange`, which are several
    times slower; a company's connections to other companies are filled in once every
    company has its domain. The cyclic garbage collector pauses meanwhile: the records
    hold no cycles, and its passes over a growing heap would take a third of the time.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate(spec)
    finally:
        if enabled:
            gc.enable()


def _generate(spec: CornectData) -> Catalog:
    draw = random.Random(spec.seed).random
    count = spec.companies
    null_share = spec.employee_count_null_share
    fifty_share = null_share + spec.same_size_share
    log_max = math.log(_MAX_EMPLOYEES)
    companies: list[Company] = []
    links: list[list[tuple[str, int | str]]] = []
    for index in range(count):
        prefix, suffix, plain, stem, slug = _pick(draw, _STEMS)
        if draw() >= 0.05:
            name = plain + _pick(draw, _LEGAL)
        else:  # one in twenty is hostile to CSV (commas, quotes, a line break)
            name = _pick(draw, _HOSTILE).format(prefix=prefix, suffix=suffix)
        country, state, city, low_country, low_state, low_city = _pick(draw, _WEIGHTED_LOCATIONS)
        industry, low_industry, codes = _pick(draw, _INDUSTRIES)
        size = draw()
        employees: int | None = None
        if size >= fifty_share:
            employees = min(_MAX_EMPLOYEES, int(math.exp(draw() * log_max)))
        elif size >= null_share:
            employees = 50
        founded = None
        if draw() >= spec.founded_year_null_share:
            founded = 2025 - int(126 * draw() ** 2)
        created = int(draw() * _SPAN)
        technologies = list({_pick(draw, _TECHNOLOGIES): None for _ in range(int(draw() * 5))})
        description = f"{plain} builds {_pick(draw, _PITCHES)}, worldwide."
        naics = _pick(draw, codes)
        record = {
            "id": company_id(spec.seed, index),
            "name": name,
            "domain": f"{stem}-{index}.com",
            "description": description,
            "country": country,
            "state": state,
            "city": city,
            "industry": industry,
            "naics_code": naics,
            "technologies": technologies,
            "employee_count": employees,
            "founded_year": founded,
            "linkedin_url": f"https://www.linkedin.com/company/{slug}-{index}",
            "connections": [],
            "created_at": _stamp(created),
            "updated_at": _stamp(created + int(draw() * 30_000_000)),
            SCORE_FIELD: round(0.35 + 0.65 * draw(), 3),
        }
        text = f"{name}\n{description}".lower()
        companies.append(
            Company(
                index, record, text, low_country, low_state, low_city, low_industry, naics,
                frozenset(_LOWER_TECHNOLOGIES[tech] for tech in technologies),
                frozenset(_LOWER_CATEGORIES[tech] for tech in technologies),
            )
        )  # fmt: skip
        links.append(
            [
                (
                    _pick(draw, CATEGORIES),
                    _pick(draw, _VENDOR_DOMAINS) if draw() < 0.5 else int(draw() * count),
                )
                for _ in range(_pick(draw, (0, 0, 1, 1, 2, 3)))
            ]
        )
    for company, targets in zip(companies, links, strict=True):
        connections = [
            (category, companies[target].record["domain"] if isinstance(target, int) else target)
            for category, target in targets
        ]
        company.record["connections"] = [
            {"category": category, "connected_domain": domain} for category, domain in connections
        ]
        company.connections = tuple(connections)
    return Catalog(companies)


def _pick(draw: Callable[[], float], choices: Sequence[_T]) -> _T:
    return choices[int(draw() * len(choices))]


def _stamp(seconds: int) -> str:
    """`_EPOCH` plus `seconds` as the API writes instants (UTC, to the second, a `Z`)."""
    day, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    return f"{_DAYS[day]}T{hours:02d}:{rest // 60:02d}:{rest % 60:02d}Z"


def facets(companies: Iterable[Company]) -> dict[str, dict[str, int]]:
    """Search's `aggregations`: matching companies per country and per industry."""
    countries: Counter[str] = Counter()
    industries: Counter[str] = Counter()
    for company in companies:
        countries[company.record["country"]] += 1
        industries[company.record["industry"]] += 1
    return {
        "countries": dict(countries.most_common()),
        "industries": dict(industries.most_common()),
    }


def sort_companies(companies: list[Company], sort_by: str | None, order: str) -> list[Company]:
    """`companies` in an export's order: as given, or by a field; nulls always last.

    Ties keep the given (stable) order in both directions; names compare case-folded.
    Without `sort_by` the order is the given one, whatever `order` says.
    """
    if sort_by is None:
        return list(companies)
    present = [c for c in companies if c.record[sort_by] is not None]
    absent = [c for c in companies if c.record[sort_by] is None]

    def key(company: Company) -> Any:
        value = company.record[sort_by]
        return value.casefold() if sort_by == "name" else value

    return sorted(present, key=key, reverse=order == "desc") + absent
