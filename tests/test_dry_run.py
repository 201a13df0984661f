"""Verify without sending (dryRun): the session stops after RCPT TO with RSET and QUIT, the
report says what the server answered to the recipient, and the server never gets DATA.

Through the JSON routes, a batch, a stored provider and `mailprobe test --dry-run`, against
aiosmtpd. Zitadel's wire keeps its meaning: /admin/v1 refuses the field.
"""

from __future__ import annotations

import os
import re
import ssl
from typing import Any

import pytest

from tests.conftest import ApiClient, Service, probe_body, secret
from tests.smtp_servers import SmtpServer, start_smtp_server
from tests.support import run_cli


def _start(servers: list[SmtpServer], **kwargs: Any) -> SmtpServer:
    server = start_smtp_server(**kwargs)
    servers.append(server)
    return server


@pytest.fixture
def tenant(service: Service) -> ApiClient:
    return service.client(service.key(tenant="t-dry-run"))


def _phases(job: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(phase["name"], phase["ok"]) for phase in job["result"]["phases"]]


def test_an_accepted_recipient_is_reported_and_nothing_is_sent(
    tenant: ApiClient, servers: list[SmtpServer], server_tls: ssl.SSLContext
) -> None:
    password = secret("dry-run-pw-7c1")
    server = _start(servers, starttls=server_tls, credentials={"alice": password})
    body = probe_body(server.address, tls=True, user="alice", password=password, dryRun=True)
    job = tenant.run(body)

    assert job["status"] == "succeeded", job
    assert job["request"]["dryRun"] is True
    result = job["result"]
    assert (result["dryRun"], result["sent"], result["messageId"]) == (True, False, None)
    assert result["recipient"] == {
        "address": "inbox@example.org",
        "status": "accepted",
        "code": 250,
        "enhancedCode": "2.1.5",
        "text": "2.1.5 OK",
    }
    assert _phases(job)[-5:] == [
        ("auth", True),
        ("mail_from", True),
        ("rcpt_to", True),
        ("rset", True),
        ("quit", True),
    ]
    transcript = result["transcript"]
    assert transcript[-4:] == ["C: RSET", "S: 250 OK", "C: QUIT", "S: 221 Bye"]
    assert not any(line.startswith("C: DATA") for line in transcript)
    # The server's handler got the RSET, and no message.
    assert server.handler.rset_calls == 1
    assert server.handler.received == []


def test_an_unknown_recipient_is_550_reported_and_nothing_is_sent(
    tenant: ApiClient, servers: list[SmtpServer]
) -> None:
    server = _start(servers)
    job = tenant.run(probe_body(server.address, receiverAddress="reject@example.org", dryRun=True))

    assert job["status"] == "failed", job
    error = job["result"]["error"]
    assert (error["category"], error["phase"], error["smtpCode"], error["enhancedCode"]) == (
        "recipient_rejected",
        "rcpt_to",
        550,
        "5.1.1",
    )
    assert error["retryable"] is False
    assert len(job["attempts"]) == 1
    recipient = job["result"]["recipient"]
    assert (recipient["status"], recipient["code"], recipient["address"]) == (
        "rejected",
        550,
        "reject@example.org",
    )
    assert "User unknown" in recipient["text"]
    # The session still ends cleanly, and sends nothing.
    assert _phases(job)[-3:] == [("rcpt_to", False), ("rset", True), ("quit", True)]
    assert job["result"]["sent"] is False
    assert server.handler.rset_calls == 1
    assert server.handler.received == []


def test_a_deferred_recipient_is_retried_like_any_4xx(
    tenant: ApiClient, servers: list[SmtpServer]
) -> None:
    """450 (greylisting) is a transient answer: the dry run is tried again, as any test, and
    reports what the last attempt heard."""
    server = _start(servers, rcpt_replies=["450 4.2.0 <inbox@example.org>: greylisted"])
    job = tenant.run(probe_body(server.address, dryRun=True))

    assert job["status"] == "succeeded", job
    first, second = job["attempts"]
    assert (first["outcome"], first["error"]["category"], first["error"]["smtpCode"]) == (
        "retrying",
        "recipient_rejected",
        450,
    )
    assert first["error"]["retryable"] is True
    assert second["outcome"] == "succeeded"
    assert job["result"]["recipient"]["status"] == "accepted"
    assert server.handler.rcpt_calls == 2
    assert server.handler.rset_calls == 2
    assert server.handler.received == []


def test_a_test_without_dry_run_says_it_sent_and_what_the_recipient_got(
    tenant: ApiClient, servers: list[SmtpServer]
) -> None:
    server = _start(servers)
    job = tenant.run(probe_body(server.address))
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert (result["dryRun"], result["sent"]) == (False, True)
    assert result["recipient"]["status"] == "accepted"
    assert [name for name, _ in _phases(job)][-2:] == ["data", "quit"]
    assert server.handler.rset_calls == 0
    assert len(server.handler.received) == 1


def test_a_batch_carries_dry_run_per_test(tenant: ApiClient, servers: list[SmtpServer]) -> None:
    server = _start(servers)
    tests = [
        probe_body(server.address, dryRun=True, receiverAddress="dry@example.org"),
        probe_body(server.address, receiverAddress="sent@example.org"),
        probe_body(server.address, dryRun="yes"),  # strict types: refused on its own
    ]
    answer = tenant.post("/email/smtp/_tests", json={"tests": tests})
    assert answer.status_code == 202, answer.text
    items = answer.json()["items"]
    assert items[2]["error"]["details"][0]["fieldViolations"][0]["field"] == "dryRun"
    dry, sent = (tenant.ended(item["job"]["id"]) for item in items[:2])
    assert (dry["result"]["dryRun"], dry["result"]["sent"]) == (True, False)
    assert (sent["result"]["dryRun"], sent["result"]["sent"]) == (False, True)
    assert [r.rcpt_tos for r in server.handler.received] == [["sent@example.org"]]


def test_a_stored_provider_is_verified_without_sending(
    tenant: ApiClient, servers: list[SmtpServer]
) -> None:
    server = _start(servers)
    created = tenant.post(
        "/email/smtp",
        json={"senderAddress": "noreply@example.com", "senderName": "Ex", "host": server.address},
    )
    assert created.status_code == 200, created.text
    provider_id = created.json()["id"]
    answer = tenant.post(
        f"/email/smtp/{provider_id}/_test",
        json={"receiverAddress": "ops@example.org", "dryRun": True},
        headers={"Prefer": "wait=20"},
    )
    assert answer.status_code == 200, answer.text
    job = answer.json()
    assert job["status"] == "succeeded"
    assert job["request"]["dryRun"] is True and job["request"]["id"] == provider_id
    assert job["result"]["recipient"]["address"] == "ops@example.org"
    assert server.handler.received == []


def test_zitadels_json_refuses_dry_run_and_queues_nothing(
    tenant: ApiClient, servers: list[SmtpServer]
) -> None:
    """Zitadel's wire always sends: /admin/v1 takes Zitadel's fields only."""
    server = _start(servers)
    before = tenant.get("/email/smtp/_test").json()["jobs"]
    created = tenant.post(
        "/admin/v1/email/smtp",
        json={"senderAddress": "noreply@example.com", "senderName": "Ex", "host": server.address},
    )
    provider_id = created.json()["id"]
    for path, body in (
        ("/admin/v1/email/smtp/_test", probe_body(server.address, dryRun=True)),
        (f"/admin/v1/email/smtp/{provider_id}/_test", {"receiverAddress": "a@example.org"}),
    ):
        if "dryRun" not in body:
            body = {**body, "dryRun": False}  # even false: the field is not Zitadel's
        answer = tenant.post(path, json=body)
        assert answer.status_code == 400, answer.text
        status = answer.json()
        assert status["code"] == 3
        assert status["details"][0]["fieldViolations"] == [
            {"field": "dryRun", "description": "unknown field"}
        ]
    assert tenant.get("/email/smtp/_test").json()["jobs"] == before
    assert server.handler.rcpt_calls == 0


def test_cli_dry_run_shows_the_recipients_answer_and_sends_nothing(
    servers: list[SmtpServer],
) -> None:
    server = _start(servers)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPROBE_")}
    args = ["test", "--local", "--host", server.address, "--from", "me@example.com", "--dry-run"]

    done = run_cli(env, *args, "--to", "you@example.org")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "dry run: nothing is sent" in out.splitlines()[0]
    names = re.findall(r"^  (\w+)\s+ok\s", out, re.MULTILINE)
    assert names[-4:] == ["mail_from", "rcpt_to", "rset", "quit"]
    assert "recipient:   you@example.org: 250 2.1.5 OK (accepted)" in out
    assert "message:     not sent (dry run" in out
    assert "verdict:     OK: the server accepted the recipient; dry run, nothing was sent" in out

    refused = run_cli(env, *args, "--to", "reject@example.org")
    assert refused.returncode == 9, refused.stdout + refused.stderr
    assert re.search(r"^  rcpt_to\s+FAILED\s+[\d.]+ ms  550 5\.1\.1 ", refused.stdout, re.M)
    assert "(rejected)" in refused.stdout
    assert server.handler.received == []
    assert server.handler.rset_calls == 2
