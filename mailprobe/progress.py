"""Live progress of a job for the clients that follow it (GET /email/smtp/_test/{id}/events).

A job nobody follows costs no Redis round trip for it: a worker writes a job's phases only
once it knows that a client watches, and it learns that from reads and messages it has anyway.

- A client that starts to watch marks the job's hash (`watched`) and publishes the job id on
  rediskeys.WATCH_CHANNEL, in one script (`ProgressStore.watch`).
- The reads that start a task (JobStore.start) and an attempt (JobStore.begin_attempt) carry
  the mark: a job watched before its attempt begins is streamed from its first phase.
- Every worker process listens on the channel (worker/progress.py) and keeps the ids in
  memory: a client that arrives while an attempt runs gets that attempt's earlier phases at
  once, then each next one.

Phases are entries of the job's events stream; their stream ids are the SSE event ids, so a
client resumes with Last-Event-ID. The job's end is the entry of its done stream, written by
JobStore.finish after the last phase (watching marks the job awaited, so its end writes the
stream; a job watched after its end has the stream written by watch()): a reader that sees
it has every phase already.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import redis

from mailprobe import rediskeys
from mailprobe.jobs import AWAIT_END_BODY, DONE_KEPT, WRITE_DONE
from mailprobe.models.reports import PhaseReport

# A job has at most a few phases per attempt and 20 attempts: the bound only guards Redis.
MAX_EVENTS = 1000
_STREAM_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")


def is_event_id(text: str) -> bool:
    """True for an id of the events stream (what Last-Event-ID may carry)."""
    return bool(_STREAM_ID.fullmatch(text))


class PhaseEvent(PhaseReport):
    """A phase as it ended, with the attempt it belongs to (the `data` of a `phase` event)."""

    attempt: int


@dataclass(frozen=True)
class Event:
    id: str  # the entry's id in the events stream
    data: str  # a PhaseEvent as JSON


# Mark the job watched (and awaited: its end writes its done stream) and tell the workers,
# unless it has expired meanwhile (a hash with only the mark would never expire) or has
# ended (then its done stream is written now, for the reader).
# KEYS: job, unfinished jobs, done stream; ARGV: channel, job id, seconds the done stream
# is kept
_WATCH = (
    WRITE_DONE
    + AWAIT_END_BODY
    + """
if await_end(KEYS[1], KEYS[2], KEYS[3], ARGV[2], ARGV[3]) ~= 1 then return 0 end
redis.call('HSET', KEYS[1], 'watched', '1')
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
"""
)


class ProgressStore:
    def __init__(self, client: redis.Redis, ttl: int) -> None:
        self.redis = client
        self.ttl = ttl

    def watch(self, job_id: str) -> None:
        """From now on, the workers write the job's phases and its end its done stream; a
        job that has ended has its done stream written now (one round trip)."""
        self.redis.eval(
            _WATCH,
            3,
            rediskeys.job(job_id),
            rediskeys.UNFINISHED_JOBS,
            rediskeys.job_done(job_id),
            rediskeys.WATCH_CHANNEL,
            job_id,
            DONE_KEPT,
        )

    def append(self, job_id: str, attempt: int, phases: list[PhaseReport]) -> None:
        """Add phases of an attempt to the job's events, in one round trip."""
        key = rediskeys.job_events(job_id)
        pipe = self.redis.pipeline(transaction=False)
        for phase in phases:
            event = PhaseEvent(attempt=attempt, **phase.model_dump())
            pipe.xadd(key, {"data": event.model_dump_json()}, maxlen=MAX_EVENTS, approximate=True)
        pipe.expire(key, self.ttl)
        pipe.execute()

    def read(self, job_id: str, after: str, block_seconds: float) -> tuple[list[Event], bool]:
        """The events after the id `after` ("0-0": all) and whether the job has ended;
        waits up to `block_seconds` while there is neither."""
        events_key, done_key = rediskeys.job_events(job_id), rediskeys.job_done(job_id)
        found: list[Any] = self.redis.xread(  # type: ignore[assignment]
            {events_key: after, done_key: "0-0"}, block=max(int(block_seconds * 1000), 1)
        )
        events: list[Event] = []
        ended = False
        for stream, entries in found or []:
            if stream == done_key:
                ended = True
            else:
                events = [Event(entry_id, fields["data"]) for entry_id, fields in entries]
        return events, ended
