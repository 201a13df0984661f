"""GET /metrics: the deployment's totals (mailprobe.metrics, from Redis) and this API
server's HTTP series, in Prometheus's text format.

The HTTP series (requests by route and status, durations by route) are counted in the
process that served the request, with prometheus-client's multiprocess mode: each gunicorn
worker writes its counts to a memory-mapped file in PROMETHEUS_MULTIPROC_DIR (`mailprobe
serve` makes it afresh at start) and a scrape, whichever worker answers it, adds up the
files of all of them. A request costs a few memory writes and no round trip. Counting them
in Redis instead would cost every request a round trip (or a flusher that loses its last
counts when a worker dies), for a figure Prometheus already adds up across API servers:
`sum without (instance) (...)`. So these series are per API server (all its workers),
while the job, phase and webhook series are the same, deployment-wide, from any server.
Without PROMETHEUS_MULTIPROC_DIR (the API run by hand under another server) the process
reports its own requests only.

Labels: `route` is the matched rule with its method ("POST /email/smtp/_test"), or
"unmatched"; `code` the HTTP status. Both come from fixed sets.
"""

from __future__ import annotations

import os

from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from api.dependencies import services
from mailprobe.metrics import RedisCollector

bp = Blueprint("metrics", __name__)

# This process's own series; in multiprocess mode their values live in the shared directory.
HTTP_REGISTRY = CollectorRegistry()
HTTP_REQUESTS = Counter(
    "mailprobe_http_requests",
    "HTTP requests answered by this API server, by route and status code",
    ["route", "code"],
    registry=HTTP_REGISTRY,
)
HTTP_DURATION = Histogram(
    "mailprobe_http_request_duration_seconds",
    "Time to answer a request (to its first byte for a stream), by route",
    ["route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=HTTP_REGISTRY,
)
UNMATCHED = "unmatched"


def route_label() -> str:
    """The request's route, from the fixed set of the app's rules."""
    rule = request.url_rule
    return f"{request.method} {rule.rule}" if rule is not None else UNMATCHED


def observe(route: str, code: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(route, str(code)).inc()
    HTTP_DURATION.labels(route).observe(seconds)


def _registry() -> CollectorRegistry:
    """What a scrape reports, built once per app."""
    found: CollectorRegistry | None = current_app.extensions.get("mailprobe.metrics")
    if found is None:
        found = CollectorRegistry()
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            MultiProcessCollector(found)  # type: ignore[no-untyped-call]
        else:
            for metric in (HTTP_REQUESTS, HTTP_DURATION):
                found.register(metric)
        found.register(RedisCollector(services().redis))
        current_app.extensions["mailprobe.metrics"] = found
    return found


@bp.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(_registry()), content_type=CONTENT_TYPE_LATEST)
