"""Logs as the service writes them (JSON under `mailprobe serve` and `mailprobe worker`): one
line per job end with its fields, request lines with the id the API answers as X-Request-Id.
(The final secret scan reads these logs too.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.conftest import ApiClient, Service, probe_body
from tests.smtp_servers import start_smtp_server
from tests.support import wait_for


def _lines(paths: list[Path]) -> list[dict[str, Any]]:
    found = []
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                found.append(json.loads(line))
    return found


def _job_end(service: Service, job_id: str) -> dict[str, Any]:
    def logged() -> dict[str, Any] | None:
        for line in _lines(service.logs):
            if line.get("event") == "job ended" and line.get("job_id") == job_id:
                return line
        return None

    found: dict[str, Any] = wait_for(logged, 10, "the job's end in the worker's log")
    return found


def test_each_job_end_is_one_json_line_with_its_fields(service: Service) -> None:
    client = service.client(service.key(tenant="t-logs"))
    server = start_smtp_server(rcpt_replies=["550 5.1.1 no such user"])
    try:
        failed = client.run(probe_body(server.address))
        succeeded = client.run(probe_body(server.address))
    finally:
        server.stop()
    port = int(server.address.rpartition(":")[2])

    line = _job_end(service, failed["id"])
    assert line["tenant"] == "t-logs"
    assert (line["host"], line["port"]) == ("127.0.0.1", port)
    assert (line["outcome"], line["category"], line["phase"]) == (
        "failed",
        "recipient_rejected",
        "rcpt_to",
    )
    assert line["attempts"] == 1
    assert line["level"] == "info"
    assert line["timestamp"].endswith("Z")
    assert 0 < line["duration_ms"] < 30_000

    line = _job_end(service, succeeded["id"])
    assert (line["outcome"], line["category"], line["phase"]) == ("succeeded", None, None)
    ends = [
        entry
        for entry in _lines(service.logs)
        if entry.get("event") == "job ended" and entry.get("job_id") == succeeded["id"]
    ]
    assert len(ends) == 1


def test_requests_are_logged_with_the_id_the_api_answers(
    service: Service, client: ApiClient
) -> None:
    given = client.get("/email/smtp/_test", headers={"X-Request-Id": "proxy-req-0001"})
    assert given.headers["X-Request-Id"] == "proxy-req-0001"
    made = client.get("/email/smtp/_test/01HZZZZZZZZZZZZZZZZZZZZZZZ")
    assert made.status_code == 404
    request_id = made.headers["X-Request-Id"]
    assert len(request_id) == 32 and request_id != "proxy-req-0001"
    # A malformed id is replaced, not echoed.
    odd = client.get("/healthz", headers={"X-Request-Id": "<script>"})
    assert odd.headers["X-Request-Id"] != "<script>"

    def line(request_id: str) -> dict[str, Any] | None:
        for entry in _lines(service.logs):
            if entry.get("event") == "request" and entry.get("request_id") == request_id:
                return entry
        return None

    found = wait_for(lambda: line(request_id), 10, "the request's log line")
    assert found["status"] == 404
    assert found["method"] == "GET"
    assert found["route"] == "GET /email/smtp/_test/<job_id>"
    assert found["path"] == "/email/smtp/_test/01HZZZZZZZZZZZZZZZZZZZZZZZ"
    assert found["duration_ms"] >= 0
    assert wait_for(lambda: line("proxy-req-0001"), 10, "the given id's line")["status"] == 200


# Celery warns about running as root before any logging is set up; only the tests run as root.
_ROOT_WARNING = re.compile(
    r"^\S+celery/platforms\.py:\d+: SecurityWarning: You're running the worker with superuser"
    r".*?\n\n  \S[^\n]*\n",  # the message, a blank line, and the source line that warned
    re.DOTALL | re.MULTILINE,
)


def test_the_service_writes_json_lines_only(service: Service) -> None:
    """Every line of the API's and the worker's logs is a JSON object (Python's warnings,
    Celery's and gunicorn's own lines included)."""
    for path in service.logs:
        text = _ROOT_WARNING.sub("", path.read_text(errors="replace"))
        for line in text.splitlines():
            assert line.startswith("{"), (path.name, line[:200])
            json.loads(line)
