"""Idempotency-Key: the same key and body give the same job, and never a second SMTP session.

A key is claimed in Redis with a hash of the request and what the request made (a job's id),
for 24 h. A single test's submission claims it in the script that stores the job
(mailprobe.submission), so the claim, the job and its task are one atomic step. A batch
claims it first (HSETNX, so of concurrent duplicates one wins) and remembers its result once
made; that claim and its expiry are one atomic step: a claim without an expiry would answer
409 for ever.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from flask import request

from api.auth import current_principal
from api.dependencies import services
from api.errors import ApiError, invalid, not_found
from mailprobe import durability, rediskeys

KEPT_SECONDS = 24 * 3600
HEADER = "Idempotency-Key"


R = TypeVar("R")


@dataclass(frozen=True)
class RequestKey:
    """The request's Idempotency-Key as Redis keeps it."""

    name: str  # its Redis key
    fingerprint: str  # a hash of the request it was first used with


def request_key() -> RequestKey | None:
    """The request's Idempotency-Key; None without one, 400 when it is malformed."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable():
        raise invalid(HEADER, "1-255 printable ASCII characters")
    name = rediskeys.idempotency(
        current_principal().tenant, hashlib.sha256(key.encode()).hexdigest()
    )
    fingerprint = hashlib.sha256(
        request.method.encode() + b" " + request.path.encode() + b"\n" + request.get_data()
    ).hexdigest()
    return RequestKey(name, fingerprint)


def replay(
    key: RequestKey, fingerprint: str, remembered: str, recall: Callable[[str], R | None]
) -> R:
    """What the earlier request with this key made (it was made with `fingerprint` and
    remembered as `remembered`, "" while it is still being made); `recall` turns that back,
    or answers None when it is gone."""
    if fingerprint != key.fingerprint:
        raise ApiError(422, f"this {HEADER} was used with a different request")
    if not remembered:
        raise ApiError(
            409,
            f"the first request with this {HEADER} is still being handled",
            headers={"Retry-After": "1"},
        )
    earlier = recall(remembered)
    if earlier is None:
        raise not_found()
    return earlier


def idempotent(
    create: Callable[[], R], remember: Callable[[R], str], recall: Callable[[str], R | None]
) -> tuple[R, bool]:
    """What `create` makes, or what an earlier request with this key made (True).

    `remember` turns the result into a string kept with the key (a job id, say); `recall`
    turns it back, or answers None when it is gone.
    """
    key = request_key()
    if key is None:
        return create(), False
    svc = services()
    if svc.redis.eval(_CLAIM, 1, key.name, key.fingerprint, KEPT_SECONDS):
        # Once claimed, the key must end free or with its result, even when the primary is
        # lost meanwhile: a claim left without a result would answer 409 for 24 hours.
        try:
            result = create()
        except BaseException:
            # Not created: the key is free again.
            durability.across_failover(lambda: svc.redis.delete(key.name))
            raise
        kept = remember(result)

        def record() -> None:
            # The whole claim again: the one a failover lost is remade, not left half.
            pipe = svc.redis.pipeline(transaction=True)
            pipe.hset(key.name, mapping={"request": key.fingerprint, "result": kept})
            pipe.expire(key.name, KEPT_SECONDS)
            pipe.execute()

        durability.across_failover(record)
        return result, False
    fingerprint, remembered = svc.redis.hmget(key.name, ["request", "result"])
    return replay(key, str(fingerprint), str(remembered or ""), recall), True


# KEYS: the claim; ARGV: the request's fingerprint, seconds to keep the claim
_CLAIM = (
    "if redis.call('HSETNX', KEYS[1], 'request', ARGV[1]) == 1 then "
    "redis.call('EXPIRE', KEYS[1], ARGV[2]) return 1 end return 0"
)
