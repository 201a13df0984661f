"""Every request: an id (answered as X-Request-Id, bound to each log line of the request),
its HTTP series (api/metrics.py) and one log line at its end.

A well-formed X-Request-Id from the client (a proxy's, say) is kept; otherwise a new one is
made. The line names the method, path, route, status and duration, never a header or a body:
no key or password can reach it.
"""

from __future__ import annotations

import re
import time
import uuid

from flask import Flask, Response, g, request
from structlog.contextvars import bind_contextvars, clear_contextvars

from api.metrics import observe, route_label
from mailprobe.logs import get_logger

log = get_logger("mailprobe.api")

HEADER = "X-Request-Id"
_GIVEN_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def _begin() -> None:
    given = request.headers.get(HEADER, "")
    g.request_id = given if _GIVEN_ID.fullmatch(given) else uuid.uuid4().hex
    g.request_started = time.perf_counter()
    clear_contextvars()
    bind_contextvars(request_id=g.request_id)


def _end(response: Response) -> Response:
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    route = route_label()
    observe(route, response.status_code, seconds)
    response.headers[HEADER] = g.get("request_id", "")
    log.info(
        "request",
        method=request.method,
        path=request.path,
        route=route,
        status=response.status_code,
        duration_ms=round(seconds * 1000, 2),
    )
    return response


def init_app(app: Flask) -> None:
    app.before_request(_begin)
    app.after_request(_end)
