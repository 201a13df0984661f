"""Every Redis client mailprobe makes, from MAILPROBE_REDIS_URL: one connection pool per process.

The URL names one server (redis://, rediss://, unix://) or Sentinels
(sentinel://host:port[,host:port...]/db), which say where the primary of
MAILPROBE_REDIS_SENTINEL_MASTER is now. A client on Sentinels asks them again whenever its
connection breaks or the server it reached answers READONLY (a primary demoted in a failover),
so every use — stores, long polls, rate limits, destination slots, metrics, the Celery broker —
follows the primary without a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import redis
import redis.sentinel
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from mailprobe.sentinelurl import SentinelUrl, parse_sentinel_url

if TYPE_CHECKING:
    import redis.asyncio

    from mailprobe.settings import Settings

# Longer than the longest long poll (Settings.max_wait is at most 300 s).
READ_TIMEOUT = 330.0
# How long a worker's command waits for a free connection of its pool, in seconds.
WORKER_POOL_WAIT = 30.0
# Connecting is bounded tightly, so an unreachable Redis fails fast (503).
CONNECT_TIMEOUT = 2.0
# A Sentinel answers at once or is treated as down (the next one is asked).
SENTINEL_TIMEOUT = 1.0


class PrimaryConnection(redis.sentinel.SentinelManagedConnection):
    """redis-py's connection to the primary the Sentinels name, asking them on every connect.

    redis-py (6.4 to 8.1) reconnects a dropped connection before sending a command through
    connect_check_health, which its Sentinel connection does not override: it retried the
    old primary's address with the client's whole backoff (about 40 s for a worker) after
    the failover had ended, and jobs held past their lease were sent again.
    """

    def connect_check_health(
        self, check_health: bool = True, retry_socket_connect: bool = True
    ) -> None:
        # connect_to() (redis-py's own connect) has just asked the Sentinels and passes False.
        if self._sock is None and retry_socket_connect and self.connection_pool.is_master:
            self.host, self.port = self.connection_pool.get_master_address()
            retry_socket_connect = False  # the command's own retries ask the Sentinels again
        super().connect_check_health(
            check_health=check_health, retry_socket_connect=retry_socket_connect
        )


@dataclass(frozen=True)
class _Target:
    """What a client is built from: hashable, so that one pool per process is kept for it
    (Settings holds lists, so it is not)."""

    url: str
    master: str | None
    sentinel_password: str | None

    @property
    def sentinel(self) -> SentinelUrl | None:
        return parse_sentinel_url(self.url) if self.url.startswith("sentinel://") else None

    def sentinels(self, factory: Any = redis.sentinel.Sentinel) -> Any:
        """The Sentinels (redis-py's Sentinel, or its asyncio one), with what every
        connection to the primary they name needs: database and Redis's own credentials."""
        found = self.sentinel
        assert found is not None and self.master is not None
        return factory(
            list(found.sentinels),
            sentinel_kwargs={
                "password": self.sentinel_password,
                "socket_connect_timeout": SENTINEL_TIMEOUT,
                "socket_timeout": SENTINEL_TIMEOUT,
            },
            db=found.db,
            username=found.username,
            password=found.password,
        )


def _target(settings: Settings) -> _Target:
    password = settings.redis_sentinel_password
    return _Target(
        settings.redis_url,
        settings.redis_sentinel_master,
        password.get_secret_value() if password is not None else None,
    )


def get_redis(settings: Settings | str, *, worker: bool = False) -> redis.Redis:
    """The process's client for the settings' Redis (its primary, with Sentinels), or for
    the one server a redis:// URL names.

    A worker retries a failed command for about 30 s with backoff, so a Redis restart or a
    failover does not lose the state of the jobs it is running; the API fails at once
    instead, and answers 503 so the client can retry.
    """
    target = _Target(settings, None, None) if isinstance(settings, str) else _target(settings)
    return _pooled(target, worker)


@lru_cache(maxsize=8)
def _pooled(target: _Target, worker: bool) -> redis.Redis:
    retry = Retry(ExponentialBackoff(cap=2.0, base=0.05), 25 if worker else 1)
    # Long polls block on XREAD for up to MAX_WAIT seconds, so the read timeout must be longer.
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "socket_timeout": READ_TIMEOUT,
        "health_check_interval": 30,
        "max_connections": 1000,
        "retry": retry,
        "retry_on_error": [redis.ConnectionError, redis.TimeoutError],
    }
    if target.sentinel is not None:
        client: redis.Redis = target.sentinels().master_for(
            target.master, connection_class=PrimaryConnection, **options
        )
        return client
    if not worker:
        return redis.Redis.from_url(target.url, **options)
    # A worker of thousands of sessions may have more commands in flight at one moment than
    # the pool has connections: those wait for one (this long at most) instead of failing.
    pool = redis.BlockingConnectionPool.from_url(target.url, timeout=WORKER_POOL_WAIT, **options)
    client = redis.Redis(connection_pool=pool)
    client.auto_close_connection_pool = True
    return client


def connect_once(settings: Settings, **options: Any) -> redis.Redis:
    """A client of its own on the primary as it is now, not from the shared pool (for a
    connection that must be this process's alone, like a worker's presence connection);
    build another when it breaks."""
    target = _target(settings)
    if target.sentinel is None:
        return redis.Redis.from_url(target.url, **options)
    found = target.sentinel
    assert found is not None
    host, port = target.sentinels().discover_master(target.master)  # asked again at each call
    return redis.Redis(
        host, port, db=found.db, username=found.username, password=found.password, **options
    )


def get_async_redis(settings: Settings) -> redis.asyncio.Redis:
    """An asyncio client on the primary (the gRPC server's waiter); no read timeout: its
    XREAD blocks for a bounded time itself."""
    # Imported here: imported with this module, before gunicorn's gevent workers patch the
    # standard library, redis.asyncio would keep an unpatched ssl.
    import redis.asyncio
    import redis.asyncio.sentinel

    target = _target(settings)
    options: dict[str, Any] = {"decode_responses": True, "socket_connect_timeout": CONNECT_TIMEOUT}
    if target.sentinel is None:
        return redis.asyncio.Redis.from_url(target.url, **options)
    client: redis.asyncio.Redis = target.sentinels(redis.asyncio.sentinel.Sentinel).master_for(
        target.master, **options
    )
    return client


def celery_broker(settings: Settings) -> tuple[str, str, dict[str, Any]]:
    """The Celery broker for the settings: its URL, its kombu transport (mailprobe/broker.py)
    and the transport options Sentinels need (kombu's own sentinel form of the URL,
    sentinel://h1:p1;sentinel://h2:p2/db, and the primary's name)."""
    target = _target(settings)
    found = target.sentinel
    if found is None:
        return settings.redis_url, "mailprobe.broker:Transport", {}
    credentials = ""
    if found.username or found.password:
        user, password = quote(found.username or "", safe=""), quote(found.password or "", safe="")
        credentials = f"{user}:{password}@"
    url = ";".join(
        f"sentinel://{credentials}{_bracketed(host)}:{port}/{found.db}"
        for host, port in found.sentinels
    )
    options: dict[str, Any] = {
        "master_name": target.master,
        "sentinel_kwargs": {
            "password": target.sentinel_password,
            "socket_connect_timeout": SENTINEL_TIMEOUT,
            "socket_timeout": SENTINEL_TIMEOUT,
        },
    }
    return url, "mailprobe.broker:SentinelTransport", options


def _bracketed(host: str) -> str:
    return f"[{host}]" if ":" in host else host
