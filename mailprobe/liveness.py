"""Which workers are alive, and how soon a dead one is known.

Each worker process holds a Redis connection of its own, its presence connection, subscribed
to its channel (rediskeys.worker_presence). When the process dies, even by SIGKILL, its
kernel closes that connection and Redis drops the subscription at once: PUBSUB NUMSUB says
0. Beside it, the worker beats every HEARTBEAT_SECONDS into a sorted set, and records the
run_id of the Redis server its presence connection is subscribed on.

A worker is dead when

- it has not beaten for STALE_SECONDS: its host is gone or cut off, and its connection may
  linger in Redis until TCP gives up on it; or
- it has no subscriber on its channel, it subscribed on the very server answering now (the
  run_id it recorded is this server's), and it has not beaten for GRACE_SECONDS: its
  process has ended.

The run_id condition matters: a Redis restart or failover drops every connection, of living
workers too, and gives the server a new run_id, so until a worker has subscribed again on the
new server only the slow rule applies to it. The grace (two beats) covers a presence
connection that broke while its worker lives: the worker subscribes again at its next beat.
So a killed worker is known dead within about a second, a stalled or busy one that keeps its
connection is never taken for dead before STALE_SECONDS, and a job whose lease a dead worker
held is taken over at once (mailprobe.jobs, worker/maintenance.py).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from mailprobe import rediskeys

HEARTBEAT_SECONDS = 0.5
GRACE_SECONDS = 2 * HEARTBEAT_SECONDS
STALE_SECONDS = 15.0

_RUN_ID = re.compile(r"^run_id:(\w+)", re.MULTILINE)


class Presence:
    """A worker's presence connection: it lives exactly as long as the worker's process.

    A connection of its own (a pooled one may be lent to anyone), in RESP2 (where a
    subscribed connection's replies are plain arrays) and without redis-py's health check
    (its PING expects a reply that a subscribed connection does not give): keep() pings it
    instead, and connects and subscribes again when it broke.
    """

    def __init__(self, connect: Callable[..., redis.Redis], worker: str) -> None:
        # connect(**options): a client of its own on the primary as it is now
        # (mailprobe.redisconn.connect_once), so that after a failover it is the new one.
        self._connect = connect
        self._channel = rediskeys.worker_presence(worker)
        self._client: redis.Redis | None = None
        self.server = ""  # the run_id of the server the subscription is on

    def keep(self) -> str:
        """Make sure the subscription stands; the run_id of its server.

        Raises redis.ConnectionError (or TimeoutError) while Redis cannot be reached.
        """
        if self._client is not None:
            try:
                self._round_trip("PING")
                return self.server
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                self._client.close()
                self._client = None
        self._client = self._connect(
            protocol=2,
            single_connection_client=True,
            health_check_interval=0,
            socket_connect_timeout=2.0,
            socket_timeout=10.0,
            decode_responses=True,
        )
        found = _RUN_ID.search(str(self._round_trip("INFO", "server")))
        self._round_trip("SUBSCRIBE", self._channel)
        self.server = found.group(1) if found else ""
        return self.server

    def _round_trip(self, *command: str) -> object:
        """One command on the connection, its reply unparsed (redis-py's parsers for PING
        and SUBSCRIBE expect a connection that is not subscribed)."""
        assert self._client is not None and self._client.connection is not None
        connection = self._client.connection
        connection.send_command(*command)  # type: ignore[no-untyped-call]
        return connection.read_response()


def beat(client: redis.Redis, worker: str, server: str) -> None:
    """The worker is alive now, subscribed on the server whose run_id is `server`."""
    pipe = client.pipeline(transaction=False)
    pipe.zadd(rediskeys.WORKERS, {worker: time.time()})
    pipe.hset(rediskeys.WORKER_SERVERS, worker, server)
    pipe.execute()


def forget(client: redis.Redis, worker: str) -> None:
    pipe = client.pipeline(transaction=False)
    pipe.zrem(rediskeys.WORKERS, worker)
    pipe.hdel(rediskeys.WORKER_SERVERS, worker)
    pipe.execute()


@dataclass(frozen=True)
class Signs:
    """What Redis knows of one worker, and of itself."""

    last_beat: float | None  # unix seconds
    server: str | None  # the run_id the worker recorded
    subscribed: bool  # its presence connection is there
    current_server: str  # this server's run_id


def is_dead(signs: Signs, now: float) -> bool:
    """The rule of the module's docstring."""
    if signs.last_beat is None:
        return True
    age = now - signs.last_beat
    if age > STALE_SECONDS:
        return True
    ended = not signs.subscribed and signs.server == signs.current_server
    return ended and age > GRACE_SECONDS


def is_alive(client: redis.Redis, worker: str) -> bool:
    pipe = client.pipeline(transaction=False)
    pipe.zscore(rediskeys.WORKERS, worker)
    pipe.hget(rediskeys.WORKER_SERVERS, worker)
    pipe.pubsub_numsub(rediskeys.worker_presence(worker))
    pipe.info("server")
    last, server, subscribers, info = pipe.execute()
    signs = Signs(
        float(last) if last is not None else None,
        server,
        bool(subscribers[0][1]),
        str(info.get("run_id", "")),
    )
    return not is_dead(signs, time.time())


def dead_and_alive(client: redis.Redis) -> tuple[list[str], list[str]]:
    """The workers that have beaten, dead and alive, in two round trips."""
    pipe = client.pipeline(transaction=False)
    pipe.zrange(rediskeys.WORKERS, 0, -1, withscores=True)
    pipe.hgetall(rediskeys.WORKER_SERVERS)
    pipe.info("server")
    beats, servers, info = pipe.execute()
    if not beats:
        return [], []
    names = [str(name) for name, _ in beats]
    subscribers = dict(client.pubsub_numsub(*(rediskeys.worker_presence(n) for n in names)))
    current, now = str(info.get("run_id", "")), time.time()
    dead: list[str] = []
    alive: list[str] = []
    for name, last in beats:
        signs = Signs(
            float(last),
            servers.get(name),
            bool(subscribers.get(rediskeys.worker_presence(name))),
            current,
        )
        (dead if is_dead(signs, now) else alive).append(str(name))
    return dead, alive


def alive_count(client: redis.Redis) -> int:
    return len(dead_and_alive(client)[1])
