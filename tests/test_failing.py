"""The failing-slice decision, as a pure function: which failure leads to what."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tap_exports.engine.errors import (
    DownloadError,
    ExportFailedError,
    ExportTimeoutError,
    SliceTooLargeError,
)
from tap_exports.engine.exports.failing import GiveUp, Replace, after_failure
from tap_exports.engine.planning.slices import Window

DAY = Window(datetime(2025, 3, 1, 5, tzinfo=UTC), datetime(2025, 3, 2, 5, tzinfo=UTC))


def decide(error: Exception, *, fetched_again: bool = False, splittable: bool = True):  # type: ignore[no-untyped-def]
    return after_failure(
        error,
        DAY,
        stream="events",
        fetched_again=fetched_again,
        splittable=splittable,
        smallest=timedelta(hours=1),
    )


def test_a_slice_too_large_is_exported_in_the_parts_the_provider_named():
    halves = DAY.split(timedelta(hours=1))
    assert halves is not None
    step = decide(SliceTooLargeError("too many rows", (*halves, "not a window")))
    assert step == Replace(halves, "too many rows; exporting it in 2 part(s)")


def test_files_that_cannot_be_fetched_get_the_export_created_once_more():
    step = decide(DownloadError("URL expired"))
    assert isinstance(step, Replace) and step.parts == (DAY,)
    assert step.recreated
    assert decide(DownloadError("URL expired"), fetched_again=True) == GiveUp()


def test_an_export_that_keeps_failing_is_halved_down_to_the_smallest_slice():
    step = decide(ExportFailedError("failed"))
    assert isinstance(step, Replace) and not step.recreated
    assert step.parts == DAY.split(timedelta(hours=1))
    assert step.message == f"events {DAY} keeps failing: splitting it in two"
    hour = Window(DAY.start, DAY.start + timedelta(hours=1))
    assert (
        after_failure(
            ExportFailedError("failed"),
            hour,
            stream="events",
            fetched_again=False,
            splittable=True,
            smallest=timedelta(hours=1),
        )
        == GiveUp()
    )


def test_a_stream_that_may_not_split_and_a_timeout_give_up():
    assert decide(ExportFailedError("failed"), splittable=False) == GiveUp()
    assert decide(ExportTimeoutError("stuck")) == GiveUp()
