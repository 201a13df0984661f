"""The Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask
from flask_cors import CORS

from api import (
    console,
    durable,
    events,
    metrics,
    providers,
    requestlog,
    service_routes,
    smtp_tests,
    webhooks,
)
from api.dependencies import build_services
from api.errors import register_error_handlers
from api.openapi import PREFIXES, blueprint_suffix
from api.zitadel import grpc_web
from mailprobe.settings import Settings, get_settings

MAX_BODY_BYTES = 64 * 1024


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask("mailprobe")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]

    app.extensions["mailprobe"] = build_services(settings)
    for prefix in PREFIXES:
        suffix = blueprint_suffix(prefix)
        for blueprint in (
            smtp_tests.bp,
            providers.bp,
            webhooks.bp,
            service_routes.bp,
            events.bp,
            metrics.bp,
        ):
            app.register_blueprint(
                blueprint, url_prefix=prefix or None, name=f"{blueprint.name}{suffix}"
            )
    app.register_blueprint(grpc_web.bp)
    app.register_blueprint(console.bp)  # the web console, at /ui only
    if settings.cors_origins:
        CORS(
            app,
            origins=settings.cors_origins,
            allow_headers=[*grpc_web.REQUEST_HEADERS, "idempotency-key", "prefer", "if-none-match"],
            expose_headers=[*grpc_web.RESPONSE_HEADERS, "location", "retry-after", "etag"],
            max_age=600,
        )
    register_error_handlers(app)
    requestlog.init_app(app)
    durable.init_app(app)
    logging.getLogger("mailprobe").setLevel(logging.INFO)
    return app
