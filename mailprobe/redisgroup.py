"""A Redis client whose commands, sent at once by many greenlets (or threads), share round trips.

A worker runs hundreds of sessions at once, and each one's writes — its accepted mark, its
job's end — were a round trip of their own: in a profile of a worker running a batch, a
third of its CPU. Here a command that comes while another round trip is under way waits for
it and then goes with every other one that came meanwhile, in one pipeline ("group
commit"). Each caller still gets its own reply, or its own error, only once Redis has
answered it: what it may do next (send QUIT after the accepted mark, say) is as safe as
before, and it waits at most one round trip longer than it would alone.

Pipelines (`pipeline()`) are sent as they are, apart from the grouping.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import redis


class _Call:
    __slots__ = ("args", "done", "options", "reply", "turn")

    def __init__(self, args: tuple[Any, ...], options: dict[str, Any]) -> None:
        self.args = args
        self.options = options
        self.reply: Any = None
        self.done = False
        self.turn = threading.Event()  # set when answered, or when it is this call's turn to send


class GroupedRedis(redis.Redis):
    """redis.Redis over the same connection pool, its commands grouped (see above)."""

    def __init__(self, client: redis.Redis) -> None:
        super().__init__(connection_pool=client.connection_pool)
        self._start()

    def _start(self) -> None:
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._waiting: list[_Call] = []
        self._sending = False

    def execute_command(self, *args: Any, **options: Any) -> Any:
        if self._pid != os.getpid():
            # A forked pool process: what its parent's threads held or waited for is not its.
            self._start()
        call = _Call(args, options)
        with self._lock:
            self._waiting.append(call)
            send = not self._sending
            self._sending = True
        if not send:
            call.turn.wait()
        if not call.done:  # nothing under way, or the round trip before ended: send
            self._send_waiting()
        if isinstance(call.reply, Exception):
            raise call.reply
        return call.reply

    def _send_waiting(self) -> None:
        with self._lock:
            calls, self._waiting = self._waiting, []
        replies: list[Any] | None = None
        try:
            with self.pipeline(transaction=False) as pipe:
                for call in calls:
                    pipe.execute_command(*call.args, **call.options)  # type: ignore[no-untyped-call]
                replies = pipe.execute(raise_on_error=False)
        except Exception as exc:  # the round trip failed: each call fails with it
            replies = [exc] * len(calls)
        finally:
            # Even when this greenlet is killed mid-round trip, no caller waits for ever.
            if replies is None:
                replies = [redis.ConnectionError("the round trip was interrupted")] * len(calls)
            for call, reply in zip(calls, replies, strict=True):
                call.reply, call.done = reply, True
            with self._lock:
                if self._waiting:
                    self._waiting[0].turn.set()  # the first that came meanwhile sends the next
                else:
                    self._sending = False
            for call in calls:
                call.turn.set()
