"""GroupedRedis (mailprobe.redisgroup) against a real Redis: commands sent at once by many
threads share round trips, and each caller gets its own reply or its own error."""

from __future__ import annotations

import multiprocessing
import threading
from typing import Any

import pytest
import redis

from mailprobe.redisgroup import GroupedRedis
from tests.support import RedisServer, wait_for

CALLERS = 100
COMMANDS_EACH = 5


def test_concurrent_commands_share_round_trips_and_keep_their_own_replies(
    redis_server: RedisServer,
) -> None:
    plain = redis_server.client()
    grouped = GroupedRedis(plain)
    plain.set("group:string", "not a hash")
    start = threading.Barrier(CALLERS)
    results: dict[int, list[object]] = {}

    def caller(n: int) -> None:
        start.wait()
        replies: list[object] = [grouped.incr(f"group:{n}") for _ in range(COMMANDS_EACH - 1)]
        try:
            grouped.hincrby("group:string", "field", 1)  # wrong type: this caller's error
        except redis.ResponseError as exc:
            replies.append(type(exc))
        results[n] = replies

    reads_before = int(plain.info("stats")["total_reads_processed"])
    threads = [threading.Thread(target=caller, args=(n,)) for n in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    reads = int(plain.info("stats")["total_reads_processed"]) - reads_before

    assert results == {n: [1, 2, 3, 4, redis.ResponseError] for n in range(CALLERS)}
    assert [grouped.get(f"group:{n}") for n in (0, CALLERS - 1)] == ["4", "4"]
    # Redis reads about once a round trip (and once for INFO): far fewer than one a command.
    assert reads < CALLERS * COMMANDS_EACH / 2, reads


def test_a_failed_round_trip_fails_each_of_its_callers_and_the_next_one_goes(
    redis_server: RedisServer,
) -> None:
    unreachable = redis.Redis(port=1, socket_connect_timeout=0.2)
    grouped = GroupedRedis(unreachable)
    for _ in range(2):  # the second call goes too: no caller is left waiting for a sender
        with pytest.raises(redis.ConnectionError):
            grouped.ping()


def _ping_in_child(grouped: GroupedRedis, answers: Any) -> None:
    answers.put(grouped.ping())


def test_a_forked_process_does_not_wait_for_its_parents_round_trip(
    redis_server: RedisServer,
) -> None:
    """A prefork pool process forked while its parent's thread waits for Redis: it sends its
    own commands (the parent's thread, and its round trip, are not in the child)."""
    grouped = GroupedRedis(redis_server.client())
    blocking = threading.Thread(target=grouped.blpop, args=(["group:never"], 3))
    blocking.start()
    wait_for(lambda: grouped._sending, 5, "the parent's round trip under way")
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    child = context.Process(target=_ping_in_child, args=(grouped, answers), daemon=True)
    child.start()
    try:
        assert answers.get(timeout=2) is True
    finally:
        if child.is_alive():
            child.kill()
        child.join(5)
        blocking.join(5)
