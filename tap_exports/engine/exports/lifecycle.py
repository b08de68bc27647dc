"""What each answer of the provider does to a ticket: the export lifecycle's decisions.

No threads and no waiting here: `scheduler.ExportScheduler` calls these under its
lock with the time of the answer, and gives a ticket up with the error returned, if
any. See `jobs` for the lifecycle drawn out.

- created: the job runs; it is polled from now, and must complete by its deadline.
- completed: ready for the main thread. failed: created again after the cooldown,
  until `max_export_attempts` have failed. Still running at the deadline: the same,
  then a timeout naming `export_timeout_seconds`.
- re-attached (an id from an earlier run's state): a failed or vanished job is
  replaced without spending an attempt (it was not this run's to spend).
- busy (another job holds the provider): creation as a whole pauses, backing off from
  the poll interval, and no attempt is spent; a ticket busy for longer than an export
  may take gives up, naming the answer.
"""

from __future__ import annotations

import logging

from tap_exports.engine.errors import BusyError, ExportFailedError, ExportTimeoutError
from tap_exports.engine.exports.jobs import ExportJob, JobStatus, LifecyclePolicy, StatusReport
from tap_exports.engine.exports.tickets import Phase, Ticket

logger = logging.getLogger(__name__)

# Creation after a busy answer backs off from the poll interval up to this.
_MOST_BUSY_BACKOFF_SECONDS = 60.0
# The first wait between status reads of a new job; it doubles up to the poll interval.
_FIRST_POLL_SECONDS = 0.25


class Lifecycle:
    """Applies the provider's answers to tickets, by the run's `LifecyclePolicy`."""

    def __init__(self, policy: LifecyclePolicy) -> None:
        """Start with creation open (nothing busy yet)."""
        self._policy = policy
        # After a busy answer no export is created before this (monotonic seconds).
        self.busy_until = 0.0
        self._busy_streak = 0

    def created(self, ticket: Ticket, job: ExportJob, now: float) -> None:
        """A create answered with `job`'s id: the job runs from now."""
        self._busy_streak = 0
        ticket.busy_since = None
        ticket.attempt += 1
        ticket.job = job
        if ticket.phase is not Phase.RELEASED:
            ticket.deadline = now + self._policy.export_timeout_seconds
            ticket.next_poll = now
            ticket.polls = 0
            ticket.phase = Phase.RUNNING
            logger.info("%s: created (attempt %d)", job, ticket.attempt)

    def attached(
        self, ticket: Ticket, export_id: str, report: StatusReport, now: float
    ) -> Exception | None:
        """The first status of a job an earlier run created."""
        job = ExportJob(export_id, ticket.stream, ticket.slice)
        if report.status is JobStatus.FAILED:
            # Failed while no one was watching: not this run's attempt to spend.
            logger.warning("%s: failed before this run re-attached; creating a new one", job)
            self.create_again(ticket, now, after=0.0)
            return None
        logger.info("%s: re-attached (created by an earlier run)", job)
        ticket.job = job
        ticket.deadline = now + self._policy.export_timeout_seconds
        ticket.polls = 0
        ticket.phase = Phase.RUNNING
        return self.observed(ticket, report, now)

    def observed(self, ticket: Ticket, report: StatusReport, now: float) -> Exception | None:
        """A status of a running job."""
        policy = self._policy
        if report.status is JobStatus.COMPLETED:
            ticket.report = report
            ticket.phase = Phase.COMPLETED
        elif report.status is JobStatus.FAILED:
            reason = report.message or "no reason given"
            return self._attempt_over(ticket, f"{ticket.job}: failed ({reason})", now)
        elif now + policy.poll_interval_seconds > ticket.deadline:
            outcome = f"{ticket.job}: still running after {policy.export_timeout_seconds:g}s"
            return self._attempt_over(ticket, outcome, now, timed_out=True)
        else:
            ticket.next_poll = now + self.poll_delay(ticket)
        return None

    def poll_delay(self, ticket: Ticket) -> float:
        """How long until the next status read of a job still running.

        Exports often complete in seconds: reads come soon after the create, then back
        off to `poll_interval_seconds` (0.25 s, 0.5, 1, 2, ...). The status budget still
        paces every read, and the export the main thread waits for goes first.
        """
        ramp: float = _FIRST_POLL_SECONDS * 2.0**ticket.polls
        delay = min(self._policy.poll_interval_seconds, ramp)
        ticket.polls += 1
        return delay

    def busy(self, ticket: Ticket, error: BusyError, now: float) -> Exception | None:
        """A create answered busy: back in line, without an attempt, and paced."""
        if ticket.busy_since is None:
            ticket.busy_since = now
        waited = now - ticket.busy_since
        if waited >= self._policy.export_timeout_seconds:
            return ExportTimeoutError(
                f"{ticket.stream} {ticket.slice}: the provider stayed busy for {waited:.0f}s "
                f"({error}); another job may hold it: try again later, or raise "
                "'export_timeout_seconds'"
            )
        delay = min(
            self._policy.poll_interval_seconds * 2**self._busy_streak, _MOST_BUSY_BACKOFF_SECONDS
        )
        self._busy_streak += 1
        self.busy_until = now + delay
        logger.info(
            "%s %s: provider busy (%s); creating again in %.1fs",
            ticket.stream,
            ticket.slice,
            error,
            delay,
        )
        ticket.phase = Phase.TO_CREATE
        return None

    def vanished(self, ticket: Ticket, error: Exception, now: float) -> Exception | None:
        """A job of this run is no longer known (404): an attempt over, created again.

        Providers forget jobs (a retention period, a lost job); a new export of the same
        slice has the same rows.
        """
        return self._attempt_over(
            ticket, f"{ticket.job}: the provider no longer has it ({error})", now
        )

    def create_again(self, ticket: Ticket, now: float, *, after: float) -> None:
        """Queue the ticket's export to be created (again) `after` seconds from now."""
        ticket.phase = Phase.TO_CREATE
        ticket.attach = None
        ticket.create_after = now + after

    def _attempt_over(
        self, ticket: Ticket, outcome: str, now: float, *, timed_out: bool = False
    ) -> Exception | None:
        attempts = self._policy.max_export_attempts
        logger.warning("%s (attempt %d of %d)", outcome, ticket.attempt, attempts)
        if ticket.attempt < attempts:
            self.create_again(ticket, now, after=self._policy.retry_cooldown_seconds)
            return None
        if timed_out:
            return ExportTimeoutError(
                f"{outcome} (attempt {attempts} of {attempts}); raise "
                "'export_timeout_seconds' or try again later"
            )
        return ExportFailedError(
            f"{ticket.stream} {ticket.slice}: export failed {attempts} times "
            f"(last: {outcome}); try again later or contact the provider's support"
        )
