"""A write the API answers 2xx for is on MAILPROBE_REDIS_MIN_REPLICAS replicas first.

Every POST, PUT, PATCH and DELETE that succeeded — a test's 202 (its job and its queued task),
a provider, key or webhook change — waits for the replicas (mailprobe.durability) before its
answer leaves; when they do not acknowledge in time the answer is 503 with Retry-After
instead. A retry with the same Idempotency-Key then finds what the first request made, and
waits for the replicas again before it answers.

gRPC-web answers in its own framing: its methods wait in api/zitadel/methods.py instead.
"""

from __future__ import annotations

from flask import Flask, Response, request

from api.dependencies import services
from api.errors import as_api_error
from api.zitadel import grpc_web
from mailprobe import durability

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _replicated(response: Response) -> Response:
    if (
        request.method not in WRITES
        or not 200 <= response.status_code < 300
        or request.blueprint == grpc_web.bp.name
    ):
        return response
    svc = services()
    try:
        durability.replicated(svc.redis, svc.settings)
    except Exception as exc:  # an after_request hook's exception would be a bare 500
        return as_api_error(exc).response()
    return response


def init_app(app: Flask) -> None:
    """Register the hook; after requestlog.init_app, so that the log line has the answer
    that leaves (hooks run in the reverse order of registration)."""
    app.after_request(_replicated)
