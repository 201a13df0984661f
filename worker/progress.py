"""A worker's side of live progress (mailprobe.progress): which jobs clients watch, and the
hook that writes an attempt's phases once its job is watched.

Plain Python and redis: no Celery.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import redis

from mailprobe import rediskeys
from mailprobe.models.reports import PhaseReport
from mailprobe.progress import ProgressStore

log = logging.getLogger("mailprobe.worker")


class Watchers:
    """The ids of jobs whose watch began lately, as this process heard them on
    rediskeys.WATCH_CHANNEL: a lookup here costs no round trip.

    An id is kept `keep_seconds` (longer than an attempt can last): a later attempt reads the
    job's own mark instead. The listening thread is started in each process that asks (a
    forked pool process does not inherit its parent's thread).
    """

    def __init__(self, client: redis.Redis, keep_seconds: float) -> None:
        self.client = client
        self.keep_seconds = keep_seconds
        self._until: dict[str, float] = {}
        self._pid = 0
        self._lock = threading.Lock()

    def listen(self) -> None:
        """Start listening in this process, if not yet."""
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._until.clear()
        threading.Thread(target=self._listen, name="watchers", daemon=True).start()

    def __contains__(self, job_id: str) -> bool:
        until = self._until.get(job_id)
        return until is not None and until > time.monotonic()

    def _heard(self, job_id: str) -> None:
        now = time.monotonic()
        for expired in [k for k, until in self._until.items() if until <= now]:
            del self._until[expired]
        self._until[job_id] = now + self.keep_seconds

    def _listen(self) -> None:
        while True:
            try:
                pubsub = self.client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                pubsub.subscribe(rediskeys.WATCH_CHANNEL)
                while True:
                    # A bounded wait, so that the connection's health check runs when idle.
                    message = pubsub.get_message(timeout=30.0)
                    if message is not None and message["type"] == "message":
                        self._heard(str(message["data"]))
            except redis.RedisError as exc:  # Redis restarting: listen again once it is back
                log.warning("watch channel: %s; listening again", type(exc).__name__)
                time.sleep(1)


class PhaseFeed:
    """The `on_phase` hook of one attempt: once the job is watched, writes the attempt's
    phases not written yet (the earlier ones at once, then each as it ends)."""

    def __init__(
        self,
        progress: ProgressStore,
        watchers: Watchers,
        job_id: str,
        attempt: int,
        *,
        watched: bool,
    ) -> None:
        self.progress = progress
        self.watchers = watchers
        self.job_id = job_id
        self.attempt = attempt
        self.watched = watched
        self.phases: list[PhaseReport] = []
        self.written = 0

    def __call__(self, phase: PhaseReport) -> None:
        self.phases.append(phase)
        if not (self.watched or self.job_id in self.watchers):
            return
        self.watched = True
        try:
            self.progress.append(self.job_id, self.attempt, self.phases[self.written :])
            self.written = len(self.phases)
        except redis.RedisError as exc:
            # Progress is for show: the session goes on, and the job's end carries every phase.
            log.warning("job %s: progress not written: %s", self.job_id, type(exc).__name__)
