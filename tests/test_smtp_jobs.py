"""End to end: the HTTP API, a real Celery worker process and real SMTP servers."""

from __future__ import annotations

import socket
import ssl
import time
from typing import Any

import pytest

from tests.conftest import ApiClient, probe_body, secret
from tests.smtp_servers import RawServer, ScriptedServer, SmtpServer, start_smtp_server


def _phases(job: dict[str, Any]) -> list[tuple[str, bool]]:
    return [(p["name"], p["ok"]) for p in job["result"]["phases"]]


def _start(servers: list[Any], **kwargs: Any) -> SmtpServer:
    server = start_smtp_server(**kwargs)
    servers.append(server)
    return server


def test_plain_server_receives_a_real_test_message(client: ApiClient, servers: list[Any]) -> None:
    server = _start(servers)
    response = client.submit(probe_body(server.address, senderName="Zoë Prüfer"))
    assert response.status_code == 202
    assert response.headers["Retry-After"] == "1"
    queued = response.json()
    assert queued["status"] == "queued"
    assert response.headers["Location"] == f"/email/smtp/_test/{queued['id']}"

    first_job = client.get(
        f"/email/smtp/_test/{queued['id']}", headers={"Prefer": "wait=20"}
    ).json()
    assert first_job["status"] == "succeeded"
    job = client.run(probe_body(server.address))
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["ok"] is True
    assert result["tls"]["mode"] == "none"
    assert result["address"] == "127.0.0.1"
    assert _phases(job) == [
        ("resolve", True),
        ("connect", True),
        ("banner", True),
        ("ehlo", True),
        ("mail_from", True),
        ("rcpt_to", True),
        ("data", True),
        ("quit", True),
    ]
    assert [p["reply"]["code"] for p in result["phases"][2:]] == [220, 250, 250, 250, 250, 221]
    assert all(p["durationMs"] >= 0 for p in result["phases"])
    assert "8BITMIME" in result["extensions"]
    assert job["attempts"] == [
        {**job["attempts"][0], "number": 1, "outcome": "succeeded", "error": None}
    ]
    assert job["createdAt"] <= job["startedAt"] <= job["finishedAt"]

    # Both messages arrived; the second is the finished job's, with the headers a reader sees.
    assert len(server.handler.received) == 2
    first, last = server.handler.received
    assert last.mail_from == "probe@example.com"
    assert last.rcpt_tos == ["inbox@example.org"]
    message = last.message
    assert message["Message-ID"] == result["messageId"]
    assert message["To"] == "inbox@example.org"
    assert message["From"].addresses[0].addr_spec == "probe@example.com"
    assert message["Date"] is not None
    # A Subject a person can find: the job's short reference and the time; the body says
    # what was tested.
    assert message["Subject"] == result["subject"]
    assert result["subject"].startswith(f"mailprobe test {job['id'][-8:]}: {server.address}, ")
    body = message.get_content()
    assert "test email" in body
    assert f"SMTP server: 127.0.0.1, port {server.controller.port}" in body
    assert "Encryption:  none (tls: false)" in body
    # A non-ASCII sender name is encoded, not sent raw, and decodes back to itself.
    assert first.message["From"].addresses[0].display_name == "Zoë Prüfer"


def test_starttls_with_auth(
    client: ApiClient, servers: list[Any], server_tls: ssl.SSLContext
) -> None:
    password = secret("s3cr3t-STARTTLS-pw")
    server = _start(servers, starttls=server_tls, credentials={"alice": password})
    job = client.run(probe_body(server.address, tls=True, user="alice", password=password))
    assert job["status"] == "succeeded", job
    result = job["result"]
    # Implicit TLS first; the server greets in plaintext, so STARTTLS on a new connection:
    # a fallback, reported as one, not as a failed phase.
    assert _phases(job) == [
        ("resolve", True),
        ("connect", True),
        ("tls", True),
        ("connect", True),
        ("banner", True),
        ("ehlo", True),
        ("starttls", True),
        ("ehlo", True),
        ("auth", True),
        ("mail_from", True),
        ("rcpt_to", True),
        ("data", True),
        ("quit", True),
    ]
    assert "STARTTLS follows" in result["phases"][2]["note"]
    assert [w["code"] for w in result["warnings"]] == ["starttls_fallback"]
    tls = result["tls"]
    assert tls["mode"] == "starttls"
    assert tls["version"].startswith("TLSv1.")
    assert tls["cipher"]
    assert tls["certificate"]["verified"] is True
    assert "localhost" in tls["certificate"]["subject"] or tls["certificate"]["subject"]
    assert len(tls["certificate"]["sha256"]) == 64
    assert result["auth"]["used"] in ("PLAIN", "LOGIN")
    assert "PLAIN" in result["auth"]["offered"]
    assert server.auth_attempts == [(result["auth"]["used"], "alice")]
    assert "C: AUTH PLAIN <redacted>" in result["transcript"]
    assert password not in str(job)
    assert len(server.handler.received) == 1


def test_auth_login_when_plain_is_not_offered(
    client: ApiClient, servers: list[Any], server_tls: ssl.SSLContext
) -> None:
    password = secret("löGin-pässword")  # non-ASCII: sent as UTF-8
    server = _start(
        servers, starttls=server_tls, credentials={"bob": password}, exclude_mechanisms=["PLAIN"]
    )
    job = client.run(probe_body(server.address, tls=True, user="bob", plain={"password": password}))
    assert job["status"] == "succeeded", job
    assert job["result"]["auth"] == {"offered": ["LOGIN"], "used": "LOGIN"}
    assert job["request"]["plain"] == {}
    assert password not in str(job)


def test_implicit_tls(client: ApiClient, servers: list[Any], server_tls: ssl.SSLContext) -> None:
    server = _start(servers, implicit_tls=server_tls)
    job = client.run(probe_body(server.address.replace("127.0.0.1", "localhost"), tls=True))
    assert job["status"] == "succeeded", job
    assert job["result"]["tls"]["mode"] == "implicit"
    assert _phases(job)[:4] == [
        ("resolve", True),
        ("connect", True),
        ("tls", True),
        ("banner", True),
    ]
    assert "starttls" not in [name for name, _ in _phases(job)]


def test_tls_false_never_starts_tls(
    client: ApiClient, servers: list[Any], server_tls: ssl.SSLContext
) -> None:
    server = _start(servers, starttls=server_tls)
    job = client.run(probe_body(server.address, tls=False))
    # The server requires STARTTLS before mail: without tls the test fails, as it should.
    assert job["status"] == "failed"
    assert job["result"]["tls"]["mode"] == "none"
    assert job["result"]["error"]["phase"] == "mail_from"
    assert job["result"]["error"]["smtpCode"] == 530


def test_auth_rejected_is_not_retried(
    client: ApiClient, servers: list[Any], server_tls: ssl.SSLContext
) -> None:
    wrong = secret("wrong-password-535")
    server = _start(servers, starttls=server_tls, credentials={"alice": "right"})
    job = client.run(probe_body(server.address, tls=True, user="alice", password=wrong))
    assert job["status"] == "failed"
    error = job["result"]["error"]
    assert error["category"] == "auth"
    assert error["phase"] == "auth"
    assert error["smtpCode"] == 535
    assert error["enhancedCode"] == "5.7.8"
    assert error["retryable"] is False
    assert (error["attempt"], error["maxAttempts"]) == (1, 3)
    assert error["hint"].startswith("The server refused the user or the password.")
    assert error["hintSource"] == "https://www.rfc-editor.org/rfc/rfc4954#section-6"
    assert len(job["attempts"]) == 1
    assert len(server.auth_attempts) == 1
    assert server.handler.received == []


@pytest.mark.parametrize(
    ("reply", "category"),
    [("454 4.7.0 Temporary authentication failure", "auth"), ("", "timeout")],
    ids=["4xx", "timeout"],
)
def test_a_transient_auth_failure_is_not_retried(
    client: ApiClient, reply: str, category: str
) -> None:
    server = ScriptedServer({"AUTH": reply})
    try:
        job = client.run(
            probe_body(server.address, user="alice", password=secret("sent-once-only")),
            timeout=60,
        )
    finally:
        server.stop()
    assert job["status"] == "failed"
    # Transient, yet tried once: the credentials went to the server once in this job.
    assert len(job["attempts"]) == 1
    assert len([line for line in server.lines if line.startswith("AUTH ")]) == 1
    assert server.connections == 1
    error = job["result"]["error"]
    assert (error["category"], error["phase"]) == (category, "auth")
    assert (error["transient"], error["retryable"]) == (True, False)
    assert "not tried again: credentials go to a server at most once per job" in error["message"]


def test_recipient_rejected(client: ApiClient, servers: list[Any]) -> None:
    server = _start(servers, rcpt_replies=["550 5.1.1 <inbox@example.org>: no such user"])
    job = client.run(probe_body(server.address))
    assert job["status"] == "failed"
    error = job["result"]["error"]
    assert (error["category"], error["phase"], error["smtpCode"]) == (
        "recipient_rejected",
        "rcpt_to",
        550,
    )
    assert error["enhancedCode"] == "5.1.1"
    assert error["retryable"] is False
    assert len(job["attempts"]) == 1
    assert server.handler.received == []


def test_greylisting_is_retried_until_accepted(client: ApiClient, servers: list[Any]) -> None:
    greylisted = "450 4.2.0 greylisted, try again later"
    server = _start(servers, rcpt_replies=[greylisted, greylisted])
    job = client.run(probe_body(server.address))
    assert job["status"] == "succeeded", job
    attempts = job["attempts"]
    assert [a["outcome"] for a in attempts] == ["retrying", "retrying", "succeeded"]
    assert [a["number"] for a in attempts] == [1, 2, 3]
    assert attempts[0]["error"]["smtpCode"] == 450
    assert attempts[0]["error"]["retryable"] is True
    assert attempts[0]["error"]["category"] == "recipient_rejected"
    # Backoff: the attempts are spread out, not back to back (base delay 0.2 s in tests).
    assert attempts[1]["startedAt"] > attempts[0]["finishedAt"]
    assert server.handler.rcpt_calls == 3
    assert len(server.handler.received) == 1


def test_silent_server_times_out_and_is_retried(client: ApiClient) -> None:
    held = []

    def never_speak(conn: socket.socket) -> None:
        held.append(conn)  # keep it open, say nothing

    server = RawServer(never_speak)
    try:
        started = time.monotonic()
        job = client.run(probe_body(server.address), timeout=60)
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    assert job["status"] == "failed"
    error = job["result"]["error"]
    # Transient, and tried three times: the final report says it failed for good.
    assert error["retryable"] is False
    assert (error["category"], error["phase"], error["transient"]) == ("timeout", "banner", True)
    assert (error["attempt"], error["maxAttempts"]) == (3, 3)
    assert error["message"].endswith("(tried 3 of 3 attempts; no more will be made)")
    first = job["attempts"][0]["error"]
    assert (first["retryable"], first["attempt"], first["maxAttempts"]) == (True, 1, 3)
    assert first["message"].endswith("(attempt 1 of 3; it will be tried again)")
    assert [a["outcome"] for a in job["attempts"]] == ["retrying", "retrying", "failed"]
    # Each attempt: the banner connection, then one to check for TLS on connect (silent too).
    assert server.connections == 6
    # Three attempts of a 2 s banner timeout, plus short backoffs: far below the 6 s deadline each.
    assert elapsed < 20


def test_untrusted_certificate_fails_as_tls(
    client: ApiClient, servers: list[Any], untrusted_tls: ssl.SSLContext
) -> None:
    server = _start(servers, implicit_tls=untrusted_tls)
    job = client.run(
        probe_body(server.address, tls=True, user="x", password=secret("never-sent-1"))
    )
    assert job["status"] == "failed"
    error = job["result"]["error"]
    assert (error["category"], error["phase"], error["retryable"]) == ("tls", "tls", False)
    assert "certificate" in error["message"]
    assert len(job["attempts"]) == 1
    assert server.auth_attempts == []


def test_prefer_wait_answers_200_with_the_ended_job(client: ApiClient, servers: list[Any]) -> None:
    server = _start(servers)
    response = client.submit(probe_body(server.address), wait=20)
    assert response.status_code == 200
    assert response.headers["Preference-Applied"] == "wait=20"
    assert response.json()["status"] == "succeeded"


def test_long_poll_returns_current_state_after_wait(client: ApiClient) -> None:
    server = RawServer(lambda conn: time.sleep(30))
    try:
        job = client.submit(probe_body(server.address)).json()
        started = time.monotonic()
        polled = client.get(f"/email/smtp/_test/{job['id']}", headers={"Prefer": "wait=1"})
        waited = time.monotonic() - started
    finally:
        server.stop()
    assert polled.status_code == 200
    assert polled.json()["status"] in ("queued", "running", "retrying")
    assert polled.headers["Preference-Applied"] == "wait=1"
    assert 0.9 <= waited < 5


def test_listing_is_newest_first_with_cursor_and_status(service: Any, servers: list[Any]) -> None:
    client = service.client(service.key(tenant="t-listing"))
    server = _start(servers, rcpt_replies=["550 5.1.1 no"])
    ids = [client.run(probe_body(server.address))["id"] for _ in range(3)]  # failed, then ok x2
    page = client.get("/email/smtp/_test?limit=2").json()
    assert [j["id"] for j in page["jobs"]] == ids[::-1][:2]
    rest = client.get(f"/email/smtp/_test?limit=2&cursor={page['nextCursor']}").json()
    assert [j["id"] for j in rest["jobs"]] == [ids[0]]
    assert rest["nextCursor"] is None
    failed = client.get("/email/smtp/_test?status=failed").json()
    assert [j["id"] for j in failed["jobs"]] == [ids[0]]


UTF8_SENDER, UTF8_RECEIVER = "jörg@example.com", "zoë@corp.local"


def test_utf8_addresses_go_with_smtputf8_when_offered(
    client: ApiClient, servers: list[Any]
) -> None:
    server = _start(servers, smtputf8=True)
    job = client.run(
        probe_body(
            server.address,
            senderAddress=UTF8_SENDER,
            senderName="Jörg Müller",
            receiverAddress=UTF8_RECEIVER,
        )
    )
    assert job["status"] == "succeeded", job
    assert job["result"]["smtpUtf8"] is True
    mail = next(line for line in job["result"]["transcript"] if line.startswith("C: MAIL FROM"))
    assert mail.startswith(f"C: MAIL FROM:<{UTF8_SENDER}> SMTPUTF8")
    [received] = server.handler.received
    assert (received.mail_from, received.rcpt_tos) == (UTF8_SENDER, [UTF8_RECEIVER])
    assert "SMTPUTF8" in received.mail_options
    head = received.content.split(b"\r\n\r\n", 1)[0]
    # The addresses in UTF-8 (RFC 6532); the name still RFC 2047-encoded.
    assert f"To: {UTF8_RECEIVER}".encode() in head.split(b"\r\n")
    from_line = next(line for line in head.split(b"\r\n") if line.startswith(b"From: "))
    assert from_line.startswith(b"From: =?utf-8?")
    assert from_line.endswith(f"<{UTF8_SENDER}>".encode())
    assert str(received.message["From"].addresses[0].display_name) == "Jörg Müller"


@pytest.mark.parametrize(
    "addresses",
    [{"senderAddress": UTF8_SENDER}, {"receiverAddress": UTF8_RECEIVER}],
    ids=["sender", "receiver"],
)
def test_utf8_addresses_fail_before_mail_from_without_smtputf8(
    client: ApiClient, servers: list[Any], addresses: dict[str, str]
) -> None:
    server = _start(servers)  # aiosmtpd without SMTPUTF8
    job = client.run(probe_body(server.address, **addresses))
    assert job["status"] == "failed"
    error = job["result"]["error"]
    assert (error["category"], error["phase"], error["retryable"]) == (
        "protocol",
        "mail_from",
        False,
    )
    assert "SMTPUTF8" in error["message"]
    assert next(iter(addresses.values())) in error["message"]
    assert len(job["attempts"]) == 1
    assert job["result"]["smtpUtf8"] is False
    assert not any(line.startswith("C: MAIL") for line in job["result"]["transcript"])
    assert server.handler.received == []


def test_ascii_addresses_do_not_ask_for_smtputf8(client: ApiClient, servers: list[Any]) -> None:
    server = _start(servers, smtputf8=True)
    job = client.run(probe_body(server.address, senderName="Zoë"))
    assert job["status"] == "succeeded", job
    assert job["result"]["smtpUtf8"] is False
    assert "SMTPUTF8" not in server.handler.received[0].mail_options
