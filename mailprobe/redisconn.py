"""The Redis client every process shares: one connection pool per process."""

from __future__ import annotations

from functools import lru_cache

import redis

# Longer than the longest long poll (Settings.max_wait is at most 300 s).
READ_TIMEOUT = 330.0


@lru_cache(maxsize=8)
def get_redis(url: str) -> redis.Redis:
    # Long polls block on XREAD for up to MAX_WAIT seconds, so the read timeout must be
    # longer; connecting is bounded tightly, so an unreachable Redis fails fast (503).
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2.0,
        socket_timeout=READ_TIMEOUT,
        health_check_interval=30,
        max_connections=1000,
    )
