"""Safety: the destination guard, abuse limits, hostile input, echoed credentials.

The guard and the rate limit are tested on an app built in-process with production defaults
(no allow-list, the default ports) over the session's real Redis; the per-destination cap on
a service of its own, with a cap of 2.
"""

from __future__ import annotations

import base64
import dataclasses
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from pydantic import SecretStr

from api.app import create_app
from mailprobe import rediskeys
from mailprobe.apikeys import PERMISSIONS, ApiKeyStore
from mailprobe.settings import Settings
from tests.conftest import ApiClient, Service, probe_body, running_service, secret
from tests.smtp_servers import RawServer, free_port, start_smtp_server
from tests.support import RedisServer, start_redis


@pytest.fixture(scope="module")
def guarded(service_env: dict[str, str], redis_server: RedisServer) -> tuple[FlaskClient, str]:
    """An app with the production destination policy, and a key for it."""
    settings = Settings(
        redis_url=redis_server.url,
        encryption_keys=[SecretStr(service_env["MAILPROBE_ENCRYPTION_KEYS"])],
        rate_limit=1.0,
        rate_burst=3,
    )
    key = secret(ApiKeyStore(redis_server.client()).create("t-guard", list(PERMISSIONS)))
    return create_app(settings).test_client(), key


@pytest.fixture
def listener() -> Iterator[RawServer]:
    """Records every connection: a refused destination must see none."""
    server = RawServer(lambda conn: None)
    yield server
    server.stop()


HOSTILE = [
    ("loopback", "127.0.0.1:25"),
    ("loopback by name", "localhost:25"),
    ("RFC 1918 10/8", "10.1.2.3:25"),
    ("RFC 1918 172.16/12", "172.16.5.4:587"),
    ("RFC 1918 192.168/16", "192.168.0.10:465"),
    ("link-local, cloud metadata", "169.254.169.254:25"),
    ("CGNAT", "100.64.1.1:25"),
    ("multicast", "224.0.0.251:25"),
    ("reserved", "240.1.2.3:25"),
    ("unspecified", "0.0.0.0:25"),
    ("IPv6 loopback", "[::1]:25"),
    ("IPv6 unique-local", "[fd12:3456::1]:25"),
    ("IPv6 link-local", "[fe80::1]:25"),
    ("IPv4-mapped loopback", "[::ffff:127.0.0.1]:25"),
    ("IPv4-mapped private", "[::ffff:10.0.0.1]:25"),
    ("decimal IPv4", "2130706433:25"),
    ("hex IPv4", "0x7f000001:25"),
    ("octal-ish IPv4", "0177.0.0.1:25"),
    ("a port outside the allowed list", "93.184.216.34:8025"),
]


@pytest.mark.parametrize(("case", "host"), HOSTILE, ids=[c for c, _ in HOSTILE])
def test_hostile_destinations_are_403_policy_before_any_packet(
    guarded: tuple[FlaskClient, str], redis_server: RedisServer, case: str, host: str
) -> None:
    app, key = guarded
    before = redis_server.client().zcard("mailprobe:tenant:t-guard:jobs")
    response = app.post(
        "/email/smtp/_test", json=probe_body(host), headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 403, response.get_data(as_text=True)
    body = response.get_json()
    assert body["code"] == 7
    assert body["details"][0]["metadata"] == {"category": "policy"}
    assert redis_server.client().zcard("mailprobe:tenant:t-guard:jobs") == before


@pytest.mark.parametrize(
    "endpoint", ["https://169.254.169.254/token", "https://[64:ff9b::a9fe:a9fe]/token"]
)
def test_a_hostile_token_endpoint_is_403_policy(
    guarded: tuple[FlaskClient, str], endpoint: str
) -> None:
    app, key = guarded
    auth = {"tokenEndpoint": endpoint, "clientCredentials": {"clientId": "c", "clientSecret": "x"}}
    test = probe_body("smtp.example.com:587", xoauth2=auth)  # the host does not resolve here
    provider = {k: v for k, v in test.items() if k != "receiverAddress"}
    for path, body in (("/email/smtp/_test", test), ("/email/smtp", provider)):
        response = app.post(path, json=body, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 403, response.get_data(as_text=True)
        assert response.get_json()["details"][0]["metadata"] == {"category": "policy"}


def test_a_name_resolving_to_a_private_address_is_refused_with_no_connection(
    guarded: tuple[FlaskClient, str], listener: RawServer
) -> None:
    # "localhost" resolves to 127.0.0.1, where the listener waits: it must see nothing.
    app, key = guarded
    port = listener.address.rsplit(":", 1)[1]
    for host in (f"localhost:{port}", listener.address):
        response = app.post(
            "/email/smtp/_test", json=probe_body(host), headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code == 403
    assert listener.connections == 0


def test_the_worker_checks_every_resolved_address_too(client: ApiClient) -> None:
    """A name that resolves to one allowed and one refused address is refused as a whole
    (the worker's own check, which a DNS answer changed after the API's check meets)."""
    from mailprobe.destination import DestinationPolicy, ResolvedAddress
    from mailprobe.errors import DestinationRefused
    from mailprobe.settings import parse_ports

    policy = DestinationPolicy((), parse_ports(["25"]))
    public = ResolvedAddress(socket.AF_INET, ("93.184.216.34", 25))
    private = ResolvedAddress(socket.AF_INET, ("10.0.0.5", 25))
    policy.check_all([public])
    with pytest.raises(DestinationRefused):
        policy.check_all([public, private])


def test_with_the_allow_list_loopback_works(client: ApiClient) -> None:
    server = start_smtp_server()  # the session's service allows 127.0.0.0/8
    try:
        assert client.run(probe_body(server.address))["status"] == "succeeded"
    finally:
        server.stop()


def test_rate_limit_answers_429_with_retry_after(guarded: tuple[FlaskClient, str]) -> None:
    app, _ = guarded
    # A tenant of its own, so earlier requests of this module do not count.
    redis_client = app.application.extensions["mailprobe"].redis
    fresh = secret(ApiKeyStore(redis_client).create("t-rate", ["smtp.test"]))
    headers = {"Authorization": f"Bearer {fresh}"}
    body = probe_body("smtp.example.com:25")  # does not resolve here: let through to a job
    answers = [app.post("/email/smtp/_test", json=body, headers=headers) for _ in range(5)]
    assert [a.status_code for a in answers[:3]] == [202, 202, 202]  # the burst
    limited = answers[3]
    assert limited.status_code == 429
    assert limited.get_json()["code"] == 8
    assert 1 <= int(limited.headers["Retry-After"]) <= 2
    # Refused means not stored: the burst's three jobs are all the tenant has.
    assert redis_client.zcard(rediskeys.tenant_jobs("t-rate")) == 3


@pytest.fixture(scope="module")
def capped(
    service_env: dict[str, str],
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    redis = dataclasses.replace(redis_server, db=5)
    redis.client().flushdb()
    env = {
        **service_env,
        "MAILPROBE_REDIS_URL": redis.url,
        "MAILPROBE_PORT": str(free_port()),
        "MAILPROBE_DESTINATION_CONCURRENCY": "2",
    }
    with running_service(env, redis, tmp_path_factory.mktemp("capped")) as running:
        yield running
    redis.client().flushdb()


def test_sessions_per_destination_are_capped_and_the_rest_wait(capped: Service) -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def slow_but_fine(conn: socket.socket) -> None:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        try:
            time.sleep(0.5)
            conn.sendall(b"220 slow.test ESMTP\r\n")
            reader = conn.makefile("rb")
            for raw in reader:
                verb = raw[:4].upper()
                if verb == b"DATA":
                    conn.sendall(b"354 go\r\n")
                    for data in reader:
                        if data.rstrip(b"\r\n") == b".":
                            break
                    conn.sendall(b"250 ok\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")
        finally:
            with lock:
                state["now"] -= 1

    server = RawServer(slow_but_fine)
    try:
        client = capped.client(capped.key(tenant="t-capped"))
        ids = [client.submit(probe_body(server.address)).json()["id"] for _ in range(10)]
        for job_id in ids:
            job = client.ended(job_id)
            assert job["status"] == "succeeded", job
            assert len(job["attempts"]) == 1  # waiting for a slot used no attempt
    finally:
        server.stop()
    assert state["peak"] == 2
    assert server.connections == 10


def test_deeply_nested_json_is_a_clean_400(client: ApiClient) -> None:
    nested = "[" * 5000 + "]" * 5000
    response = client.post(
        "/email/smtp/_test", data=nested, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["code"] == 3


def test_credentials_a_server_echoes_back_are_redacted(
    client: ApiClient, service: Service, tmp_path: Path
) -> None:
    password = secret("echoed-back-pw-Q7")

    def echo(conn: socket.socket) -> None:
        conn.sendall(b"220 echo.test ESMTP\r\n")
        reader = conn.makefile("rb")
        for raw in reader:
            line = raw.rstrip(b"\r\n")
            if line.upper().startswith(b"EHLO"):
                conn.sendall(b"250-echo.test\r\n250 AUTH PLAIN LOGIN\r\n")
            elif line.upper().startswith(b"AUTH"):
                token = line.split(b" ")[-1]
                decoded = base64.b64decode(token).replace(b"\0", b" ")
                conn.sendall(b"535 5.7.8 bad credentials: " + token + b" (" + decoded + b")\r\n")
                return

    server = RawServer(echo)
    try:
        job = client.run(probe_body(server.address, user="mallory", password=password))
    finally:
        server.stop()
    text = str(job)
    assert job["result"]["error"]["smtpCode"] == 535
    assert password not in text
    assert "<redacted>" in job["result"]["error"]["message"]


def test_the_api_queues_in_the_redis_its_settings_name(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    """create_app(settings) stores the job and queues its task in the same Redis: the one the
    settings name, whatever this process's environment says."""
    other = start_redis(tmp_path)
    try:
        settings = Settings(
            redis_url=other.url,
            encryption_keys=[SecretStr(service_env["MAILPROBE_ENCRYPTION_KEYS"])],
            allowed_networks=["127.0.0.0/8"],
            allowed_ports=["1-65535"],
        )
        key = secret(ApiKeyStore(other.client()).create("t-two-redis", ["smtp.test"]))
        app = create_app(settings).test_client()
        answer = app.post(
            "/email/smtp/_test",
            json=probe_body("127.0.0.1:9"),
            headers={"Authorization": f"Bearer {key}"},
        )
        assert answer.status_code == 202
        assert other.client().llen(rediskeys.SMTP_QUEUE) == 1  # no worker consumes there
    finally:
        other.process.terminate()
        other.process.wait(timeout=10)
