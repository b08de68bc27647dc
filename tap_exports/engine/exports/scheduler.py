"""The pipelined export scheduler: every selected window's export, kept moving at once.

Exports are scarce (a handful of creations and a few dozen status reads per minute is
typical) and each takes the provider seconds to minutes. A tap that creates, waits,
downloads and repeats spends most of a backfill waiting. This scheduler keeps the
waiting off the critical path:

- a *creator* thread creates exports in plan order (every selected stream's slices,
  streams in sync order), as fast as the create budget allows, keeping at most
  `max_in_flight` exports created but not yet downloaded (lookahead), and at most
  `max_running` jobs running at the provider (a fact of its API: some allow one job
  per key, and answer a second create with "busy");
- a *poller* thread reads their status, soon after each create, then backing off to
  every `poll_interval_seconds` (`Lifecycle.poll_delay`). The export the main thread is
  waiting for is polled when due; the others only while the status budget has a
  request to spare beyond that, so they never delay it;
- the main thread takes tickets in order (`take`), downloads each as soon as it has
  completed and emits the stream's records and STATE, so each stream's slices, and
  so its bookmarks, still advance strictly in order.

What each answer does to a ticket is decided in `lifecycle` (failed and stuck exports
created again, re-attached ones replaced, busy answers waited out without spending an
attempt); which ticket to take up next, in `tickets`. An error no slice can do better
on (the key, a permission, credits) resolves every ticket not yet created with it, so
the run stops with one line once what was created is delivered.

Export ids are handed to the main thread as *notices* the moment they are created:
only the main thread writes STATE, so it drains them (`drain_notices`) between
records and while it waits. The scheduler owns its two threads (`workers`): it starts
them, and `close` calls them off and joins them, so none outlives the run and an
export created while the run stops is still among the notices afterwards. Every wait
goes through the injected clock.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from tap_exports.engine.errors import (
    ApiError,
    BusyError,
    ExportFailedError,
    ExportTimeoutError,
    NotFoundError,
    NothingToExportError,
    RequestRejectedError,
    SliceTooLargeError,
    TapExportsError,
    naming,
)
from tap_exports.engine.exports.jobs import (
    CompletedExport,
    ExportJob,
    ExportPort,
    LifecyclePolicy,
)
from tap_exports.engine.exports.lifecycle import Lifecycle
from tap_exports.engine.exports.tickets import IDLE_SECONDS, Phase, Ticket, TicketBook
from tap_exports.engine.exports.workers import Workers

if TYPE_CHECKING:
    from tap_exports.engine.clock import Clock
    from tap_exports.engine.http.budget import RateBudget
    from tap_exports.engine.planning.slices import Slice

logger = logging.getLogger(__name__)

# Errors that concern one slice only; any other stops every ticket of the run. The last
# two are answers rather than failures: the stream replaces the slice, or finds it empty.
_ONE_SLICE_ERRORS = (
    RequestRejectedError,
    NotFoundError,
    ExportFailedError,
    ExportTimeoutError,
    SliceTooLargeError,
    NothingToExportError,
)


class ExportScheduler:
    """Creates and polls exports in the background; the main thread takes them in order."""

    def __init__(
        self,
        *,
        policy: LifecyclePolicy,
        clock: Clock,
        max_in_flight: int,
        max_running: int | None = None,
        status_budget: RateBudget | None = None,
    ) -> None:
        """Share one scheduler per run; `status_budget` is the one status reads use.

        `max_running` is how many jobs the provider lets run at once (None: no limit).
        """
        if max_in_flight < 1 or (max_running is not None and max_running < 1):
            raise ValueError("max_in_flight and max_running must be at least 1")
        self._clock = clock
        self._max_in_flight = max_in_flight
        self._max_running = max_running
        self._status_budget = status_budget
        self._lifecycle = Lifecycle(policy)
        self._poll_interval = policy.poll_interval_seconds
        self._book = TicketBook()
        self._notices: deque[ExportJob] = deque()
        self._urgent: Ticket | None = None
        self._changed = threading.Condition()
        self._workers = Workers(self._changed, self._crashed)

    # -- the main thread's side --------------------------------------------------------

    def submit(
        self, stream: str, port: ExportPort, slices: Iterable[tuple[Slice, str | None]]
    ) -> list[Ticket]:
        """Queue `slices` of `stream` (each with an export id to re-attach, or None).

        Exports are created in submission order.
        """
        with self._changed:
            tickets = [
                self._book.add(stream, port, piece, attach, first=False) for piece, attach in slices
            ]
            self._start_workers()
            self._changed.notify_all()
        return tickets

    def replace(self, ticket: Ticket, slices: Iterable[Slice]) -> list[Ticket]:
        """Put `slices` (the halves of a failing slice) in `ticket`'s place, before all.

        The first takes over the ticket's place at once, so no other slice can be
        created in between.
        """
        with self._changed:
            tickets = [
                self._book.add(ticket.stream, ticket.port, piece, None, first=True)
                for piece in slices
            ]
            tickets[0].admitted = True
            ticket.phase = Phase.RELEASED
            self._start_workers()
            self._changed.notify_all()
        return tickets

    def take(self, ticket: Ticket, on_notice: Callable[[ExportJob], None]) -> CompletedExport:
        """Wait until `ticket`'s export has completed; return it, ready to read.

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
                    if ticket.phase is Phase.COMPLETED:
                        assert ticket.job is not None and ticket.report is not None
                        port = ticket.port
                        return CompletedExport(
                            port, ticket.job, ticket.report, port.covers(ticket.slice)
                        )
                    if ticket.phase is Phase.GAVE_UP:
                        assert ticket.error is not None
                        raise ticket.error
                    if ticket.phase is Phase.RELEASED:
                        raise RuntimeError(f"{ticket.stream} {ticket.slice}: abandoned")
                    if not self._notices:
                        self._clock.wait(self._changed, IDLE_SECONDS)
        finally:
            with self._changed:
                self._urgent = None

    def release(self, ticket: Ticket) -> None:
        """Free the ticket's place: downloaded, or given up on by the main thread."""
        with self._changed:
            ticket.phase = Phase.RELEASED
            self._book.forget_released()
            self._changed.notify_all()

    def close(self, *, wait: float | None = None) -> None:
        """Stop all work and join the workers: none outlives the run.

        Called when the run ends, failed, or is stopped. A worker waiting on a budget,
        a `Retry-After` or a retry delay stops at once; one inside an HTTP request stops
        when the request returns (bounded by its timeout), and an export it created
        meanwhile is among the notices when this returns, for STATE to keep and the
        next run to re-attach. Tickets submitted later get new workers.

        `wait` bounds the join (a signal handler must write STATE in seconds); workers
        still running are joined by the next call.
        """
        with self._changed:
            self._book.release_all()
            stopping = self._workers.call_off()
            self._changed.notify_all()
        self._workers.join(stopping, wait)

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
        self._workers.start((("creator", self._create_loop), ("poller", self._poll_loop)))

    def _crashed(self, name: str, error: Exception) -> None:
        """A worker stopped on `error`: every open ticket's error, not a hang."""
        logger.exception("export scheduler: the %s stopped", name)
        with self._changed:
            self._give_up_all(error)
            self._changed.notify_all()

    def _create_loop(self, stop: threading.Event) -> None:
        while True:
            with self._changed:
                if stop.is_set():
                    return
                ticket = self._book.next_to_create(
                    self._clock.monotonic(),
                    max_in_flight=self._max_in_flight,
                    max_running=self._max_running,
                    urgent=self._urgent,
                )
                if self._clock.monotonic() < self._lifecycle.busy_until:
                    ticket = None
                if ticket is None:
                    if self._book.idle():
                        self._workers.retire("creator")
                        return
                    wait = self._book.until_create_possible(
                        self._clock.monotonic(), self._lifecycle.busy_until
                    )
                    self._clock.wait(self._changed, wait)
                    continue
                ticket.phase = Phase.CREATING
                ticket.admitted = True
            try:
                with naming(f"{ticket.stream} {ticket.slice}"):
                    export_id = ticket.port.create(ticket.slice)
            except BusyError as exc:
                with self._changed:
                    if ticket.phase is not Phase.RELEASED:
                        self._settle(
                            ticket, self._lifecycle.busy(ticket, exc, self._clock.monotonic())
                        )
                continue
            except TapExportsError as exc:
                # Refused, too large, empty, or not allowed (a spending limit): the
                # ticket's answer; one the whole run shares stops every create.
                with self._changed:
                    self._give_up(ticket, exc)
                continue
            job = ExportJob(export_id, ticket.stream, ticket.slice)
            # Noticed before taking the lock, even if the ticket was released: a run being
            # stopped (its signal handler may hold the lock) must still find the id.
            self._notices.append(job)
            with self._changed:
                self._lifecycle.created(ticket, job, self._clock.monotonic())
                self._changed.notify_all()

    def _poll_loop(self, stop: threading.Event) -> None:
        while True:
            with self._changed:
                if stop.is_set():
                    return
                if self._book.idle():
                    self._workers.retire("poller")
                    return
                ticket, wait = self._book.next_to_poll(
                    self._clock.monotonic(), self._urgent, self._spare_status_in
                )
                if ticket is None:
                    self._clock.wait(self._changed, wait)
                    continue
                attaching = ticket.phase is Phase.TO_ATTACH
                export_id = ticket.attach if attaching else _job(ticket).export_id
                assert export_id is not None
                label = str(ExportJob(export_id, ticket.stream, ticket.slice))
            try:
                with naming(label):
                    report = ticket.port.status(export_id)
            except NotFoundError as exc:
                with self._changed:
                    if ticket.phase is Phase.RELEASED:
                        continue
                    if attaching:
                        logger.warning(
                            "%s: the provider no longer has it; creating a new one", label
                        )
                        self._lifecycle.create_again(ticket, self._clock.monotonic(), after=0.0)
                        self._changed.notify_all()
                    else:
                        now = self._clock.monotonic()
                        self._settle(ticket, self._lifecycle.vanished(ticket, exc, now))
                continue
            except BusyError:
                with self._changed:  # not an answer about the export: ask again later
                    ticket.next_poll = self._clock.monotonic() + self._poll_interval
                continue
            except ApiError as exc:
                with self._changed:
                    self._give_up(ticket, exc)
                continue
            with self._changed:
                if ticket.phase is Phase.RELEASED:
                    continue
                now = self._clock.monotonic()
                if attaching:
                    self._settle(ticket, self._lifecycle.attached(ticket, export_id, report, now))
                else:
                    self._settle(ticket, self._lifecycle.observed(ticket, report, now))

    def _spare_status_in(self) -> float:
        """Seconds until the status budget has a request to spare beyond the urgent one."""
        if self._status_budget is None:
            return 0.0
        return self._status_budget.wait_time(spare=1)

    def _settle(self, ticket: Ticket, error: Exception | None) -> None:
        """Wake whoever waits on the ticket's change, giving it up with `error` if any."""
        if error is not None:
            self._give_up(ticket, error)
        self._changed.notify_all()

    def _give_up(self, ticket: Ticket, error: Exception) -> None:
        """Resolve `ticket` with `error`; one the whole run shares stops all creation.

        The key, a permission, credits, the API itself: no other export can be created
        now either. Exports already created are still polled and read (they may have
        been paid for); their own requests fail if the key is what broke.
        """
        if ticket.phase is Phase.RELEASED:
            return
        ticket.resolve(error)
        if not isinstance(error, _ONE_SLICE_ERRORS):
            for waiting in self._book.not_created():
                waiting.resolve(error)
        self._changed.notify_all()

    def _give_up_all(self, error: Exception) -> None:
        for ticket in self._book.unresolved():
            ticket.resolve(error)


def _job(ticket: Ticket) -> ExportJob:
    assert ticket.job is not None, "a running ticket has a job"
    return ticket.job
