"""Cornect's requests, read as its FastAPI server would: route, token, bodies, cursors.

Routing comes before auth, as in FastAPI: an unknown path is 404 and a known path with
the wrong method 405, token or not (`route`). A token is a `Bearer cornect_…` header
(`bearer`). Cursors are opaque base64url JSON holding the offset and a digest of the
filters, so a cursor sent with other filters is refused (400), not misread.

The docs name the body fields but not the 422 body; a FastAPI service answers pydantic's
errors, `{"detail": [{"loc": ["body", field, ...], "msg", "type", "input"}]}`, every
error at once, so this module does too. Where the docs are silent it reads strictly,
so a tap that passes here relies on nothing a lenient server might forgive:
- an unknown key anywhere (body, filters, a connection filter) is refused, so a
  misspelt filter is not silently ignored;
- types are strict: a bool is no integer, a string is no list, "5" is no integer;
- null is the same as leaving a field out, and an empty list the same as no filter;
- an empty body is `{}` (every search field is optional).

It is plain logic and shares no code with the tap.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from tap_exports.sandbox.cornect.data import CATEGORIES, SORT_FIELDS, Record
from tap_exports.sandbox.cornect.filters import (
    BOUND_FILTERS,
    CONNECTION_KEYS,
    FILTER_FIELDS,
    STRING_LIST_FILTERS,
    Filters,
)

SOURCE_TYPES = ("search", "list")
EXPORT_FORMATS = ("csv", "json")
SORT_ORDERS = ("asc", "desc")
_EXPORT_FIELDS = frozenset(
    ("name", "source_type", "search_filters", "sort_by", "sort_order", "list_id", "export_format")
)
_MESSAGES = {
    "extra_forbidden": "Extra inputs are not permitted",
    "string_type": "Input should be a valid string",
    "list_type": "Input should be a valid list",
    "int_type": "Input should be a valid integer",
    "dict_type": "Input should be a valid dictionary",
    "missing": "Field required",
}


class Invalid(Exception):
    """A 422 with FastAPI's `detail` array: each error has `loc`, `msg`, `type`, `input`."""

    def __init__(self, errors: list[Record]) -> None:
        """Refuse the request with `errors` (at least one)."""
        super().__init__(errors[0]["msg"])
        self.errors = errors


def problem(loc: Sequence[str | int], kind: str, value: Any, msg: str = "") -> Record:
    """One FastAPI-style validation error; `msg` defaults to pydantic's words for `kind`."""
    return {"loc": list(loc), "msg": msg or _MESSAGES[kind], "type": kind, "input": value}


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """What one create-export body asks for, validated and with defaults filled in."""

    name: str
    source_type: str
    filters: Filters
    list_id: str | None
    export_format: str
    sort_by: str | None
    sort_order: str


def parse_search(body: bytes) -> tuple[Filters, str | None]:
    """A search body's filters and cursor; `Invalid` if the body is not a valid one."""
    document = _document(body)
    errors: list[Record] = []
    cursor = document.get("cursor")
    if cursor is not None and not isinstance(cursor, str):
        errors.append(problem(("body", "cursor"), "string_type", cursor))
    fields = {key: value for key, value in document.items() if key != "cursor"}
    values = _filter_values(fields, ("body",), errors)
    if errors:
        raise Invalid(errors)
    return Filters.of(values), cursor


def parse_export(body: bytes) -> ExportRequest:
    """A create-export body, validated; `Invalid` lists everything wrong with it.

    `search_filters` is read as a search body without `cursor`. `list_id` is required
    when `source_type` is "list" (whether it names a list is the emulator's to say);
    `search_filters` and `list_id` are accepted with either source and ignored where
    the other one applies.
    """
    document = _document(body)
    errors: list[Record] = [
        problem(("body", key), "extra_forbidden", document[key])
        for key in sorted(set(document) - _EXPORT_FIELDS)
    ]
    name = document.get("name")
    if name is None:
        errors.append(problem(("body", "name"), "missing", document))
    elif not isinstance(name, str):
        errors.append(problem(("body", "name"), "string_type", name))
    source_type = _choice(document, "source_type", SOURCE_TYPES, "search", errors)
    export_format = _choice(document, "export_format", EXPORT_FORMATS, "csv", errors)
    sort_by = _choice(document, "sort_by", SORT_FIELDS, None, errors)
    sort_order = _choice(document, "sort_order", SORT_ORDERS, "asc", errors)
    filters = document.get("search_filters")
    values: dict[str, Any] = {}
    if isinstance(filters, dict):
        values = _filter_values(filters, ("body", "search_filters"), errors)
    elif filters is not None:
        errors.append(problem(("body", "search_filters"), "dict_type", filters))
    list_id = document.get("list_id")
    if list_id is not None and not isinstance(list_id, str):
        errors.append(problem(("body", "list_id"), "string_type", list_id))
    elif list_id is None and source_type == "list":
        msg = "Field required when source_type is 'list'"
        errors.append(problem(("body", "list_id"), "missing", None, msg))
    if errors:
        raise Invalid(errors)
    return ExportRequest(
        name=str(name),
        source_type=str(source_type),
        filters=Filters.of(values),
        list_id=list_id,
        export_format=str(export_format),
        sort_by=sort_by,
        sort_order=str(sort_order),
    )


def parse_filters(document: Mapping[str, Any]) -> Filters:
    """Filters as a search body (without `cursor`) gives them; `Invalid` if they are bad.

    Text matching is case-insensitive: `query` is a substring of the name or the
    description; `keywords` and `exclude_keywords` are whole-word phrases there, OR'ed;
    the list filters match exact values, any of them; `technology_categories` matches
    the category of any of a company's technologies (`TECHNOLOGY_CATEGORIES`); a
    connection filter matches a connection on every part it names
    (`connected_company_id` stands for that company's domain). The bounds are inclusive,
    and a filter on a field never matches a company where that field is null.
    """
    errors: list[Record] = []
    values = _filter_values(document, ("body",), errors)
    if errors:
        raise Invalid(errors)
    return Filters.of(values)


def _document(body: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(body or b"{}")
    except orjson.JSONDecodeError as exc:
        raise Invalid(
            [problem(("body", exc.pos), "json_invalid", {}, "JSON decode error")]
        ) from None
    if not isinstance(document, dict):
        msg = "Input should be a valid dictionary or object to extract fields from"
        raise Invalid([problem(("body",), "model_attributes_type", document, msg)])
    return document


def _choice(
    document: Mapping[str, Any],
    name: str,
    choices: tuple[str, ...],
    default: str | None,
    errors: list[Record],
) -> str | None:
    value = document.get(name)
    if value is None:
        return default
    if value in choices:
        return str(value)
    words = [f"'{choice}'" for choice in choices]
    msg = f"Input should be {', '.join(words[:-1])} or {words[-1]}"
    errors.append(problem(("body", name), "literal_error", value, msg))
    return default


def _filter_values(
    document: Mapping[str, Any], where: tuple[str, ...], errors: list[Record]
) -> dict[str, Any]:
    """The normalized filter values (lower-cased, sorted, empty ones left out)."""
    values: dict[str, Any] = {}
    errors += (
        problem((*where, name), "extra_forbidden", document[name])
        for name in sorted(set(document) - FILTER_FIELDS)
    )
    query = document.get("query")
    if isinstance(query, str):
        if query.strip():
            values["query"] = query.lower()
    elif query is not None:
        errors.append(problem((*where, "query"), "string_type", query))
    for name in STRING_LIST_FILTERS:
        strings = _strings(document.get(name), (*where, name), errors)
        if strings:
            values[name] = sorted({text.lower() for text in strings})
    for name in BOUND_FILTERS:
        bound = document.get(name)
        if isinstance(bound, int) and not isinstance(bound, bool):
            values[name] = bound
        elif bound is not None:
            errors.append(problem((*where, name), "int_type", bound))
    connections = _connections(document.get("connections"), (*where, "connections"), errors)
    if connections:
        values["connections"] = connections
    return values


def _strings(value: Any, loc: tuple[str | int, ...], errors: list[Record]) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append(problem(loc, "list_type", value))
        return []
    bad = [(i, item) for i, item in enumerate(value) if not isinstance(item, str)]
    errors += (problem((*loc, i), "string_type", item) for i, item in bad)
    return [] if bad else value


def _connections(
    value: Any, loc: tuple[str | int, ...], errors: list[Record]
) -> list[dict[str, str]]:
    if value is None:
        return []
    if not isinstance(value, list):
        errors.append(problem(loc, "list_type", value))
        return []
    found: list[dict[str, str]] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            errors.append(problem((*loc, i), "dict_type", item))
            continue
        before = len(errors)
        errors += (
            problem((*loc, i, key), "extra_forbidden", item[key])
            for key in sorted(set(item) - set(CONNECTION_KEYS))
        )
        spec = {key: item[key] for key in CONNECTION_KEYS if item.get(key) is not None}
        errors += (
            problem((*loc, i, key), "string_type", text)
            for key, text in spec.items()
            if not isinstance(text, str)
        )
        if isinstance(spec.get("category"), str) and spec["category"] not in CATEGORIES:
            msg = "Input should be 'vendor', 'customer' or 'partner'"
            errors.append(problem((*loc, i, "category"), "literal_error", spec["category"], msg))
        if len(errors) == before:
            if "connected_domain" in spec:
                spec["connected_domain"] = spec["connected_domain"].lower()
            found.append(spec)
    return found


# Routes, the token, cursors -------------------------------------------------------------

# (method, path segments) -> endpoint (a key of `RATE_LIMITS`); "{id}" is one segment.
_ROUTES = {
    ("POST", ("companies", "search")): "search",
    ("GET", ("companies", "{id}")): "detail",
    ("GET", ("credits",)): "credits",
    ("POST", ("exports",)): "create",
    ("GET", ("exports", "{id}")): "status",
    ("POST", ("exports", "{id}", "download")): "download",
}


def route(method: str, path: str) -> tuple[str, str] | int:
    """(endpoint, id) of a request, or the status FastAPI answers (404, 405).

    A trailing slash is accepted; an id is one non-empty path segment.
    """
    parts = tuple(path.strip("/").split("/"))
    status = 404
    for (route_method, pattern), endpoint in _ROUTES.items():
        if len(pattern) != len(parts):
            continue
        ident = ""
        for want, have in zip(pattern, parts, strict=True):
            if want == "{id}" and have:
                ident = have
            elif want != have:
                break
        else:
            if route_method == method:
                return endpoint, ident
            status = 405
    return status


def bearer(header: str | None) -> str | None:
    """The token of a `Bearer cornect_…` header (the scheme in any case), else None."""
    scheme, _, credential = (header or "").strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential.startswith("cornect_"):
        return None
    return credential


def encode_cursor(offset: int, filters: Filters) -> str:
    """An opaque cursor for the page at `offset` of a search with `filters`."""
    text = orjson.dumps({"offset": offset, "filters": filters.digest})
    return base64.urlsafe_b64encode(text).rstrip(b"=").decode()


def decode_cursor(cursor: str, filters: Filters) -> int:
    """The offset a cursor points at; ValueError if it is garbled or from other filters."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        document = orjson.loads(text)
    except (binascii.Error, ValueError):
        raise ValueError("The cursor is not one this API issued.") from None
    offset = document.get("offset") if isinstance(document, dict) else None
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise ValueError("The cursor is not one this API issued.")
    if document.get("filters") != filters.digest:
        raise ValueError("The cursor belongs to a search with other filters; keep them identical.")
    return offset
