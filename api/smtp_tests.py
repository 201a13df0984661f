"""Routes of SMTP tests: submit one, read one (long poll), list a tenant's."""

from __future__ import annotations

import json
import math
from typing import get_args

from flask import Blueprint, Response, request, url_for
from pydantic import ValidationError

from api.auth import current_principal, require
from api.destinations import check_smtp_destinations
from api.errors import FAILED_PRECONDITION, ApiError, from_validation_error, invalid, not_found
from api.http import conditional_json, json_response, parse_body, prefer_wait
from api.idempotency import idempotent
from api.services import services
from mailprobe.jobs import is_id
from mailprobe.limits import RateLimited
from mailprobe.models import (
    BatchItem,
    BatchRequest,
    BatchResult,
    Job,
    JobPage,
    JobStatus,
    ProviderTestRequest,
    SmtpTestRequest,
)
from mailprobe.providers import StoredProvider
from worker.app import RUN_SMTP_TEST, SMTP_QUEUE

bp = Blueprint("smtp_tests", __name__)

MAX_BATCH_BYTES = 4 * 1024 * 1024

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


def _enqueue(tests: list[SmtpTestRequest]) -> list[Job]:
    """Store the jobs if the tenant's rate limit admits them (one Redis round trip) and queue
    their tasks (one broker connection)."""
    svc = services()
    tenant = current_principal().tenant
    try:
        jobs = svc.jobs.create_many(tenant, tests, svc.box, svc.rate_limit)
    except RateLimited as limited:
        raise ApiError(
            429,
            "the tenant's rate of test submissions is exceeded",
            headers={"Retry-After": str(math.ceil(limited.wait))},
        ) from None
    try:
        with svc.celery.producer_or_acquire() as producer:
            for job in jobs:
                svc.celery.send_task(
                    RUN_SMTP_TEST, args=[job.id, 1], queue=SMTP_QUEUE, producer=producer
                )
    except Exception:
        # Not enqueued means not accepted: leave nothing half-written behind (a task already
        # sent finds no job and is dropped).
        try:
            svc.jobs.delete_many([job.id for job in jobs], tenant)
        finally:
            raise
    return jobs


def _stored_provider(provider_id: str) -> StoredProvider:
    found = services().providers.get(provider_id, current_principal().tenant)
    if found is None:
        raise not_found("provider")
    return found


def _admitted(test: SmtpTestRequest) -> SmtpTestRequest:
    """The test as it will run: a stored provider's secret filled in where the request names
    the provider (only for its own destination), and the destination checked."""
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
    check_smtp_destinations(test)
    return test


def _submit(test: SmtpTestRequest) -> Response:
    """Queue one admitted test, once per Idempotency-Key; answer with its job."""
    svc = services()
    tenant = current_principal().tenant
    job, replayed = idempotent(
        lambda: _enqueue([test])[0],
        remember=lambda job: job.id,
        recall=lambda job_id: svc.jobs.get(job_id, tenant),
    )
    wait = prefer_wait(svc.settings.max_wait)
    job = _waited(job, wait)
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if job.finished:
        return json_response(job, 200, {**headers, **_applied(wait)})
    return json_response(job, 202, {**headers, "Location": _job_location(job), "Retry-After": "1"})


@bp.post("/email/smtp/_test")
@require("smtp.test")
def create_test() -> Response:
    return _submit(_admitted(parse_body(SmtpTestRequest)))


@bp.post("/email/smtp/_tests")
@require("smtp.test")
def create_tests() -> Response:
    request.max_content_length = MAX_BATCH_BYTES
    batch = parse_body(BatchRequest)
    items: dict[int, BatchItem] = {}
    admitted: list[tuple[int, SmtpTestRequest]] = []
    for index, raw in enumerate(batch.tests):
        try:
            test = SmtpTestRequest.model_validate_json(json.dumps(raw))
            admitted.append((index, _admitted(test)))
        except ValidationError as exc:
            items[index] = BatchItem(index=index, error=from_validation_error(exc).status())
        except ApiError as exc:
            items[index] = BatchItem(index=index, error=exc.status())

    def create() -> BatchResult:
        jobs = _enqueue([test for _, test in admitted])
        for (index, _), job in zip(admitted, jobs, strict=True):
            items[index] = BatchItem(index=index, job=job)
        return BatchResult(
            accepted=len(jobs),
            rejected=len(batch.tests) - len(jobs),
            items=[items[index] for index in sorted(items)],
        )

    result, replayed = idempotent(
        create, remember=BatchResult.model_dump_json, recall=BatchResult.model_validate_json
    )
    return json_response(result, 202, {"Idempotent-Replayed": "true"} if replayed else {})


@bp.post("/email/smtp/<provider_id>/_test")
@require("smtp.test")
def test_stored_provider(provider_id: str) -> Response:
    body = parse_body(ProviderTestRequest)
    provider = _stored_provider(provider_id)
    fields = provider.settings.model_dump(exclude={"description", "reply_to_address"})
    test = SmtpTestRequest.model_validate(
        {**fields, "receiver_address": body.receiver_address, "id": provider.id}
    )
    return _submit(_admitted(test.with_secrets(provider.secrets(services().box))))


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
