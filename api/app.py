"""The Flask application factory."""

from __future__ import annotations

import logging

from flask import Flask

from api import events, metrics, providers, requestlog, service, smtp_tests, webhooks
from api.errors import register_error_handlers
from api.openapi import PREFIXES
from api.services import Services
from mailprobe.apikeys import ApiKeyStore
from mailprobe.crypto import SecretBox
from mailprobe.destination import DestinationPolicy
from mailprobe.jobs import JobStore
from mailprobe.limits import RateLimit
from mailprobe.providers import ProviderStore
from mailprobe.redisconn import get_redis
from mailprobe.settings import Settings, get_settings
from mailprobe.webhooks import WebhookStore

MAX_BODY_BYTES = 64 * 1024


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask("mailprobe")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]

    # Imported here so the API uses the one Celery app the worker runs, configured alike.
    from worker.app import celery_app

    client = get_redis(settings.redis_url)
    # Built at start-up: a missing or malformed key stops the API here, not mid-request.
    box = SecretBox(key.get_secret_value() for key in settings.encryption_keys)
    app.extensions["mailprobe"] = Services(
        settings=settings,
        redis=client,
        jobs=JobStore(client, settings.result_ttl),
        api_keys=ApiKeyStore(client),
        providers=ProviderStore(client, box),
        webhooks=WebhookStore(client, box, settings.result_ttl),
        policy=DestinationPolicy.from_settings(settings),
        rate_limit=RateLimit(settings.rate_limit, settings.rate_burst),
        box=box,
        celery=celery_app,
    )
    for prefix in PREFIXES:
        suffix = prefix.replace("/", "_")
        for blueprint in (
            smtp_tests.bp,
            providers.bp,
            webhooks.bp,
            service.bp,
            events.bp,
            metrics.bp,
        ):
            app.register_blueprint(
                blueprint, url_prefix=prefix or None, name=f"{blueprint.name}{suffix}"
            )
    register_error_handlers(app)
    requestlog.init_app(app)
    logging.getLogger("mailprobe").setLevel(logging.INFO)
    return app
