"""Writes that must survive the loss of the Redis primary: acknowledged by replicas (WAIT).

Replication is asynchronous, so a write the primary has answered can die with it. WAIT
blocks until the replicas have the replication stream up to the last write of the connection
it is sent on. The stream is one ordered log for every connection, so a small write (the
fence) and WAIT on one connection cover every write any connection made before: the job, its
task in the queue, the idempotency claim, each from its own pooled connection.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis

from mailprobe import rediskeys
from mailprobe.errors import NotReplicated
from mailprobe.settings import Settings

log = logging.getLogger("mailprobe.durability")

FENCE_TTL_MS = 60_000
# How long bookkeeping that must not be left half-done (undoing a job not accepted, recording
# what an Idempotency-Key made) is tried again: longer than a failover takes (the Sentinels'
# down-after-milliseconds and an election: seconds).
FAILOVER_SECONDS = 15.0

T = TypeVar("T")


# Its commands go to a pipeline, or straight to the client when there is no WAIT to send with them.
Write = Callable[[redis.Redis], object]


def _fence(pipe: redis.Redis) -> None:
    pipe.set(rediskeys.FENCE, "1", px=FENCE_TTL_MS)


def replicated(client: redis.Redis, settings: Settings, write: Write = _fence) -> None:
    """`write`, then return once MAILPROBE_REDIS_MIN_REPLICAS replicas have it and every write
    made before it (at once when that is 0). Raises NotReplicated after
    MAILPROBE_REDIS_WAIT_TIMEOUT ms. Without `write`, a fence: what was written so far."""
    wanted = settings.redis_min_replicas
    if wanted <= 0:
        # Nothing to wait for: the write as the client's own commands. A worker's client
        # (mailprobe/redisgroup.py) sends them with every other session's in one round trip;
        # a pipeline of its own would take a pooled connection each, and 10,000 sessions
        # accepted at once opened thousands of new connections, holding the event loop
        # 100+ ms at a time.
        if write is not _fence:
            write(client)
        return
    pipe = client.pipeline(transaction=False)
    write(pipe)
    pipe.wait(wanted, settings.redis_wait_timeout)
    answers = pipe.execute()
    if int(answers[-1]) < wanted:
        raise NotReplicated(int(answers[-1]), wanted)


def write_durably(client: redis.Redis, settings: Settings, write: Write, seconds: float) -> bool:
    """`write` made durable: written and waited for again until replicas acknowledge it, for
    up to `seconds` — across a failover too, which can lose a write the old primary had
    not passed on (so `write` must be idempotent). False when it never was acknowledged."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            replicated(client, settings, write)
            return True
        except (NotReplicated, redis.ConnectionError, redis.TimeoutError) as exc:
            if time.monotonic() >= deadline:
                log.warning("a write was not acknowledged by replicas: %s", exc)
                return False
        time.sleep(0.2)


def across_failover(action: Callable[[], T], seconds: float = FAILOVER_SECONDS) -> T:
    """`action()`, tried again while Redis cannot be reached, for up to `seconds`: a write
    that finishes what a request began (so it must be idempotent), which a failover in the
    middle of the request must not leave half-done."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return action()
        except (redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError):
            if time.monotonic() >= deadline:
                raise
        time.sleep(0.2)
