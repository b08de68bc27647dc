"""Progress a person can read on long work: slices done of planned, records, time left.

A backfill of a year is hundreds of exports paced by a create limit: hours. Per stream,
a line at most every `every` seconds (and one when the stream is done):

    events: 120/365 windows, 2,412,000 records; about 49m left

Time left is the larger of two estimates: the pace so far (elapsed per slice times the
slices left) and the floor the create limit puts under the slices left (each needs a
create, at most `limit` per `period`). Early on the floor speaks; later the pace does.
"""

from __future__ import annotations

import logging

from tap_exports.engine.clock import Clock


class ProgressLog:
    """Counts one stream's slices and records, and logs how far it is now and then."""

    def __init__(
        self,
        *,
        name: str,
        noun: str,
        clock: Clock,
        logger: logging.Logger,
        every: float,
        seconds_per_create: float,
    ) -> None:
        """`noun`: what a slice is called (windows, parts); `every`: seconds between lines."""
        self._name = name
        self._noun = noun
        self._clock = clock
        self._logger = logger
        self._every = every
        self._per_create = seconds_per_create
        self._planned = 0
        self._done = 0
        self._records = 0
        self._started = clock.monotonic()
        self._last_line = self._started

    def planned(self, slices: int) -> None:
        """Slices this run will export (more if some are split)."""
        self._planned += slices

    def records(self, count: int) -> None:
        """`count` more records were delivered."""
        self._records += count

    def slice_done(self) -> None:
        """One more slice delivered: log a line if `every` seconds have passed."""
        self._done += 1
        now = self._clock.monotonic()
        if now - self._last_line >= self._every and self._done < self._planned:
            self._last_line = now
            self._logger.info("%s", self.line(now))

    def finished(self) -> None:
        """The stream is done: a last line, if any line was logged before."""
        now = self._clock.monotonic()
        if self._last_line > self._started:
            self._logger.info("%s", self.line(now))

    def line(self, now: float) -> str:
        """The progress line at `now`."""
        planned = max(self._planned, self._done)
        head = f"{self._name}: {self._done}/{planned} {self._noun}, {self._records:,} records"
        left = planned - self._done
        if left == 0:
            return f"{head}; done in {duration(now - self._started)}"
        pace = (now - self._started) / self._done * left if self._done else 0.0
        return f"{head}; about {duration(max(pace, left * self._per_create))} left"


def duration(seconds: float) -> str:
    """A time span as people read it: 45s, 3m05s, 2h07m."""
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{rest:02d}s" if minutes else f"{rest}s"
