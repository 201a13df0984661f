"""Which workers are alive: each beats into a sorted set; three missed beats and it is gone.

/readyz counts the living, and a job's lease held by a dead worker can be taken over at once
instead of waiting for it to expire.
"""

from __future__ import annotations

import time

import redis

from mailprobe import rediskeys

HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 3 * HEARTBEAT_SECONDS


def beat(client: redis.Redis, worker: str) -> None:
    client.zadd(rediskeys.WORKERS, {worker: time.time()})


def forget(client: redis.Redis, worker: str) -> None:
    client.zrem(rediskeys.WORKERS, worker)


def alive_count(client: redis.Redis) -> int:
    return int(client.zcount(rediskeys.WORKERS, time.time() - STALE_SECONDS, "+inf"))


def is_alive(client: redis.Redis, worker: str) -> bool:
    last = client.zscore(rediskeys.WORKERS, worker)
    return last is not None and float(last) > time.time() - STALE_SECONDS
