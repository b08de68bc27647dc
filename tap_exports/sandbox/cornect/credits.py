"""Cornect's credits: a workspace's balance, its ledger, and the companies it has unlocked.

Documented (docs/providers/cornect.md): only creating an export charges, one
credit per company the workspace has not exported before; companies it has are free.
The docs disagree on a short balance, so both readings are here: "reject" refuses the
export (402, nothing created, nothing charged), "partial" charges what is left and keeps
only the new companies it paid for (the first ones in the export's order), with the
difference in `would_skip`. Either way a charge unlocks its companies for good: a
failed export is not refunded and its companies stay free for the next one.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from tap_exports.sandbox.cometly.data import utc_text
from tap_exports.sandbox.cornect.data import Company, Record

_RECENT = 20  # transactions `GET /credits` shows, newest first


class ShortBalance(Exception):
    """The balance cannot pay for an export's new companies (a 402 when rejecting)."""

    def __init__(self, required: int, balance: int) -> None:
        """Refuse an export that needs `required` credits with `balance` left."""
        message = f"Insufficient credits: this export needs {required}, the balance is {balance}."
        super().__init__(message)
        self.required = required
        self.balance = balance


@dataclass(frozen=True, slots=True)
class Charge:
    """What one export cost: the create answer's credit math, and the companies it holds."""

    requested: int  # the companies asked for, after the cap
    already_unlocked: int
    new_count: int
    charged: int
    kept: list[Company]  # the export's companies, in its order
    transaction_id: str | None

    @property
    def would_skip(self) -> int:
        """New companies left out because the balance could not pay for them."""
        return self.new_count - self.charged


@dataclass
class Workspace:
    """One workspace's credits; not thread-safe: the emulator's lock guards it."""

    workspace_id: str
    balance: int
    unlocked: set[int]  # catalog indexes
    ledger: list[Record] = field(default_factory=list)  # oldest first

    @classmethod
    def opened(
        cls, workspace_id: str, *, balance: int, companies: int, unlocked_share: float, seed: int
    ) -> Workspace:
        """A workspace as the sandbox starts it: `unlocked_share` of the companies unlocked.

        Which ones is a function of the seed and the workspace, so runs repeat.
        """
        rng = random.Random(f"{seed}:{workspace_id}")
        unlocked = rng.sample(range(companies), round(companies * unlocked_share))
        return cls(workspace_id, balance, set(unlocked))

    def charge(
        self, chosen: list[Company], *, partial: bool, export_id: str, at: datetime
    ) -> Charge:
        """Charge for an export of `chosen`, unlock what it paid for, and note it.

        `ShortBalance` if the balance is short and `partial` is off (nothing changes).
        """
        fresh = [company for company in chosen if company.index not in self.unlocked]
        charged = len(fresh)
        if self.balance < charged:
            if not partial:
                raise ShortBalance(charged, self.balance)
            charged = self.balance
        paid = {company.index for company in fresh[:charged]}
        kept = [c for c in chosen if c.index in self.unlocked or c.index in paid]
        self.balance -= charged
        self.unlocked |= paid
        transaction_id = None
        if charged:
            transaction_id = str(uuid.uuid4())
            self.ledger.append(
                {
                    "id": transaction_id,
                    "amount": -charged,
                    "reason": "export_charge",
                    "reference": f"export:{export_id}:create",
                    "created_at": utc_text(at),
                }
            )
        already = len(chosen) - len(fresh)
        return Charge(len(chosen), already, len(fresh), charged, kept, transaction_id)

    def view(self) -> Record:
        """The workspace as `GET /credits` answers it: recent transactions newest first."""
        recent = [dict(entry) for entry in reversed(self.ledger[-_RECENT:])]
        return {
            "workspace_id": self.workspace_id,
            "balance": self.balance,
            "recent_transactions": recent,
        }
