"""Errors in the one shape the API answers: google.rpc.Status, as grpc-gateway writes it."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import kombu.exceptions
import redis.exceptions
from flask import Flask, Response
from pydantic import ValidationError
from pydantic.alias_generators import to_camel
from werkzeug.exceptions import HTTPException

from mailprobe.errors import NotReplicated
from mailprobe.models.status import (
    BadRequestDetail,
    ErrorDetail,
    ErrorInfoDetail,
    FieldViolation,
    RetryInfoDetail,
    Status,
)

log = logging.getLogger("mailprobe.api")

# google.rpc.Code
INVALID_ARGUMENT = 3
DEADLINE_EXCEEDED = 4
NOT_FOUND = 5
PERMISSION_DENIED = 7
RESOURCE_EXHAUSTED = 8
FAILED_PRECONDITION = 9
ABORTED = 10
UNIMPLEMENTED = 12
INTERNAL = 13
UNAVAILABLE = 14
UNAUTHENTICATED = 16

_HTTP_TO_CODE = {
    400: INVALID_ARGUMENT,
    401: UNAUTHENTICATED,
    403: PERMISSION_DENIED,
    404: NOT_FOUND,
    405: UNIMPLEMENTED,
    409: ABORTED,
    413: INVALID_ARGUMENT,
    415: INVALID_ARGUMENT,
    422: INVALID_ARGUMENT,
    429: RESOURCE_EXHAUSTED,
    503: UNAVAILABLE,
    504: DEADLINE_EXCEEDED,
}


class ApiError(Exception):
    def __init__(
        self,
        http_status: int,
        message: str,
        *,
        code: int | None = None,
        violations: list[FieldViolation] | None = None,
        info: ErrorInfoDetail | None = None,
        retry_after: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.code = code if code is not None else _HTTP_TO_CODE.get(http_status, INTERNAL)
        self.message = message
        self.violations = violations or []
        self.info = info
        self.retry_after = retry_after  # seconds: a google.rpc.RetryInfo detail
        self.headers = headers or {}

    def status(self) -> Status:
        details: list[ErrorDetail] = []
        if self.violations:
            details.append(BadRequestDetail(field_violations=self.violations))
        if self.info is not None:
            details.append(self.info)
        if self.retry_after is not None:
            details.append(RetryInfoDetail(retry_delay=f"{self.retry_after:g}s"))
        return Status(code=self.code, message=self.message, details=details)

    def response(self) -> Response:
        body = self.status()
        return Response(
            body.model_dump_json(by_alias=True),
            status=self.http_status,
            mimetype="application/json",
            headers=self.headers,
        )


def refused(message: str) -> ApiError:
    """403 for a destination the policy refuses: category "policy", as the worker says it."""
    return ApiError(
        403,
        f"destination refused by policy: {message}",
        info=ErrorInfoDetail(reason="DESTINATION_REFUSED", metadata={"category": "policy"}),
    )


def not_found(what: str = "job") -> ApiError:
    # The same answer for a missing id and another tenant's: ids do not leak across tenants.
    return ApiError(404, f"{what} not found")


def invalid(field: str, description: str) -> ApiError:
    return ApiError(
        400,
        f"{field}: {description}",
        violations=[FieldViolation(field=field, description=description)],
    )


def _field_name(loc: tuple[int | str, ...], ctx: dict[str, Any]) -> str:
    if not loc:
        return str(ctx.get("field", ""))
    return ".".join(to_camel(part) if isinstance(part, str) else str(part) for part in loc)


def from_validation_error(exc: ValidationError) -> ApiError:
    """One field violation per broken field; never an echo of the input (it may be a secret)."""
    by_field: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False, include_input=False, include_context=True):
        ctx = error.get("ctx") or {}
        if error["type"] == "json_invalid":
            return ApiError(400, f"the body is not valid JSON: {ctx.get('error', 'malformed')}")
        if error["type"] == "model_type" and not error["loc"]:
            return ApiError(400, "the body must be a JSON object")
        message = str(ctx["error"]) if error["type"] == "value_error" else error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        by_field.setdefault(_field_name(error["loc"], ctx), []).append(message)
    violations = [
        FieldViolation(field=field, description="; ".join(dict.fromkeys(messages)))
        for field, messages in by_field.items()
    ]
    first = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    return ApiError(400, f"{first.field}: {first.description}{more}", violations=violations)


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        return exc.response()

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        messages = {
            404: "no such route",
            405: "method not allowed on this route",
            413: "the request body is larger than the limit",
            415: "the body must be application/json",
        }
        error = ApiError(status, messages.get(status, exc.description or exc.name))
        response = error.response()
        if status == 405 and exc.get_response().headers.get("Allow"):
            response.headers["Allow"] = exc.get_response().headers["Allow"]
        return response

    @app.errorhandler(Exception)
    def _any_other(exc: Exception) -> Response:
        return as_api_error(exc).response()


_UNAVAILABLE = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    # A primary demoted by a failover, before the client has asked the Sentinels again.
    redis.exceptions.ReadOnlyError,
    kombu.exceptions.OperationalError,
)


def as_api_error(exc: Exception) -> ApiError:
    """Any exception as the error the caller gets, whatever the transport: ApiError as is,
    invalid input as 400, Redis out of reach (or a write its replicas did not
    acknowledge) as 503, and anything else as a 500 that
    carries only a correlation id (the details go to the log)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ValidationError):
        return from_validation_error(exc)
    if isinstance(exc, NotReplicated):
        log.warning("write not replicated: %s", exc)
        return ApiError(
            503,
            "the write was not acknowledged by enough Redis replicas; retry (with the same "
            "Idempotency-Key) shortly",
            headers={"Retry-After": "1"},
        )
    if isinstance(exc, _UNAVAILABLE):
        log.warning("Redis unavailable: %s", type(exc).__name__)
        return ApiError(
            503, "the job store is unavailable; try again shortly", headers={"Retry-After": "5"}
        )
    correlation = uuid.uuid4().hex
    log.error("internal error %s", correlation, exc_info=exc)
    return ApiError(500, f"internal error (correlation id {correlation})")
