"""The SMTP test task: a job's lifecycle, in one place.

    queued ──▶ running ──▶ succeeded
                  │  ▲
                  ▼  │ (transient failure, attempts left: Celery retries after a backoff)
               retrying
                  │
                  └──────▶ failed (permanent failure, or no attempts left)

Every state change is written to the JobStore before the next step, so a job whose worker
dies is picked up again (late acknowledgement) and knows which attempt it is on.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from celery import Task
from celery.signals import worker_ready, worker_shutdown

from mailprobe import rediskeys
from mailprobe.crypto import DecryptionError, SecretBox
from mailprobe.jobs import JobStore
from mailprobe.models import Attempt, Job, ProbeError, Report, utcnow
from mailprobe.redisconn import get_redis
from mailprobe.settings import Settings, get_settings
from worker.app import RUN_SMTP_TEST, celery_app
from worker.probe import ProbeOptions, probe_smtp

log = logging.getLogger("mailprobe.worker")

HEARTBEAT_SECONDS = 5.0


@dataclass(frozen=True)
class Runtime:
    """What a worker process needs to run jobs, built once per process."""

    settings: Settings
    jobs: JobStore
    box: SecretBox
    options: ProbeOptions


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    settings = get_settings()
    return Runtime(
        settings=settings,
        jobs=JobStore(get_redis(settings.redis_url), settings.result_ttl),
        box=SecretBox(s.get_secret_value() for s in settings.encryption_keys),
        options=ProbeOptions.from_settings(settings),
    )


def backoff(attempt: int, settings: Settings) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random.

    Celery's own helper works in whole seconds and its full jitter may wait 0 s; here the
    wait always grows and never bunches retries of one burst together.
    """
    ceiling = min(settings.retry_max_delay, settings.retry_base_delay * 2.0 ** (attempt - 1))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def _interrupted(attempt: Attempt) -> None:
    attempt.finished_at = utcnow()
    attempt.outcome = "failed"
    attempt.error = ProbeError(
        category="internal",
        phase=attempt.error.phase if attempt.error else "resolve",
        message="the worker running this attempt stopped before it ended",
        retryable=True,
    )


def run_attempt(rt: Runtime, job_id: str) -> float | None:
    """Run the job's next attempt; the delay before another one, or None when it has ended."""
    stored = rt.jobs.load(job_id)
    if stored is None:
        log.warning("job %s: not found (expired or never stored); dropping the task", job_id)
        return None
    job = stored.job
    if job.finished:
        return None  # a task delivered again after its job ended
    if job.attempts and job.attempts[-1].outcome == "running":
        _interrupted(job.attempts[-1])

    number = len(job.attempts) + 1
    if number > rt.settings.max_attempts:
        _end(rt, job, "failed")
        return None

    now = utcnow()
    attempt = Attempt(number=number, started_at=now)
    job.status = "running"
    job.started_at = job.started_at or now
    job.attempts.append(attempt)
    rt.jobs.save(job)

    try:
        request = stored.request_with_secrets(rt.box)
    except DecryptionError:
        log.error("job %s: its password does not decrypt with the configured keys", job_id)
        attempt.error = ProbeError(
            category="internal",
            phase="auth",
            message="the stored password cannot be decrypted with the configured keys",
        )
        attempt.finished_at, attempt.outcome = utcnow(), "failed"
        _end(rt, job, "failed")
        return None

    try:
        report = probe_smtp(request, rt.options, reference=job.id)
    except BaseException:
        # A bug or the hard time limit: the job must still end, not stay "running".
        log.exception("job %s: the probe raised", job_id)
        attempt.error = ProbeError(
            category="internal", phase="resolve", message="internal error in the probe"
        )
        attempt.finished_at, attempt.outcome = utcnow(), "failed"
        _end(rt, job, "failed")
        raise

    attempt.finished_at = utcnow()
    attempt.error = report.error
    job.result = report
    if report.ok:
        attempt.outcome = "succeeded"
        _end(rt, job, "succeeded")
        return None
    assert report.error is not None
    if report.error.retryable and number < rt.settings.max_attempts:
        attempt.outcome = "retrying"
        job.status = "retrying"
        rt.jobs.save(job)
        delay = backoff(number, rt.settings)
        log.info(
            "job %s: attempt %d failed (%s in %s), retrying in %.1fs",
            job.id,
            number,
            report.error.category,
            report.error.phase,
            delay,
        )
        return delay
    attempt.outcome = "failed"
    _end(rt, job, "failed")
    return None


def _end(rt: Runtime, job: Job, status: str) -> None:
    job.status = status  # type: ignore[assignment]
    job.finished_at = utcnow()
    if job.result is None and job.attempts and job.attempts[-1].error is not None:
        request = job.request
        host, _, port = str(request.get("host", "")).rpartition(":")
        job.result = Report(
            host=host.strip("[]"), port=int(port or 0), error=job.attempts[-1].error
        )
    rt.jobs.finish(job)
    error = job.result.error if job.result else None
    log.info(
        "job %s: %s after %d attempt(s)%s",
        job.id,
        status,
        len(job.attempts),
        f" ({error.category} in {error.phase})" if error else "",
    )


@celery_app.task(
    bind=True,
    name=RUN_SMTP_TEST,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=None,
)
def run_smtp_test(self: Task, job_id: str) -> None:
    delay = run_attempt(runtime(), job_id)
    if delay is not None:
        raise self.retry(countdown=delay, max_retries=None)


# --- liveness: /readyz asks whether any worker has beaten recently --------------------------


def _heartbeat(name: str, stop: threading.Event) -> None:
    client = get_redis(get_settings().redis_url)
    while not stop.is_set():
        try:
            client.zadd(rediskeys.WORKERS, {name: time.time()})
        except Exception as exc:  # Redis restarting: keep beating once it is back.
            log.warning("heartbeat failed: %s", type(exc).__name__)
        stop.wait(HEARTBEAT_SECONDS)


_stop_heartbeat = threading.Event()


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    runtime()  # fail at start-up, not at the first job, when a setting is wrong
    name = getattr(sender, "hostname", None) or socket.gethostname()
    threading.Thread(
        target=_heartbeat, args=(name, _stop_heartbeat), name="heartbeat", daemon=True
    ).start()


@worker_shutdown.connect
def _on_worker_shutdown(sender: Any = None, **_: Any) -> None:
    _stop_heartbeat.set()
    name = getattr(sender, "hostname", None) or socket.gethostname()
    try:
        get_redis(get_settings().redis_url).zrem(rediskeys.WORKERS, name)
    except Exception:  # shutting down anyway
        log.debug("could not remove the heartbeat of %s", name)
