"""kombu's Redis transport (and its Sentinel form), with one Redis client per channel
instead of one per command.

kombu builds a new `redis.Redis` for every acknowledgement, every unacked-index write and
every publish (`Channel._create_client`), and redis-py's constructor copies its table of
response callbacks each time: in a profile of a gevent worker that was 12% of its CPU. A
client only borrows connections from the channel's pool, so one per channel serves all.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

from kombu.transport import redis as kombu_redis

from mailprobe.redisconn import PrimaryConnection


class Channel(kombu_redis.Channel):
    @cached_property
    def _sync_client(self) -> Any:
        return super()._create_client()  # type: ignore[no-untyped-call]

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)  # type: ignore[no-untyped-call]
        return self._sync_client


class Transport(kombu_redis.Transport):
    Channel = Channel


class SentinelChannel(Channel, kombu_redis.SentinelChannel):
    """The same channel on kombu's Sentinel pool: its connections ask the Sentinels where
    the primary is, and ask again after a failover (mailprobe.redisconn.celery_broker)."""

    connection_class = PrimaryConnection


class SentinelTransport(Transport, kombu_redis.SentinelTransport):
    Channel = SentinelChannel
