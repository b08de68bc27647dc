"""The pipelined export scheduler: every selected window's export, kept moving at once.

Exports are scarce (Cometly: 5 creations and 30 status reads per minute per space)
and each takes the provider seconds to minutes. A tap that creates, waits, downloads
and repeats spends most of a backfill waiting. This scheduler keeps the waiting off
the critical path:

- a *creator* thread creates exports in plan order (every selected stream's windows,
  streams in sync order), as fast as the create budget allows, keeping at most
  `max_in_flight` exports created but not yet downloaded;
- a *poller* thread reads their status. The export the main thread is waiting for is
  polled every `poll_interval_seconds`; the others only while the status budget has a
  request to spare beyond that, so they never delay it;
- the main thread takes tickets in order (`take`), downloads each as soon as it has
  completed and emits the stream's records and STATE, so each stream's windows, and
  so its bookmarks, still advance strictly in order.

The lifecycle of one export is the one in `jobs`: a `failed` export is created again
after a cooldown, one still running at its deadline too, up to `max_export_attempts`;
an export an earlier run created is re-attached by id (a failed or vanished one is
replaced). Export ids are handed to the main thread as *notices* the moment they are
created: only the main thread writes STATE, so it drains them (`drain_notices`)
between records and while it waits.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum, auto
from typing import TYPE_CHECKING

from tap_exports.engine.clock import Cancelled, cancellable
from tap_exports.engine.errors import (
    ApiError,
    ExportFailedError,
    ExportTimeoutError,
    NotFoundError,
    RequestRejectedError,
    naming,
)
from tap_exports.engine.jobs import ExportJob, ExportPort, JobStatus, LifecyclePolicy, StatusReport

if TYPE_CHECKING:
    from tap_exports.engine.budget import RateBudget
    from tap_exports.engine.clock import Clock
    from tap_exports.engine.windows import Window

logger = logging.getLogger(__name__)

# Errors that concern one window only; any other stops every ticket of the run.
_ONE_WINDOW_ERRORS = (RequestRejectedError, NotFoundError, ExportFailedError, ExportTimeoutError)

# How long `abandon` waits for the workers to stop (an HTTP request in flight is not
# interrupted; past this the daemon threads finish it on their own).
_ABANDON_JOIN_SECONDS = 5.0

# The longest a worker sleeps without looking again (closing, new work).
_IDLE_SECONDS = 1.0


class _Phase(Enum):
    TO_ATTACH = auto()  # an export from an earlier run: read its status first
    TO_CREATE = auto()  # waiting for its turn (and any cooldown) to be created
    CREATING = auto()
    RUNNING = auto()  # created or re-attached, being polled
    COMPLETED = auto()  # ready to download
    GAVE_UP = auto()  # resolved with an error
    RELEASED = auto()  # taken and finished with by the main thread


# Phases in which a ticket still needs a worker.
_ACTIVE = frozenset({_Phase.TO_ATTACH, _Phase.TO_CREATE, _Phase.CREATING, _Phase.RUNNING})


@dataclass(eq=False)
class Ticket:
    """One window of one stream on its way through the export lifecycle."""

    stream: str
    window: Window
    port: ExportPort
    order: tuple[int, int]
    attach: str | None = None
    phase: _Phase = _Phase.TO_CREATE
    attempt: int = 0
    job: ExportJob | None = None
    create_after: float = 0.0
    deadline: float = 0.0
    next_poll: float = 0.0
    admitted: bool = False
    report: StatusReport | None = None
    error: Exception | None = None

    @property
    def in_flight(self) -> bool:
        """Holding one of the `max_in_flight` places (admitted and not yet released)."""
        return self.admitted and self.phase is not _Phase.RELEASED


class ExportScheduler:
    """Creates and polls exports in the background; the main thread takes them in order."""

    def __init__(
        self,
        *,
        policy: LifecyclePolicy,
        clock: Clock,
        max_in_flight: int,
        status_budget: RateBudget | None = None,
    ) -> None:
        """Share one scheduler per run; `status_budget` is the one status reads use."""
        if max_in_flight < 1:
            raise ValueError("max_in_flight must be at least 1")
        self._policy = policy
        self._clock = clock
        self._max_in_flight = max_in_flight
        self._status_budget = status_budget
        self._tickets: list[Ticket] = []
        self._notices: deque[ExportJob] = deque()
        self._urgent: Ticket | None = None
        self._sequence = 0
        self._changed = threading.Condition()
        # The running worker threads by role, and the event that calls them off.
        self._workers: dict[str, threading.Thread] = {}
        self._stop = threading.Event()

    # -- the main thread's side --------------------------------------------------------

    def submit(
        self, stream: str, port: ExportPort, windows: Iterable[tuple[Window, str | None]]
    ) -> list[Ticket]:
        """Queue `windows` of `stream` (each with an export id to re-attach, or None).

        Exports are created in submission order.
        """
        with self._changed:
            tickets = [self._ticket(stream, port, window, attach) for window, attach in windows]
            self._tickets += tickets
            self._start_workers()
            self._changed.notify_all()
        return tickets

    def replace(self, ticket: Ticket, windows: Iterable[Window]) -> list[Ticket]:
        """Put `windows` (the halves of a failing window) in `ticket`'s place, before all.

        The first takes over the ticket's place at once, so no other window can be
        created in between.
        """
        with self._changed:
            tickets = [self._ticket(ticket.stream, ticket.port, w, None) for w in windows]
            for new in tickets:
                new.order = (0, new.order[1])
            tickets[0].admitted = True
            ticket.phase = _Phase.RELEASED
            self._tickets += tickets
            self._start_workers()
            self._changed.notify_all()
        return tickets

    def _ticket(self, stream: str, port: ExportPort, window: Window, attach: str | None) -> Ticket:
        self._sequence += 1
        ticket = Ticket(stream, window, port, order=(1, self._sequence), attach=attach)
        if attach is not None:
            ticket.phase = _Phase.TO_ATTACH
            ticket.admitted = True  # it exists already: admit it without creating
        return ticket

    def take(
        self, ticket: Ticket, on_notice: Callable[[ExportJob], None]
    ) -> tuple[ExportJob, StatusReport]:
        """Wait until `ticket`'s export has completed; return it with its report.

        Notices are handed to `on_notice` while waiting. The ticket keeps its place
        until `release`.

        Raises:
            ExportFailedError: the provider failed the export on every attempt.
            ExportTimeoutError: the last attempt was still running at its deadline.
            ApiError: the provider refused a create or status request.
        """
        with self._changed:
            self._urgent = ticket
            self._changed.notify_all()
        try:
            while True:
                self.drain_notices(on_notice)
                with self._changed:
                    if ticket.phase is _Phase.COMPLETED:
                        assert ticket.job is not None and ticket.report is not None
                        return ticket.job, ticket.report
                    if ticket.phase is _Phase.GAVE_UP:
                        assert ticket.error is not None
                        raise ticket.error
                    if ticket.phase is _Phase.RELEASED:
                        raise RuntimeError(f"{ticket.stream} window {ticket.window}: abandoned")
                    if not self._notices:
                        self._changed.wait(_IDLE_SECONDS)
        finally:
            with self._changed:
                self._urgent = None

    def release(self, ticket: Ticket) -> None:
        """Free the ticket's place: downloaded, or given up on by the main thread."""
        with self._changed:
            ticket.phase = _Phase.RELEASED
            self._forget_released()
            self._changed.notify_all()

    def _forget_released(self) -> None:
        """Drop finished tickets, so the workers' scans stay as short as what is open."""
        self._tickets = [t for t in self._tickets if t.phase is not _Phase.RELEASED]

    def abandon(self) -> None:
        """Stop all work (the sync failed or was stopped) and wait briefly for the workers.

        A worker waiting on a budget, a `Retry-After` or a retry delay stops at once; one
        inside an HTTP request stops when it returns. Exports already created stay in
        state for the next run to re-attach. Tickets submitted later get new workers.
        """
        with self._changed:
            for ticket in self._tickets:
                ticket.phase = _Phase.RELEASED
            self._forget_released()
            self._stop.set()
            self._stop = threading.Event()
            workers = list(self._workers.values())
            self._workers.clear()
            self._changed.notify_all()
        for thread in workers:
            thread.join(timeout=_ABANDON_JOIN_SECONDS)

    def drain_notices(self, on_notice: Callable[[ExportJob], None]) -> None:
        """Hand every export created since the last call to `on_notice` (main thread)."""
        while self._notices:
            on_notice(self._notices.popleft())

    @property
    def notices(self) -> deque[ExportJob]:
        """The exports created that the main thread has not yet seen (read, never modify).

        Checking this deque's truth is cheap enough to do for every record.
        """
        return self._notices

    # -- the workers --------------------------------------------------------------------

    def _start_workers(self) -> None:
        """Start whichever worker is not running (they stop when nothing is left to do)."""
        for name, work in (("creator", self._create_loop), ("poller", self._poll_loop)):
            if name not in self._workers:
                thread = threading.Thread(
                    target=self._guarded(name, work, self._stop),
                    name=f"exports-{name}",
                    daemon=True,  # a worker inside an HTTP request must not hold up exit
                )
                self._workers[name] = thread
                thread.start()

    def _retire(self, name: str) -> None:
        """Forget the calling worker (under the lock), unless it was already replaced."""
        if self._workers.get(name) is threading.current_thread():
            del self._workers[name]

    def _idle(self) -> bool:
        """True when no ticket needs a worker: the caller then stops (under the lock)."""
        return not any(t.phase in _ACTIVE for t in self._tickets)

    def _guarded(
        self, name: str, work: Callable[[threading.Event], None], stop: threading.Event
    ) -> Callable[[], None]:
        """Run a worker until `stop`; a crash becomes every open ticket's error, not a hang."""

        def run() -> None:
            try:
                with cancellable(stop):
                    work(stop)
            except Cancelled:
                pass
            except Exception as exc:  # reported to the main thread as each ticket's error
                logger.exception("export scheduler: the %s stopped", name)
                with self._changed:
                    self._give_up_all(exc)
                    self._changed.notify_all()
            finally:
                with self._changed:
                    self._retire(name)

        return run

    def _create_loop(self, stop: threading.Event) -> None:
        while True:
            with self._changed:
                if stop.is_set():
                    return
                ticket = self._next_to_create()
                if ticket is None:
                    if self._idle():
                        self._retire("creator")
                        return
                    self._changed.wait(self._until_create_possible())
                    continue
                ticket.phase = _Phase.CREATING
                ticket.admitted = True
            try:
                with naming(f"{ticket.stream} window {ticket.window}"):
                    export_id = ticket.port.create(ticket.window)
            except ApiError as exc:
                with self._changed:
                    self._give_up(ticket, exc)
                continue
            with self._changed:
                ticket.attempt += 1
                ticket.job = ExportJob(export_id, ticket.stream, ticket.window)
                self._notices.append(ticket.job)  # even if abandoned: state keeps it
                if ticket.phase is _Phase.RELEASED:
                    continue
                now = self._clock.monotonic()
                ticket.deadline = now + self._policy.export_timeout_seconds
                ticket.next_poll = now
                ticket.phase = _Phase.RUNNING
                logger.info("%s: created (attempt %d)", ticket.job, ticket.attempt)
                self._changed.notify_all()

    def _next_to_create(self) -> Ticket | None:
        in_flight = sum(t.in_flight for t in self._tickets)
        now = self._clock.monotonic()
        waiting = [t for t in self._tickets if t.phase is _Phase.TO_CREATE]
        # A retry after a cooldown already holds its place; a new window needs a free one.
        # The window waited for is always admitted: exports re-attached from state can
        # fill every place with later windows, and nothing would ever release one.
        ready = [
            t
            for t in waiting
            if t.create_after <= now
            and (t.admitted or in_flight < self._max_in_flight or t is self._urgent)
        ]
        return min(ready, key=lambda t: t.order, default=None)

    def _until_create_possible(self) -> float:
        now = self._clock.monotonic()
        cooling = [
            t.create_after - now
            for t in self._tickets
            if t.phase is _Phase.TO_CREATE and t.create_after > now
        ]
        return max(0.0, min([_IDLE_SECONDS, *cooling]))

    def _poll_loop(self, stop: threading.Event) -> None:
        while True:
            with self._changed:
                if stop.is_set():
                    return
                if self._idle():
                    self._retire("poller")
                    return
                ticket, wait = self._next_to_poll()
                if ticket is None:
                    self._changed.wait(wait)
                    continue
                attaching = ticket.phase is _Phase.TO_ATTACH
                export_id = ticket.attach if attaching else _job(ticket).export_id
                assert export_id is not None
                label = str(ExportJob(export_id, ticket.stream, ticket.window))
            try:
                with naming(label):
                    report = ticket.port.status(export_id)
            except NotFoundError as exc:
                with self._changed:
                    if ticket.phase is _Phase.RELEASED:
                        continue
                    if attaching:
                        logger.warning(
                            "%s: the provider no longer has it; creating a new one", label
                        )
                        self._to_create(ticket, after=0.0)
                    else:
                        self._give_up(ticket, exc)
                continue
            except ApiError as exc:
                with self._changed:
                    self._give_up(ticket, exc)
                continue
            with self._changed:
                if ticket.phase is _Phase.RELEASED:
                    continue
                if attaching:
                    self._attached(ticket, export_id, report)
                else:
                    self._observed(ticket, report)
                self._changed.notify_all()

    def _next_to_poll(self) -> tuple[Ticket | None, float]:
        """The ticket to poll now, or None and how long to wait before looking again."""
        now = self._clock.monotonic()
        watched = [t for t in self._tickets if t.phase in (_Phase.TO_ATTACH, _Phase.RUNNING)]
        urgent = self._urgent if self._urgent in watched else None
        if urgent is not None and urgent.next_poll <= now:
            return urgent, 0.0
        others = sorted((t for t in watched if t is not urgent), key=lambda t: t.next_poll)
        wait = _IDLE_SECONDS
        if urgent is not None:
            wait = min(wait, urgent.next_poll - now)
        if others:
            due = others[0]
            spare_in = self._spare_status_in()
            if due.next_poll <= now and spare_in <= 0:
                return due, 0.0
            wait = min(wait, max(due.next_poll - now, spare_in))
        return None, max(0.0, wait)

    def _spare_status_in(self) -> float:
        """Seconds until the status budget has a request to spare beyond the urgent one."""
        if self._status_budget is None:
            return 0.0
        return self._status_budget.wait_time(spare=1)

    def _attached(self, ticket: Ticket, export_id: str, report: StatusReport) -> None:
        job = ExportJob(export_id, ticket.stream, ticket.window)
        if report.status is JobStatus.FAILED:
            # Failed while no one was watching: not this run's attempt to spend.
            logger.warning("%s: failed before this run re-attached; creating a new one", job)
            self._to_create(ticket, after=0.0)
            return
        logger.info("%s: re-attached (created by an earlier run)", job)
        ticket.job = job
        ticket.deadline = self._clock.monotonic() + self._policy.export_timeout_seconds
        ticket.phase = _Phase.RUNNING
        self._observed(ticket, report)

    def _observed(self, ticket: Ticket, report: StatusReport) -> None:
        now = self._clock.monotonic()
        if report.status is JobStatus.COMPLETED:
            ticket.report = report
            ticket.phase = _Phase.COMPLETED
        elif report.status is JobStatus.FAILED:
            self._attempt_over(
                ticket, f"{ticket.job}: failed ({report.message or 'no reason given'})"
            )
        elif now + self._policy.poll_interval_seconds > ticket.deadline:
            self._attempt_over(
                ticket,
                f"{ticket.job}: still running after {self._policy.export_timeout_seconds:g}s",
                timed_out=True,
            )
        else:
            ticket.next_poll = now + self._policy.poll_interval_seconds

    def _attempt_over(self, ticket: Ticket, outcome: str, *, timed_out: bool = False) -> None:
        attempts = self._policy.max_export_attempts
        logger.warning("%s (attempt %d of %d)", outcome, ticket.attempt, attempts)
        if ticket.attempt < attempts:
            self._to_create(ticket, after=self._policy.retry_cooldown_seconds)
        elif timed_out:
            self._give_up(
                ticket,
                ExportTimeoutError(
                    f"{outcome} (attempt {attempts} of {attempts}); raise "
                    "'export_timeout_seconds' or try again later"
                ),
            )
        else:
            self._give_up(
                ticket,
                ExportFailedError(
                    f"{ticket.stream} window {ticket.window}: export failed {attempts} times "
                    f"(last: {outcome}); try again later or contact the provider's support"
                ),
            )

    def _to_create(self, ticket: Ticket, *, after: float) -> None:
        ticket.phase = _Phase.TO_CREATE
        ticket.attach = None
        ticket.create_after = self._clock.monotonic() + after
        self._changed.notify_all()

    def _give_up(self, ticket: Ticket, error: Exception) -> None:
        """Resolve `ticket` with `error`; one the whole run shares stops every ticket."""
        if ticket.phase is _Phase.RELEASED:
            return
        if isinstance(error, _ONE_WINDOW_ERRORS):
            self._resolve(ticket, error)
        else:  # the key, the permission or the API itself: no other ticket can do better
            self._give_up_all(error)
        self._changed.notify_all()

    def _give_up_all(self, error: Exception) -> None:
        for ticket in self._tickets:
            if ticket.phase not in (_Phase.COMPLETED, _Phase.RELEASED, _Phase.GAVE_UP):
                self._resolve(ticket, error)

    @staticmethod
    def _resolve(ticket: Ticket, error: Exception) -> None:
        ticket.error = error
        ticket.phase = _Phase.GAVE_UP


def _job(ticket: Ticket) -> ExportJob:
    assert ticket.job is not None, "a running ticket has a job"
    return ticket.job
