"""Idempotency-Key: the same key and body give the same job, and never a second SMTP session.

A key is claimed in Redis before the job is created (HSETNX, so of concurrent duplicates one
wins); the claim remembers a hash of the request and, once created, the job's id, for 24 h.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from flask import request

from api.auth import current_principal
from api.errors import ApiError, invalid, not_found
from api.services import services
from mailprobe import rediskeys
from mailprobe.models import Job

KEPT_SECONDS = 24 * 3600
HEADER = "Idempotency-Key"


def idempotent(create: Callable[[], Job]) -> tuple[Job, bool]:
    """The job `create` makes, or the one an earlier request with this key made (True)."""
    key = request.headers.get(HEADER)
    if key is None:
        return create(), False
    if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable():
        raise invalid(HEADER, "1-255 printable ASCII characters")
    svc = services()
    tenant = current_principal().tenant
    name = rediskeys.idempotency(tenant, hashlib.sha256(key.encode()).hexdigest())
    fingerprint = hashlib.sha256(
        request.method.encode() + b" " + request.path.encode() + b"\n" + request.get_data()
    ).hexdigest()

    if svc.redis.hsetnx(name, "request", fingerprint):
        svc.redis.expire(name, KEPT_SECONDS)
        try:
            job = create()
        except BaseException:
            svc.redis.delete(name)  # not created: the key is free again
            raise
        svc.redis.hset(name, "job", job.id)
        return job, False

    stored_fingerprint, job_id = svc.redis.hmget(name, ["request", "job"])
    if stored_fingerprint != fingerprint:
        raise ApiError(422, f"this {HEADER} was used with a different request")
    if not job_id:
        raise ApiError(
            409,
            f"the first request with this {HEADER} is still being handled",
            headers={"Retry-After": "1"},
        )
    earlier = svc.jobs.get(str(job_id), tenant)
    if earlier is None:
        raise not_found()
    return earlier, True
