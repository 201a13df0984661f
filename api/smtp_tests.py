"""Routes of SMTP tests: submit one, read one (long poll), list a tenant's."""

from __future__ import annotations

import math
from typing import get_args

from flask import Blueprint, Response, request, url_for

from api.auth import current_principal, require
from api.destinations import check_smtp_host
from api.errors import FAILED_PRECONDITION, ApiError, invalid, not_found
from api.http import conditional_json, json_response, parse_body, prefer_wait
from api.idempotency import idempotent
from api.services import services
from mailprobe.jobs import is_id
from mailprobe.models import Job, JobPage, JobStatus, ProviderTestRequest, SmtpTestRequest
from mailprobe.providers import StoredProvider
from worker.app import RUN_SMTP_TEST, SMTP_QUEUE

bp = Blueprint("smtp_tests", __name__)

_STATUSES: tuple[str, ...] = get_args(JobStatus)


def _job_location(job: Job) -> str:
    return url_for(f"{request.blueprint}.get_test", job_id=job.id)


def _waited(job: Job, wait: int | None) -> Job:
    """The job after waiting up to `wait` seconds for it to end (Prefer: wait=N)."""
    if wait is None or job.finished:
        return job
    svc = services()
    svc.jobs.wait_until_finished(job.id, wait)
    return svc.jobs.get(job.id, current_principal().tenant) or job


def _applied(wait: int | None) -> dict[str, str]:
    return {"Preference-Applied": f"wait={wait}"} if wait is not None else {}


def _submit(test: SmtpTestRequest) -> Response:
    """Store the job and enqueue it, once per Idempotency-Key; answer with the job."""
    check_smtp_host(test.host)
    svc = services()
    tenant = current_principal().tenant
    limited = svc.rate_limit.wait_time(tenant)
    if limited > 0:
        raise ApiError(
            429,
            "the tenant's rate of test submissions is exceeded",
            headers={"Retry-After": str(math.ceil(limited))},
        )

    def create() -> Job:
        job = svc.jobs.create(tenant, test, svc.box)
        try:
            svc.celery.send_task(RUN_SMTP_TEST, args=[job.id, 1], queue=SMTP_QUEUE)
        except Exception:
            # Not enqueued means not accepted: leave nothing half-written behind.
            try:
                svc.jobs.delete(job.id, tenant)
            finally:
                raise
        return job

    job, replayed = idempotent(create)
    wait = prefer_wait(svc.settings.max_wait)
    job = _waited(job, wait)
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if job.finished:
        return json_response(job, 200, {**headers, **_applied(wait)})
    return json_response(job, 202, {**headers, "Location": _job_location(job), "Retry-After": "1"})


def _stored_provider(provider_id: str) -> StoredProvider:
    found = services().providers.get(provider_id, current_principal().tenant)
    if found is None:
        raise not_found("provider")
    return found


@bp.post("/email/smtp/_test")
@require("smtp.test")
def create_test() -> Response:
    test = parse_body(SmtpTestRequest)
    if test.id:
        provider = _stored_provider(test.id)
        if test.missing_secrets():
            if provider.settings.destination() != test.destination():
                raise ApiError(
                    400,
                    "the stored secret is used only with the stored host and user "
                    "(and token endpoint and client id): give the secret, or test as stored",
                    code=FAILED_PRECONDITION,
                )
            test = test.with_secrets({**provider.secrets(services().box), **test.secrets()})
    return _submit(test)


@bp.post("/email/smtp/<provider_id>/_test")
@require("smtp.test")
def test_stored_provider(provider_id: str) -> Response:
    body = parse_body(ProviderTestRequest)
    provider = _stored_provider(provider_id)
    fields = provider.settings.model_dump(exclude={"description", "reply_to_address"})
    test = SmtpTestRequest.model_validate(
        {**fields, "receiver_address": body.receiver_address, "id": provider.id}
    )
    return _submit(test.with_secrets(provider.secrets(services().box)))


@bp.get("/email/smtp/_test/<job_id>")
@require("smtp.read")
def get_test(job_id: str) -> Response:
    svc = services()
    job = svc.jobs.get(job_id, current_principal().tenant) if is_id(job_id) else None
    if job is None:
        raise not_found()
    wait = prefer_wait(svc.settings.max_wait)
    job = _waited(job, wait)
    headers = _applied(wait)
    if not job.finished:
        headers["Retry-After"] = "1"
    return conditional_json(job, headers)


@bp.get("/email/smtp/_test")
@require("smtp.read")
def list_tests() -> Response:
    status = request.args.get("status") or None
    if status is not None and status not in _STATUSES:
        raise invalid("status", f"must be one of {', '.join(_STATUSES)}")
    limit_text = request.args.get("limit", "20")
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= 100:
        raise invalid("limit", "must be a whole number from 1 to 100")
    cursor = request.args.get("cursor") or None
    if cursor is not None and not is_id(cursor):
        raise invalid("cursor", "not a cursor this API gave")
    jobs, next_cursor = services().jobs.list_jobs(
        current_principal().tenant,
        status=status,  # type: ignore[arg-type]
        limit=int(limit_text),
        cursor=cursor,
    )
    return conditional_json(JobPage(jobs=jobs, next_cursor=next_cursor))
