"""The SMTP test task: a job's lifecycle, in one place.

    queued ──▶ running ──▶ succeeded
                  │  ▲
                  ▼  │ (transient failure, attempts left: Celery retries after a backoff)
               retrying
                  │
                  └──────▶ failed (permanent failure, or no attempts left)

What makes it safe to deliver a task twice, or to lose a worker at any moment:

- Every state change is written to the JobStore before the next step, and the task is
  acknowledged only after it ran (late acknowledgement): a dead worker's task is delivered
  again and finds the job where it was left.
- Each task names the attempt it is for. One for an attempt that already ran is stale and
  dropped, so a task Celery redelivers while its first copy waits to retry runs nothing twice.
- An attempt holds a lease on its job: two workers never run the same job at once. A lease
  whose worker died is taken over at once (mailprobe.liveness), and the job sent again
  without waiting for its task to come back (worker/maintenance.py).
- When the server accepts the message (250 after DATA), that is recorded at once: a task
  that finds it recorded ends the job as succeeded and never sends the message again.
- Before the "." that ends DATA goes, the attempt records that it goes (mark_committing): a
  task that finds an interrupted attempt marked so, with no acceptance recorded, cannot know
  whether the server took the message, and ends the job as failed rather than risk a second
  copy (at most once). An attempt that ended with an error (a timeout waiting for the final
  reply, say) is tried again as before: only a dead worker's attempt is in doubt.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import Task

from mailprobe.errors import DecryptionError
from mailprobe.jobs import Hold, StoredJob
from mailprobe.logs import get_logger
from mailprobe.models.base import utcnow
from mailprobe.models.fields import split_host_port
from mailprobe.models.jobs import Attempt, AttemptOutcome, Job, JobStatus
from mailprobe.models.reports import PhaseReport, ProbeError, Report
from mailprobe.queues import RUN_SMTP_TEST, SMTP_QUEUE
from mailprobe.settings import Settings
from worker.app import celery_app
from worker.probe import probe_smtp
from worker.progress import PhaseFeed
from worker.retests import record, retest_runtime
from worker.runtime import Runtime, runtime
from worker.webhooks import dispatch

log = logging.getLogger("mailprobe.worker")
job_log = get_logger("mailprobe.jobs")


def backoff(attempt: int, settings: Settings) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random.

    Celery's own helper works in whole seconds and its full jitter may wait 0 s; here the
    wait always grows and never bunches retries of one burst together.
    """
    ceiling = min(settings.retry_max_delay, settings.retry_base_delay * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class Again:
    """Run the task again after `delay` seconds, for `attempt`."""

    delay: float
    attempt: int


def next_attempt(job: Job) -> int:
    """The number the job's next attempt will have (an interrupted one counts as tried)."""
    return len(job.attempts) + 1


@dataclass
class Due:
    """An attempt that is due to run: its job leased, the attempt appended to this task's
    copy of the job (saved once JobStore.begin_attempt takes a destination slot)."""

    stored: StoredJob
    hold: Hold
    attempt: Attempt
    limit: int
    host: str  # the destination host, whose session slots the attempt takes one of


def run_attempt(rt: Runtime, job_id: str, attempt: int, worker: str) -> Again | None:
    """Run attempt number `attempt` of the job, if it is still due; what to do next.

    `worker` is this worker's name, as it beats (mailprobe.liveness).
    """
    started = rt.jobs.start(job_id, rt.settings.lease_seconds, worker)
    if started is None:
        return busy_elsewhere(rt, job_id, attempt)
    hold, stored = started
    try:
        due = due_attempt(rt, hold, stored, attempt)
        if not isinstance(due, Due):
            return due
        began = rt.jobs.begin_attempt(
            due.stored.job,
            hold,
            due.host,
            rt.settings.destination_concurrency,
            rt.settings.lease_seconds,
        )
        return run_due(rt, due) if began else wait_turn(due)
    finally:
        rt.jobs.release(hold)


def busy_elsewhere(rt: Runtime, job_id: str, attempt: int) -> Again:
    """Another worker is running this job right now: look again once its lease ends."""
    return Again(rt.jobs.lease_ttl(job_id), attempt)


def wait_turn(due: Due) -> Again:
    """The host has its share of sessions: wait a turn, without using an attempt (this
    task's copy of the job, with the attempt appended, is not saved)."""
    return Again(random.uniform(0.5, 1.5), due.attempt.number)


def due_attempt(
    rt: Runtime, hold: Hold, stored: StoredJob | None, attempt: int
) -> Due | Again | None:
    """The attempt to run now, under `hold`, for a task of attempt number `attempt`; or
    nothing to run (the job ended, or the task is stale)."""
    if stored is None:
        log.warning("job %s: not found (expired or never stored); dropping the task", hold.job_id)
        return None
    job = stored.job
    if job.finished:
        # A task delivered again after its job ended: only its webhooks (and, for a
        # re-test, its history entry) may be owed.
        if stored.notify:
            _notify(job.id, stored.tenant, None)
        _record_retest(job, stored.tenant)
        return None
    limit = job.attempt_limit(rt.settings.max_attempts)
    interrupted = bool(job.attempts) and job.attempts[-1].outcome == "running"
    if interrupted:
        # The worker of that attempt died (its lease expired): it counts as tried.
        _close(job.attempts[-1], "failed", _interruption(job.attempts[-1]), limit)
        if stored.accepted is not None:
            _end_accepted(rt, stored, hold, stored.accepted)
            return None
        if stored.committing == job.attempts[-1].number:
            _end_in_doubt(rt, stored, hold, limit)
            return None
    number = next_attempt(job)
    if attempt != number and not (interrupted and attempt == number - 1):
        log.info("job %s: dropping a stale task for attempt %d", job.id, attempt)
        return None
    if number > limit:
        _end(rt, stored, hold, "failed")
        return None
    now = utcnow()
    new = Attempt(number=number, started_at=now)
    job.status = "running"
    job.started_at = job.started_at or now
    job.attempts.append(new)
    host = split_host_port(str(job.request["host"]))[0]
    return Due(stored, hold, new, limit, host)


def run_due(rt: Runtime, due: Due) -> Again | None:
    """Run the attempt, begun (its destination slot taken, the job saved), and end it."""
    stored, hold, attempt, limit = due.stored, due.hold, due.attempt, due.limit
    job = stored.job
    number = attempt.number
    try:
        request = stored.request_with_secrets(rt.box)
    except DecryptionError:
        log.error("job %s: its secrets do not decrypt with the configured keys", job.id)
        message = "the stored password cannot be decrypted with the configured keys"
        error = ProbeError(category="internal", phase="auth", message=message)
        _close(attempt, "failed", error, limit)
        _end(rt, stored, hold, "failed")
        return None

    rt.watchers.listen()
    feed = PhaseFeed(
        rt.progress, rt.watchers, job.id, number, watched=stored.watched or hold.watched
    )
    try:
        report = probe_smtp(
            request,
            rt.options,
            reference=job.id,
            on_accepted=lambda partial: rt.jobs.mark_accepted(job.id, partial, rt.settings),
            on_committing=lambda: rt.jobs.mark_committing(job.id, number),
            on_phase=feed,
        )
    except BaseException:
        # A bug or the hard time limit: the job must still end, not stay "running".
        log.exception("job %s: the probe raised", job.id)
        error = ProbeError(category="internal", phase="resolve", message="internal error")
        _close(attempt, "failed", error, limit)
        _end(rt, stored, hold, "failed", feed.phases)
        raise

    job.result = report
    if report.ok:
        _close(attempt, "succeeded", None, limit)
        _end(rt, stored, hold, "succeeded", report.phases)
        return None
    assert report.error is not None
    if _close(attempt, "retrying", report.error, limit):
        job.status = "retrying"
        rt.jobs.save(job, report.phases)
        delay = backoff(number, rt.settings)
        log.info(
            "job %s: attempt %d failed (%s in %s), retrying in %.1fs",
            job.id,
            number,
            report.error.category,
            report.error.phase,
            delay,
        )
        return Again(delay, number + 1)
    _end(rt, stored, hold, "failed", report.phases)
    return None


def _close(attempt: Attempt, outcome: AttemptOutcome, error: ProbeError | None, limit: int) -> bool:
    """End `attempt`; True when the job tries again. The error says which attempt of how
    many it ended, and its `retryable` whether another comes: false in every job's final
    report. An attempt that would be "retrying" with no attempt left is "failed"."""
    again = error.conclude(attempt.number, limit) if error is not None else False
    if outcome == "retrying" and not again:
        outcome = "failed"
    attempt.finished_at = utcnow()
    attempt.outcome = outcome
    attempt.error = error
    return again


def _interruption(attempt: Attempt) -> ProbeError:
    return ProbeError(
        category="internal",
        phase=attempt.error.phase if attempt.error else "resolve",
        message="the worker running this attempt stopped before it ended",
        retryable=True,
        transient=True,
    )


def _end_accepted(rt: Runtime, stored: StoredJob, hold: Hold, accepted: Report) -> None:
    """The server took the message before the worker died: the job succeeded, as is."""
    accepted.transcript.append(
        "…: the worker stopped after the server accepted the message; it was not sent again"
    )
    job = stored.job
    job.result = accepted
    job.attempts[-1].outcome = "succeeded"
    job.attempts[-1].error = None
    _end(rt, stored, hold, "succeeded", accepted.phases)


def _end_in_doubt(rt: Runtime, stored: StoredJob, hold: Hold, limit: int) -> None:
    """The worker died after handing the server the message's end and before its reply was
    recorded: the server may have taken it, so it is not sent again (at most once)."""
    error = ProbeError(
        category="internal",
        phase="data",
        message=(
            "the worker stopped after handing the message's end to the server and before its "
            "reply was recorded; not sent again, so the receiver gets no copy twice — the "
            "server may have accepted it"
        ),
        retryable=False,
        transient=False,
    )
    _close(stored.job.attempts[-1], "failed", error, limit)
    _end(rt, stored, hold, "failed")


def _end(
    rt: Runtime,
    stored: StoredJob,
    hold: Hold,
    status: JobStatus,
    phases: list[PhaseReport] | None = None,
) -> None:
    """End the job; `phases` are those of the attempt this task ran (counted once, here)."""
    job = stored.job
    job.status = status
    job.finished_at = utcnow()
    last_error = job.attempts[-1].error if job.attempts else None
    if last_error is not None and (job.result is None or job.result.error != last_error):
        # The last attempt left no report of its own (its worker died, say): the result is
        # its error, not an earlier attempt's report that said it would be tried again.
        host, _, port = str(job.request.get("host", "")).rpartition(":")
        job.result = Report(
            host=host.strip("[]"), port=int(port or 0), error=job.attempts[-1].error
        )
    webhooks = rt.jobs.finish(job, stored.tenant, hold, phases)
    if webhooks:
        _notify(job.id, stored.tenant, webhooks)
    _record_retest(job, stored.tenant)
    _log_end(job, stored.tenant)


def _log_end(job: Job, tenant: str) -> None:
    """The job's one line at its end: who, where, how it went (never a secret)."""
    error = job.result.error if job.result else None
    host, port = split_host_port(str(job.request["host"]))
    duration = datetime.fromisoformat(job.finished_at or "") - datetime.fromisoformat(
        job.created_at
    )
    job_log.info(
        "job ended",
        job_id=job.id,
        tenant=tenant,
        host=host,
        port=port,
        attempts=len(job.attempts),
        outcome=job.status,
        category=error.category if error and job.status == "failed" else None,
        phase=error.phase if error and job.status == "failed" else None,
        duration_ms=round(duration.total_seconds() * 1000, 1),
    )


def _notify(job_id: str, tenant: str, webhooks: list[str] | None) -> None:
    dispatch(job_id, tenant, webhooks)


def _record_retest(job: Job, tenant: str) -> None:
    """A stored provider's scheduled re-test: its history and events (worker/retests.py).
    The job has ended, whatever happens here."""
    if job.retest is not None:
        try:
            record(retest_runtime(), job, tenant)
        except Exception:
            log.exception("job %s: its re-test could not be recorded", job.id)


def enqueue(
    job_id: str, attempt: int = 1, countdown: float | None = None, producer: Any = None
) -> None:
    """Send the task for a job's attempt (the API sends attempt 1 by name, the same way)."""
    celery_app.send_task(
        RUN_SMTP_TEST,
        args=[job_id, attempt],
        queue=SMTP_QUEUE,
        countdown=countdown,
        producer=producer,
    )


@celery_app.task(
    bind=True,
    name=RUN_SMTP_TEST,
    acks_late=True,
    reject_on_worker_lost=True,
)
def run_smtp_test(self: Task, job_id: str, attempt: int = 1) -> None:
    again = run_attempt(runtime(), job_id, attempt, str(self.request.hostname))
    if again is not None:
        # Celery's retry() raises, and its tracer then builds a full traceback: in a profile
        # of a worker with many jobs waiting for a destination slot that was 46% of its CPU.
        # Sending the next task ourselves is the same publish-then-ack, without that cost.
        enqueue(job_id, again.attempt, countdown=again.delay)
