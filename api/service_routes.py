"""Routes about the service itself: liveness, readiness and the API's description."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from api.dependencies import services
from api.openapi import docs_page, openapi_document
from mailprobe.liveness import alive_count

bp = Blueprint("service", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    return jsonify(status="alive")


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    client = services().redis
    try:
        client.ping()
    except Exception:
        return jsonify(status="unavailable", redis=False, workers=0), 503
    workers = alive_count(client)
    ready = workers > 0
    return jsonify(status="ready" if ready else "no worker", redis=True, workers=workers), (
        200 if ready else 503
    )


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


@bp.get("/docs")
def docs() -> Response:
    return Response(docs_page(), mimetype="text/html")
