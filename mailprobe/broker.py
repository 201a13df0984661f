"""kombu's Redis transport (and its Sentinel form), with one Redis client per channel
instead of one per command, and publishes that can be captured instead of sent.

kombu builds a new `redis.Redis` for every acknowledgement, every unacked-index write and
every publish (`Channel._create_client`), and redis-py's constructor copies its table of
response callbacks each time: in a profile of a gevent worker that was 12% of its CPU. A
client only borrows connections from the channel's pool, so one per channel serves all.

The API stores a job and queues its task in one Redis round trip (mailprobe.submission): the
task's message is still built by Celery and kombu, which hand the Redis commands that would
publish it to a publish batch (kombu's `Producer.batch()`); a channel with a PublishCapture
gives them to the capture instead, and the submission's script runs them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property
from typing import Any

from kombu.messaging import Producer
from kombu.transport import redis as kombu_redis

from mailprobe.redisconn import PrimaryConnection

# What kombu's Redis transport publishes with (Channel._put): the message onto its queue's
# list, and an expiry for a queue declared with one (mailprobe's queues have none).
PUBLISH_COMMANDS = frozenset({"lpush", "pexpire"})


class PublishCapture:
    """A publish batch (the session kombu.messaging.Producer.batch() asks the channel for)
    that keeps the Redis commands publishing each message instead of running them."""

    def __init__(self, channel: Channel) -> None:
        self.channel = channel
        self.commands: list[tuple[str, tuple[Any, ...]]] = []

    def publish(self, message: Any, **kwargs: Any) -> Any:
        return self.channel.basic_publish(message, _publish_batch=self, **kwargs)  # type: ignore[no-untyped-call]

    def add(self, name: str, *args: Any) -> None:
        if name not in PUBLISH_COMMANDS:
            raise RuntimeError(f"kombu published with {name}, which a capture does not run")
        self.commands.append((name, args))

    def flush(self) -> None:
        """Nothing to send: the commands are run by whoever took the capture."""

    def discard(self) -> None:
        self.commands.clear()

    def close(self) -> None:
        pass


class Channel(kombu_redis.Channel):
    capture: PublishCapture | None = None

    @cached_property
    def _sync_client(self) -> Any:
        return super()._create_client()  # type: ignore[no-untyped-call]

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)  # type: ignore[no-untyped-call]
        return self._sync_client

    @property
    def supports_batch_publish(self) -> bool:
        # A capture runs nothing, so kombu's reasons not to batch (retried pipelines) do not
        # apply; without it, a batch would publish at once, outside the submission's script.
        return self.capture is not None or bool(super().supports_batch_publish)

    def create_publish_batch(self, max_size: int) -> Any:
        if self.capture is not None:
            return self.capture
        return super().create_publish_batch(max_size)  # type: ignore[no-untyped-call]


class Transport(kombu_redis.Transport):
    Channel = Channel


class SentinelChannel(Channel, kombu_redis.SentinelChannel):
    """The same channel on kombu's Sentinel pool: its connections ask the Sentinels where
    the primary is, and ask again after a failover (mailprobe.redisconn.celery_broker)."""

    connection_class = PrimaryConnection


class SentinelTransport(Transport, kombu_redis.SentinelTransport):
    Channel = SentinelChannel


@contextmanager
def captured_publishes(producer: Producer) -> Iterator[PublishCapture]:
    """Within the block, what `producer` publishes (e.g. Celery's send_task with
    producer=producer) is captured, not sent: the capture's commands say how to send it."""
    channel = producer.channel
    if not isinstance(channel, Channel):
        raise RuntimeError("publishes are captured only on mailprobe.broker's transport")
    capture = channel.capture = PublishCapture(channel)
    try:
        with producer.batch():  # type: ignore[no-untyped-call]
            yield capture
    finally:
        channel.capture = None
