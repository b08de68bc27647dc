"""`tap-exports --plan`: what a sync would do, printed for a person; nothing is created.

Per stream taking part: its windows (from its bookmark in `--state`) or its snapshot's
parts (sized with the provider's free calls), what they may cost where exports are
paid for, and the floor the create rate limit puts under the wall time. No Singer
message is written and no state changes: the plan reads, it does not sync.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from tap_exports.engine.http.budget import least_seconds
from tap_exports.engine.planning.eta import duration
from tap_exports.engine.planning.slices import Partition, Slice, Window
from tap_exports.providers.base import Provider, RateLimit
from tap_exports.sdk.streams import ExportStream

# Slices listed in full up to this many; longer plans show the first and last few.
_LISTED = 8


def describe_plan(
    provider: Provider,
    api_url: str,
    limits: Mapping[str, RateLimit],
    streams: Iterable[ExportStream],
) -> list[str]:
    """The plan's lines: a header, each stream's slices and costs, the wall-time floor."""
    lines = [f"Plan for {provider.name} at {api_url} (nothing is created):"]
    exports = 0
    for stream in streams:
        if not stream.takes_part:
            continue
        slices, costs = stream.preview()
        exports += len(slices)
        readers = [stream.name, *(d.name for d in stream.derived if d.selected)]
        if not stream.selected:
            readers = readers[1:]
        lines.append(
            f"  {stream.name}: {len(slices)} export(s)"
            + (f" (read for {', '.join(readers)})" if readers != [stream.name] else "")
        )
        lines += [f"    {text}" for text in _listed(slices)]
        lines += [f"    {text}" for text in costs]
    lines.append(f"  {_floor(exports, limits[provider.create_budget], provider.max_running_jobs)}")
    return lines


def _listed(slices: Sequence[Slice]) -> list[str]:
    described = [_describe(piece) for piece in slices]
    if len(described) <= _LISTED:
        return described
    half = _LISTED // 2
    return [*described[:half], f"... {len(described) - 2 * half} more ...", *described[-half:]]


def _describe(piece: Slice) -> str:
    if isinstance(piece, Window):
        return str(piece)
    return _describe_part(piece)


def _describe_part(part: Partition) -> str:
    ranges = ", ".join(
        f"{_field(bounds.low_key, bounds.high_key)} {bounds.low}..{bounds.high}"
        for bounds in part.ranges
    )
    return f"{part}" + (f": {ranges}" if ranges else "")


def _field(low_key: str, high_key: str) -> str:
    """What a range bounds: its two filter keys' common start (`size_min`, `size_max`: size)."""
    common = next(
        (low_key[:at] for at, (a, b) in enumerate(zip(low_key, high_key, strict=False)) if a != b),
        low_key[: min(len(low_key), len(high_key))],
    )
    cut = max(common.rfind(separator) for separator in "_-.")  # the last whole word
    return (common[:cut] if cut > 0 else "") or f"{low_key}/{high_key}"


def _floor(exports: int, limit: RateLimit, max_running: int | None) -> str:
    """The least wall time the create limit allows for `exports` creates."""
    if exports == 0:
        return "nothing to export: a sync would only write STATE"
    least = duration(least_seconds(exports, limit=limit.requests, period=limit.per_seconds))
    floor = (
        f"{exports} export(s) in all; at {limit.requests} creates per "
        f"{limit.per_seconds:g} s the creates alone take at least {least}"
    )
    if max_running == 1:
        floor += f", and the provider runs one job at a time: {exports} jobs one after another"
    return floor
