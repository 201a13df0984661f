"""No secret in clear anywhere: Redis (every key, the queue included), jobs, logs.

Named to run last, so that the scan covers what every earlier test wrote.
"""

from __future__ import annotations

import base64
import socket

import redis

from tests.conftest import LOGS, SECRETS_USED, ApiClient, Service, probe_body, secret
from tests.smtp_servers import RawServer
from tests.support import wait_for


def _redis_dump(client: redis.Redis) -> str:
    """Every value of every key, whatever its type, as one text."""
    parts: list[str] = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        parts.append(key)
        if kind == "string":
            parts.append(str(client.get(key)))
        elif kind == "hash":
            parts.append(str(client.hgetall(key)))
        elif kind == "list":
            parts.append(str(client.lrange(key, 0, -1)))
        elif kind == "set":
            parts.append(str(client.smembers(key)))
        elif kind == "zset":
            parts.append(str(client.zrange(key, 0, -1, withscores=True)))
        elif kind == "stream":
            parts.append(str(client.xrange(key)))
    return "\n".join(parts)


def _forms(value: str) -> list[str]:
    return [value, base64.b64encode(value.encode()).decode()]


def test_a_password_in_flight_is_stored_only_encrypted(service: Service, client: ApiClient) -> None:
    password = secret("in-flight-password-Zq8")
    held: list[socket.socket] = []
    server = RawServer(held.append)  # accepts and says nothing: the job stays in flight
    try:
        job = client.submit(probe_body(server.address, user="u", password=password)).json()
        wait_for(lambda: server.connections >= 1, 10, "the worker to connect")
        in_flight = _redis_dump(service.redis.client())
        assert job["id"] in in_flight
        assert "v1.test1." in in_flight  # the encrypted password is there...
        for form in _forms(password):
            assert form not in in_flight  # ...and never the password
        ended = client.get(f"/email/smtp/_test/{job['id']}", headers={"Prefer": "wait=30"}).json()
        assert ended["status"] == "failed"
        # Once the job has ended, not even the ciphertext is kept.
        assert client.get(f"/email/smtp/_test/{job['id']}").json()["status"] == "failed"
        assert service.redis.client().hget(f"mailprobe:job:{job['id']}", "secret") is None
    finally:
        server.stop()


def test_no_secret_the_suite_used_appears_in_redis_or_the_logs(service: Service) -> None:
    dump = _redis_dump(service.redis.client())
    logs = "\n".join(path.read_text(errors="replace") for path in [*service.logs, *LOGS])
    assert SECRETS_USED, "the suite registered the secrets it used"
    for value in SECRETS_USED:
        for form in _forms(value):
            assert form not in dump, "a secret is stored in clear in Redis"
            assert form not in logs, "a secret appears in a log"
