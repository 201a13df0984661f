"""A submission is one Redis round trip, and a key revoked since the API last read it is
refused by it, with nothing written."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient
from pydantic import SecretStr

from api.app import create_app
from mailprobe import rediskeys
from mailprobe.apikeys import PERMISSIONS, ApiKeyStore
from mailprobe.settings import Settings
from tests.conftest import Service, probe_body, secret
from tests.support import RedisServer, start_redis, wait_for


class Monitor:
    """Redis's MONITOR: every command the server runs, as it runs it, with its client."""

    def __init__(self, server: RedisServer) -> None:
        self.lines: list[str] = []
        self._client = redis.Redis(port=server.port)
        self._monitor = self._client.monitor()  # type: ignore[no-untyped-call]
        self._connection = self._monitor.__enter__()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for command in self._connection.listen():
                self.lines.append(f"[{command['client_address']}] {command['command']}")
        except (redis.ConnectionError, ValueError):
            pass  # closed

    def requests_between(self, marker: str, run: Any) -> list[str]:
        """The commands clients sent (not those scripts ran) while `run()` ran: its requests
        to Redis. ECHO `marker` before and after brackets them in the stream."""
        pinger = redis.Redis(port=self._client.connection_pool.connection_kwargs["port"])
        pinger.echo(f"{marker}-start")
        run()
        pinger.echo(f"{marker}-end")
        wait_for(lambda: any(f"{marker}-end" in line for line in self.lines), 5, "the marker")
        start = next(i for i, line in enumerate(self.lines) if f"{marker}-start" in line)
        end = next(i for i, line in enumerate(self.lines) if f"{marker}-end" in line)
        return [line for line in self.lines[start + 1 : end] if not line.startswith("[lua]")]

    def close(self) -> None:
        self._monitor.__exit__(None, None, None)
        self._client.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A Redis of the test's own: nothing but the app under test talks to it."""
    server = start_redis(tmp_path)
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)


def _app(server: RedisServer, service_env: dict[str, str]) -> tuple[FlaskClient, str]:
    settings = Settings(
        redis_url=server.url,
        encryption_keys=[SecretStr(service_env["MAILPROBE_ENCRYPTION_KEYS"])],
        allowed_networks=["127.0.0.0/8"],
        allowed_ports=["1-65535"],
        sender_domain_check=False,
    )
    key = secret(ApiKeyStore(server.client()).create("t-trips", list(PERMISSIONS)))
    return create_app(settings).test_client(), key


def test_a_submission_is_one_redis_round_trip(
    own_redis: RedisServer, service_env: dict[str, str]
) -> None:
    app, key = _app(own_redis, service_env)
    auth = {"Authorization": f"Bearer {key}"}
    body = probe_body("127.0.0.1:9")
    # The first submission reads the key (and loads the script); the process keeps both.
    assert app.post("/email/smtp/_test", json=body, headers=auth).status_code == 202
    monitor = Monitor(own_redis)
    try:
        answers: list[Any] = []

        def submit(headers: dict[str, str]) -> None:
            answers.append(app.post("/email/smtp/_test", json=body, headers=headers))

        plain = monitor.requests_between("plain", lambda: submit(auth))
        idempotency = {**auth, "Idempotency-Key": str(uuid.uuid4())}
        claimed = monitor.requests_between("claimed", lambda: submit(idempotency))
    finally:
        monitor.close()
    assert [answer.status_code for answer in answers] == [202, 202]
    # One request each: the script that checks the key, applies the rate limit, stores the
    # job, claims the Idempotency-Key and pushes the task's message.
    assert len(plain) == 1 and "EVALSHA" in plain[0], plain
    assert len(claimed) == 1 and "EVALSHA" in claimed[0], claimed
    client = own_redis.client()
    assert client.llen(rediskeys.SMTP_QUEUE) == 3  # each job's task, queued by the script
    assert client.zcard(rediskeys.tenant_jobs("t-trips")) == 3
    # The message is Celery's own: the worker's task name and the job's id in its headers.
    message = client.lindex(rediskeys.SMTP_QUEUE, 0) or ""
    assert '"task": "mailprobe.run_smtp_test"' in message
    assert answers[1].get_json()["id"] in message


def test_a_key_revoked_after_the_api_read_it_submits_nothing(service: Service) -> None:
    key = service.key(tenant="t-revoked")
    client = service.client(key)
    body = probe_body("127.0.0.1:9")
    first = client.post("/email/smtp/_test", json=body)  # the API process now knows the key
    assert first.status_code == 202
    redis_client = service.redis.client()
    jobs_before = redis_client.zcard(rediskeys.tenant_jobs("t-revoked"))
    assert ApiKeyStore(redis_client).revoke(key)

    again = client.post("/email/smtp/_test", json=body)
    assert again.status_code == 401
    assert again.json()["message"] == "the API key is unknown or revoked"
    # An invalid request with the revoked key is refused for the key, as before it was known.
    invalid = client.post("/email/smtp/_test", json={**body, "host": ""})
    assert invalid.status_code == 401
    keyed = client.post(
        "/email/smtp/_test", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    assert keyed.status_code == 401
    assert redis_client.zcard(rediskeys.tenant_jobs("t-revoked")) == jobs_before
    assert not redis_client.keys(rediskeys.idempotency("t-revoked", "*"))
