"""The declared half of a port: headers, a created job's id, a status answer read."""

from __future__ import annotations

import pytest

from tap_exports.engine.errors import ApiError
from tap_exports.engine.exports.jobs import ExportFile, JobStatus, StatusWords
from tap_exports.providers.job_api import JobApi

WORDS = StatusWords(
    {"running": JobStatus.PROCESSING, "done": JobStatus.COMPLETED, "bad": JobStatus.FAILED}
)
NESTED = JobApi(
    "Bearer",
    ("export_job", "id"),
    WORDS,
    message_keys=("error_message", "error"),
    records_key="total",
)


def test_the_key_goes_in_the_authorization_header_with_the_declared_scheme():
    assert JobApi("Token", ("id",), WORDS).headers("k-1") == {
        "Authorization": "Token k-1",
        "Accept": "application/json",
    }


def test_the_created_id_is_read_along_its_path_and_an_integer_becomes_text():
    assert NESTED.created({"export_job": {"id": "e-7"}}, subject="companies all") == "e-7"
    assert JobApi("Bearer", ("export_id",), WORDS).created({"export_id": 12}, subject="s") == "12"


@pytest.mark.parametrize(
    "answer", [{}, {"export_job": None}, {"export_job": {"id": ""}}, {"export_job": {"id": True}}]
)
def test_a_create_answer_without_an_id_names_where_the_id_was_expected(answer):
    with pytest.raises(ApiError, match=r"^companies all: the create answer has no export_job\.id$"):
        NESTED.created(answer, subject="companies all")


def test_the_first_message_key_present_is_the_reason_and_records_count_only_when_completed():
    failed = NESTED.report({"status": "bad", "error": "disk full", "total": 3}, subject="x")
    assert (failed.status, failed.message, failed.records) == (JobStatus.FAILED, "disk full", None)
    file = ExportFile("a.json", "http://h/a.json")
    done = NESTED.report({"status": "done", "total": 3}, subject="x", files=[file])
    assert (done.status, done.message, done.records, done.files) == (
        JobStatus.COMPLETED,
        None,
        3,
        (file,),
    )
    assert NESTED.report({"status": "done", "total": True}, subject="x").records is None


def test_an_unknown_word_is_refused_with_the_subject_where_the_enum_is_documented():
    with pytest.raises(ApiError, match="events export 9: unknown status 'archived'"):
        NESTED.report({"status": "archived"}, subject="events export 9")
