"""A chunk of a batch's tests in one task: their sessions at once, their Redis work together.

`POST /email/smtp/_tests` queues one task per MAILPROBE_BATCH_CHUNK_SIZE tests
(api/operations.py) instead of one per test, so Celery's and kombu's work per message
(receive, trace, acknowledge: about a millisecond of CPU here) is paid once per chunk. A
chunk is the first attempt of each of its jobs, run as worker/tasks.py runs one job's task
and with the same guarantees:

- Each job is leased and fenced by its attempt number and its accepted and committing marks,
  as by a task of its own: a chunk delivered again (its worker died, it waited past the
  visibility timeout) runs only what is still due, and never sends again a message whose
  end of DATA went to the server.
- The chunk takes all its jobs' leases in one round trip as it starts, so when its worker
  dies every one of them is sent again within seconds (worker/maintenance.py), and begins
  their attempts (destination slots, jobs saved) in one more.
- What comes after a job's first attempt — a retry after its backoff, a turn waited for a
  destination slot, a lease held by another worker — is a task of that job's own.
- Chunks' sessions are at most MAILPROBE_WORKER_CONCURRENCY at once in a process (its
  single tasks are counted by Celery's pool, as before). A chunk runs as many of its tests
  as there is room for, and hands the others back to the queue as a chunk of their own,
  for any worker with room: a worker never sits on tests it is not running. (Held, they
  would be neither leased — sent again within seconds if the worker dies — nor in the
  queue, but back only after the broker's visibility timeout.)
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from celery import Task

from mailprobe.queues import RUN_SMTP_TESTS, SMTP_QUEUE
from worker.app import celery_app
from worker.runtime import Runtime, runtime
from worker.tasks import (
    Again,
    Due,
    busy_elsewhere,
    due_attempt,
    enqueue,
    run_due,
    wait_turn,
)

log = logging.getLogger("mailprobe.worker")

# Each of a chunk's sessions has the hard limit a single task has (Celery's task_time_limit);
# the chunk's, as long as a session's and its own waits and round trips.
CHUNK_TIME_LIMIT_MARGIN = 60


class Room:
    """Sessions a process may still start for chunks: a chunk takes what it can, each
    session gives its own back as it ends."""

    def __init__(self, size: int) -> None:
        self.free = size
        self._changed = threading.Condition()

    def take(self, wanted: int, wait: float) -> int:
        """Room for up to `wanted` sessions, waiting up to `wait` seconds for some; how many."""
        with self._changed:
            self._changed.wait_for(lambda: self.free > 0, wait)
            taken = min(wanted, self.free)
            self.free -= taken
        return taken

    def give(self, count: int = 1) -> None:
        if count:
            with self._changed:
                self.free += count
                self._changed.notify_all()


# How long a chunk waits for room before it hands its tests back to the queue.
ROOM_WAIT_SECONDS = 1.0


@lru_cache(maxsize=1)
def room() -> Room:
    return Room(runtime().settings.worker_concurrency)


def run_chunk(rt: Runtime, job_ids: list[str], worker: str) -> tuple[dict[str, Again], list[str]]:
    """Run the first attempt of each job still due, at once, as many as there is room
    for; what each of the others needs next (a task of its own) by job id, and the jobs
    there was no room for."""
    again: dict[str, Again] = {}
    space = room()
    taken = space.take(len(job_ids), ROOM_WAIT_SECONDS)
    job_ids, later = job_ids[:taken], job_ids[taken:]
    if not job_ids:
        return again, later
    started = rt.jobs.start_many(job_ids, rt.settings.lease_seconds, worker)
    # The holds this function gives back; each running session gives back its own.
    held = [hold for hold, _ in filter(None, started)]
    try:
        dues: list[Due] = []
        for job_id, lease in zip(job_ids, started, strict=True):
            if lease is None:
                again[job_id] = busy_elsewhere(rt, job_id, 1)
                continue
            due = due_attempt(rt, *lease, 1)
            if isinstance(due, Due):
                dues.append(due)
            elif due is not None:
                again[job_id] = due
        began = rt.jobs.begin_attempts(
            [(due.stored.job, due.hold, due.host) for due in dues],
            rt.settings.destination_concurrency,
            rt.settings.lease_seconds,
        )
        running = [due for due, ok in zip(dues, began, strict=True) if ok]
        for due, ok in zip(dues, began, strict=True):
            if not ok:
                again[due.hold.job_id] = wait_turn(due)
        handed = {id(due.hold) for due in running}
        held = [hold for hold in held if id(hold) not in handed]
        space.give(taken - len(running))
        taken = 0
        outcomes = _together([_session(rt, due, space) for due in running])
        again.update(
            (due.hold.job_id, outcome)
            for due, outcome in zip(running, outcomes, strict=True)
            if outcome is not None
        )
    finally:
        space.give(taken)
        rt.jobs.release_many(held)
    return again, later


def _session(rt: Runtime, due: Due, space: Room) -> Callable[[], Again | None]:
    def run() -> Again | None:
        try:
            return run_due(rt, due)
        except BaseException:
            # run_due ended the job if it could; a task of its own would end here too.
            log.exception("job %s: its attempt raised", due.hold.job_id)
            return None
        finally:
            try:
                rt.jobs.release(due.hold)
            finally:
                space.give()

    return run


def _together(calls: list[Callable[[], Again | None]]) -> list[Again | None]:
    """Each call at once, their results in order: greenlets in a gevent worker (each with
    the hard time limit a task has), threads in any other."""
    from gevent import monkey

    if monkey.is_module_patched("socket"):
        import gevent

        limit = celery_app.conf.task_time_limit

        def limited(call: Callable[[], Again | None]) -> Again | None:
            with gevent.Timeout(limit):
                return call()

        greenlets = [gevent.spawn(limited, call) for call in calls]
        gevent.joinall(greenlets)
        return [greenlet.value for greenlet in greenlets]
    results: list[Again | None] = [None] * len(calls)

    def into(index: int, call: Callable[[], Again | None]) -> None:
        results[index] = call()

    threads = [threading.Thread(target=into, args=item) for item in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@celery_app.task(
    bind=True,
    name=RUN_SMTP_TESTS,
    acks_late=True,
    reject_on_worker_lost=True,
    time_limit=celery_app.conf.task_time_limit + CHUNK_TIME_LIMIT_MARGIN,
)
def run_smtp_tests(self: Task, job_ids: list[str]) -> None:
    again, later = run_chunk(runtime(), job_ids, str(self.request.hostname))
    if again or later:
        # Published before this task is acknowledged, as run_smtp_test does its own.
        with celery_app.producer_or_acquire() as producer:
            for job_id, next_run in again.items():
                enqueue(job_id, next_run.attempt, countdown=next_run.delay, producer=producer)
            if later:
                enqueue_chunk(later, producer=producer)


def enqueue_chunk(job_ids: list[str], producer: Any = None) -> None:
    """Send a chunk's task (the API sends it by name, the same way)."""
    celery_app.send_task(RUN_SMTP_TESTS, args=[job_ids], queue=SMTP_QUEUE, producer=producer)
