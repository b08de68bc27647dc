"""A spending limit for APIs whose exports cost money: a run never spends more than allowed.

Some providers charge for each export they create (credits per new record). The user
sets the most one run may spend; this guard holds the run to it in two places:

- before anything is created, the worst case of the whole plan must fit the limit
  (`check_plan`), so a run that might overspend stops having spent nothing;
- before each create, the worst case of that one export must fit what is left after
  what earlier creates spent (`before_create`). Creates made ahead of the download and
  creates made again (a failed export, a part split further) are all covered.

What earlier creates spent is the larger of what their answers said they charged and
how far the account's balance fell since the run began: a create that answered 5xx
(or whose answer was lost) may still have charged, and only the balance tells. Another
client spending from the same account in the meantime counts against this run too:
the guard errs on the side of spending less.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from tap_exports.engine.errors import ConfigError


class SpendingGuard:
    """Holds one run to `limit` units (credits), read against the account's balance."""

    def __init__(self, *, limit: int, setting: str, unit: str, balance: Callable[[], int]) -> None:
        """`setting` names the limit in messages; `balance` reads the account's balance now."""
        self.limit = limit
        self.setting = setting
        self.unit = unit
        self._read = balance
        self._started_at: int | None = None
        self._charged = 0
        self._lock = threading.Lock()

    def check_plan(self, worst_case: int, what: str) -> int:
        """Stop before anything is created if the whole plan might cost more than allowed.

        `what` describes the plan in the message. Returns the balance read (the first
        reading of the run, which later ones are compared to).

        Raises:
            ConfigError: naming the limit, the estimate and the balance.
        """
        balance = self.balance()
        if worst_case > self.limit:
            raise ConfigError(
                self.setting,
                f"this run may spend up to {worst_case:,} {self.unit} ({what}), more than "
                f"{self.setting}={self.limit:,} (balance: {balance:,}); nothing was created. "
                f"Raise {self.setting} to at least {worst_case:,}, or narrow what is exported",
            )
        return balance

    def before_create(self, worst_case: int, subject: str) -> None:
        """Allow one create whose cost is at most `worst_case`, or stop before it.

        Raises:
            ConfigError: the create could take the run past the limit.
        """
        spent = self._spent()
        if spent + worst_case > self.limit:
            raise ConfigError(
                self.setting,
                f"{subject} could cost up to {worst_case:,} {self.unit}, and this run has "
                f"spent {spent:,} of {self.setting}={self.limit:,}: stopped before creating "
                f"it. Run again to go on (what is done is kept), or raise {self.setting}",
            )

    def charged(self, amount: int) -> None:
        """Count what a create's answer said it charged."""
        with self._lock:
            self._charged += max(0, amount)

    def room(self) -> int:
        """What is left of the limit now (reads the balance)."""
        return self.limit - self._spent()

    def balance(self) -> int:
        """The account's balance now; the run's first reading is what later ones compare to."""
        balance = self._read()
        with self._lock:
            if self._started_at is None:
                self._started_at = balance
        return balance

    def _spent(self) -> int:
        """What earlier creates answered they charged, or the fall of the balance if more."""
        balance = self.balance()
        with self._lock:
            assert self._started_at is not None
            return max(self._charged, self._started_at - balance)
