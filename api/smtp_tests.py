"""Routes of SMTP tests: submit one, read one (long poll), list a tenant's."""

from __future__ import annotations

import json
import re
from typing import TypeVar, get_args

from flask import Blueprint, Response, g, request, url_for
from pydantic import BaseModel, ValidationError

from api.auth import current_principal, require
from api.dependencies import services
from api.errors import ApiError, from_validation_error, invalid
from api.http import conditional_json, json_response, parse_body, prefer_wait
from api.idempotency import idempotent, replay, request_key
from api.openapi import ADMIN_SUFFIX
from api.operations import Call, admit, enqueue, get_job, provider_test, wait_for_end
from api.zitadel import answer
from mailprobe.ids import is_id
from mailprobe.models.batches import BatchItem, BatchRequest, BatchResult
from mailprobe.models.jobs import Job, JobPage, JobStatus
from mailprobe.models.smtp import (
    ProviderTestRequest,
    SmtpTestRequest,
    ZitadelProviderTestRequest,
    ZitadelTestRequest,
)
from mailprobe.submission import Claimed

bp = Blueprint("smtp_tests", __name__)

M = TypeVar("M", bound=BaseModel)

MAX_BATCH_BYTES = 4 * 1024 * 1024

_STATUSES: tuple[str, ...] = get_args(JobStatus)
_LIMIT = re.compile("[0-9]{1,3}")  # ASCII digits only: "١٢" is no limit


def _job_location(job: Job) -> str:
    return url_for(f"{request.blueprint}.get_test", job_id=job.id)


def _call() -> Call:
    """This request as an operation's call; destination verdicts live as long as it."""
    call: Call | None = g.get("call")
    if call is None:
        call = g.call = Call(services(), current_principal())
    return call


def _zitadel_surface() -> bool:
    """Whether the request came in under /admin/v1, where the two test routes answer
    synchronously, as Zitadel does."""
    return (request.blueprint or "").endswith(ADMIN_SUFFIX)


def _applied(wait: int | None) -> dict[str, str]:
    return {"Preference-Applied": f"wait={wait}"} if wait is not None else {}


def _submit(test: SmtpTestRequest) -> Response:
    """Queue one admitted test, once per Idempotency-Key; answer with its job — or, under
    /admin/v1, with Zitadel's synchronous answer once it has ended."""
    call = _call()
    zitadel = _zitadel_surface()
    attempts = answer.ATTEMPTS if zitadel else None
    wait = None if zitadel else prefer_wait(call.svc.settings.max_wait)
    key = request_key()
    try:
        awaited = zitadel or wait is not None
        job = enqueue(call, [test], max_attempts=attempts, idempotency=key, awaited=awaited)[0]
        replayed = False
    except Claimed as claimed:
        assert key is not None  # only a request with a key finds it claimed
        recall = lambda job_id: call.svc.jobs.get(job_id, call.tenant)  # noqa: E731
        job = replay(key, claimed.fingerprint, claimed.remembered, recall)
        replayed = True
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if zitadel:
        headers[answer.JOB_ID_HEADER] = job.id
        try:
            answer.settle(
                call.svc, job, answer.parse_grpc_timeout(request.headers.get("Grpc-Timeout"))
            )
        except ApiError as failure:
            failure.headers.update(headers)
            raise
        return Response("{}", 200, mimetype="application/json", headers=headers)
    if wait is not None:
        job = wait_for_end(call.svc, job, wait)
    if job.finished:
        return json_response(job, 200, {**headers, **_applied(wait)})
    return json_response(job, 202, {**headers, "Location": _job_location(job), "Retry-After": "1"})


def _parse_test(model: type[M], zitadel_model: type[BaseModel]) -> M:
    """The body as `model`; under /admin/v1 it must first be Zitadel's own message, which
    has no dryRun: a test on Zitadel's wire always sends, as Zitadel's does."""
    if _zitadel_surface():
        parse_body(zitadel_model)
    return parse_body(model)


@bp.post("/email/smtp/_test")
@require("smtp.test", recall=True)
def create_test() -> Response:
    return _submit(admit(_call(), _parse_test(SmtpTestRequest, ZitadelTestRequest)))


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
            admitted.append((index, admit(_call(), test)))
        except ValidationError as exc:
            items[index] = BatchItem(index=index, error=from_validation_error(exc).status())
        except ApiError as exc:
            items[index] = BatchItem(index=index, error=exc.status())

    def create() -> BatchResult:
        jobs = enqueue(_call(), [test for _, test in admitted], chunked=True)
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
@require("smtp.test", recall=True)
def test_stored_provider(provider_id: str) -> Response:
    body = _parse_test(ProviderTestRequest, ZitadelProviderTestRequest)
    return _submit(provider_test(_call(), provider_id, body.receiver_address, dry_run=body.dry_run))


@bp.get("/email/smtp/_test/<job_id>")
@require("smtp.read")
def get_test(job_id: str) -> Response:
    call = _call()
    job = get_job(call, job_id)
    wait = prefer_wait(call.svc.settings.max_wait)
    if wait is not None:
        job = wait_for_end(call.svc, job, wait)
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
    if not _LIMIT.fullmatch(limit_text) or not 1 <= int(limit_text) <= 100:
        raise invalid("limit", "must be a whole number from 1 to 100")
    cursor = request.args.get("cursor") or None
    if cursor is not None and not is_id(cursor):
        raise invalid("cursor", "not a cursor this API gave")
    jobs, next_cursor = _call().svc.jobs.list_jobs(
        _call().tenant,
        status=status,  # type: ignore[arg-type]
        limit=int(limit_text),
        cursor=cursor,
    )
    return conditional_json(JobPage(jobs=jobs, next_cursor=next_cursor))
