"""Request and response helpers shared by the routes: JSON bodies, Prefer: wait, job bodies."""

from __future__ import annotations

import re
from typing import TypeVar

from flask import Response, request
from pydantic import BaseModel, ValidationError

from api.errors import ApiError, from_validation_error

M = TypeVar("M", bound=BaseModel)

_PREFER_WAIT = re.compile(
    r"(?:^|[,;]\s*)wait\s*=\s*\"?([0-9]{1,6})\"?\s*(?:[,;]|\Z)", re.IGNORECASE
)


def parse_body(model: type[M]) -> M:
    """The request's JSON body as `model`, or a 4xx in the API's error shape."""
    if not request.is_json:
        raise ApiError(415, "the body must be application/json")
    data = request.get_data()  # kept for the Idempotency-Key fingerprint; over the limit: 413
    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        raise from_validation_error(exc) from None


def prefer_wait(limit: int) -> int | None:
    """N of an RFC 7240 `Prefer: wait=N` header, capped at `limit`; None when absent."""
    found = None
    for header in request.headers.getlist("Prefer"):
        match = _PREFER_WAIT.search(header.strip())
        if match:
            found = int(match.group(1))
    return None if found is None else min(found, limit)


def json_response(
    model: BaseModel, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        model.model_dump_json(by_alias=True),
        status=status,
        mimetype="application/json",
        headers=headers,
    )


def conditional_json(model: BaseModel, headers: dict[str, str] | None = None) -> Response:
    """200 with an ETag, or 304 when the client's If-None-Match says it has this body."""
    response = json_response(model, 200, headers)
    response.add_etag()
    response.make_conditional(request)  # turns it into a 304 in place when it matches
    return response
