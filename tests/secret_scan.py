"""The suite's last word: no secret it used appears in clear in Redis or in any log.

A session fixture, torn down after every test and every service (whatever order the tests
ran in, and whichever were selected) but before the session's Redis stops.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator

import pytest
import redis

from mailprobe import rediskeys
from mailprobe.jobdoc import unpack_doc
from tests.support import LOGS, SECRETS_USED, RedisServer

_JOB = re.compile(re.escape(rediskeys.job("")) + "[0-9A-Z]{26}")


def redis_dump(client: redis.Redis) -> str:
    """Every value of every key, whatever its type, as one text; a job's document as its JSON
    (it is stored deflated: mailprobe.jobdoc)."""
    parts: list[str] = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        parts.append(key)
        if kind == "string":
            parts.append(str(client.get(key)))
        elif kind == "hash" and _JOB.fullmatch(key):
            fields = client.execute_command("HGETALL", key, NEVER_DECODE=True)  # type: ignore[no-untyped-call]
            for name, value in fields.items():
                text = unpack_doc(value) if name == b"doc" else value.decode(errors="replace")
                parts.append(f"{name.decode()}: {text}")
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


def forms(value: str) -> list[str]:
    """A secret as it could leak: as is, and base64-encoded (AUTH PLAIN sends it so)."""
    return [value, base64.b64encode(value.encode()).decode()]


def leaks(dump: str, logs: str) -> list[str]:
    found = []
    for value in sorted(SECRETS_USED):
        for form in forms(value):
            if form in dump:
                found.append(f"a secret ({len(value)} characters) is stored in clear in Redis")
            if form in logs:
                found.append(f"a secret ({len(value)} characters) appears in a log")
    return found


@pytest.fixture(scope="session", autouse=True)
def no_secret_leaks(redis_server: RedisServer) -> Iterator[None]:
    yield
    dump = redis_dump(redis_server.client())
    logs = "\n".join(path.read_text(errors="replace") for path in LOGS if path.exists())
    found = leaks(dump, logs)
    assert not found, "; ".join(dict.fromkeys(found))
