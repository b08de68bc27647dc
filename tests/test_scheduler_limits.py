"""The scheduler under a provider's limits: jobs running at once, busy answers, fatal
errors, and the end of a run.

The clock runs a thousand times faster than real time (`ScaledClock`), so the
providers' own intervals are used (a 5 s poll, minutes of processing) and each test
still takes milliseconds of real time, with nothing patched.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import replace

import pytest

from tap_exports.engine.errors import BusyError, ExportTimeoutError, OutOfCreditsError
from tap_exports.engine.exports.jobs import (
    ExportFile,
    JobStatus,
    LifecyclePolicy,
    StatusReport,
    completed_files,
)
from tap_exports.engine.exports.scheduler import ExportScheduler
from tap_exports.engine.planning.slices import Slice
from tests.builders import daily_windows
from tests.fakes import ScaledClock

POLICY = LifecyclePolicy(
    poll_interval_seconds=5.0,
    export_timeout_seconds=3600.0,
    max_export_attempts=1,  # a busy answer spending an attempt would fail the test
    retry_cooldown_seconds=60.0,
)


class OneJobPort:
    """A provider that lets one job run per key: another create answers busy (409)."""

    def covers(self, slice: Slice) -> None:
        """Records beyond a slice mean nothing to fix here."""
        return None

    def __init__(self, clock: ScaledClock, *, processing: float, foreign_until: float = 0.0):
        self.clock = clock
        self.processing = processing
        self.foreign_until = foreign_until  # another client's job holds the key till then
        self.done_at: dict[str, float] = {}
        self.creates: list[float] = []
        self.busy_answers: list[float] = []
        self.most_running = 0
        self._lock = threading.Lock()

    def _running(self, now: float) -> int:
        return sum(done > now for done in self.done_at.values()) + (now < self.foreign_until)

    def create(self, slice: Slice) -> str:
        with self._lock:
            now = self.clock.monotonic()
            if self._running(now):
                self.busy_answers.append(now)
                raise BusyError("POST /exports answered 409: Export job already in progress")
            export_id = f"job{len(self.done_at) + 1}"
            self.done_at[export_id] = now + self.processing
            self.creates.append(now)
            self.most_running = max(self.most_running, self._running(now))
            return export_id

    def status(self, export_id: str) -> StatusReport:
        with self._lock:
            if self.clock.monotonic() < self.done_at[export_id]:
                return StatusReport(JobStatus.PROCESSING)
            return StatusReport(
                JobStatus.COMPLETED, files=(ExportFile("part-1", f"https://x/{export_id}"),)
            )

    def files(self, export_id: str) -> tuple[ExportFile, ...]:
        return completed_files(self.status(export_id), subject=export_id)


def take_all(sched: ExportScheduler, port: OneJobPort, count: int) -> list[str]:
    tickets = sched.submit("events", port, daily_windows(count))
    taken = []
    for ticket in tickets:
        taken.append(sched.take(ticket, lambda job: None).job.export_id)
        sched.release(ticket)
    sched.close()
    return taken


def test_a_cap_of_one_keeps_one_job_running_and_creates_the_next_when_it_completes():
    clock = ScaledClock()
    port = OneJobPort(clock, processing=60.0)
    sched = ExportScheduler(policy=POLICY, clock=clock, max_in_flight=5, max_running=1)
    assert take_all(sched, port, 5) == ["job1", "job2", "job3", "job4", "job5"]
    assert port.most_running == 1
    assert port.busy_answers == []  # the cap alone kept creation in line
    # Each next job was created within about a poll interval of the previous completing.
    gaps = [later - earlier - 60.0 for earlier, later in itertools.pairwise(port.creates)]
    assert max(gaps) <= POLICY.poll_interval_seconds * 3


def test_a_busy_answer_is_waited_out_without_an_attempt_and_without_a_create_storm():
    clock = ScaledClock()
    port = OneJobPort(clock, processing=10.0, foreign_until=120.0)
    sched = ExportScheduler(policy=POLICY, clock=clock, max_in_flight=3, max_running=1)
    assert take_all(sched, port, 3) == ["job1", "job2", "job3"]
    # Backing off from the poll interval: a handful of creates over two minutes.
    assert 1 <= len(port.busy_answers) <= 6
    assert port.creates[0] >= 120.0


def test_a_provider_busy_for_longer_than_an_export_may_take_gives_up_naming_the_answer():
    clock = ScaledClock()
    port = OneJobPort(clock, processing=10.0, foreign_until=float("inf"))
    policy = replace(POLICY, export_timeout_seconds=600.0)
    sched = ExportScheduler(policy=policy, clock=clock, max_in_flight=1, max_running=1)
    (ticket,) = sched.submit("events", port, daily_windows(1))
    with pytest.raises(ExportTimeoutError, match=r"stayed busy for \d+s .*409"):
        sched.take(ticket, lambda job: None)
    sched.close()
    assert len(port.busy_answers) <= 15  # 600 s at a backoff capped at a minute


def test_an_error_no_slice_can_do_better_on_stops_every_ticket_at_once():
    clock = ScaledClock()
    port = OneJobPort(clock, processing=10.0)

    def out_of_credits(slice: Slice) -> str:
        raise OutOfCreditsError("POST /exports answered 402: insufficient_balance", status=402)

    port.create = out_of_credits  # type: ignore[method-assign]
    sched = ExportScheduler(policy=POLICY, clock=clock, max_in_flight=3)
    tickets = sched.submit("companies", port, daily_windows(3))
    for ticket in tickets:
        with pytest.raises(OutOfCreditsError, match="402"):
            sched.take(ticket, lambda job: None)
    sched.close()


def test_closing_joins_the_workers_and_keeps_an_export_created_meanwhile():
    """A create still in flight when the run stops: its id must reach STATE, or the next
    run would pay for (or be blocked by) an export nobody knows of."""
    clock = ScaledClock()
    port = OneJobPort(clock, processing=10.0)
    sent, answer = threading.Event(), threading.Event()
    create = port.create

    def slow_create(slice: Slice) -> str:
        sent.set()
        answer.wait(5)
        return create(slice)

    port.create = slow_create  # type: ignore[method-assign]
    sched = ExportScheduler(policy=POLICY, clock=clock, max_in_flight=1)
    sched.submit("events", port, daily_windows(1))
    # The run stops while the create is on its way (not before the creator sent it).
    assert sent.wait(5)
    threading.Timer(0.05, answer.set).start()
    sched.close()  # returns only once the create came back
    assert not [t for t in threading.enumerate() if t.name.startswith("exports-")]
    noticed: list[str] = []
    sched.drain_notices(lambda job: noticed.append(job.export_id))
    assert noticed == ["job1"]
