"""What Cornect's search filters match in the company database.

A module of its own because matching is a job apart from making the companies (`data`)
and from reading a request (`requests`, which checks a body against the vocabulary
here): one `Filters.select` serves a search page, the digest its cursors carry and an
export's selection. How each documented filter is read, `requests.parse_filters` says.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from tap_exports.sandbox.cornect.data import Catalog, Company

STRING_LIST_FILTERS = (
    "countries", "states", "cities", "industries", "exclude_industries", "naics_codes",
    "technologies", "technology_categories", "keywords", "exclude_keywords",
)  # fmt: skip
BOUND_FILTERS = ("employee_count_min", "employee_count_max", "founded_year_min", "founded_year_max")
CONNECTION_KEYS = ("category", "connected_company_id", "connected_domain")
FILTER_FIELDS = frozenset(("query", "connections", *STRING_LIST_FILTERS, *BOUND_FILTERS))
# A connection filter as compared: (category, domain), None where it does not care.
_Link = tuple[str | None, str | None]


@dataclass(frozen=True, slots=True)
class Filters:
    """A validated filter set; `digest` identifies it (cursors carry it)."""

    values: Mapping[str, Any]  # normalized: lower-cased, sorted, no empty filter
    digest: str

    @classmethod
    def of(cls, values: Mapping[str, Any]) -> Filters:
        """Filters from normalized values (see `cornect_requests.parse_filters`)."""
        text = orjson.dumps(values, option=orjson.OPT_SORT_KEYS)
        return cls(values, hashlib.sha256(text).hexdigest()[:16])

    def select(self, catalog: Catalog) -> list[Company]:
        """The matching companies, in the catalog's order."""
        values = self.values
        query = values.get("query")
        sets = {name: frozenset(values[name]) for name in STRING_LIST_FILTERS if name in values}
        bounds = {name: values[name] for name in BOUND_FILTERS if name in values}
        wanted = _phrases(values.get("keywords", ()))
        unwanted = _phrases(values.get("exclude_keywords", ()))
        links = [_link(spec, catalog) for spec in values.get("connections", ())]

        def matches(c: Company) -> bool:
            return (
                (query is None or query in c.text)
                and _any(sets, "countries", c.country)
                and _any(sets, "states", c.state)
                and _any(sets, "cities", c.city)
                and _any(sets, "industries", c.industry)
                and c.industry not in sets.get("exclude_industries", ())
                and _any(sets, "naics_codes", c.naics)
                and _overlap(sets, "technologies", c.technologies)
                and _overlap(sets, "technology_categories", c.categories)
                and _within(bounds, "employee_count", c.record["employee_count"])
                and _within(bounds, "founded_year", c.record["founded_year"])
                and (wanted is None or wanted.search(c.text) is not None)
                and (unwanted is None or unwanted.search(c.text) is None)
                and (not links or _connected(links, c.connections))
            )

        return [company for company in catalog.companies if matches(company)]


def _any(sets: Mapping[str, frozenset[str]], name: str, value: str | None) -> bool:
    return name not in sets or value in sets[name]


def _overlap(sets: Mapping[str, frozenset[str]], name: str, values: frozenset[str]) -> bool:
    return name not in sets or not sets[name].isdisjoint(values)


def _within(bounds: Mapping[str, int], field: str, value: int | None) -> bool:
    low, high = bounds.get(f"{field}_min"), bounds.get(f"{field}_max")
    if low is None and high is None:
        return True
    return value is not None and (low is None or value >= low) and (high is None or value <= high)


def _phrases(phrases: Sequence[str]) -> re.Pattern[str] | None:
    """One pattern matching any phrase as whole words (any spacing), case-insensitively."""
    words = [phrase.lower().split() for phrase in phrases if phrase.split()]
    if not words:
        return None
    alternatives = (r"\s+".join(map(re.escape, parts)) for parts in words)
    return re.compile("|".join(rf"(?<!\w)(?:{text})(?!\w)" for text in alternatives))


def _link(spec: Mapping[str, str], catalog: Catalog) -> _Link:
    """A connection filter as (category, domain); a company id stands for its domain."""
    domain = spec.get("connected_domain")
    if "connected_company_id" in spec:
        target = catalog.by_id.get(spec["connected_company_id"].lower())
        by_id = "\0no such company" if target is None else target.record["domain"].lower()
        domain = by_id if domain in (None, by_id) else "\0two different companies"
    return spec.get("category"), domain


def _connected(links: list[_Link], connections: tuple[tuple[str, str], ...]) -> bool:
    """Whether any of a company's connections matches any connection filter."""
    return any(
        (category in (None, have_category)) and (domain in (None, have_domain))
        for category, domain in links
        for have_category, have_domain in connections
    )
