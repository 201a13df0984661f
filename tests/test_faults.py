"""Misbehaving SMTP servers: every one ends in a clear, correctly classified job, in time.

Test settings: 2 s per phase, 6 s per session, 3 attempts, backoff from 0.2 s.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import ApiClient, probe_body
from tests.smtp_servers import RawServer, start_smtp_server

PHASE_TIMEOUT = 2.0
SESSION_DEADLINE = 6.0


def _lines(conn: socket.socket) -> Iterator[bytes]:
    buffer = b""
    while True:
        data = conn.recv(65536)
        if not data:
            return
        buffer += data
        while b"\r\n" in buffer:
            line, buffer = buffer.split(b"\r\n", 1)
            yield line


def smtp_until(step: str, then: Callable[[socket.socket], None], *, ehlo: bytes = b"") -> Any:
    """A plain SMTP server that behaves until `step` ('ehlo', 'starttls', 'data_end',
    'quit'), where it hands the connection to `then`."""

    def serve(conn: socket.socket) -> None:
        conn.sendall(b"220 fault.test ESMTP\r\n")
        lines = _lines(conn)
        in_data = False
        for line in lines:
            if in_data:
                if line == b".":
                    in_data = False
                    if step == "data_end":
                        return then(conn)
                    conn.sendall(b"250 2.0.0 queued\r\n")
                continue
            verb = line[:8].upper()
            if verb.startswith(b"EHLO"):
                if step == "ehlo":
                    return then(conn)
                conn.sendall(b"250-fault.test\r\n" + ehlo + b"250 8BITMIME\r\n")
            elif verb.startswith(b"STARTTLS") and step == "starttls":
                return then(conn)
            elif verb.startswith(b"DATA"):
                conn.sendall(b"354 go ahead\r\n")
                in_data = True
            elif verb.startswith(b"QUIT"):
                if step == "quit":
                    return then(conn)
                conn.sendall(b"221 bye\r\n")
                return None
            else:
                conn.sendall(b"250 ok\r\n")
        return None

    return serve


def _drip(conn: socket.socket) -> None:
    conn.sendall(b"220 ")
    for _ in range(200):  # a byte every 0.3 s: no single read ever waits 2 s
        time.sleep(0.3)
        conn.sendall(b"x")


def _close_mid_banner(conn: socket.socket) -> None:
    conn.sendall(b"220 fault.te")
    conn.close()


def _close(conn: socket.socket) -> None:
    conn.close()


def _close_mid_reply(conn: socket.socket) -> None:
    conn.sendall(b"250-fault.test\r\n")
    conn.close()


def _garbage(conn: socket.socket) -> None:
    conn.sendall(b"HELLO THERE, I AM NOT SMTP\r\n")
    time.sleep(5)


def _long_line(conn: socket.socket) -> None:
    conn.sendall(b"220 " + b"x" * 10_000 + b"\r\n")
    time.sleep(5)


def _busy(conn: socket.socket) -> None:
    conn.sendall(b"421 4.3.2 too busy, try later\r\n")
    conn.close()


def _bad_handshake(conn: socket.socket) -> None:
    conn.sendall(b"220 2.0.0 ready to start TLS\r\n")
    conn.sendall(b"this is not a TLS record at all\r\n")
    time.sleep(2)


CASES = [
    # (name, server, tls, category, phase, transient: tried again until no attempt is left)
    ("drips a byte at a time", _drip, False, "timeout", "banner", True),
    ("closes mid-banner", _close_mid_banner, False, "connect", "banner", True),
    ("closes mid-EHLO", smtp_until("ehlo", _close_mid_reply), False, "connect", "ehlo", True),
    ("closes mid-DATA", smtp_until("data_end", _close), False, "connect", "data", True),
    ("sends garbage", _garbage, False, "protocol", "banner", False),
    ("sends an over-long line", _long_line, False, "protocol", "banner", False),
    ("answers 421 at the banner", _busy, False, "connect", "banner", True),
    (
        "offers STARTTLS, then fails the handshake",
        smtp_until("starttls", _bad_handshake, ehlo=b"250-STARTTLS\r\n"),
        True,
        "tls",
        "starttls",
        False,
    ),
]


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


@pytest.mark.parametrize(
    ("name", "serve", "tls", "category", "phase", "transient"), CASES, ids=[c[0] for c in CASES]
)
def test_misbehaving_server(
    client: ApiClient,
    name: str,
    serve: Callable[[socket.socket], None],
    tls: bool,
    category: str,
    phase: str,
    transient: bool,
) -> None:
    server = RawServer(serve)
    try:
        job = client.run(probe_body(server.address, tls=tls), timeout=60)
    finally:
        server.stop()
    assert job["status"] == "failed"
    error = job["result"]["error"]
    # The job has ended: its report never says it will be tried again.
    assert error["retryable"] is False
    assert (error["category"], error["phase"], error["transient"]) == (
        category,
        phase,
        transient,
    ), error
    expected_attempts = 3 if transient else 1
    assert (error["attempt"], error["maxAttempts"]) == (expected_attempts, 3)
    assert len(job["attempts"]) == expected_attempts
    assert server.connections >= expected_attempts
    for attempt in job["attempts"]:
        # Each attempt ends within the session deadline, whatever the server does.
        assert _seconds(attempt["startedAt"], attempt["finishedAt"]) < SESSION_DEADLINE + 1
    failed_phase = [p for p in job["result"]["phases"] if not p["ok"]]
    assert failed_phase[-1]["name"] == phase


def test_the_phase_timeout_bounds_a_slow_drip(client: ApiClient) -> None:
    server = RawServer(_drip)
    try:
        job = client.run(probe_body(server.address), timeout=60)
    finally:
        server.stop()
    for attempt in job["attempts"]:
        # The banner phase gives up after its 2 s in all, not 2 s of silence (never comes).
        assert _seconds(attempt["startedAt"], attempt["finishedAt"]) < PHASE_TIMEOUT + 1


def test_421_carries_its_code(client: ApiClient) -> None:
    server = RawServer(_busy)
    try:
        job = client.run(probe_body(server.address), timeout=60)
    finally:
        server.stop()
    assert job["result"]["error"]["smtpCode"] == 421
    assert job["result"]["error"]["enhancedCode"] == "4.3.2"


def test_a_tls_server_where_plaintext_was_expected(
    client: ApiClient, server_tls: ssl.SSLContext
) -> None:
    server = start_smtp_server(implicit_tls=server_tls)
    try:
        job = client.run(probe_body(server.address, tls=False), timeout=60)
    finally:
        server.stop()
    error = job["result"]["error"]
    # The first attempt knows: the port answers a TLS ClientHello. No retry, no timeout.
    assert (error["category"], error["phase"], error["retryable"]) == ("tls", "banner", False)
    port = server.controller.port
    assert error["message"].startswith(f"port {port} of 127.0.0.1 speaks TLS on connect")
    assert error["message"].endswith("set tls: true")
    assert len(job["attempts"]) == 1
    assert _seconds(job["attempts"][0]["startedAt"], job["attempts"][0]["finishedAt"]) < (
        PHASE_TIMEOUT + 1
    )


def test_plaintext_where_tls_was_required_and_no_starttls(client: ApiClient) -> None:
    server = start_smtp_server()  # plaintext, no STARTTLS offered
    try:
        job = client.run(probe_body(server.address, tls=True), timeout=60)
    finally:
        server.stop()
    error = job["result"]["error"]
    assert (error["category"], error["phase"], error["retryable"]) == ("tls", "starttls", False)
    assert "does not offer STARTTLS" in error["message"]
    assert server.handler.received == []
    assert len(job["attempts"]) == 1
