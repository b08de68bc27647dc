"""Turn the raw config mapping into typed settings, or one error naming the setting.

The JSON schema in `sdk/tap.py` already checks types and required keys; this adds what a
schema cannot say: that a timezone exists, that the end comes after the start, that
a provider's options fit together. It runs when the tap starts, so a bad value
fails in the first second with the setting's name instead of an hour into a backfill.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import urlsplit

from tap_exports.engine.errors import ConfigError
from tap_exports.engine.exports.jobs import LifecyclePolicy
from tap_exports.engine.http.api import RetryPolicy
from tap_exports.engine.http.redact import is_loopback_url
from tap_exports.providers import PROVIDERS
from tap_exports.providers.base import Provider, RateLimit

# A decimal number as people write it (not `nan`, `inf` or `1_000`, which float() takes).
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
# The first provider registered (`providers/__init__.py`), for configs that name none.
DEFAULT_PROVIDER = next(iter(PROVIDERS))
DEFAULT_SETTLE_LAG_MINUTES = 15
DEFAULT_REQUEST_TIMEOUT_SECONDS = 60.0
DEFAULT_MIN_WINDOW_MINUTES = 60
DEFAULT_PROGRESS_INTERVAL_SECONDS = 10.0
BAD_RECORD_POLICIES = ("fail", "skip")
# `evolve`: a field no schema declares is declared when it first arrives (`evolve.py`).
UNDECLARED_FIELD_POLICIES = ("evolve", "drop")
_LIFECYCLE_DEFAULTS = LifecyclePolicy()
_RETRY_DEFAULTS = RetryPolicy()


@dataclass(frozen=True, slots=True)
class Settings:
    """The validated settings every stream shares."""

    provider: Provider
    api_key: str
    api_url: str
    # None only for a provider whose streams are all full snapshots.
    start_date: datetime | None
    end_date: datetime | None
    # The timezone the provider reads dates in: window edges are its midnights.
    zone: tzinfo
    window_days: int
    settle_lag: timedelta
    request_timeout_seconds: float
    lifecycle: LifecyclePolicy
    retry: RetryPolicy
    min_window: timedelta
    skip_bad_records: bool
    # Declare fields the schema lacks as they arrive (else leave them out, with a warning).
    evolve_schema: bool
    rate_limits: Mapping[str, RateLimit]
    # Seconds between a stream's progress lines (slices done, records, time left).
    progress_interval_seconds: float
    raw: Mapping[str, Any]


_TRUE, _FALSE = frozenset({"true", "1", "yes", "on"}), frozenset({"false", "0", "no", "off"})


def read_text_values(config: MutableMapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Read settings given as text as the type their schema declares, in place.

    Environment variables are text, and so are Meltano settings of the default kind:
    `TAP_EXPORTS_POLL_INTERVAL_SECONDS=0.2` must mean 0.2, not fail as "'0.2' is not of
    type 'number'". Integers, numbers, booleans, and JSON objects or arrays are read; a
    setting that also allows text, or text that is none of these, is left as it is (the
    schema check then names the setting).
    """
    properties = schema.get("properties", {})
    for name, value in list(config.items()):
        declared = properties.get(name, {}).get("type", ())
        types = {declared} if isinstance(declared, str) else set(declared)
        if not isinstance(value, str) or "string" in types or not types:
            continue
        text = value.strip()
        lowered = text.lower()
        if "integer" in types and re.fullmatch(r"[+-]?\d+", text):
            config[name] = int(text)
        elif "number" in types and _NUMBER.fullmatch(text):
            config[name] = float(text)
        elif "boolean" in types and lowered in _TRUE | _FALSE:
            config[name] = lowered in _TRUE
        elif types & {"object", "array"}:
            try:
                parsed = json.loads(text)
            except ValueError:
                continue
            if isinstance(parsed, dict | list):
                config[name] = parsed


def parse_settings(
    config: Mapping[str, Any], providers: Mapping[str, Provider] = PROVIDERS
) -> Settings:
    """Validate `config` and return typed settings.

    Raises:
        ConfigError: naming the first setting that is wrong.
    """
    provider_name = config.get("provider") or DEFAULT_PROVIDER
    provider = providers.get(provider_name)
    if provider is None:
        raise ConfigError("provider", f"{provider_name!r} is not one of: {', '.join(providers)}")
    _refuse_other_providers_settings(config, provider, providers)
    api_key = str(config.get("api_key") or "").strip()
    if not api_key:
        raise ConfigError("api_key", "is required")
    if not api_key.isprintable():
        # Never echo the value: it is the secret.
        raise ConfigError("api_key", "contains a control character (a pasted line break?)")
    # The key goes to this host only: the chosen provider's unless told otherwise.
    api_url = config.get("api_url") or provider.default_api_url
    scheme = urlsplit(api_url).scheme
    if scheme not in ("http", "https"):
        raise ConfigError("api_url", f"{api_url!r} is not an http(s) URL")
    if scheme == "http" and not is_loopback_url(api_url):
        raise ConfigError(
            "api_url",
            "plain http would send the API key in clear; use https (http is only "
            "accepted for loopback addresses, such as the sandbox)",
        )
    incremental = any(spec.replication_key is not None for spec in provider.streams)
    start_date = _timestamp(config, "start_date", required=incremental)
    end_date = _timestamp(config, "end_date", required=False)
    if end_date is not None and start_date is not None and end_date <= start_date:
        raise ConfigError("end_date", "must be after 'start_date'")
    provider.validate_settings(config)
    return Settings(
        provider=provider,
        api_key=api_key,
        api_url=api_url,
        start_date=start_date,
        end_date=end_date,
        zone=provider.planning_zone(config),
        window_days=int(_positive(config, "window_days", provider.default_window_days)),
        settle_lag=timedelta(
            minutes=_at_least(config, "settle_lag_minutes", DEFAULT_SETTLE_LAG_MINUTES, 0)
        ),
        request_timeout_seconds=_positive(
            config, "request_timeout_seconds", DEFAULT_REQUEST_TIMEOUT_SECONDS
        ),
        lifecycle=LifecyclePolicy(
            poll_interval_seconds=_positive(
                config, "poll_interval_seconds", _LIFECYCLE_DEFAULTS.poll_interval_seconds
            ),
            export_timeout_seconds=_positive(
                config, "export_timeout_seconds", _LIFECYCLE_DEFAULTS.export_timeout_seconds
            ),
            max_export_attempts=int(
                _positive(config, "max_export_attempts", _LIFECYCLE_DEFAULTS.max_export_attempts)
            ),
            retry_cooldown_seconds=_at_least(
                config,
                "export_retry_cooldown_seconds",
                _LIFECYCLE_DEFAULTS.retry_cooldown_seconds,
                0,
            ),
            max_exports_in_flight=int(
                _positive(
                    config, "max_exports_in_flight", _LIFECYCLE_DEFAULTS.max_exports_in_flight
                )
            ),
        ),
        retry=RetryPolicy(
            max_attempts=int(
                _positive(config, "request_max_attempts", _RETRY_DEFAULTS.max_attempts)
            ),
            max_elapsed_seconds=_positive(
                config, "request_retry_max_seconds", _RETRY_DEFAULTS.max_elapsed_seconds
            ),
        ),
        min_window=timedelta(
            minutes=_positive(config, "min_window_minutes", DEFAULT_MIN_WINDOW_MINUTES)
        ),
        skip_bad_records=_choice(config, "bad_record_policy", BAD_RECORD_POLICIES) == "skip",
        evolve_schema=_choice(config, "undeclared_fields", UNDECLARED_FIELD_POLICIES) == "evolve",
        progress_interval_seconds=_at_least(
            config, "progress_interval_seconds", DEFAULT_PROGRESS_INTERVAL_SECONDS, 0
        ),
        rate_limits=_rate_limits(config, provider),
        raw=config,
    )


def _choice(config: Mapping[str, Any], setting: str, choices: tuple[str, ...]) -> str:
    """The setting's value among `choices`; the first when unset."""
    value = config.get(setting) or choices[0]
    if value not in choices:
        raise ConfigError(setting, f"{value!r} is not one of: {', '.join(choices)}")
    return str(value)


def _timestamp(config: Mapping[str, Any], setting: str, *, required: bool) -> datetime | None:
    value = config.get(setting)
    if value in (None, ""):
        if required:
            raise ConfigError(setting, "is required (an ISO 8601 date-time)")
        return None
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise ConfigError(setting, f"{value!r} is not an ISO 8601 date-time") from None
    if parsed.tzinfo is None:
        raise ConfigError(setting, f"{value!r} needs a UTC offset, e.g. '2024-01-01T00:00:00Z'")
    if parsed.microsecond:
        raise ConfigError(setting, "must be a whole second")
    return parsed


def _refuse_other_providers_settings(
    config: Mapping[str, Any], provider: Provider, providers: Mapping[str, Provider]
) -> None:
    """Stop on a setting that only another provider reads: it would be silently ignored.

    A value equal to that setting's default counts as unset (Meltano may pass defaults).
    """
    for other in providers.values():
        if other is provider:
            continue
        for budget in set(other.rate_limits) - set(provider.rate_limits):
            name = f"{budget}_rate_limit"
            if config.get(name) is not None:
                raise ConfigError(
                    name,
                    f"'{provider.name}' has no '{budget}' budget (it is '{other.name}''s): "
                    "remove it",
                )
        for setting in other.settings:
            value = config.get(setting.name)
            if value is None or value == setting.default or provider.setting(setting.name):
                continue
            raise ConfigError(
                setting.name,
                f"applies to provider '{other.name}' only, but 'provider' is "
                f"'{provider.name}': remove it or set 'provider: {other.name}'",
            )


def _positive(config: Mapping[str, Any], setting: str, default: float) -> float:
    """A number above zero (singer-sdk reads JSON decimals as `Decimal`: make it float)."""
    value = config.get(setting)
    if value is None:
        return default
    if value <= 0:
        raise ConfigError(setting, f"must be greater than 0, got {value}")
    return float(value)


def _at_least(config: Mapping[str, Any], setting: str, default: float, least: float) -> float:
    value = config.get(setting)
    if value is None:
        return default
    if value < least:
        raise ConfigError(setting, f"must be at least {least}, got {value}")
    return float(value)


def _rate_limits(config: Mapping[str, Any], provider: Provider) -> dict[str, RateLimit]:
    """The provider's documented limits, overridable (a raised quota, or the sandbox)."""
    limits = {}
    for budget, documented in provider.rate_limits.items():
        requests = _positive(config, f"{budget}_rate_limit", documented.requests)
        period = _positive(config, "rate_limit_period_seconds", documented.per_seconds)
        # A limit the user set is theirs to keep; a guess of ours may be lowered.
        fixed = config.get(f"{budget}_rate_limit") is not None
        guessed = documented.guessed and not fixed
        limits[budget] = RateLimit(int(requests), period, guessed=guessed, fixed=fixed)
    return limits
