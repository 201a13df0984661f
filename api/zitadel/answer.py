"""Zitadel's synchronous answer to a test: the call returns when the test has ended.

Success is an empty answer; a failed test is an error status whose code says what kind of
failure it was. One attempt, as Zitadel makes. The wait is bounded by the client's deadline and
by the session deadline; a deadline that passes first is DEADLINE_EXCEEDED and the job goes on.
The same rules serve native gRPC, gRPC-web and the JSON routes under /admin/v1.
"""

from __future__ import annotations

import re

from api.dependencies import Services
from api.errors import (
    DEADLINE_EXCEEDED,
    FAILED_PRECONDITION,
    PERMISSION_DENIED,
    UNAVAILABLE,
    ApiError,
)
from api.operations import wait_for_end
from mailprobe.models.jobs import Job
from mailprobe.models.status import ErrorInfoDetail
from mailprobe.settings import Settings

# One attempt: a synchronous caller is waiting, and Zitadel itself tries once.
ATTEMPTS = 1
JOB_ID_HEADER = "x-mailprobe-job-id"

# google.rpc code and HTTP status of a failed test, by error category.
_BY_CATEGORY: dict[str, tuple[int, int]] = {
    "policy": (PERMISSION_DENIED, 403),
    "dns": (UNAVAILABLE, 503),
    "connect": (UNAVAILABLE, 503),
    "timeout": (UNAVAILABLE, 503),
}
_OTHERWISE = (FAILED_PRECONDITION, 400)  # tls, auth, *_rejected, protocol, internal

_GRPC_TIMEOUT = re.compile(r"([0-9]{1,8})([HMSmun])")
_UNIT_SECONDS = {"H": 3600.0, "M": 60.0, "S": 1.0, "m": 1e-3, "u": 1e-6, "n": 1e-9}


def parse_grpc_timeout(value: str | None) -> float | None:
    """Seconds of a `grpc-timeout` header (gRPC-web, and grpc-gateway's JSON); None when
    absent or malformed (a malformed one is ignored, as gRPC servers do)."""
    match = _GRPC_TIMEOUT.fullmatch(value.strip()) if value else None
    if match is None:
        return None
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def wait_budget(settings: Settings, client_deadline: float | None) -> float:
    """Seconds to wait for the end: the client's deadline, and never longer than one
    session may last plus the time to start it (the job's lease covers exactly that)."""
    bound = float(settings.lease_seconds)
    return bound if client_deadline is None else max(0.0, min(client_deadline, bound))


def settle(svc: Services, job: Job, client_deadline: float | None) -> None:
    """Wait for the test's end, blocking (HTTP under gevent); raise its failure, if any."""
    ended = wait_for_end(svc, job, wait_budget(svc.settings, client_deadline))
    failure = verdict(ended)
    if failure is not None:
        raise failure


def verdict(job: Job) -> ApiError | None:
    """None when the test succeeded; else the error status the caller gets."""
    if not job.finished:
        return ApiError(
            504,
            "the deadline passed before the test ended; the test goes on: read it with "
            f"GET /email/smtp/_test/{job.id}",
            code=DEADLINE_EXCEEDED,
            info=ErrorInfoDetail(reason="SMTP_TEST_PENDING", metadata={"jobId": job.id}),
        )
    if job.status == "succeeded":
        return None
    error = job.result.error if job.result else None
    if error is None:  # not expected: a failed job carries its error
        return ApiError(500, f"the test failed without a report (job {job.id})")
    code, http_status = _BY_CATEGORY.get(error.category, _OTHERWISE)
    # mailprobe makes one attempt here and never another (the job's report says
    # `retryable: false`): `retryable` and RetryInfo tell the caller whether it may try
    # again, which is whether the failure is transient.
    metadata = {"jobId": job.id, "phase": error.phase, "retryable": str(error.transient).lower()}
    if error.smtp_code is not None:
        metadata["smtpCode"] = str(error.smtp_code)
    if error.enhanced_code:
        metadata["enhancedCode"] = error.enhanced_code
    if error.attempt is not None and error.max_attempts is not None:
        metadata["attempt"] = str(error.attempt)
        metadata["maxAttempts"] = str(error.max_attempts)
    if error.hint:
        metadata["hint"] = error.hint
        metadata["hintSource"] = error.hint_source or ""
    warnings = job.result.warnings if job.result else []
    if warnings:
        metadata["warnings"] = ",".join(warning.code for warning in warnings)
    return ApiError(
        http_status,
        _message(job),
        code=code,
        info=ErrorInfoDetail(reason=f"SMTP_{error.category.upper()}", metadata=metadata),
        retry_after=1.0 if error.transient else None,
    )


def _message(job: Job) -> str:
    """`phase: the server's reply` (e.g. `auth: 535 5.7.8 Authentication credentials
    invalid`), or the probe's own words when no reply came."""
    assert job.result is not None and job.result.error is not None
    error = job.result.error
    reply = next(
        (p.reply for p in reversed(job.result.phases) if p.name == error.phase and p.reply),
        None,
    )
    if error.smtp_code is not None and reply is not None and reply.code == error.smtp_code:
        return f"{error.phase}: {reply.code} {reply.text}".strip()
    prefix = f"{error.phase}: "
    return error.message if error.message.startswith(prefix) else prefix + error.message
