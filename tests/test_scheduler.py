"""The export scheduler on its own, with an in-memory provider port.

The port is a plain object (no HTTP, nothing patched): exports complete after a set
number of status reads, or fail, as each test tells it. The sandbox-level tests of the
pipeline are in `test_pipeline.py`.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from tap_exports.engine.errors import (
    AuthenticationError,
    ExportFailedError,
    ExportTimeoutError,
    NotFoundError,
)
from tap_exports.engine.exports.jobs import (
    ExportFile,
    ExportJob,
    JobStatus,
    LifecyclePolicy,
    StatusReport,
)
from tap_exports.engine.exports.scheduler import ExportScheduler
from tap_exports.engine.exports.tickets import Ticket
from tap_exports.engine.http.budget import RateBudget
from tap_exports.engine.planning.slices import Slice, Window
from tests.builders import daily_windows
from tests.fakes import ScaledClock

# A provider's real intervals, on a clock a thousand times faster than real time: waits
# go through the scheduler's clock, so nothing here depends on real sleeps.
POLICY = LifecyclePolicy(
    poll_interval_seconds=5.0,
    export_timeout_seconds=3600.0,
    max_export_attempts=3,
    retry_cooldown_seconds=60.0,
)


class FakePort:
    """Exports that complete on their `reads_to_complete`-th status read."""

    def covers(self, slice: Slice) -> None:
        """Records beyond a slice mean nothing to fix here."""
        return None

    def __init__(self, *, reads_to_complete: int = 2, failures: int = 0) -> None:
        self.reads_to_complete = reads_to_complete
        self.failures_left = failures
        self.created: list[Window] = []
        self.reads: dict[str, int] = {}
        self.failed: set[str] = set()
        self.create_error: Exception | None = None
        self.known_failed: set[str] = set()
        self.outstanding = 0
        self.most_outstanding = 0
        self._lock = threading.Lock()

    def create(self, window: Window) -> str:
        with self._lock:
            if self.create_error is not None:
                raise self.create_error
            self.created.append(window)
            export_id = f"x{len(self.created)}"
            self.reads[export_id] = 0
            if self.failures_left > 0:
                self.failures_left -= 1
                self.failed.add(export_id)
            return export_id

    def status(self, export_id: str) -> StatusReport:
        with self._lock:
            if export_id in self.known_failed:
                return StatusReport(JobStatus.FAILED, message="failed overnight")
            if export_id not in self.reads:
                raise NotFoundError(f"export {export_id} not found", status=404)
            self.reads[export_id] += 1
            if self.reads[export_id] < self.reads_to_complete:
                return StatusReport(JobStatus.PROCESSING)
            if export_id in self.failed:
                return StatusReport(JobStatus.FAILED, message="boom")
            return StatusReport(
                JobStatus.COMPLETED, files=(ExportFile("part", f"https://files/{export_id}"),)
            )


def take_all(tickets: list[Ticket], sched: ExportScheduler) -> list[ExportJob]:
    jobs = []
    for ticket in tickets:
        export = sched.take(ticket, lambda job: None)
        assert export.report.status is JobStatus.COMPLETED and export.port is ticket.port
        jobs.append(export.job)
        sched.release(ticket)
    return jobs


def test_exports_are_created_in_submission_order_and_taken_in_order():
    port = FakePort()
    sched = ExportScheduler(policy=POLICY, clock=ScaledClock(), max_in_flight=3)
    planned = daily_windows(7)
    jobs = take_all(sched.submit("events", port, planned), sched)
    assert port.created == [window for window, _ in planned]
    assert [job.slice for job in jobs] == [window for window, _ in planned]


def test_never_more_exports_ahead_than_allowed():
    port = FakePort(reads_to_complete=1)
    clock = ScaledClock()
    sched = ExportScheduler(policy=POLICY, clock=clock, max_in_flight=2)
    tickets = sched.submit("events", port, daily_windows(6))
    for index, ticket in enumerate(tickets):
        sched.take(ticket, lambda job: None)
        clock.sleep(60)  # time enough for the creator to run ahead, if it could
        # Taken so far: index + 1; created at most two beyond the last released.
        assert len(port.created) <= index + 2
        sched.release(ticket)


def test_notices_name_every_created_export_and_reach_the_taker():
    port = FakePort()
    sched = ExportScheduler(policy=POLICY, clock=ScaledClock(), max_in_flight=5)
    seen: list[str] = []
    tickets = sched.submit("events", port, daily_windows(5))
    for ticket in tickets:
        sched.take(ticket, lambda job: seen.append(job.export_id))
        sched.release(ticket)
    sched.drain_notices(lambda job: seen.append(job.export_id))
    assert sorted(seen) == sorted(port.reads)


def test_failed_export_is_created_again_then_gives_up_naming_the_window():
    port = FakePort(failures=3)
    sched = ExportScheduler(policy=POLICY, clock=ScaledClock(), max_in_flight=1)
    (ticket,) = sched.submit("companies", port, daily_windows(1))
    with pytest.raises(ExportFailedError, match=r"companies window \[2025-03-01.*failed 3 times"):
        sched.take(ticket, lambda job: None)
    assert len(port.created) == 3


def test_a_failure_is_retried_while_later_windows_keep_going():
    port = FakePort(failures=1)
    sched = ExportScheduler(policy=POLICY, clock=ScaledClock(), max_in_flight=4)
    jobs = take_all(sched.submit("companies", port, daily_windows(4)), sched)
    assert jobs[0].export_id not in port.failed  # the failed one was replaced
    assert len(port.created) == 5


def test_still_running_at_the_deadline_times_out():
    port = FakePort(reads_to_complete=10**6)
    policy = replace(POLICY, export_timeout_seconds=60.0, max_export_attempts=2)
    sched = ExportScheduler(policy=policy, clock=ScaledClock(), max_in_flight=1)
    (ticket,) = sched.submit("companies", port, daily_windows(1))
    with pytest.raises(ExportTimeoutError, match=r"still running after 60s"):
        sched.take(ticket, lambda job: None)
    assert len(port.created) == 2


def test_reattaching_a_vanished_or_failed_export_creates_one_without_spending_an_attempt():
    port = FakePort()
    port.known_failed.add("old-failed")
    sched = ExportScheduler(
        policy=replace(POLICY, max_export_attempts=1),
        clock=ScaledClock(),
        max_in_flight=2,
    )
    (first, second), ids = daily_windows(2), ["gone", "old-failed"]
    tickets = sched.submit("companies", port, [(first[0], ids[0]), (second[0], ids[1])])
    jobs = take_all(tickets, sched)
    assert [job.export_id for job in jobs] == ["x1", "x2"]


def test_reattaching_a_running_export_creates_nothing():
    port = FakePort()
    port.reads["kept"] = 0
    sched = ExportScheduler(policy=POLICY, clock=ScaledClock(), max_in_flight=1)
    ((window, _),) = daily_windows(1)
    (ticket,) = sched.submit("companies", port, [(window, "kept")])
    (job,) = take_all([ticket], sched)
    assert job.export_id == "kept"
    assert port.created == []


def test_an_error_of_the_whole_key_fails_every_ticket():
    port = FakePort()
    port.create_error = AuthenticationError("401: check the 'api_key' setting", status=401)
    sched = ExportScheduler(policy=POLICY, clock=ScaledClock(), max_in_flight=2)
    tickets = sched.submit("companies", port, daily_windows(4))
    for ticket in tickets:
        with pytest.raises(AuthenticationError, match=r"companies window .*api_key"):
            sched.take(ticket, lambda job: None)


def test_the_export_waited_for_is_polled_first_when_the_status_budget_is_tight():
    """Ten exports in flight, one status read per 50 ms: the one the taker waits for is
    still seen completed within about one poll interval of its completion."""
    clock = ScaledClock(factor=100)
    budget = RateBudget("status", limit=2, period=10, clock=clock)
    port = BudgetedPort(budget, clock)
    policy = replace(POLICY, poll_interval_seconds=10, max_export_attempts=1)
    sched = ExportScheduler(policy=policy, clock=clock, max_in_flight=10, status_budget=budget)
    tickets = sched.submit("events", port, daily_windows(10))
    clock.sleep(30)  # all created, the others being polled with the spare budget
    port.complete_at = clock.monotonic() + 20
    started = clock.monotonic()
    sched.take(tickets[0], lambda job: None)
    latency = clock.monotonic() - port.complete_at
    assert clock.monotonic() - started >= 20
    assert latency <= policy.poll_interval_seconds + 10  # a read's own slot, on a busy box
    sched.close()


def test_abandon_stops_the_workers():
    port = FakePort(reads_to_complete=10**6)
    clock = ScaledClock()
    sched = ExportScheduler(policy=POLICY, clock=clock, max_in_flight=3)
    sched.submit("companies", port, daily_windows(3))
    clock.sleep(30)
    sched.close()  # joins them
    assert not [t for t in threading.enumerate() if t.name.startswith("exports-")]


class BudgetedPort(FakePort):
    """Status reads go through a real `RateBudget`; exports complete at `complete_at`."""

    def __init__(self, budget: RateBudget, clock: ScaledClock) -> None:
        super().__init__()
        self.budget = budget
        self.clock = clock
        self.complete_at = float("inf")

    def status(self, export_id: str) -> StatusReport:
        with self.budget.slot():
            if self.clock.monotonic() >= self.complete_at:
                return StatusReport(
                    JobStatus.COMPLETED, files=(ExportFile("part", "https://files/x"),)
                )
            return StatusReport(JobStatus.PROCESSING)


def test_the_window_waited_for_is_created_even_when_reattached_exports_fill_every_place():
    """Resumed with exports of later windows in state (and a lower cap than the killed
    run had): the earlier window is still created, not left waiting for a place."""
    port = FakePort()
    port.reads.update({"later-1": 0, "later-2": 0})
    sched = ExportScheduler(policy=POLICY, clock=ScaledClock(), max_in_flight=1)
    (first, _), (second, _), (third, _) = daily_windows(3)
    tickets = sched.submit("events", port, [(first, None), (second, "later-1"), (third, "later-2")])
    jobs = take_all(tickets, sched)
    assert [job.export_id for job in jobs] == ["x1", "later-1", "later-2"]


def test_a_quick_export_is_seen_soon_after_its_create_not_a_poll_interval_later():
    # Completes on its fourth read; the interval is 5 s, but reads start soon after the
    # create and back off (0.25 s, 0.5, 1): it is taken about 1.75 s after the create.
    port = FakePort(reads_to_complete=4)
    clock = ScaledClock(factor=100)  # thread wake-ups (a millisecond) stay small beside it
    sched = ExportScheduler(policy=POLICY, clock=clock, max_in_flight=1)
    (ticket,) = sched.submit("events", port, daily_windows(1))
    started = clock.monotonic()
    sched.take(ticket, lambda job: None)
    assert clock.monotonic() - started < 5  # three full intervals would be 15 s
    sched.release(ticket)
    sched.close()
