"""What the request handlers depend on (settings, Redis, the stores, the destination policy,
the rate limit, the keyring, the Celery app), built once per process: by create_app for the
HTTP API, and by the gRPC server for Zitadel's native wire."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from celery import Celery
from flask import current_app

from mailprobe.apikeys import ApiKeyStore
from mailprobe.crypto import SecretBox
from mailprobe.destination import DestinationPolicy
from mailprobe.history import HistoryStore
from mailprobe.jobs import JobStore
from mailprobe.limits import RateLimit
from mailprobe.providers import ProviderStore
from mailprobe.queues import create_celery
from mailprobe.redisconn import get_redis
from mailprobe.settings import Settings
from mailprobe.submission import Submissions
from mailprobe.webhooks import WebhookStore


@dataclass(frozen=True)
class Services:
    settings: Settings
    redis: redis.Redis
    jobs: JobStore
    submissions: Submissions
    api_keys: ApiKeyStore
    providers: ProviderStore
    history: HistoryStore
    webhooks: WebhookStore
    policy: DestinationPolicy
    rate_limit: RateLimit
    box: SecretBox
    celery: Celery


def build_services(settings: Settings) -> Services:
    client = get_redis(settings)
    # Built at start-up: a missing or malformed key stops the process here, not mid-request.
    box = SecretBox(key.get_secret_value() for key in settings.encryption_keys)
    return Services(
        settings=settings,
        redis=client,
        jobs=JobStore(client, settings.result_ttl),
        submissions=Submissions(client, settings.result_ttl),
        api_keys=ApiKeyStore(client),
        providers=ProviderStore(client, box),
        history=HistoryStore(client, settings.result_ttl),
        webhooks=WebhookStore(client, box, settings.result_ttl),
        policy=DestinationPolicy.from_settings(settings),
        rate_limit=RateLimit(settings.rate_limit, settings.rate_burst),
        box=box,
        # From the same settings as the stores: a job stored in one Redis must be queued in
        # that Redis, not in one the environment names.
        celery=create_celery(settings),
    )


def services() -> Services:
    found: Services = current_app.extensions["mailprobe"]
    return found
