"""The sandbox as a product: it must behave like Cometly's documented API.

The server around the emulator is shared by every provider: the registry, its 404s, the
CLI and its counters are tested here too.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests

from tap_exports.sandbox import (
    DEMO_KEY,
    INACTIVE_KEY,
    Faults,
    Limits,
    Sandbox,
    SandboxConfig,
    Space,
    Timing,
)
from tap_exports.sandbox.cometly.emulator import CometlyEmulator
from tap_exports.sandbox.registry import SANDBOXES
from tests.fakes import ManualClock
from tests.setups.cometly import sandbox_config

RANGE = {"start_date": "2025-03-02 00:00:00", "end_date": "2025-03-02 23:59:59"}


def api(sandbox: Sandbox, key: str = DEMO_KEY) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    session.base_url = sandbox.api_url  # type: ignore[attr-defined]
    return session


def post(session: requests.Session, path: str, body: dict) -> requests.Response:
    return session.post(session.base_url + path, json=body)  # type: ignore[attr-defined]


def get(session: requests.Session, path: str) -> requests.Response:
    return session.get(session.base_url + path)  # type: ignore[attr-defined]


def completed(session: requests.Session, path: str, clock: ManualClock) -> dict:
    for _ in range(100):
        status = get(session, path).json()
        if status["status"] == "completed":
            return status
        clock.sleep(0.01)
    raise AssertionError("export never completed")


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def manual_sandbox(clock: ManualClock) -> Iterator[Sandbox]:
    """The tests' usual sandbox, on a clock that moves only when the test sleeps on it."""
    with Sandbox(sandbox_config(), clock=clock) as running:
        yield running


def test_unknown_key_is_401_and_inactive_subscription_403(sandbox: Sandbox):
    assert post(api(sandbox, "nope"), "/companies/exports", RANGE).status_code == 401
    answer = post(api(sandbox, INACTIVE_KEY), "/companies/exports", RANGE)
    assert (answer.status_code, answer.json()) == (
        403,
        {"message": "Your Cometly subscription is inactive."},
    )


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "/companies/exports",
            {"end_date": "2025-03-02 00:00:00"},
            "The start date field is required.",
        ),
        ("/contacts/exports", {**RANGE, "start_date": "2025-03-02"}, "must match the format"),
        (
            "/companies/exports",
            {**RANGE, "end_date": "2025-03-01 00:00:00"},
            "must be a date after",
        ),
        ("/events/exports", {"date": "2025-13-01"}, "must match the format Y-m-d"),
        ("/events/exports", {"date": "2025-03-02", "sources": ["email"]}, "attribution model"),
        ("/events/exports", {"date": "2025-03-02", "event_names": ["nope"]}, "event_names.0"),
    ],
)
def test_invalid_parameters_are_422_with_a_message(sandbox: Sandbox, path, body, message):
    answer = post(api(sandbox), path, body)
    assert answer.status_code == 422
    assert message in answer.json()["message"]


def test_status_moves_from_queued_through_processing_to_completed(clock: ManualClock):
    timing = Timing(queued_seconds=0.3, processing_seconds=0.3, url_ttl_seconds=900)
    with Sandbox(sandbox_config(timing=timing), clock=clock) as sandbox:
        session = api(sandbox)
        created = post(session, "/companies/exports", RANGE)
        assert (created.status_code, created.json()["status"]) == (202, "queued")
        path = f"/companies/exports/{created.json()['export_id']}"
        seen = []
        for _ in range(100):
            status = get(session, path).json()
            if not seen or seen[-1] != status["status"]:
                seen.append(status["status"])
            if status["status"] == "completed":
                break
            clock.sleep(0.05)
        assert seen == ["queued", "processing", "completed"]
        assert status["download_url"].startswith(sandbox.download_url)
        assert {"completed_at", "expires_at", "created_at"} <= set(status)


def test_another_spaces_export_is_404():
    spaces = [Space(api_key=DEMO_KEY), Space(api_key="other-key", timezone="Asia/Tokyo")]
    with Sandbox(sandbox_config(spaces=spaces)) as sandbox:
        export_id = post(api(sandbox), "/companies/exports", RANGE).json()["export_id"]
        assert get(api(sandbox, "other-key"), f"/companies/exports/{export_id}").status_code == 404
        assert get(api(sandbox), f"/events/exports/{export_id}").status_code == 404


def test_download_host_acts_like_s3(manual_sandbox: Sandbox, clock: ManualClock):
    session = api(manual_sandbox)
    export_id = post(session, "/companies/exports", RANGE).json()["export_id"]
    url = completed(session, f"/companies/exports/{export_id}", clock)["download_url"]
    served = requests.get(url)
    assert (served.status_code, served.headers["Content-Type"]) == (200, "application/gzip")
    with_key = requests.get(url, headers={"Authorization": f"Bearer {DEMO_KEY}"})
    assert with_key.status_code == 400
    assert "<Code>InvalidArgument</Code>" in with_key.text
    tampered = url.replace("X-Amz-Expires=900", "X-Amz-Expires=90000")
    assert "<Code>SignatureDoesNotMatch</Code>" in requests.get(tampered).text


def test_expired_url_is_403_access_denied(clock: ManualClock):
    with Sandbox(sandbox_config(faults=Faults(expired_urls=1)), clock=clock) as sandbox:
        session = api(sandbox)
        path = (
            f"/companies/exports/{post(session, '/companies/exports', RANGE).json()['export_id']}"
        )
        expired = requests.get(completed(session, path, clock)["download_url"])
        assert expired.status_code == 403
        assert "<Message>Request has expired</Message>" in expired.text
        assert requests.get(get(session, path).json()["download_url"]).status_code == 200


def test_a_url_expires_when_its_ttl_has_passed_on_the_sandbox_clock(clock: ManualClock):
    timing = Timing(queued_seconds=0, processing_seconds=0, url_ttl_seconds=900)
    with Sandbox(sandbox_config(timing=timing), clock=clock) as sandbox:
        session = api(sandbox)
        export_id = post(session, "/companies/exports", RANGE).json()["export_id"]
        status = completed(session, f"/companies/exports/{export_id}", clock)
        expires_at = clock.now().replace(microsecond=0) + timedelta(seconds=900)
        assert status["expires_at"] == expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        clock.sleep(900)
        assert requests.get(status["download_url"]).status_code == 200  # the last second
        clock.sleep(1)
        expired = requests.get(status["download_url"])
        assert expired.status_code == 403 and "Request has expired" in expired.text


def test_rate_limit_headers_and_429_with_retry_after():
    with Sandbox(sandbox_config(limits=Limits(create=2, status=30, period_seconds=60))) as sandbox:
        session = api(sandbox)
        first, second, third = (post(session, "/companies/exports", RANGE) for _ in range(3))
        assert first.headers["X-RateLimit-Limit"] == "2"
        assert [
            first.headers["X-RateLimit-Remaining"],
            second.headers["X-RateLimit-Remaining"],
        ] == [
            "1",
            "0",
        ]
        assert third.status_code == 429
        assert 55 <= int(third.headers["Retry-After"]) <= 60
        # Status reads have their own budget.
        assert get(session, f"/companies/exports/{first.json()['export_id']}").status_code == 200


def test_range_bounds_are_inclusive_to_the_second(manual_sandbox: Sandbox, clock: ManualClock):
    session = api(manual_sandbox)
    midnight = "2025-03-02 00:00:00"
    body = {"start_date": midnight, "end_date": "2025-03-02 00:00:01"}
    export_id = post(session, "/companies/exports", body).json()["export_id"]
    url = completed(session, f"/companies/exports/{export_id}", clock)["download_url"]
    lines = requests.get(url).content
    assert b'"created_at":"2025-03-02T05:00:00Z"' in gzip.decompress(lines)


def test_command_line_sandbox_starts_and_answers():
    process = subprocess.Popen(
        [sys.executable, "-m", "tap_exports.sandbox", "--port", "0", "--download-port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first_line = process.stdout.readline()
        api_url = first_line.split()[-1]
        assert urlsplit(api_url).path == "/public-api/v1"
        assert process.stdout.readline().split() == ["provider:", "cometly"]
        answer = requests.post(
            f"{api_url}/companies/exports",
            json=RANGE,
            headers={"Authorization": f"Bearer {DEMO_KEY}"},
            timeout=5,
        )
        assert answer.status_code == 202
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_help_shows_every_flag_with_its_default_provider_included():
    shown = subprocess.run(
        [sys.executable, "-m", "tap_exports.sandbox", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    text = " ".join(shown.split())  # argparse wraps to the terminal's width
    assert "cornect" in text and "cornect only:" in text
    assert "--short-balance {reject,partial}" in text and "(default: reject)" in text
    assert "--companies COMPANIES companies in the database (default: 500)" in text
    assert "cornect 900" in text
    provider = (
        "--provider {cometly,cornect,userpilot} whose export API to emulate (default: cometly)"
    )
    assert provider in text
    assert "--port PORT API port (0: any free port) (default: 8765)" in text
    assert (
        "--create-limit CREATE_LIMIT export creations per space per rate period (default: 5)"
        in (text)
    )


def test_registry_builds_the_cometly_emulator_by_name():
    def no_urls(file_name: str, *, ttl_seconds: int, born_expired: bool) -> str:
        raise AssertionError("nothing is signed here")

    emulator = SANDBOXES["cometly"].build(SandboxConfig(), no_urls, ManualClock())
    assert isinstance(emulator, CometlyEmulator)
    assert (emulator.name, emulator.api_prefix) == ("cometly", "/public-api/v1")
    assert SandboxConfig().provider == "cometly"
    with Sandbox(sandbox_config(provider="cometly")) as sandbox:
        assert isinstance(sandbox.emulator, CometlyEmulator)
        assert urlsplit(sandbox.api_url).path == "/public-api/v1"


def test_unknown_provider_is_a_clear_error():
    known = r"known: cometly, cornect, userpilot$"
    with pytest.raises(ValueError, match=rf"unknown sandbox provider 'nope'; {known}"):
        Sandbox(SandboxConfig(provider="nope"))


@pytest.mark.parametrize(
    "path", ["/", "/nope", "/public-api/v2/companies/exports", "/public-api/v1x"]
)
def test_unknown_path_prefix_is_404_in_the_providers_envelope(sandbox: Sandbox, path):
    root = sandbox.api_url.removesuffix("/public-api/v1")
    answer = requests.post(root + path, json=RANGE, headers={"Authorization": f"Bearer {DEMO_KEY}"})
    assert (answer.status_code, answer.json()) == (404, {"message": "Not found."})
    assert answer.headers["Content-Type"] == "application/json"


def test_header_names_are_case_insensitive(sandbox: Sandbox):
    answer = requests.post(
        f"{sandbox.api_url}/companies/exports",
        json=RANGE,
        headers={"authorization": f"Bearer {DEMO_KEY}"},
    )
    assert answer.status_code == 202


def test_counters_stay_exact_under_concurrent_requests():
    threads, reads, downloads = 8, 20, 2
    config = sandbox_config(
        timing=Timing(queued_seconds=0, processing_seconds=0, url_ttl_seconds=900),
        limits=Limits(create=threads + 1, status=threads * reads, period_seconds=60),
    )
    start = threading.Barrier(threads)

    def client(sandbox: Sandbox, shared: int) -> None:
        session = api(sandbox)
        assert post(session, "/contacts/exports", RANGE).status_code == 202
        start.wait()  # every thread reads the same export's status at once
        for _ in range(reads):
            status = get(session, f"/companies/exports/{shared}")
            assert status.status_code == 200
        for _ in range(downloads):
            assert requests.get(status.json()["download_url"]).status_code == 200

    with Sandbox(config) as sandbox, ThreadPoolExecutor(threads) as pool:
        shared = post(api(sandbox), "/companies/exports", RANGE).json()["export_id"]
        for done in [pool.submit(client, sandbox, shared) for _ in range(threads)]:
            done.result()
        assert len(sandbox.emulator.created) == threads + 1
        assert sandbox.emulator.status_reads == {shared: threads * reads}
        assert len(sandbox.downloads) == threads * downloads
