"""Pure planning and pricing modules: partition, spending, pricing, exported keys, inference.

No HTTP and no sandbox: the API is a fake `count` over an in-memory list of records.
"""

from __future__ import annotations

import base64
import bisect
import itertools
import logging
import math
import random
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from jsonschema import Draft7Validator

from tap_exports.engine.costs.exported import ExportedKeys
from tap_exports.engine.costs.pricing import NewRecordPricing
from tap_exports.engine.costs.spending import SpendingGuard
from tap_exports.engine.errors import ConfigError
from tap_exports.engine.planning.partition import Dimension, PartPlanner, Uncoverable
from tap_exports.engine.planning.slices import Partition
from tap_exports.engine.records.infer import infer_schema, widened

EMPLOYEES = Dimension("employee_count", "employee_count_min", "employee_count_max", 0, 2**31 - 1)
FOUNDED = Dimension("founded_year", "founded_year_min", "founded_year_max", 0, 9999)
DIMENSIONS = (EMPLOYEES, FOUNDED)
FIELDS = ("employee_count", "founded_year")
BOUND_KEYS = {f"{field}_{end}" for field in FIELDS for end in ("min", "max")}

Record = dict[str, Any]


def matcher(filters: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool]:
    """Inclusive `*_min`/`*_max` bounds (a None field matches no bound on it); else equality."""
    bounds: dict[str, list[float]] = {}
    equal = []
    for name, wanted in filters.items():
        if name.endswith(("_min", "_max")):
            low_high = bounds.setdefault(name[:-4], [-math.inf, math.inf])
            low_high[name.endswith("_max")] = wanted
        else:
            equal.append((name, wanted))
    checks = [(field, low, high) for field, (low, high) in bounds.items()]

    def match(record: Mapping[str, Any]) -> bool:
        for field, low, high in checks:
            value = record.get(field)
            if value is None or not low <= value <= high:
                return False
        return all(record.get(name) == wanted for name, wanted in equal)

    return match


class FakeCount:
    """Counts what filters match in `records`, and how often it was asked.

    For speed, the records matching the filters other than bounds are kept once per such
    filter set, as (size, year) pairs and as sorted sizes (bisected when only sizes are bounded).
    """

    def __init__(self, records: list[Record]) -> None:
        self.records = records
        self.calls: list[dict[str, Any]] = []
        self._matching: dict[tuple[tuple[str, Any], ...], tuple[list[tuple], list[int]]] = {}

    def __call__(self, filters: Mapping[str, Any]) -> int:
        self.calls.append(dict(filters))
        rest = tuple(sorted((k, v) for k, v in filters.items() if not k.endswith(("_min", "_max"))))
        assert {k for k in filters if k.endswith(("_min", "_max"))} <= BOUND_KEYS
        if rest not in self._matching:
            match = matcher(dict(rest))
            pairs = [(r["employee_count"], r["founded_year"]) for r in self.records if match(r)]
            self._matching[rest] = (pairs, sorted(e for e, _ in pairs if e is not None))
        pairs, sizes = self._matching[rest]
        e_low, e_high = filters.get("employee_count_min"), filters.get("employee_count_max")
        f_low, f_high = filters.get("founded_year_min"), filters.get("founded_year_max")
        sized = e_low is not None or e_high is not None
        if f_low is None and f_high is None:
            if not sized:
                return len(pairs)
            start = 0 if e_low is None else bisect.bisect_left(sizes, e_low)
            end = len(sizes) if e_high is None else bisect.bisect_right(sizes, e_high)
            return max(0, end - start)
        e_low = -math.inf if e_low is None else e_low
        e_high = math.inf if e_high is None else e_high
        f_low = -math.inf if f_low is None else f_low
        f_high = math.inf if f_high is None else f_high
        return sum(
            1
            for e, f in pairs
            if f is not None
            and f_low <= f <= f_high
            and (not sized or (e is not None and e_low <= e <= e_high))
        )


def company(employees: int | None, founded: int | None, **extra: Any) -> Record:
    return {"employee_count": employees, "founded_year": founded, **extra}


def skewed(n: int, seed: int = 7) -> list[Record]:
    """Log-uniform sizes (many small companies, few large ones), years 1900-2024."""
    rng = random.Random(seed)
    return [company(int(10 ** rng.uniform(0, 5)), rng.randint(1900, 2024)) for _ in range(n)]


def fewest_contiguous_parts(values: list[int], cap: int) -> int:
    """The fewest contiguous value ranges of at most `cap` records each (greedy is optimal)."""
    parts, filled = 0, cap + 1
    for _, size in sorted(Counter(values).items()):
        assert size <= cap
        if filled + size > cap:
            parts, filled = parts + 1, 0
        filled += size
    return parts


def assert_exact_cover(parts, records, filters, cap) -> None:
    """Every part fits the cap and its size is right; each matching record is in exactly one."""
    homes = [0] * len(records)
    for sized in parts:
        match = matcher(sized.part.request_filters())
        inside = [at for at, record in enumerate(records) if match(record)]
        assert sized.size == len(inside)
        assert 0 < sized.size <= cap
        for at in inside:
            homes[at] += 1
    match = matcher(filters)
    assert homes == [int(match(record)) for record in records]


# --- partition ---------------------------------------------------------------------------


def test_the_fake_count_agrees_with_a_plain_scan():
    rng = random.Random(11)
    records = [
        {**r, "country": rng.choice(["FR", "DE"])}
        for r in [*skewed(1_000), company(None, 1990), company(12, None), company(None, None)]
    ]
    count = FakeCount(records)
    for _ in range(100):
        filters: dict[str, Any] = {}
        for key, top in (("employee_count", 100_000), ("founded_year", 2030)):
            if rng.random() < 0.6:
                filters[f"{key}_min"] = rng.randint(0, top)
            if rng.random() < 0.6:
                filters[f"{key}_max"] = rng.randint(0, top)
        if rng.random() < 0.3:
            filters["country"] = "FR"
        match = matcher(filters)
        assert count(filters) == sum(1 for r in records if match(r)), filters
    assert matcher({"employee_count_min": 0})(company(None, 2000)) is False


def test_a_set_within_the_cap_is_one_part_without_ranges():
    records = [company(None, None, country="DE"), *skewed(500, seed=1)]
    records = [{**r, "country": r.get("country", "FR")} for r in records] + skewed(3_000)
    count = FakeCount(records)
    parts = PartPlanner(count, DIMENSIONS, cap=1_000).plan({"country": "FR"}, key="k")
    assert len(parts) == 1
    assert parts[0].part.key == "k1"
    assert parts[0].part.ranges == ()
    assert parts[0].part.request_filters() == {"country": "FR"}
    assert parts[0].size == 500
    assert len(count.calls) == 1


def test_an_empty_set_has_no_parts():
    assert PartPlanner(FakeCount([]), DIMENSIONS, cap=1_000).plan({}) == []
    count = FakeCount(skewed(2_000))
    assert PartPlanner(count, DIMENSIONS, cap=100).plan({"country": "FR"}) == []
    assert len(count.calls) == 1


@pytest.mark.parametrize("cap", [10_000, 8_000, 4_000])
def test_a_skewed_set_is_cut_into_as_few_parts_as_the_cap_allows(cap):
    records = skewed(25_000)
    fewest = fewest_contiguous_parts([r["employee_count"] for r in records], cap)
    assert fewest == math.ceil(25_000 / cap)  # the data makes the ideal reachable
    count = FakeCount(records)
    parts = PartPlanner(count, DIMENSIONS, cap=cap).plan({})
    assert len(parts) == fewest
    assert sum(sized.size for sized in parts) == 25_000
    assert_exact_cover(parts, records, {}, cap)
    # About 2 x log2(width) counts a part: a few dozen for a few parts.
    assert len(count.calls) < 20 * len(parts)
    if len(parts) <= 4:
        assert len(count.calls) < 80


def test_parts_are_contiguous_ranges_from_the_lowest_value_and_keyed_in_order():
    records = skewed(25_000)
    parts = PartPlanner(FakeCount(records), DIMENSIONS, cap=6_000).plan({}, key="companies-")
    assert [sized.part.key for sized in parts] == [
        f"companies-{n}" for n in range(1, len(parts) + 1)
    ]
    ranges = [sized.part.ranges for sized in parts]
    assert all(len(r) == 1 and r[0].low_key == "employee_count_min" for r in ranges)
    assert ranges[0][0].low == EMPLOYEES.lowest
    assert ranges[-1][0].high == EMPLOYEES.highest
    for before, after in itertools.pairwise(ranges):
        assert after[0].low == before[0].high + 1
    # Each part holds enough to keep the fewest parts: at least what is left shared out
    # evenly over the fewest parts the cap allows for it.
    left = len(records)
    for sized in parts[:-1]:
        assert math.ceil(left / math.ceil(left / 6_000)) <= sized.size <= 6_000
        left -= sized.size


def test_the_default_key_numbers_parts_from_one():
    parts = PartPlanner(FakeCount(skewed(3_000)), DIMENSIONS, cap=1_000).plan({})
    assert [sized.part.key for sized in parts] == [str(n) for n in range(1, len(parts) + 1)]


def test_user_bounds_narrow_the_domain_and_are_kept():
    records = [{**r, "country": "FR" if i % 3 else "DE"} for i, r in enumerate(skewed(25_000))]
    filters = {"country": "FR", "employee_count_min": 10, "employee_count_max": 5_000}
    count = FakeCount(records)
    parts = PartPlanner(count, DIMENSIONS, cap=2_000).plan(filters)
    assert len(parts) > 1
    for call in count.calls:
        assert call["country"] == "FR"
        assert 10 <= call["employee_count_min"] <= call["employee_count_max"] <= 5_000
    for sized in parts:
        assert sized.part.filters == {"country": "FR"}
        (employees,) = sized.part.ranges
        assert 10 <= employees.low <= employees.high <= 5_000
    assert parts[0].part.ranges[0].low == 10
    assert parts[-1].part.ranges[0].high == 5_000
    assert_exact_cover(parts, records, filters, 2_000)


def test_a_bound_on_the_other_dimension_stays_on_every_part():
    records = skewed(25_000)
    filters = {"founded_year_min": 2000}
    count = FakeCount(records)
    parts = PartPlanner(count, DIMENSIONS, cap=3_000).plan(filters)
    assert len(parts) > 1
    for sized in parts:
        sent = sized.part.request_filters()
        assert sent["founded_year_min"] == 2000
        assert sent["founded_year_max"] == FOUNDED.highest
    assert all(call.get("founded_year_min") == 2000 for call in count.calls)
    assert_exact_cover(parts, records, filters, 3_000)


def test_a_user_bound_beyond_the_dimension_is_clamped_to_it():
    records = skewed(5_000)
    filters = {"employee_count_min": -5, "founded_year_max": 20_000}
    parts = PartPlanner(FakeCount(records), DIMENSIONS, cap=1_000).plan(filters)
    for sized in parts:
        sent = sized.part.request_filters()
        assert sent["employee_count_min"] >= 0
        assert sent["founded_year_max"] <= 9999
    assert_exact_cover(parts, records, filters, 1_000)


def test_one_value_over_the_cap_is_cut_along_founded_year():
    rng = random.Random(3)
    crowded = [company(50, rng.randint(1950, 2020)) for _ in range(3_000)]
    records = skewed(4_000) + crowded
    parts = PartPlanner(FakeCount(records), DIMENSIONS, cap=1_000).plan({})
    at_fifty = [
        sized
        for sized in parts
        if sized.part.request_filters()["employee_count_min"] == 50
        and sized.part.request_filters()["employee_count_max"] == 50
    ]
    assert len(at_fifty) >= 3
    for sized in at_fifty:
        assert [r.low_key for r in sized.part.ranges] == ["employee_count_min", "founded_year_min"]
    assert sum(sized.size for sized in at_fifty) == sum(
        1 for r in records if r["employee_count"] == 50
    )
    assert_exact_cover(parts, records, {}, 1_000)


def test_null_sizes_make_founded_year_the_first_dimension():
    rng = random.Random(5)
    records = skewed(5_000) + [company(None, rng.randint(1900, 2024)) for _ in range(300)]
    parts = PartPlanner(FakeCount(records), DIMENSIONS, cap=1_000).plan({})
    assert sum(sized.size for sized in parts) == 5_300
    for sized in parts:
        assert [r.low_key for r in sized.part.ranges] == ["founded_year_min"]
    assert_exact_cover(parts, records, {}, 1_000)


def test_nulls_in_both_dimensions_are_uncoverable():
    records = skewed(5_000) + [company(None, None) for _ in range(37)]
    with pytest.raises(Uncoverable) as raised:
        PartPlanner(FakeCount(records), DIMENSIONS, cap=1_000).plan({})
    assert raised.value.total == 5_037
    assert raised.value.missing == 37
    assert raised.value.fields == FIELDS
    assert "37 of the 5,037" in str(raised.value)


def test_nulls_do_not_matter_when_the_set_fits_the_cap():
    records = [company(None, None) for _ in range(10)] + skewed(100)
    (part,) = PartPlanner(FakeCount(records), DIMENSIONS, cap=1_000).plan({})
    assert part.size == 110
    assert part.part.ranges == ()


def test_one_value_over_the_cap_with_no_other_dimension_is_uncoverable():
    records = [company(0, 2000) for _ in range(1_500)] + skewed(500)
    with pytest.raises(Uncoverable) as raised:
        PartPlanner(FakeCount(records), (EMPLOYEES,), cap=1_000).plan({})
    assert raised.value.missing == 1_500
    assert raised.value.fields == ("employee_count",)


# --- spending ----------------------------------------------------------------------------


def guard_with(balance: list[int], limit: int = 1_000) -> SpendingGuard:
    return SpendingGuard(
        limit=limit, setting="max_credits", unit="credits", balance=lambda: balance[0]
    )


def test_a_plan_over_the_limit_stops_naming_the_setting_estimate_and_balance():
    guard = guard_with([50_000], limit=10_000)
    with pytest.raises(ConfigError) as raised:
        guard.check_plan(12_345, "3 exports")
    message = str(raised.value)
    assert raised.value.setting == "max_credits"
    assert "max_credits=10,000" in message
    assert "12,345 credits (3 exports)" in message
    assert "balance: 50,000" in message


@pytest.mark.parametrize("worst", [0, 999, 1_000])
def test_a_plan_within_the_limit_returns_the_balance(worst):
    assert guard_with([7_777]).check_plan(worst, "one export") == 7_777


def test_creates_are_held_to_what_the_answers_charged():
    balance = [5_000]
    guard = guard_with(balance)
    guard.check_plan(1_000, "plan")
    guard.charged(300)
    guard.charged(-50)  # a negative charge is no refund
    guard.before_create(700, "part 2")
    with pytest.raises(ConfigError, match="has spent 300 of max_credits=1,000"):
        guard.before_create(701, "part 2")
    assert guard.room() == 700


def test_a_ghost_charge_only_the_balance_shows_counts():
    balance = [5_000]
    guard = guard_with(balance)
    guard.check_plan(1_000, "plan")
    balance[0] -= 400  # a create answered 5xx but charged
    assert guard.room() == 600
    guard.before_create(600, "part 1")
    with pytest.raises(ConfigError) as raised:
        guard.before_create(601, "part 1")
    assert raised.value.setting == "max_credits"
    assert "part 1 could cost up to 601 credits" in str(raised.value)


def test_spent_is_the_larger_of_charges_and_the_balance_fall():
    balance = [5_000]
    guard = guard_with(balance)
    assert guard.room() == 1_000  # the first reading is the run's start
    guard.charged(500)
    balance[0] -= 300
    assert guard.room() == 500
    balance[0] -= 400  # fell 700 in all: more than answered
    assert guard.room() == 300
    balance[0] += 2_000  # a top-up gives no room back beyond what was answered
    assert guard.room() == 500


def test_the_first_reading_is_taken_once():
    balance = [5_000]
    guard = guard_with(balance)
    assert guard.balance() == 5_000
    balance[0] = 4_900
    assert guard.check_plan(10, "plan") == 4_900
    assert guard.room() == 900


# --- pricing -----------------------------------------------------------------------------


class FakeParts:
    """Part sizes and keys, by the part's `part` filter; counts the listings."""

    def __init__(self, keys: dict[str, list[object]]) -> None:
        self.keys = keys
        self.sizes = {name: len(listed) for name, listed in keys.items()}
        self.listed: list[str] = []

    def count(self, filters: Mapping[str, Any]) -> int:
        return self.sizes[filters["part"]]

    def list_keys(self, filters: Mapping[str, Any]) -> list[object]:
        self.listed.append(filters["part"])
        return list(self.keys[filters["part"]])


def part(name: str) -> Partition:
    return Partition(name, {"part": name})


def pricing_for(fake: FakeParts, *, limit: int, cap: int = 1_000, balance: int = 100_000):
    guard = guard_with([balance], limit=limit)
    pricing = NewRecordPricing(
        guard=guard, cap=cap, count=fake.count, list_keys=fake.list_keys, noun="companies"
    )
    pricing.account("workspace-1")  # as the port does with each balance it reads
    return pricing


def test_the_plain_worst_case_is_each_part_capped():
    fake = FakeParts({"a": list(range(300)), "b": list(range(5_000))})
    pricing = pricing_for(fake, limit=1_300)
    pricing.exported.add(1)
    pricing.check_plan([part("a"), part("b")])
    assert pricing.sizes == {"a": 300, "b": 5_000}
    *_, line = pricing.costs([part("a"), part("b")])
    assert "at most 1,300" in line
    assert "5,300 companies in 2 export(s), each taken as new" in line
    assert "within max_credits=1,300" in line
    assert "OVER" not in line
    assert fake.listed == []  # it fits: nothing listed
    sizes, _ = pricing.costs([part("a"), part("b")])
    assert sizes == "companies per part: a 300, b 5,000"


def test_costs_say_over_when_over_the_limit():
    fake = FakeParts({"a": list(range(800)), "b": list(range(800))})
    pricing = pricing_for(fake, limit=1_000, balance=1_234)
    *_, line = pricing.costs([part("a"), part("b")])
    assert "at most 1,600" in line
    assert "OVER" in line
    assert "max_credits=1,000" in line
    assert "balance 1,234" in line
    with pytest.raises(ConfigError, match="1,600 credits"):
        pricing.check_plan([part("a"), part("b")])


def test_without_remembered_exports_nothing_is_listed():
    fake = FakeParts({"a": list(range(800)), "b": list(range(800))})
    pricing = pricing_for(fake, limit=1_000)
    with pytest.raises(ConfigError):
        pricing.check_plan([part("a"), part("b")])
    assert fake.listed == []


def test_records_exported_before_are_left_out_when_the_plain_case_does_not_fit():
    fake = FakeParts({"a": list(range(800)), "b": [str(n) for n in range(800, 1_600)]})
    pricing = pricing_for(fake, limit=1_000)
    for key in range(0, 1_600, 2):  # half of each part, as ints: "800" matches 800
        pricing.exported.add(key)
    pricing.check_plan([part("a"), part("b")])
    assert sorted(fake.listed) == ["a", "b"]
    *_, line = pricing.costs([part("a"), part("b")])
    assert "at most 800" in line
    assert "less those exported by earlier runs" in line
    assert sorted(fake.listed) == ["a", "b"]  # listed once per part


def test_records_that_joined_since_the_listing_count_as_new():
    fake = FakeParts({"a": list(range(10))})
    pricing = pricing_for(fake, limit=7)
    for key in range(8):
        pricing.exported.add(key)
    pricing.check_plan([part("a")])  # 10 > 7, refined: 2 new
    fake.sizes["a"] = 15  # five joined
    assert pricing.size(part("a")) == 15
    pricing.before_create(part("a"), "part a")  # 2 new + 5 joined = 7: fits
    assert fake.listed == ["a", "a"]  # listed for the plan, and again before the create
    tight = pricing_for(fake, limit=6)
    for key in range(8):
        tight.exported.add(key)
    fake.sizes["a"] = 10
    tight.check_plan([part("a")])
    fake.sizes["a"] = 15
    tight.size(part("a"))
    with pytest.raises(ConfigError, match="part a could cost up to 7 credits"):
        tight.before_create(part("a"), "part a")


def test_records_that_left_while_others_joined_are_seen_by_the_listing_before_a_create():
    fake = FakeParts({"a": list(range(10))})
    pricing = pricing_for(fake, limit=5)
    for key in range(8):
        pricing.exported.add(key)
    pricing.check_plan([part("a")])  # 10 > 5, refined: 2 new (8 and 9)
    fake.keys["a"] = [*range(5, 10), *range(100, 105)]  # 0-4 left, 100-104 joined
    assert pricing.size(part("a")) == 10  # the same size: churn the count cannot see
    with pytest.raises(ConfigError, match="part a could cost up to 7 credits"):
        pricing.before_create(part("a"), "part a")


def test_before_create_does_not_list_when_the_plain_case_fits():
    fake = FakeParts({"a": list(range(500))})
    pricing = pricing_for(fake, limit=1_000)
    pricing.exported.add(1)
    pricing.guard.charged(400)
    pricing.before_create(part("a"), "part a")
    assert fake.listed == []


def test_a_refined_part_is_still_capped():
    fake = FakeParts({"a": list(range(3_000))})
    pricing = pricing_for(fake, limit=1_500, cap=1_000)
    pricing.exported.add(0)
    pricing.guard.charged(400)  # room 1,100 >= cap: plain fits
    pricing.before_create(part("a"), "part a")
    pricing.guard.charged(200)  # room 900 < cap 1,000: refined, capped at 1,000 > 900
    with pytest.raises(ConfigError, match="up to 1,000 credits"):
        pricing.before_create(part("a"), "part a")
    assert fake.listed == ["a"]


def test_exports_remembered_for_another_account_are_not_counted(caplog):
    fake = FakeParts({"a": list(range(10))})
    pricing = pricing_for(fake, limit=5)
    for key in range(10):
        pricing.exported.add(key)
    pricing.check_plan([part("a")])  # all 10 exported before: 0 new
    pricing.account("workspace-2")  # the balance now reads another workspace's
    assert len(pricing.exported) == 0 and pricing.exported.account == "workspace-2"
    assert "not counting on them" in caplog.text
    with pytest.raises(ConfigError):
        pricing.before_create(part("a"), "part a")


def test_a_list_source_is_worth_the_cap_per_part():
    guard = guard_with([100_000], limit=2_500)
    pricing = NewRecordPricing(guard=guard, cap=1_000, count=None, list_keys=None, noun="companies")
    parts = [part("a"), part("b"), part("c")]
    *_, line = pricing.costs(parts)
    assert "at most 3,000 (up to 1,000 companies per export, each taken as new)" in line
    assert "OVER" in line
    with pytest.raises(ConfigError, match="3,000 credits"):
        pricing.check_plan(parts)
    pricing.check_plan(parts[:2])
    guard.charged(1_501)
    with pytest.raises(ConfigError, match="up to 1,000 credits"):
        pricing.before_create(part("a"), "part a")


def test_a_plan_over_the_balance_but_within_the_limit_is_only_a_warning(caplog):
    fake = FakeParts({"a": list(range(900))})
    pricing = pricing_for(fake, limit=1_000, balance=500)
    with caplog.at_level(logging.WARNING, logger="tap_exports.engine.costs.pricing"):
        pricing.check_plan([part("a")])
    assert "the balance is 500" in caplog.text


# --- exported keys -----------------------------------------------------------------------


def test_exported_keys_round_trip_through_state():
    keys = ExportedKeys(account="workspace-1")
    for key in ("a", "b", 3, "c-4"):
        keys.add(key)
    back = ExportedKeys.from_state(keys.to_state())
    assert back.account == "workspace-1"
    assert len(back) == 4
    assert all(key in back for key in ("a", "b", 3, "c-4"))
    assert "d" not in back
    assert back.to_state() == keys.to_state()


def test_equal_sets_write_equal_text():
    one, two = ExportedKeys(), ExportedKeys()
    for key in range(50):
        one.add(key)
    for key in reversed(range(50)):
        two.add(key)
        two.add(key)
    assert one.to_state() == two.to_state()
    assert ExportedKeys().to_state() == {"account": "", "keys": ""}


@pytest.mark.parametrize(
    "garbage",
    [None, "", 42, ["AAAA"], "not base64 at all!", "é", base64.b64encode(b"12345").decode()],
)
def test_garbage_state_is_an_empty_set(garbage):
    assert len(ExportedKeys.from_state(garbage)) == 0
    assert len(ExportedKeys.from_state({"account": "w", "keys": garbage})) == 0


def test_add_lines_learns_only_good_lines_with_the_field():
    keys = ExportedKeys()
    keys.add_lines(
        [
            b'{"id": 1, "name": "a"}',
            b'{"id": "2"}',
            b"{not json",
            b"",
            b'{"name": "no id"}',
            b'{"id": null}',
            b"[1, 2]",
            b'"id"',
            b'{"id": "x-3"}',
        ],
        "id",
    )
    assert len(keys) == 3
    assert 1 in keys
    assert "1" in keys
    assert 2 in keys
    assert "x-3" in keys


def test_one_and_the_string_one_are_the_same_key():
    keys = ExportedKeys()
    keys.add(1)
    keys.add("1")
    assert len(keys) == 1
    assert "1" in keys
    assert 1 in keys
    assert 10 not in keys


# --- schema inference --------------------------------------------------------------------


def test_inferred_types_are_the_union_of_what_the_sample_shows():
    schema = infer_schema(
        [
            {"n": 1, "x": 1.5, "flag": True, "s": "a", "o": {"k": 1}, "gone": None, "w": 3},
            {"n": 2.5, "x": None, "flag": 3, "s": None, "o": None, "gone": None, "w": 4},
        ],
        {},
    )
    assert schema == {
        "type": "object",
        "properties": {
            "n": {"type": ["number", "null"]},
            "x": {"type": ["number", "null"]},
            "flag": {"type": ["boolean", "integer", "null"]},
            "s": {"type": ["string", "null"]},
            # Open: the target stores its inner fields as they come.
            "o": {"type": ["object", "null"], "additionalProperties": True},
            "gone": {},
            "w": {"type": ["integer", "null"]},
        },
    }


def test_instants_get_a_date_time_format_and_numeric_looking_codes_stay_strings():
    schema = infer_schema(
        [
            {"at": "2025-03-01T05:00:00Z", "day": "2025-03-01", "zip": "00501", "mixed": "x"},
            {
                "at": "2025-03-01T05:00:00.123+01:00",
                "day": None,
                "zip": "10115",
                "mixed": "2025-03-01T05:00:00Z",
            },
        ],
        {},
    )["properties"]
    assert schema["at"] == {"type": ["string", "null"], "format": "date-time"}
    assert schema["day"] == {"type": ["string", "null"]}
    assert schema["zip"] == {"type": ["string", "null"]}
    assert schema["mixed"] == {"type": ["string", "null"]}


def test_objects_inside_arrays_declare_properties_as_conformance_needs():
    schema = infer_schema([{"links": [{"name": "a", "kind": "vendor"}], "tags": ["x", "y"]}], {})
    properties = schema["properties"]
    assert properties["links"] == {
        "type": ["array", "null"],
        "items": {"type": ["object", "null"], "additionalProperties": True, "properties": {}},
    }
    assert properties["tags"] == {"type": ["array", "null"], "items": {"type": ["string", "null"]}}
    Draft7Validator.check_schema(schema)


@pytest.mark.parametrize(
    ("schema", "value", "wider"),
    [
        ({"type": ["integer", "null"]}, 1.5, {"type": ["number", "null"]}),
        ({"type": ["integer", "null"]}, 2, None),
        ({"type": ["number", "null"]}, 2, None),
        ({"type": ["string", "null"], "format": "date-time"}, "2025-03-01T00:00:00Z", None),
        ({"type": ["string", "null"], "format": "date-time"}, "soon", {"type": ["string", "null"]}),
        ({"type": ["string", "null"]}, 3, {"type": ["integer", "string", "null"]}),
        ({"type": ["string", "null"]}, None, None),
        ({}, 3, None),
        # No timestamp column once the field holds other types.
        (
            {"type": ["string", "null"], "format": "date-time"},
            5,
            {"type": ["integer", "string", "null"]},
        ),
        (
            {"type": ["array", "null"], "items": {"type": ["integer", "null"]}},
            [1, 2.5],
            {"type": ["array", "null"], "items": {"type": ["number", "null"]}},
        ),
        ({"type": ["array", "null"], "items": {"type": ["integer", "null"]}}, [1, 2], None),
    ],
)
def test_a_value_the_inferred_type_lacks_widens_it(schema, value, wider):
    assert widened(schema, value) == wider


def test_arrays_get_the_types_of_their_items():
    schema = infer_schema(
        [
            {"nums": [1, 2.5], "tags": ["a", None], "empty": [], "mixed": [1, "a"]},
            {"nums": [3], "tags": None, "empty": [], "mixed": []},
        ],
        {},
    )
    props = schema["properties"]
    assert props["nums"] == {"type": ["array", "null"], "items": {"type": ["number", "null"]}}
    assert props["tags"] == {"type": ["array", "null"], "items": {"type": ["string", "null"]}}
    assert props["empty"] == {"type": ["array", "null"], "items": {}}
    assert props["mixed"] == {
        "type": ["array", "null"],
        "items": {"type": ["integer", "string", "null"]},
    }


def test_known_fields_are_kept_and_merged_and_unknown_ones_added():
    known = {
        "id": {"type": "string"},
        "name": {"type": ["string", "null"]},
        "employee_count": {"type": ["integer", "null"]},
        "tags": {"type": ["array", "null"], "items": {"type": ["string", "null"]}},
        "never_seen": {"type": "boolean"},
    }
    schema = infer_schema(
        [
            {"id": 7, "name": 5, "employee_count": 1.5, "tags": [1], "extra": "x"},
            {"id": "8", "website": None},
        ],
        known,
        required=("id",),
    )
    props = schema["properties"]
    assert list(props) == [*known, "extra", "website"]
    assert props["id"] == {"type": "string"}  # required: its known type, not nullable
    assert props["name"] == {"type": ["integer", "string", "null"]}
    assert props["employee_count"] == {"type": ["number", "null"]}
    assert props["tags"] == {
        "type": ["array", "null"],
        "items": {"type": ["integer", "string", "null"]},
    }
    assert props["never_seen"] == {"type": ["boolean", "null"]}
    assert props["extra"] == {"type": ["string", "null"]}
    assert props["website"] == {}
    assert schema["required"] == ["id"]
    assert known["id"] == {"type": "string"}  # the known schemas are not changed


def test_without_required_fields_there_is_no_required_list():
    schema = infer_schema([], {"a": {"type": "integer"}})
    assert schema == {"type": "object", "properties": {"a": {"type": ["integer", "null"]}}}
