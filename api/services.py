"""The objects a request handler needs, built once per process by create_app."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from celery import Celery
from flask import current_app

from mailprobe.apikeys import ApiKeyStore
from mailprobe.crypto import SecretBox
from mailprobe.destination import DestinationPolicy
from mailprobe.jobs import JobStore
from mailprobe.limits import RateLimit
from mailprobe.providers import ProviderStore
from mailprobe.settings import Settings
from mailprobe.webhooks import WebhookStore


@dataclass(frozen=True)
class Services:
    settings: Settings
    redis: redis.Redis
    jobs: JobStore
    api_keys: ApiKeyStore
    providers: ProviderStore
    webhooks: WebhookStore
    policy: DestinationPolicy
    rate_limit: RateLimit
    box: SecretBox
    celery: Celery


def services() -> Services:
    found: Services = current_app.extensions["mailprobe"]
    return found
