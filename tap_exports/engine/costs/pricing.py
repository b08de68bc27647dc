"""The worst-case cost of exports that charge per record never exported before.

Such an export of a part charges one unit (credit) per record of it the account never
exported, at most `cap` records. Before a create the charge is unknown (the API tells
it after), so the spending guard is given a worst case:

- plainly, the part's size now (a free count), capped: every record taken as new;
- where that does not fit, and earlier exports are remembered (`ExportedKeys`), the
  part's records are listed (free, but a request per page) and those exported before
  are left out; records that joined the part since the listing count as new.

A part whose size cannot be counted (a saved list) is worth `cap`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tap_exports.engine.costs.exported import ExportedKeys
from tap_exports.engine.costs.spending import SpendingGuard
from tap_exports.engine.planning.partition import Count
from tap_exports.engine.planning.slices import Partition

logger = logging.getLogger(__name__)

# The primary keys of every record a set of filters matches now (listing them all).
ListKeys = Callable[[Mapping[str, Any]], list[object]]


class NewRecordPricing:
    """Prices the parts of one snapshot for the spending guard."""

    def __init__(
        self,
        *,
        guard: SpendingGuard,
        cap: int,
        count: Count | None,
        list_keys: ListKeys | None,
        noun: str,
    ) -> None:
        """`count` and `list_keys` None: parts cannot be sized (each is worth `cap`)."""
        self.guard = guard
        # The most records one export holds (lowered if the API caps below it).
        self.cap = cap
        # Part key -> records it matched when last counted.
        self.sizes: dict[str, int] = {}
        self.exported = ExportedKeys()
        # The account the balance belongs to (see `account`); None until it is read.
        self._account: str | None = None
        self._count = count
        self._list_keys = list_keys
        self._noun = noun
        self._listed: dict[str, list[object]] = {}

    def account(self, name: str) -> None:
        """The account the balance read belongs to: exports remembered for another don't count.

        Called by the port with each balance it reads. The remembered set is then the
        account's: a set remembered for another account (a state copied or shared) is
        forgotten, with a warning.
        """
        self._account = name
        if self.exported.account == name:
            return
        if len(self.exported):
            logger.warning(
                "%s: the state remembers exports of account %r, not %r: not counting on them",
                self._noun,
                self.exported.account,
                name,
            )
        self.exported.reset(name)

    def size(self, part: Partition) -> int:
        """The part's size now, counted again (free)."""
        assert self._count is not None, "only countable parts are sized"
        self.sizes[part.key] = self._count(part.request_filters())
        return self.sizes[part.key]

    def costs(self, parts: Sequence[Partition]) -> list[str]:
        """The estimate against the limit and the balance, as lines for a plan."""
        worst, what = self._estimate(parts)
        balance = self.guard.balance()
        limit = self.guard.limit
        verdict = "within" if worst <= limit else "OVER (a sync would stop before creating)"
        lines = [
            f"{self.guard.unit}: at most {worst:,} ({what}), {verdict} "
            f"{self.guard.setting}={limit:,}; balance {balance:,}",
        ]
        if self._count is not None and parts:
            sizes = ", ".join(f"{part.key} {self.sizes[part.key]:,}" for part in parts)
            lines.insert(0, f"{self._noun} per part: {sizes}")
        return lines

    def check_plan(self, parts: Sequence[Partition]) -> None:
        """Stop before creating anything if the parts' worst case is over the limit."""
        worst, what = self._estimate(parts)
        balance = self.guard.check_plan(worst, what)
        if worst > balance:
            logger.warning(
                "%s: the exports may need up to %s %s and the balance is %s: a create the "
                "balance cannot cover stops the run",
                self._noun,
                f"{worst:,}",
                self.guard.unit,
                f"{balance:,}",
            )

    def before_create(self, part: Partition, subject: str) -> None:
        """Hold one create to what is left of the limit (see `SpendingGuard.before_create`)."""
        worst = self._plain(part)
        if worst > self.guard.room() and self._refinable():
            # Listed again now: records may have left and others joined since the plan.
            self._listed.pop(part.key, None)
            worst = self._refined(part)
        self.guard.before_create(worst, subject)

    def _estimate(self, parts: Sequence[Partition]) -> tuple[int, str]:
        if self._account is None:
            self.guard.balance()  # learns the account (see `account`) before trusting `exported`
        worst = sum(self._plain(part) for part in parts)
        if self._count is None:
            return worst, f"up to {self.cap:,} {self._noun} per export, each taken as new"
        size = sum(self.sizes[part.key] for part in parts)
        where = f"{size:,} {self._noun} in {len(parts)} export(s)"
        if worst <= self.guard.limit or not self._refinable():
            return worst, f"{where}, each taken as new"
        refined = sum(self._refined(part) for part in parts)
        return refined, f"{where}, less those exported by earlier runs"

    def _plain(self, part: Partition) -> int:
        if self._count is None:
            return self.cap
        if part.key not in self.sizes:
            self.size(part)
        return min(self.sizes[part.key], self.cap)

    def _refinable(self) -> bool:
        return (
            self._list_keys is not None
            and len(self.exported) > 0
            and self.exported.account == self._account
        )

    def _refined(self, part: Partition) -> int:
        """Records of `part` no export held yet, plus any more it counted than were listed.

        The listing is the plan's for the estimate before anything is created, and made
        again before a create (see `before_create`).
        """
        assert self._list_keys is not None
        keys = self._listed.get(part.key)
        if keys is None:
            logger.info(
                "%s %s: listing its records to leave out those exported before", self._noun, part
            )
            keys = self._listed[part.key] = self._list_keys(part.request_filters())
        distinct = set(keys)  # a page served twice must not hide a record
        new = sum(1 for key in distinct if key not in self.exported)
        joined = max(0, self.sizes.get(part.key, len(distinct)) - len(distinct))
        return min(self.cap, new + joined)
