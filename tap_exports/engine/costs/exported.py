"""Which records earlier exports held: for APIs that charge only for records never exported.

Such an API charges a create for the records of it that the account never exported
before. Estimating the worst case of a create as "every record new" is safe but makes a
daily re-run of an unchanged set look as expensive as the first. Remembering which
records were exported lets the estimate leave them out: a record seen in an export file
is unlocked for good, whatever happens to the run afterwards.

Records are unlocked per account (a workspace): the set names its account, and an
estimate for another account must not count on it (`NewRecordPricing.account`).

Kept in the stream's state, so as 64-bit digests of the primary key (8 bytes a record,
base64 in the state: about 11 bytes, 110 KB for 10,000 records) rather than the keys
themselves. Two different keys share a digest with odds of about n² / 2^65 (10^-10 for a
million records): the only harm would be one record counted as free in an estimate.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable

import orjson

_BYTES = 8


class ExportedKeys:
    """A set of primary-key values seen in export files (as digests); grows, never shrinks."""

    def __init__(self, digests: Iterable[int] = (), *, account: str = "") -> None:
        """Start from digests read back from state (see `from_state`), of `account`."""
        self._digests = set(digests)
        self.account = account

    def reset(self, account: str) -> None:
        """Forget every record: the set is `account`'s from now on."""
        self._digests.clear()
        self.account = account

    @classmethod
    def from_state(cls, entry: object) -> ExportedKeys:
        """Read what `to_state` wrote; anything else (a hand-edited state) is an empty set."""
        if not isinstance(entry, dict):
            return cls()
        account, text = str(entry.get("account") or ""), entry.get("keys")
        if not isinstance(text, str) or not text:
            return cls(account=account)
        try:
            raw = base64.b64decode(text.encode("ascii"), validate=True)
        except ValueError:
            return cls()
        if len(raw) % _BYTES:
            return cls()
        digests = (
            int.from_bytes(raw[at : at + _BYTES], "big") for at in range(0, len(raw), _BYTES)
        )
        return cls(digests, account=account)

    def to_state(self) -> dict[str, str]:
        """The set for the stream's state: its account, and its digests as text (sorted)."""
        keys = b"".join(d.to_bytes(_BYTES, "big") for d in sorted(self._digests))
        return {"account": self.account, "keys": base64.b64encode(keys).decode("ascii")}

    def add(self, key: object) -> None:
        """Remember one record's primary-key value."""
        self._digests.add(_digest(key))

    def add_lines(self, lines: Iterable[bytes], field: str) -> None:
        """Remember the `field` of each JSON line of an export file (lines without it: none)."""
        for line in lines:
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # the decoder reports bad lines; this set only learns good ones
            if isinstance(record, dict) and record.get(field) is not None:
                self.add(record[field])

    def __contains__(self, key: object) -> bool:
        """Whether a record with this primary-key value was in an export before."""
        return _digest(key) in self._digests

    def __len__(self) -> int:
        """How many records were seen."""
        return len(self._digests)


def _digest(key: object) -> int:
    """The 64-bit digest of a key value; `1` and `"1"` are the same record."""
    text = str(key).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=_BYTES).digest(), "big")
