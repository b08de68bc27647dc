"""Progress lines: slices done of planned, records, and time left from pace or floor."""

from __future__ import annotations

import logging

from tap_exports.engine.planning.eta import ProgressLog, duration
from tests.fakes import ManualClock


def test_a_line_at_most_every_interval_with_the_larger_of_pace_and_floor(caplog):
    clock = ManualClock()
    log = ProgressLog(
        name="events",
        noun="windows",
        clock=clock,
        logger=logging.getLogger("progress-test"),
        every=10.0,
        seconds_per_create=12.0,  # 5 creates a minute
    )
    log.planned(100)
    with caplog.at_level(logging.INFO, logger="progress-test"):
        for _ in range(3):
            clock.sleep(2.0)
            log.records(1000)
            log.slice_done()  # 2, 4, 6 s: no line yet
        clock.sleep(5.0)
        log.records(500)
        log.slice_done()  # 11 s, 4 done: pace 2.75 s a window, floor 12 s: floor speaks
        clock.sleep(1.0)
        log.slice_done()  # within 10 s of the last line: none
    assert [r.getMessage() for r in caplog.records] == [
        "events: 4/100 windows, 3,500 records; about 19m12s left"
    ]


def test_the_pace_speaks_when_slower_than_the_floor_and_a_last_line_closes(caplog):
    clock = ManualClock()
    log = ProgressLog(
        name="companies",
        noun="parts",
        clock=clock,
        logger=logging.getLogger("progress-test"),
        every=0.0,
        seconds_per_create=0.0,
    )
    log.planned(3)
    with caplog.at_level(logging.INFO, logger="progress-test"):
        clock.sleep(60.0)
        log.slice_done()
        clock.sleep(60.0)
        log.slice_done()
        clock.sleep(60.0)
        log.slice_done()
        log.finished()
    assert [r.getMessage() for r in caplog.records] == [
        "companies: 1/3 parts, 0 records; about 2m00s left",
        "companies: 2/3 parts, 0 records; about 1m00s left",
        "companies: 3/3 parts, 0 records; done in 3m00s",
    ]


def test_durations_read_as_people_write_them():
    assert [duration(s) for s in (0, 45, 185, 7620)] == ["0s", "45s", "3m05s", "2h07m"]
