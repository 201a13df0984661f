"""Idempotency-Key: the same key and body give the same job, and never a second SMTP session.

A key is claimed in Redis before the job is created (HSETNX, so of concurrent duplicates one
wins); the claim remembers a hash of the request and, once created, the job's id, for 24 h.
The claim and its expiry are one atomic step: a claim without an expiry would answer 409
for ever.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar

from flask import request

from api.auth import current_principal
from api.dependencies import services
from api.errors import ApiError, invalid, not_found
from mailprobe import durability, rediskeys

KEPT_SECONDS = 24 * 3600
HEADER = "Idempotency-Key"


R = TypeVar("R")


def idempotent(
    create: Callable[[], R], remember: Callable[[R], str], recall: Callable[[str], R | None]
) -> tuple[R, bool]:
    """What `create` makes, or what an earlier request with this key made (True).

    `remember` turns the result into a string kept with the key (a job id, say); `recall`
    turns it back, or answers None when it is gone.
    """
    key = request.headers.get(HEADER)
    if key is None:
        return create(), False
    if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable():
        raise invalid(HEADER, "1-255 printable ASCII characters")
    svc = services()
    name = rediskeys.idempotency(
        current_principal().tenant, hashlib.sha256(key.encode()).hexdigest()
    )
    fingerprint = hashlib.sha256(
        request.method.encode() + b" " + request.path.encode() + b"\n" + request.get_data()
    ).hexdigest()

    if svc.redis.eval(_CLAIM, 1, name, fingerprint, KEPT_SECONDS):
        # Once claimed, the key must end free or with its result, even when the primary is
        # lost meanwhile: a claim left without a result would answer 409 for 24 hours.
        try:
            result = create()
        except BaseException:
            # Not created: the key is free again.
            durability.across_failover(lambda: svc.redis.delete(name))
            raise
        kept = remember(result)

        def record() -> None:
            # The whole claim again: the one a failover lost is remade, not left half.
            pipe = svc.redis.pipeline(transaction=True)
            pipe.hset(name, mapping={"request": fingerprint, "result": kept})
            pipe.expire(name, KEPT_SECONDS)
            pipe.execute()

        durability.across_failover(record)
        return result, False

    stored_fingerprint, remembered = svc.redis.hmget(name, ["request", "result"])
    if stored_fingerprint != fingerprint:
        raise ApiError(422, f"this {HEADER} was used with a different request")
    if not remembered:
        raise ApiError(
            409,
            f"the first request with this {HEADER} is still being handled",
            headers={"Retry-After": "1"},
        )
    earlier = recall(str(remembered))
    if earlier is None:
        raise not_found()
    return earlier, True


# KEYS: the claim; ARGV: the request's fingerprint, seconds to keep the claim
_CLAIM = (
    "if redis.call('HSETNX', KEYS[1], 'request', ARGV[1]) == 1 then "
    "redis.call('EXPIRE', KEYS[1], ARGV[2]) return 1 end return 0"
)
