"""Cutting a filtered set into parts that each fit an export cap, by narrowing number ranges.

For APIs whose exports are defined by filters and hold at most `cap` records (the rest
silently absent), with a free way to count what a filter matches. The set is cut along
integer dimensions the filters can bound (`Dimension`, for example a size or a year),
into as few parts as the cap allows:

- greedy from the lowest value, each part as wide as the cap allows (then no cut into
  contiguous ranges has fewer parts): its upper bound is found by galloping, then by
  probes aimed by the counts, alternating with halving so lumpy counts cannot stall it;
- a single value holding more than the cap is cut again along another dimension;
- a record whose dimension is null matches no range of it: when the parts do not add
  up to the total, another dimension is tried as the first; when none covers the whole
  set, `Uncoverable` says how many records no range reaches.

Bounds the user's filters already set on a dimension are kept as its domain. Counting
is the caller's (`Count`); this module only plans.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tap_exports.engine.planning.slices import IntRange, Partition

# How many records a set of filters matches now.
Count = Callable[[Mapping[str, Any]], int]


@dataclass(frozen=True, slots=True)
class Dimension:
    """An integer field the set can be cut along: its filter keys and the values it can take."""

    field: str
    low_key: str
    high_key: str
    lowest: int
    highest: int


class Uncoverable(Exception):
    """Some records of the set cannot be reached by any part under the cap."""

    def __init__(self, total: int, missing: int, fields: Sequence[str]) -> None:
        """Keep the figures for the provider's message."""
        self.total = total
        self.missing = missing
        self.fields = tuple(fields)
        super().__init__(
            f"at least {missing:,} of the {total:,} matching records cannot be reached by "
            f"ranges of {' and '.join(fields)} under the cap (records without a value, or "
            "too many sharing one)"
        )


@dataclass(frozen=True, slots=True)
class SizedPart:
    """A planned part and how many records it matched when it was planned."""

    part: Partition
    size: int


# A part in the making: its fixed ranges and its count.
_Piece = tuple[tuple[IntRange, ...], int]


class PartPlanner:
    """Plans the parts of a filtered set, each at most `cap` records."""

    def __init__(self, count: Count, dimensions: Sequence[Dimension], cap: int) -> None:
        """`dimensions` in the order to try them; `count` asks the API (each call counts)."""
        self._count = count
        self._dimensions = tuple(dimensions)
        self._cap = cap

    def plan(self, filters: Mapping[str, Any], *, key: str = "") -> list[SizedPart]:
        """The parts of the set `filters` match; parts are keyed `{key}1`, `{key}2`, ...

        Raises:
            Uncoverable: some matching records have no value in any dimension.
        """
        domains = {dim.field: _domain(dim, filters) for dim in self._dimensions}
        bounded = {key for dim in self._dimensions for key in (dim.low_key, dim.high_key)}
        base = {name: value for name, value in filters.items() if name not in bounded}
        fixed = tuple(
            IntRange(dim.low_key, dim.high_key, *domains[dim.field])
            for dim in self._dimensions
            if dim.low_key in filters or dim.high_key in filters
        )
        total = self._count(_with(base, fixed))
        if total == 0:
            return []
        pieces = _Planning(self, base, domains).split(fixed, self._dimensions, total)
        return [
            SizedPart(Partition(f"{key}{number}", base, ranges), size)
            for number, (ranges, size) in enumerate(pieces, start=1)
        ]


class _Planning:
    """One plan's recursion: the fixed filters, the dimensions' domains, the counts."""

    def __init__(
        self, planner: PartPlanner, base: Mapping[str, Any], domains: Mapping[str, tuple[int, int]]
    ) -> None:
        self._count = planner._count
        self._cap = planner._cap
        self._base = base
        self._domains = domains

    def split(
        self, fixed: tuple[IntRange, ...], dims: tuple[Dimension, ...], total: int
    ) -> list[_Piece]:
        """Pieces of at most the cap that add up to `total`, trying each dimension first."""
        if total <= self._cap:
            return [(fixed, total)]
        missing = total
        for index, dim in enumerate(dims):
            others = dims[:index] + dims[index + 1 :]
            lowest, highest = self._domain_within(fixed, dim)
            reached = self._count(_with(self._base, _narrowed(fixed, dim, lowest, highest)))
            if reached < total:  # records without a value: no range of `dim` covers them
                missing = min(missing, total - reached)
                continue
            try:
                pieces = self._segment(fixed, dim, others, reached)
            except Uncoverable as inner:  # a value over the cap could not be cut further
                missing = min(missing, inner.missing)
                continue
            covered = sum(size for _, size in pieces)
            if covered == total:
                return pieces
            missing = min(missing, total - covered)
        raise Uncoverable(total, missing, [dim.field for dim in dims])

    def _segment(
        self,
        fixed: tuple[IntRange, ...],
        dim: Dimension,
        others: tuple[Dimension, ...],
        reached: int,
    ) -> list[_Piece]:
        """Contiguous ranges of `dim`, each as wide as the cap allows (greedy).

        `reached`: how many records the whole domain of `dim` holds (counted already).
        """
        lowest, highest = self._domain_within(fixed, dim)

        def count(low: int, high: int) -> int:
            return self._count(_with(self._base, ranges(low, high)))

        def ranges(low: int, high: int) -> tuple[IntRange, ...]:
            return _narrowed(fixed, dim, low, high)

        pieces: list[_Piece] = []
        low = lowest
        rest: int | None = reached  # the records from `low` to `highest`, when known
        while low <= highest:
            rest = count(low, highest) if rest is None else rest
            if rest <= self._cap:
                if rest:
                    pieces.append((ranges(low, highest), rest))
                break
            first = count(low, low)
            if first > self._cap:
                # One value alone is over the cap: cut it along the other dimensions.
                pieces += self.split(ranges(low, low), others, first) if others else []
                low += 1
                rest = None
                continue
            good, size, bad, bad_size = low, first, highest, rest
            step = 1
            while good + step < bad:  # gallop: widths 1, 3, 7, ... until over the cap
                probe_size = count(low, good + step)
                if probe_size > self._cap:
                    bad, bad_size = good + step, probe_size
                    break
                good, size = good + step, probe_size
                step *= 2
            interpolate = True
            while bad - good > 1:
                # Between the last fit and the first miss: aim by the counts (records are
                # rarely spread evenly, so every other probe halves the bracket instead).
                if interpolate and bad_size > size:
                    aim = self._cap  # the widest part the cap allows ends about there
                    probe = good + round((bad - good) * (aim - size) / (bad_size - size))
                    probe = min(max(probe, good + 1), bad - 1)
                else:
                    probe = (good + bad) // 2
                interpolate = not interpolate
                probe_size = count(low, probe)
                if probe_size <= self._cap:
                    good, size = probe, probe_size
                else:
                    bad, bad_size = probe, probe_size
            if size:
                pieces.append((ranges(low, good), size))
            low = good + 1
            rest = None
        return pieces

    def _domain_within(self, fixed: tuple[IntRange, ...], dim: Dimension) -> tuple[int, int]:
        """`dim`'s values: its domain, or the range already fixed on it."""
        for existing in fixed:
            if existing.low_key == dim.low_key:
                return existing.low, existing.high
        return self._domains[dim.field]


def _domain(dim: Dimension, filters: Mapping[str, Any]) -> tuple[int, int]:
    """`dim`'s values, narrowed by bounds the user's filters set on it."""
    low, high = filters.get(dim.low_key), filters.get(dim.high_key)
    return (
        max(dim.lowest, int(low)) if low is not None else dim.lowest,
        min(dim.highest, int(high)) if high is not None else dim.highest,
    )


def _narrowed(
    fixed: tuple[IntRange, ...], dim: Dimension, low: int, high: int
) -> tuple[IntRange, ...]:
    """`fixed` with `dim`'s range set to [low, high]."""
    others = tuple(bounds for bounds in fixed if bounds.low_key != dim.low_key)
    return (*others, IntRange(dim.low_key, dim.high_key, low, high))


def _with(base: Mapping[str, Any], ranges: Sequence[IntRange]) -> dict[str, Any]:
    """The filters to send: `base` plus each range's two bounds."""
    sent = dict(base)
    for bounds in ranges:
        sent[bounds.low_key] = bounds.low
        sent[bounds.high_key] = bounds.high
    return sent
