"""The Redis client every process shares: one connection pool per process."""

from __future__ import annotations

from functools import lru_cache

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

# Longer than the longest long poll (Settings.max_wait is at most 300 s).
READ_TIMEOUT = 330.0
# How long a worker's command waits for a free connection of its pool, in seconds.
WORKER_POOL_WAIT = 30.0


@lru_cache(maxsize=8)
def get_redis(url: str, *, worker: bool = False) -> redis.Redis:
    """The process's client for url.

    A worker retries a failed command for about 30 s with backoff, so a Redis restart does
    not lose the state of the jobs it is running; the API fails at once instead, and answers
    503 so the client can retry.
    """
    retry = Retry(ExponentialBackoff(cap=2.0, base=0.05), 25 if worker else 1)
    # Long polls block on XREAD for up to MAX_WAIT seconds, so the read timeout must be
    # longer; connecting is bounded tightly, so an unreachable Redis fails fast (503).
    options = dict(
        decode_responses=True,
        socket_connect_timeout=2.0,
        socket_timeout=READ_TIMEOUT,
        health_check_interval=30,
        max_connections=1000,
        retry=retry,
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )
    if not worker:
        return redis.Redis.from_url(url, **options)
    # A worker of thousands of sessions may have more commands in flight at one moment than
    # the pool has connections: those wait for one (this long at most) instead of failing.
    pool = redis.BlockingConnectionPool.from_url(url, timeout=WORKER_POOL_WAIT, **options)
    client = redis.Redis(connection_pool=pool)
    client.auto_close_connection_pool = True
    return client
