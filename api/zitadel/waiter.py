"""Waiting on many jobs' ends from one asyncio process, on one Redis connection.

Each job's end is an entry in its done stream (JobStore.finish), written for the jobs these
calls submit because they are submitted awaited (api.zitadel.methods). One loop reads the
done streams of every job some call waits for with a single blocking XREAD, so a thousand
waiting calls hold neither a thread nor a connection each. A call that starts waiting joins
the next read (at most POLL_MS later); a job that ended in between is found by that read at
once, since its entry stays in the stream (mailprobe.jobs.DONE_KEPT).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import redis.asyncio

from mailprobe import rediskeys

POLL_MS = 100


class JobEndWaiter:
    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.redis = client
        self._waiting: dict[str, list[asyncio.Future[None]]] = {}
        self._someone = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    async def wait(self, job_id: str, timeout: float) -> bool:
        """True when the job ended within `timeout` seconds."""
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.create_task(self._read_ends())
        ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        waiters = self._waiting.setdefault(job_id, [])
        waiters.append(ended)
        self._someone.set()
        try:
            await asyncio.wait_for(ended, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            if ended in waiters:
                waiters.remove(ended)
            if not waiters and self._waiting.get(job_id) is waiters:
                del self._waiting[job_id]

    async def close(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop_task

    async def _read_ends(self) -> None:
        while True:
            if not self._waiting:
                self._someone.clear()
                await self._someone.wait()
                continue
            streams: dict[Any, Any] = {
                rediskeys.job_done(job_id): "0-0" for job_id in self._waiting
            }
            try:
                found: Any = await self.redis.xread(streams, count=1, block=POLL_MS)
            except redis.RedisError:
                await asyncio.sleep(POLL_MS / 1000)  # Redis restarting: read again shortly
                continue
            for stream, _entries in found or []:  # [(stream, entries), ...]
                job_id = rediskeys.job_id_of_done(str(stream))
                for ended in self._waiting.pop(job_id, []):
                    if not ended.done():
                        ended.set_result(None)
