"""The scheduler's book of tickets: one per slice in flight, and which to take up next.

Pure bookkeeping, without threads or waiting: `scheduler.ExportScheduler` holds the
book under its lock and asks it which export to create next (plan order, within the
lookahead and running-job limits) and which to poll next (the one the main thread
waits for first, others only while the status budget has a request to spare).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto

from tap_exports.engine.exports.jobs import ExportJob, ExportPort, StatusReport
from tap_exports.engine.planning.slices import Slice

# The longest a worker sleeps without looking again (closing, new work).
IDLE_SECONDS = 1.0


class Phase(Enum):
    """Where a ticket is in the export lifecycle."""

    TO_ATTACH = auto()  # an export from an earlier run: read its status first
    TO_CREATE = auto()  # waiting for its turn (and any cooldown) to be created
    CREATING = auto()
    RUNNING = auto()  # created or re-attached, being polled
    COMPLETED = auto()  # ready to download
    GAVE_UP = auto()  # resolved with an error
    RELEASED = auto()  # taken and finished with by the main thread


# Phases in which a ticket still needs a worker.
_ACTIVE = frozenset({Phase.TO_ATTACH, Phase.TO_CREATE, Phase.CREATING, Phase.RUNNING})
# Phases in which the ticket's job may be running at the provider (a re-attached one
# until its status says otherwise).
_RUNNING = frozenset({Phase.TO_ATTACH, Phase.CREATING, Phase.RUNNING})
_WATCHED = frozenset({Phase.TO_ATTACH, Phase.RUNNING})
_RESOLVED = frozenset({Phase.COMPLETED, Phase.RELEASED, Phase.GAVE_UP})


@dataclass(eq=False)
class Ticket:
    """One slice of one stream on its way through the export lifecycle."""

    stream: str
    slice: Slice
    port: ExportPort
    order: tuple[int, int]
    attach: str | None = None
    phase: Phase = Phase.TO_CREATE
    attempt: int = 0
    job: ExportJob | None = None
    create_after: float = 0.0
    deadline: float = 0.0
    next_poll: float = 0.0
    # Status reads of the current attempt that found it still running (see `lifecycle`).
    polls: int = 0
    busy_since: float | None = None
    admitted: bool = False
    report: StatusReport | None = None
    error: Exception | None = None

    @property
    def in_flight(self) -> bool:
        """Holding one of the `max_in_flight` places (admitted and not yet released)."""
        return self.admitted and self.phase is not Phase.RELEASED

    def resolve(self, error: Exception) -> None:
        """End the ticket with `error`, for the main thread to raise when it takes it."""
        self.error = error
        self.phase = Phase.GAVE_UP


class TicketBook:
    """The run's open tickets, in the order their exports are created."""

    def __init__(self) -> None:
        """Start empty."""
        self.tickets: list[Ticket] = []
        self._sequence = 0

    def add(
        self, stream: str, port: ExportPort, piece: Slice, attach: str | None, *, first: bool
    ) -> Ticket:
        """A new ticket, after all others (or, with `first`, before every later one)."""
        self._sequence += 1
        ticket = Ticket(stream, piece, port, order=(0 if first else 1, self._sequence))
        if attach is not None:
            ticket.attach = attach
            ticket.phase = Phase.TO_ATTACH
            ticket.admitted = True  # it exists already: admit it without creating
        self.tickets.append(ticket)
        return ticket

    def forget_released(self) -> None:
        """Drop finished tickets, so the workers' scans stay as short as what is open."""
        self.tickets = [t for t in self.tickets if t.phase is not Phase.RELEASED]

    def release_all(self) -> None:
        """Release every ticket (the run is closing)."""
        for ticket in self.tickets:
            ticket.phase = Phase.RELEASED
        self.forget_released()

    def idle(self) -> bool:
        """True when no ticket needs a worker."""
        return not any(t.phase in _ACTIVE for t in self.tickets)

    def not_created(self) -> list[Ticket]:
        """The tickets whose export is still to be created."""
        return [t for t in self.tickets if t.phase in (Phase.TO_CREATE, Phase.CREATING)]

    def unresolved(self) -> list[Ticket]:
        """The tickets not yet completed, given up on or released."""
        return [t for t in self.tickets if t.phase not in _RESOLVED]

    def next_to_create(
        self, now: float, *, max_in_flight: int, max_running: int | None, urgent: Ticket | None
    ) -> Ticket | None:
        """The ticket whose export to create now, if any may be created now."""
        if max_running is not None and sum(t.phase in _RUNNING for t in self.tickets) >= (
            max_running
        ):
            return None
        in_flight = sum(t.in_flight for t in self.tickets)
        # A retry after a cooldown already holds its place; a new slice needs a free one.
        # The slice waited for is always admitted: exports re-attached from state can
        # fill every place with later slices, and nothing would ever release one.
        ready = [
            t
            for t in self.tickets
            if t.phase is Phase.TO_CREATE
            and t.create_after <= now
            and (t.admitted or in_flight < max_in_flight or t is urgent)
        ]
        return min(ready, key=lambda t: t.order, default=None)

    def until_create_possible(self, now: float, not_before: float) -> float:
        """How long the creator may sleep before looking again."""
        cooling = [
            t.create_after - now
            for t in self.tickets
            if t.phase is Phase.TO_CREATE and t.create_after > now
        ]
        if not_before > now:
            cooling.append(not_before - now)
        return max(0.0, min([IDLE_SECONDS, *cooling]))

    def next_to_poll(
        self, now: float, urgent: Ticket | None, spare_in: Callable[[], float]
    ) -> tuple[Ticket | None, float]:
        """The ticket to poll now, or None and how long to wait before looking again.

        `urgent` (the one the main thread waits for) is polled when due; the others
        only when `spare_in()` says the status budget has a request to spare now.
        """
        watched = [t for t in self.tickets if t.phase in _WATCHED]
        urgent = urgent if urgent in watched else None
        if urgent is not None and urgent.next_poll <= now:
            return urgent, 0.0
        others = sorted((t for t in watched if t is not urgent), key=lambda t: t.next_poll)
        wait = IDLE_SECONDS
        if urgent is not None:
            wait = min(wait, urgent.next_poll - now)
        if others:
            due = others[0]
            spare = spare_in()
            if due.next_poll <= now and spare <= 0:
                return due, 0.0
            wait = min(wait, max(due.next_poll - now, spare))
        return None, max(0.0, wait)
