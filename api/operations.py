"""What each API operation does, whatever the transport.

JSON at the root, Zitadel's synchronous JSON under /admin/v1, native gRPC and gRPC-web all
call these: each takes a Call (the services and who is asking) and a validated request, and
answers its result or raises ApiError, which each transport turns into its own status codes.
No transport re-implements a rule, so the same request is refused the same way on each.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from api.auth import key_refused
from api.dependencies import Services
from api.destinations import check_smtp_destinations
from api.errors import FAILED_PRECONDITION, ApiError, invalid, not_found
from api.idempotency import KEPT_SECONDS, RequestKey
from mailprobe import durability
from mailprobe.apikeys import Permission, Principal
from mailprobe.broker import captured_publishes
from mailprobe.errors import RateLimited, StaleSecret
from mailprobe.ids import is_id
from mailprobe.jobs import new_job
from mailprobe.models.base import ms_time, utcnow
from mailprobe.models.history import ProviderHistory
from mailprobe.models.jobs import Job
from mailprobe.models.providers import MAX_RETEST_INTERVAL, Details, ProviderRequest
from mailprobe.models.smtp import SmtpSettings, SmtpTestRequest
from mailprobe.providers import StoredProvider
from mailprobe.queues import RUN_SMTP_TEST, RUN_SMTP_TESTS, SMTP_QUEUE
from mailprobe.settings import Settings
from mailprobe.submission import Claim, KeyRefused, NewJob

T = TypeVar("T")

# The permission every route and method that submits tests requires.
SUBMIT_PERMISSION: Permission = "smtp.test"


@dataclass
class Call:
    """One API call: the process's services and the principal it acts for."""

    svc: Services
    principal: Principal
    # Destination verdicts for this call: a batch resolves each host once.
    verdicts: dict[str, str | None] = field(default_factory=dict)

    @property
    def tenant(self) -> str:
        return self.principal.tenant

    def check_destinations(self, settings: SmtpSettings) -> None:
        check_smtp_destinations(settings, self.svc.policy, self.verdicts)


# --- tests ------------------------------------------------------------------------------------


def admit(call: Call, test: SmtpTestRequest) -> SmtpTestRequest:
    """The test as it will run: a stored provider's secret filled in where the request names
    the provider (only for its own destination), and the destination checked."""
    if test.id:
        provider = stored_provider(call, test.id)
        if test.missing_secrets():
            if provider.settings.destination() != test.destination():
                raise ApiError(
                    400,
                    "the stored secret is used only with the stored host and user "
                    "(and token endpoint and client id): give the secret, or test as stored",
                    code=FAILED_PRECONDITION,
                )
            test = test.with_secrets({**provider.secrets(call.svc.box), **test.secrets()})
    call.check_destinations(test)
    return test


def provider_test(
    call: Call, provider_id: str, receiver_address: str, *, dry_run: bool = False
) -> SmtpTestRequest:
    """The admitted test of a stored provider as it is stored."""
    provider = stored_provider(call, provider_id)
    return admit(call, provider.test_request(receiver_address, call.svc.box, dry_run=dry_run))


def enqueue(
    call: Call,
    tests: list[SmtpTestRequest],
    *,
    max_attempts: int | None = None,
    chunked: bool = False,
    idempotency: RequestKey | None = None,
    awaited: bool = False,
) -> list[Job]:
    """Store the jobs and queue their tasks in one Redis round trip (mailprobe.submission),
    if the caller's key is still valid and the tenant's rate limit admits them: one task per
    job, or `chunked`, one per MAILPROBE_BATCH_CHUNK_SIZE jobs (worker/chunks.py). With
    `idempotency`, claim the key for them (remembered: their ids, space-separated), or raise
    Claimed when it was claimed before. `awaited`: someone will wait for their ends."""
    svc = call.svc
    new = [NewJob(*new_job(test, svc.box, max_attempts=max_attempts)) for test in tests]
    # Celery and kombu build each task's message; the submission's script sends it.
    jobs = [item.job for item in new]
    job_ids = [job.id for job in jobs]
    with svc.celery.producer_or_acquire() as producer, captured_publishes(producer) as capture:
        for name, args in _tasks(job_ids, chunked, svc.settings):
            svc.celery.send_task(name, args=args, queue=SMTP_QUEUE, producer=producer)
    claim = None
    if idempotency is not None:
        remember = " ".join(job_ids)
        claim = Claim(idempotency.name, idempotency.fingerprint, remember, KEPT_SECONDS)
    # With MAILPROBE_REDIS_MIN_REPLICAS, the tasks wait until the replicas have the jobs and
    # the claim: a task published first could run (and send) a job the API then undoes and
    # answers 503 for. Without it, jobs, claim and tasks are one round trip.
    replicas = svc.settings.redis_min_replicas > 0
    try:
        svc.submissions.submit(
            key_digest=call.principal.digest,
            tenant=call.tenant,
            permission=SUBMIT_PERMISSION,
            jobs=new,
            publish=[] if replicas else capture.commands,
            rate=svc.rate_limit,
            claim=claim,
            awaited=awaited,
        )
    except RateLimited as limited:
        raise ApiError(
            429,
            "the tenant's rate of test submissions is exceeded",
            headers={"Retry-After": str(math.ceil(limited.wait))},
        ) from None
    except KeyRefused:
        svc.api_keys.forget(call.principal)
        raise key_refused() from None
    if replicas:
        try:
            durability.replicated(svc.redis, svc.settings)
            svc.submissions.publish(capture.commands)
        except Exception:

            def undo() -> None:
                # Nothing was queued, or what was finds no job and is dropped; the key is
                # free again, so a retry starts afresh.
                svc.jobs.delete_many(job_ids, call.tenant)
                if claim is not None:
                    svc.redis.delete(claim.name)

            durability.across_failover(undo)
            raise
    return jobs


def _tasks(job_ids: list[str], chunked: bool, settings: Settings) -> list[tuple[str, list[Any]]]:
    """The tasks that run the jobs' first attempts: (name, arguments)."""
    if not chunked:
        return [(RUN_SMTP_TEST, [job_id, 1]) for job_id in job_ids]
    size = settings.batch_chunk_size
    return [(RUN_SMTP_TESTS, [job_ids[at : at + size]]) for at in range(0, len(job_ids), size)]


def wait_for_end(svc: Services, job: Job, timeout: float) -> Job:
    """The job after waiting up to `timeout` seconds for it to end, blocking on Redis (under
    gevent: a greenlet, not a thread). The asyncio gRPC server waits its own way."""
    if job.finished or timeout <= 0:
        return job
    svc.jobs.wait_until_finished(job.id, timeout)
    stored = svc.jobs.load(job.id)
    return stored.job if stored else job


def get_job(call: Call, job_id: str) -> Job:
    job = call.svc.jobs.get(job_id, call.tenant) if is_id(job_id) else None
    if job is None:
        raise not_found()
    return job


# --- stored providers -------------------------------------------------------------------------


def stored_provider(call: Call, provider_id: str) -> StoredProvider:
    """The tenant's provider; 404 for a missing id and for another tenant's alike."""
    found = call.svc.providers.get(provider_id, call.tenant) if is_id(provider_id) else None
    if found is None:
        raise not_found("provider")
    return found


def active_provider(call: Call) -> StoredProvider:
    found = call.svc.providers.active(call.tenant)
    if found is None:
        raise not_found("active provider")
    return found


def search_providers(
    call: Call, *, offset: int, limit: int, asc: bool
) -> tuple[int, list[StoredProvider]]:
    return call.svc.providers.search(call.tenant, offset=offset, limit=limit, asc=asc)


def add_provider(call: Call, request: ProviderRequest) -> StoredProvider:
    _check_interval(call, request)
    call.check_destinations(request)
    return _fresh(lambda: call.svc.providers.create(call.tenant, request))


def update_provider(call: Call, provider_id: str, request: ProviderRequest) -> Details:
    _check_interval(call, request)
    call.check_destinations(request)
    return _changed(
        _fresh(lambda: call.svc.providers.update(_known(provider_id), call.tenant, request))
    )


def set_provider_password(call: Call, provider_id: str, password: str) -> Details:
    return _changed(call.svc.providers.set_password(_known(provider_id), call.tenant, password))


def set_provider_active(call: Call, provider_id: str, active: bool) -> Details:
    return _changed(call.svc.providers.set_active(_known(provider_id), call.tenant, active))


def remove_provider(call: Call, provider_id: str) -> Details:
    if not call.svc.providers.delete(_known(provider_id), call.tenant):
        raise not_found("provider")
    now = utcnow()
    return Details(sequence=0, creation_date=now, change_date=now, resource_owner=call.tenant)


def provider_history(call: Call, provider_id: str) -> ProviderHistory:
    provider = stored_provider(call, provider_id)
    next_ms = provider.next_retest_ms
    return ProviderHistory(
        provider_id=provider.id,
        retest_interval_seconds=provider.retest_interval,
        next_retest_at=None if next_ms is None else ms_time(next_ms),
        history=call.svc.history.read(provider.id).entries,
    )


def _check_interval(call: Call, request: ProviderRequest) -> None:
    """A re-test interval is 0 (off) or from the operator's shortest to MAX_RETEST_INTERVAL
    (the model checks the upper bound)."""
    interval = request.retest_interval_seconds
    shortest = call.svc.settings.retest_min_interval
    if interval and interval < shortest:
        raise invalid(
            "retestIntervalSeconds",
            f"0 (off) or from {shortest} to {MAX_RETEST_INTERVAL} seconds",
        )


def _known(provider_id: str) -> str:
    if not is_id(provider_id):
        raise not_found("provider")
    return provider_id


def _changed(details: Details | None) -> Details:
    if details is None:
        raise not_found("provider")
    return details


def _fresh(change: Callable[[], T]) -> T:
    """`change()`, with a stored secret that would follow a changed destination refused."""
    try:
        return change()
    except StaleSecret as exc:
        raise ApiError(400, str(exc), code=FAILED_PRECONDITION) from None
