"""Secrets at rest and in the logs. The scan of everything the suite wrote runs at the end of
every session (tests/secret_scan.py); here, that it catches a leak, and a password in flight."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, ApiClient, Service, probe_body, secret
from tests.secret_scan import forms, redis_dump
from tests.smtp_servers import RawServer
from tests.support import wait_for


def test_a_password_in_flight_is_stored_only_encrypted(service: Service, client: ApiClient) -> None:
    password = secret("in-flight-password-Zq8")
    held: list[socket.socket] = []
    server = RawServer(held.append)  # accepts and says nothing: the job stays in flight
    try:
        job = client.submit(probe_body(server.address, user="u", password=password)).json()
        wait_for(lambda: server.connections >= 1, 10, "the worker to connect")
        in_flight = redis_dump(service.redis.client())
        assert job["id"] in in_flight
        assert "v1.test1." in in_flight  # the encrypted password is there...
        for form in forms(password):
            assert form not in in_flight  # ...and never the password
        ended = client.get(f"/email/smtp/_test/{job['id']}", headers={"Prefer": "wait=30"}).json()
        assert ended["status"] == "failed"
        # Once the job has ended, not even the ciphertext is kept.
        assert client.get(f"/email/smtp/_test/{job['id']}").json()["status"] == "failed"
        assert service.redis.client().hget(f"mailprobe:job:{job['id']}", "secret") is None
    finally:
        server.stop()


LEAKY_TEST = """
from tests.support import LOGS, secret


def test_that_leaks(tmp_path):
    log = tmp_path / "service.log"
    log.write_text("AUTH PLAIN with " + secret("leaked-on-purpose-4711") + "\\n")
    LOGS.append(log)
"""


def test_the_end_of_session_scan_fails_a_run_that_leaks(tmp_path: Path) -> None:
    """A session whose only test passes but writes a secret into a log fails, whatever
    the tests' names or order."""
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import no_secret_leaks, redis_server  # noqa: F401\n"
    )
    (tmp_path / "test_leak.py").write_text(LEAKY_TEST)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1, run.stdout[-3000:]
    assert "1 passed, 1 error" in run.stdout
    assert "appears in a log" in run.stdout
    assert "leaked-on-purpose-4711" not in run.stdout  # the report itself names no secret
