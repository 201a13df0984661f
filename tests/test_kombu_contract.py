"""mailprobe/broker.py overrides kombu internals: these tests fail when kombu changes them.

The override keeps one Redis client per channel for synchronous commands, and captures the
commands that publish a message (the API's submission runs them in its own script). The first
is safe while kombu builds each such client from the channel's one connection pool, hands it
out for a command at a time (conn_or_acquire), and closes only the clients it caches itself.
The kombu code that argument (and the capture) rests on is recorded here by a hash of its
source, as it was in the release the override was checked against; pyproject.toml bounds
kombu to that release's series.
"""

from __future__ import annotations

import hashlib
import inspect

import kombu
from kombu.connection import Connection
from kombu.transport import redis as kombu_redis

from mailprobe.broker import captured_publishes
from tests.support import RedisServer

CHECKED_WITH = "5.7.0"

# What of kombu.transport.redis.Channel mailprobe/broker.py relies on, and the SHA-256 (first 16
# hex digits) of its source in kombu CHECKED_WITH.
RELIED_ON = {
    # Overridden: one client per call, on the channel's pool (or its async pool).
    "_create_client": "dae92bc4075dafb9",
    # Where kombu takes a synchronous client for one command (acks, unacked index, publish).
    "conn_or_acquire": "25883caca6c4121e",
    # The one pool per channel that the kept client borrows connections from.
    "pool": "5a99b1533403c64d",
    # Drops that pool (after a fork, on close): the kept client would go on using the old one.
    "_disconnect_pools": "db50da048a22b16d",
    # Closes the clients kombu caches itself ('client', 'subclient'), not the kept one.
    "_close_clients": "0e15da1c9ab78cfc",
    # The asynchronous client (BRPOP, publish), which the override leaves to kombu.
    "client": "7a86dff4bd9c8b6f",
    # Captured publishes (PublishCapture): the publish batch the channel hands a producer's
    # batch(), whether it may, how a message reaches _put with the batch, and the commands
    # _put gives the batch (LPUSH onto the queue, PEXPIRE for a queue with an expiry).
    "create_publish_batch": "18b62ab1b769f0a2",
    "supports_batch_publish": "89404a560930f186",
    "basic_publish": "83825b6758712705",
    "_put": "1c0cf9749576614c",
}


def source_digest(name: str) -> str:
    member = inspect.getattr_static(kombu_redis.Channel, name)
    function = getattr(member, "fget", None) or getattr(member, "func", None) or member
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:16]


def test_the_kombu_code_the_broker_relies_on_is_what_it_was_checked_against() -> None:
    changed = [name for name, digest in RELIED_ON.items() if source_digest(name) != digest]
    assert not changed, (
        f"kombu {kombu.__version__}'s Channel.{', Channel.'.join(changed)} differ from "
        f"{CHECKED_WITH}'s, the release mailprobe/broker.py was checked against. Re-check that one "
        "synchronous client per channel is still safe (every synchronous client comes from "
        "the channel's one pool; kombu closes only its own clients), measure with "
        "`python -m tests.bench.cpu` that it still pays, then record the new digests and "
        "CHECKED_WITH here and the tested series in pyproject.toml's kombu bound."
    )


def test_a_channel_keeps_one_synchronous_client_on_its_pool(redis_server: RedisServer) -> None:
    # A database of its own: the session's worker uses database 0.
    url = f"redis://127.0.0.1:{redis_server.port}/15"
    broker = Connection(url, transport="mailprobe.broker:Transport")  # type: ignore[no-untyped-call]
    with broker as connection:
        channel = connection.default_channel
        client = channel._create_client()
        assert channel._create_client() is client
        assert client.connection_pool is channel.pool
        asynchronous = channel._create_client(asynchronous=True)
        assert asynchronous is not client
        assert asynchronous.connection_pool is channel.async_pool
        # Messages go through it: published, read, and acknowledged (out of kombu's unacked
        # index, which the kept client writes).
        queue = connection.SimpleQueue("mailprobe.kombu-contract")
        queue.put({"n": 1})
        message = queue.get(timeout=5)
        assert message.payload == {"n": 1}
        assert client.hlen(channel.unacked_key) == 1
        message.ack()
        assert client.hlen(channel.unacked_key) == 0
        queue.close()
        client.flushdb()


def test_a_captured_publish_sends_nothing_and_its_commands_deliver_the_message(
    redis_server: RedisServer,
) -> None:
    url = f"redis://127.0.0.1:{redis_server.port}/15"
    broker = Connection(url, transport="mailprobe.broker:Transport")  # type: ignore[no-untyped-call]
    with broker as connection:
        queue = connection.SimpleQueue("mailprobe.kombu-capture")
        client = connection.default_channel._create_client()
        producer = queue.producer
        with captured_publishes(producer) as capture:
            producer.publish({"n": 2}, routing_key="mailprobe.kombu-capture")
        assert client.llen("mailprobe.kombu-capture") == 0  # captured, not sent
        assert [name for name, _ in capture.commands] == ["lpush"]
        assert connection.default_channel.capture is None  # the next publish is sent
        for name, args in capture.commands:
            client.execute_command(name, *args)
        message = queue.get(timeout=5)
        assert message.payload == {"n": 2}
        message.ack()
        queue.close()
        client.flushdb()
