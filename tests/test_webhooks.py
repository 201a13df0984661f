"""Webhooks: signed deliveries of every ended job, retried, logged; cheap polling.

Signatures are checked with the `standardwebhooks` package, an implementation independent of
ours. Test settings: retry schedule 0.3 s, 0.5 s, 1 s (four attempts in all), 2 s timeout.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook as Verifier

from mailprobe import rediskeys
from mailprobe.queues import RUN_SMTP_TEST, SMTP_QUEUE, create_celery
from mailprobe.settings import Settings
from tests.conftest import ApiClient, Service, probe_body, secret
from tests.smtp_servers import RawServer, SmtpServer, start_smtp_server
from tests.support import wait_for


@dataclass
class Receiver:
    """A webhook endpoint on loopback that answers from a script: (status, headers, delay)."""

    script: list[tuple[int, dict[str, str], float]] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/mailprobe"

    def start(self) -> Receiver:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                owner.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                status, headers, delay = owner.script.pop(0) if owner.script else (200, {}, 0.0)
                if delay:
                    time.sleep(delay)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()

    def unique_messages(self) -> dict[str, bytes]:
        """What the subscriber keeps after de-duplicating by webhook-id."""
        return {headers["webhook-id"]: body for headers, body in self.received}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = start_smtp_server()
    yield server
    server.stop()


def _subscribe(client: ApiClient, url: str) -> dict[str, Any]:
    response = client.post("/webhooks", json={"url": url, "events": ["smtp_test.completed"]})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    secret(created["secret"])
    return created


def _deliveries(client: ApiClient, webhook_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.get(f"/webhooks/{webhook_id}/deliveries").json()[
        "deliveries"
    ]
    return found[::-1]  # oldest first


def test_subscriptions_crud_and_isolation(service: Service, receiver: Receiver) -> None:
    client = service.client(service.key(tenant="t-hooks-crud"))
    created = _subscribe(client, receiver.url)
    assert created["secret"].startswith("whsec_")
    assert created["status"] == "active"
    shown = client.get(f"/webhooks/{created['id']}")
    assert shown.status_code == 200 and "secret" not in shown.json()
    assert created["secret"] not in client.get("/webhooks").text
    assert [w["id"] for w in client.get("/webhooks").json()["webhooks"]] == [created["id"]]

    other = service.client(service.key(tenant="t-hooks-other"))
    for method, path in (("GET", ""), ("DELETE", ""), ("GET", "/deliveries")):
        assert other.request(method, f"/webhooks/{created['id']}{path}").status_code == 404
    reader = service.client(service.key(tenant="t-hooks-crud", permissions=("smtp.read",)))
    assert reader.post("/webhooks", json={"url": receiver.url}).status_code == 403
    assert reader.request("DELETE", f"/webhooks/{created['id']}").status_code == 403
    writer = service.client(service.key(tenant="t-hooks-crud", permissions=("webhooks.write",)))
    assert writer.get("/webhooks").status_code == 403

    assert client.request("DELETE", f"/webhooks/{created['id']}").status_code == 204
    assert client.get(f"/webhooks/{created['id']}").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.7/hook",
        "http://169.254.169.254/latest/meta-data",
        "https://[fd00::1]/x",
        "http://192.168.1.1:8080/hook",
    ],
)
def test_receivers_in_refused_ranges_are_refused(service: Service, url: str) -> None:
    client = service.client(service.key(tenant="t-hooks-ssrf"))
    response = client.post("/webhooks", json={"url": url})
    assert response.status_code == 403, response.text
    assert response.json()["code"] == 7
    assert client.get("/webhooks").json()["webhooks"] == []


def test_bad_subscriptions_are_400(service: Service) -> None:
    client = service.client(service.key(tenant="t-hooks-bad"))
    for body in (
        {"url": "ftp://example.com/x"},
        {"url": "https://u:p@example.com/"},
        {"url": "https://example.com/", "events": ["smtp_test.started"]},
        {"url": "https://example.com/", "events": []},
    ):
        assert client.post("/webhooks", json=body).status_code == 400


def test_a_finished_job_is_delivered_signed(
    service: Service, receiver: Receiver, smtp: SmtpServer
) -> None:
    client = service.client(service.key(tenant="t-hooks-signed"))
    created = _subscribe(client, receiver.url)
    job = client.run(probe_body(smtp.address))
    wait_for(lambda: receiver.received, 15, "the delivery")
    headers, body = receiver.received[0]
    payload = Verifier(created["secret"]).verify(body, headers)  # raises if the signature is off
    assert payload["type"] == "smtp_test.completed"
    assert payload["data"] == client.get(f"/email/smtp/_test/{job['id']}").json()
    assert payload["timestamp"] == job["finishedAt"]
    assert headers["webhook-id"] == f"msg_{job['id']}"
    with pytest.raises(Exception):  # noqa: B017 - any verification failure will do
        Verifier(created["secret"]).verify(body + b" ", headers)
    log = _deliveries(client, created["id"])
    assert [(d["attempt"], d["status"], d["outcome"]) for d in log] == [(1, 200, "delivered")]
    assert log[0]["latencyMs"] >= 0


def test_500_twice_then_200(service: Service, receiver: Receiver, smtp: SmtpServer) -> None:
    client = service.client(service.key(tenant="t-hooks-retry"))
    created = _subscribe(client, receiver.url)
    receiver.script = [(500, {}, 0.0), (503, {"Retry-After": "1"}, 0.0)]
    job = client.run(probe_body(smtp.address))
    wait_for(lambda: len(receiver.received) >= 3, 20, "three attempts")
    assert {headers["webhook-id"] for headers, _ in receiver.received} == {f"msg_{job['id']}"}
    assert len(receiver.unique_messages()) == 1  # once, from the receiver's point of view
    log = wait_for(lambda: (d := _deliveries(client, created["id"])) and len(d) == 3 and d, 10)
    assert [(d["status"], d["outcome"]) for d in log] == [
        (500, "retrying"),
        (503, "retrying"),
        (200, "delivered"),
    ]
    # The 503's Retry-After (1 s) was honoured over the schedule's 0.5 s.
    gap = _seconds(log[1]["time"], log[2]["time"])
    assert gap >= 0.9
    assert client.get(f"/webhooks/{created['id']}").json()["failingSince"] is None


def test_410_disables_the_subscription(
    service: Service, receiver: Receiver, smtp: SmtpServer
) -> None:
    client = service.client(service.key(tenant="t-hooks-gone"))
    created = _subscribe(client, receiver.url)
    receiver.script = [(410, {}, 0.0)]
    client.run(probe_body(smtp.address))

    def disabled() -> dict[str, Any] | None:
        found: dict[str, Any] = client.get(f"/webhooks/{created['id']}").json()
        return found if found["status"] == "disabled" else None

    webhook = wait_for(disabled, 15, "the subscription to be disabled")
    assert "410" in webhook["disabledReason"]
    client.run(probe_body(smtp.address))  # a second job: not delivered to a disabled hook
    assert len(receiver.received) == 1
    assert [d["outcome"] for d in _deliveries(client, created["id"])] == ["disabled"]


def test_redirects_are_failures_and_never_followed(
    service: Service, receiver: Receiver, smtp: SmtpServer
) -> None:
    target = Receiver().start()
    try:
        client = service.client(service.key(tenant="t-hooks-redirect"))
        created = _subscribe(client, receiver.url)
        receiver.script = [(301, {"Location": target.url}, 0.0)] * 10
        client.run(probe_body(smtp.address))

        def disabled() -> dict[str, Any] | None:
            found: dict[str, Any] = client.get(f"/webhooks/{created['id']}").json()
            return found if found["status"] == "disabled" else None

        webhook = wait_for(disabled, 30, "the retries to run out")
    finally:
        target.stop()
    assert target.received == []
    log = _deliveries(client, created["id"])
    assert [d["status"] for d in log] == [301] * 4
    assert [d["outcome"] for d in log] == ["retrying"] * 3 + ["failed"]
    assert all("redirect (301) not followed" in d["error"] for d in log)
    assert "every attempt" in webhook["disabledReason"]


def test_a_hanging_receiver_times_out_and_is_retried(
    service: Service, receiver: Receiver, smtp: SmtpServer
) -> None:
    client = service.client(service.key(tenant="t-hooks-hang"))
    created = _subscribe(client, receiver.url)
    receiver.script = [(200, {}, 4.0)]  # answers, but after the 2 s timeout
    started = time.monotonic()
    job = client.run(probe_body(smtp.address))
    # A slow receiver never delays the SMTP test itself.
    assert time.monotonic() - started < 3
    assert job["status"] == "succeeded"
    log = wait_for(lambda: (d := _deliveries(client, created["id"])) and len(d) == 2 and d, 20)
    assert (log[0]["status"], log[0]["outcome"]) == (None, "retrying")
    assert "timeout" in log[0]["error"]
    assert (log[1]["status"], log[1]["outcome"]) == (200, "delivered")


@pytest.fixture
def dripping_receiver() -> Iterator[RawServer]:
    """Answers a byte a second, for ever: each read comes within any per-read timeout."""

    def drip(conn: socket.socket) -> None:
        conn.recv(65536)
        for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 1000:
            conn.sendall(bytes([byte]))
            time.sleep(1.0)  # the peer's pace, not the test's synchronisation

    server = RawServer(drip)
    yield server
    server.stop()


def test_a_dripping_receiver_is_cut_at_the_timeout_and_retried(
    service: Service, dripping_receiver: RawServer, smtp: SmtpServer
) -> None:
    client = service.client(service.key(tenant="t-hooks-drip"))
    created = _subscribe(client, f"http://{dripping_receiver.address}/hook")
    job = client.run(probe_body(smtp.address))
    assert job["status"] == "succeeded"
    log = wait_for(lambda: (d := _deliveries(client, created["id"])) and len(d) >= 2 and d, 20)
    first = log[0]
    assert (first["status"], first["outcome"]) == (None, "retrying")
    assert "timeout" in first["error"]
    # The whole exchange is bounded by the 2 s timeout (MAILPROBE_WEBHOOK_TIMEOUT), not each read.
    assert first["latencyMs"] <= 3000
    client.request("DELETE", f"/webhooks/{created['id']}")


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def test_long_poll_wakes_within_100_ms_of_the_end(client: ApiClient) -> None:
    def slow_banner(conn: Any) -> None:
        time.sleep(1.0)
        conn.sendall(b"554 5.3.2 not now\r\n")  # ends the job (a permanent failure)

    server = RawServer(slow_banner)
    try:
        job = client.submit(probe_body(server.address)).json()
        polled = client.get(f"/email/smtp/_test/{job['id']}", headers={"Prefer": "wait=10"})
        answered = time.time()
    finally:
        server.stop()
    ended = polled.json()
    assert ended["status"] == "failed"
    finished = datetime.fromisoformat(ended["finishedAt"]).timestamp()
    assert answered - finished < 0.1, f"woke {answered - finished:.3f} s after the end"


def test_etags_let_pollers_skip_unchanged_bodies(client: ApiClient, smtp: SmtpServer) -> None:
    job = client.run(probe_body(smtp.address))
    first = client.get(f"/email/smtp/_test/{job['id']}")
    etag = first.headers["ETag"]
    unchanged = client.get(f"/email/smtp/_test/{job['id']}", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    page = client.get("/email/smtp/_test?limit=5")
    assert (
        client.get(
            "/email/smtp/_test?limit=5", headers={"If-None-Match": page.headers["ETag"]}
        ).status_code
        == 304
    )
    client.run(probe_body(smtp.address))  # the list changes
    changed = client.get(
        "/email/smtp/_test?limit=5", headers={"If-None-Match": page.headers["ETag"]}
    )
    assert changed.status_code == 200 and changed.headers["ETag"] != page.headers["ETag"]


def test_a_task_delivered_again_after_the_end_sends_the_owed_deliveries(
    service: Service, receiver: Receiver, smtp: SmtpServer
) -> None:
    """A worker that dies between a job's end and its webhook dispatch leaves the job marked
    to notify. The task, delivered again, runs nothing again but sends the deliveries (at
    least once: the same webhook-id again, for the subscriber to de-duplicate) and clears
    the mark."""
    client = service.client(service.key(tenant="t-hooks-owed"))
    _subscribe(client, receiver.url)
    job = client.run(probe_body(smtp.address))
    wait_for(lambda: len(receiver.received) == 1, 15, "the first delivery")
    redis = service.redis.client()
    key = rediskeys.job(job["id"])
    redis.hset(key, "notify", "1")  # the end's mark, as a worker that died there leaves it
    keys = [SecretStr(k) for k in service.env["MAILPROBE_ENCRYPTION_KEYS"].split(",")]
    celery = create_celery(Settings(redis_url=service.redis.url, encryption_keys=keys))
    celery.send_task(RUN_SMTP_TEST, args=[job["id"], 1], queue=SMTP_QUEUE)

    wait_for(lambda: len(receiver.received) == 2, 15, "the owed delivery")
    wait_for(lambda: not redis.hexists(key, "notify"), 15, "the mark to be cleared")
    assert set(receiver.unique_messages()) == {f"msg_{job['id']}"}
    assert client.get(f"/email/smtp/_test/{job['id']}").json() == job
    assert len(smtp.handler.received) == 1
