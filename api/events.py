"""GET /email/smtp/_test/{id}/events: a job's progress as Server-Sent Events.

    id: <stream id>     event: phase    data: {"attempt": 1, "name": "ehlo", "ok": true, ...}
    ...
    id: end             event: job      data: {...the finished job, as GET answers it}

One `phase` event per phase as it ends (mailprobe.progress says how the worker learns that
someone watches: a job nobody watches costs nothing more), then the finished job, then the
stream ends. A client that arrives mid-attempt gets that attempt's earlier phases at once;
phases of attempts that ended before anyone watched are not replayed (the job carries its
last attempt's). Last-Event-ID resumes after that event; after `end`, the answer is 204, which
tells an EventSource to stop reconnecting. While nothing happens a comment is sent every 15 s,
so proxies keep the connection and a client that left is noticed.
"""

from __future__ import annotations

from collections.abc import Iterator

import redis
from flask import Blueprint, Response, request

from api.auth import current_principal, require
from api.dependencies import services
from api.errors import invalid, not_found
from mailprobe.ids import is_id
from mailprobe.jobs import JobStore
from mailprobe.logs import get_logger
from mailprobe.progress import ProgressStore, is_event_id

bp = Blueprint("events", __name__)
log = get_logger("mailprobe.api")

END = "end"
KEEPALIVE_SECONDS = 15.0


def _event(event_id: str, kind: str, data: str) -> str:
    return f"id: {event_id}\nevent: {kind}\ndata: {data}\n\n"


def _stream(
    progress: ProgressStore, jobs: JobStore, job_id: str, tenant: str, after: str
) -> Iterator[str]:
    try:
        while True:
            events, ended = progress.read(job_id, after, KEEPALIVE_SECONDS)
            for event in events:
                after = event.id
                yield _event(event.id, "phase", event.data)
            if ended:
                job = jobs.get(job_id, tenant)
                if job is not None:
                    yield _event(END, "job", job.model_dump_json(by_alias=True))
                return
            if not events:
                yield ": keep-alive\n\n"
    except redis.RedisError as exc:
        # The client reconnects with the last id it got and misses nothing.
        log.warning("event stream ended early", job_id=job_id, error=type(exc).__name__)


@bp.get("/email/smtp/_test/<job_id>/events")
@require("smtp.read")
def job_events(job_id: str) -> Response:
    svc = services()
    tenant = current_principal().tenant
    job = svc.jobs.get(job_id, tenant) if is_id(job_id) else None
    if job is None:
        raise not_found()
    last = request.headers.get("Last-Event-ID", "").strip()
    if last == END:
        return Response(status=204)
    if last and not is_event_id(last):
        raise invalid("Last-Event-ID", "not an event id this API sent")
    progress = ProgressStore(svc.redis, svc.settings.result_ttl)
    # An ended job is not watched, but has its done stream written: the stream ends on it.
    progress.watch(job_id)
    return Response(
        _stream(progress, svc.jobs, job_id, tenant, last or "0-0"),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
