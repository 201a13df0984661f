"""Stored providers re-tested on a schedule: the worker's side.

- schedule_due: a scheduler's tick (worker/maintenance.py runs one about every second): the
  due re-tests are claimed (mailprobe.schedule: once each, whatever the number of schedulers)
  and their jobs' tasks sent. A re-test is a dry run (nothing is sent) to the provider's
  retestReceiverAddress or, without one, its sender address; its job is an ordinary job, so
  MAILPROBE_DESTINATION_CONCURRENCY caps the sessions per destination host for re-tests and
  other tests together, and transient failures are retried as any test's.
- record: when a re-test's job has ended (worker/tasks.py), its entry in the provider's
  history and the webhook events of what changed (mailprobe.history), then their deliveries.
  A task delivered again after the job ended calls it again: what is still owed is done (the
  entry, or the deliveries), nothing twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from pydantic import ValidationError

from mailprobe.crypto import SecretBox
from mailprobe.errors import DecryptionError
from mailprobe.history import (
    History,
    HistoryStore,
    NewEvent,
    changed_event,
    changes,
    check_of,
    expiring,
    expiring_event,
)
from mailprobe.jobs import new_job
from mailprobe.models.base import ms_time
from mailprobe.models.jobs import Job, RetestRun
from mailprobe.providers import ProviderStore, StoredProvider
from mailprobe.redisconn import get_redis
from mailprobe.schedule import Due, RetestSchedule, next_due
from mailprobe.settings import Settings
from worker.runtime import runtime
from worker.webhooks import dispatch_events

log = logging.getLogger("mailprobe.retests")

# Due re-tests one tick claims at most: a backlog (after every worker was down) is worked
# through at this many a second rather than all at once.
CLAIMS_PER_TICK = 100
# Comparisons made again when another re-test of the provider was recorded meanwhile.
RECORD_TRIES = 5


@dataclass(frozen=True)
class RetestRuntime:
    settings: Settings
    schedule: RetestSchedule
    providers: ProviderStore
    history: HistoryStore
    box: SecretBox


@lru_cache(maxsize=1)
def retest_runtime() -> RetestRuntime:
    rt = runtime()
    # The worker's plain client (one pool per process), not the job store's grouped one:
    # these stores are not a session's hot path, and a grouped client must never carry a
    # blocking command (mailprobe/redisgroup.py).
    client, ttl = get_redis(rt.settings, worker=True), rt.settings.result_ttl
    return RetestRuntime(
        settings=rt.settings,
        schedule=RetestSchedule(client, ttl),
        providers=ProviderStore(client, rt.box),
        history=HistoryStore(client, ttl),
        box=rt.box,
    )


def schedule_due(
    rt: RetestRuntime, send: Callable[[str], None], now: float | None = None
) -> list[str]:
    """Claim the re-tests due at `now` and `send` each new job's id (to queue its task); the
    ids of the jobs this tick made."""
    now = time.time() if now is None else now
    now_ms = int(now * 1000)
    made: list[str] = []
    for due in rt.schedule.due(now_ms, CLAIMS_PER_TICK):
        job_id = _claim(rt, due, now)
        if job_id is not None:
            send(job_id)
            made.append(job_id)
    return made


def _claim(rt: RetestRuntime, due: Due, now: float) -> str | None:
    provider = rt.providers.load(due.provider_id)
    if provider is None or not provider.retest_interval:
        # A change takes a provider out of the schedule in its own transaction, so this is
        # an entry left behind (a key deleted by hand): it would stay due for ever.
        rt.schedule.postpone(due, None)
        return None
    next_ms = next_due(provider.id, provider.retest_interval, int(now * 1000))
    try:
        request = provider.test_request(provider.retest_receiver, rt.box, dry_run=True)
    except (DecryptionError, ValidationError) as exc:
        # It cannot run now, and must not hold up the others; its next due time may find it
        # fixed (a key configured again).
        log.error("provider %s: re-test skipped: %s", provider.id, type(exc).__name__)
        rt.schedule.postpone(due, next_ms)
        return None
    run = RetestRun(provider_id=provider.id, due_at=ms_time(due.due_ms))
    job, sealed = new_job(request, rt.box, retest=run)
    if not rt.schedule.claim(due, next_ms, provider.version, provider.tenant, job, sealed, now):
        return None  # another scheduler's, or the provider changed: looked at again next tick
    return job.id


def record(rt: RetestRuntime, job: Job, tenant: str) -> None:
    """Record the ended re-test `job` in its provider's history and deliver its events, as
    far as that is still owed."""
    if job.retest is None:
        return
    owed, events = rt.history.pending(job.id)
    if owed:
        events = _record(rt, job, tenant, job.retest.provider_id)
    if events:
        dispatch_events(events, tenant)
        rt.history.dispatched(job.id)


def _record(rt: RetestRuntime, job: Job, tenant: str, provider_id: str) -> list[str]:
    check = check_of(job)
    for _ in range(RECORD_TRIES):
        provider = rt.providers.load(provider_id)
        if provider is None:
            return []
        history = rt.history.read(provider_id)
        events = _events(rt, provider, history, job)
        certificate = job.result.tls.certificate if job.result else None
        warned = certificate.sha256 if certificate and any(
            event.type == "smtp_provider.certificate_expiring" for event in events
        ) else ""  # fmt: skip
        outcome = rt.history.record(provider_id, tenant, history, check, events, warned)
        if outcome == "recorded":
            return [event.id for event in events]
        if outcome != "moved":
            return []
    log.warning("job %s: its provider's history kept moving; the run is not recorded", job.id)
    return []


def _events(
    rt: RetestRuntime, provider: StoredProvider, history: History, job: Job
) -> list[NewEvent]:
    check = check_of(job)
    host = provider.settings.host
    events: list[NewEvent] = []
    found = changes(history.entries, check)
    if found:
        events.append(changed_event(provider.id, host, history.entries[0], check, found))
    warn_days = rt.settings.cert_expiry_warn_days
    soon = expiring(job.result, provider.certificate_warned, warn_days)
    if soon is not None:
        certificate, days_left = soon
        events.append(expiring_event(provider.id, host, check, certificate, days_left, warn_days))
    return events
