"""WebhookStore: a tenant's webhook subscriptions, their delivery log and the retry schedule.

Signatures follow the Standard Webhooks scheme: the secret is ``whsec_`` + base64 of random
bytes; a delivery carries ``webhook-id`` (the same on every attempt), ``webhook-timestamp``
and ``webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import redis

from mailprobe import rediskeys
from mailprobe.crypto import SecretBox, webhook_context
from mailprobe.ids import new_id
from mailprobe.models.base import utcnow
from mailprobe.models.webhooks import Delivery, Webhook, WebhookRequest

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
DELIVERY_LOG_LENGTH = 1000


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(os.urandom(24)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


@dataclass(frozen=True)
class Scheduled:
    """A delivery attempt due at a time: how retries wait without holding a worker.

    `subject` is what is delivered: an ended job's id (smtp_test.completed), or a provider
    event's (mailprobe.history: evt_...)."""

    webhook_id: str
    subject: str
    attempt: int

    @property
    def member(self) -> str:
        return f"{self.webhook_id} {self.subject} {self.attempt}"

    @classmethod
    def parse(cls, member: str) -> Scheduled:
        webhook_id, subject, attempt = member.split(" ")
        return cls(webhook_id, subject, int(attempt))


@dataclass(frozen=True)
class StoredEvent:
    """A provider's event (mailprobe.history writes them), kept for its deliveries."""

    tenant: str
    type: str
    job_id: str  # the re-test it is about
    body: str  # the message, as JSON


class WebhookStore:
    def __init__(self, client: redis.Redis, box: SecretBox, ttl: int) -> None:
        self.redis = client
        self.box = box
        self.ttl = ttl

    # -- subscriptions

    def create(self, tenant: str, request: WebhookRequest) -> tuple[Webhook, str]:
        webhook_id = new_id()
        secret = new_secret()
        webhook = Webhook(
            id=webhook_id,
            url=request.url,
            events=list(dict.fromkeys(request.events)),
            description=request.description,
            created_at=utcnow(),
        )
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(
            rediskeys.webhook(webhook_id),
            mapping={
                "tenant": tenant,
                "doc": webhook.model_dump_json(),
                "secret": self.box.encrypt(secret, webhook_context(webhook_id)),
            },
        )
        pipe.zadd(rediskeys.tenant_webhooks(tenant), {webhook_id: 0})
        pipe.execute()
        return webhook, secret

    def get(self, webhook_id: str, tenant: str) -> Webhook | None:
        owner, doc = self.redis.hmget(rediskeys.webhook(webhook_id), ["tenant", "doc"])
        if owner != tenant or doc is None:
            return None
        return Webhook.model_validate_json(doc)

    def load(self, webhook_id: str) -> tuple[Webhook, str] | None:
        """The subscription and its secret, for delivery."""
        doc, sealed = self.redis.hmget(rediskeys.webhook(webhook_id), ["doc", "secret"])
        if doc is None or sealed is None:
            return None
        secret = self.box.decrypt(str(sealed), webhook_context(webhook_id))
        return Webhook.model_validate_json(doc), secret

    def ids(self, tenant: str) -> list[str]:
        return [str(i) for i in self.redis.zrange(rediskeys.tenant_webhooks(tenant), 0, -1)]

    def all(self, tenant: str) -> list[Webhook]:
        found = [self.get(webhook_id, tenant) for webhook_id in self.ids(tenant)]
        return [webhook for webhook in found if webhook is not None]

    def delete(self, webhook_id: str, tenant: str) -> bool:
        if self.get(webhook_id, tenant) is None:
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(rediskeys.webhook(webhook_id), rediskeys.webhook_deliveries(webhook_id))
        pipe.zrem(rediskeys.tenant_webhooks(tenant), webhook_id)
        pipe.execute()
        return True

    def update(self, webhook_id: str, **changes: Any) -> None:
        """Change status fields (status, disabled_reason, failing_since, …) atomically."""
        key = rediskeys.webhook(webhook_id)

        def change(pipe: redis.client.Pipeline) -> None:
            doc = pipe.hget(key, "doc")
            if doc is None:
                return
            webhook = Webhook.model_validate_json(doc).model_copy(update=changes)
            pipe.multi()
            pipe.hset(key, "doc", webhook.model_dump_json())

        self.redis.transaction(change, key)

    # -- the delivery log

    def record(self, webhook_id: str, delivery: Delivery) -> None:
        """Log the attempt and count it in the deployment's totals (mailprobe.metrics)."""
        name = rediskeys.webhook_deliveries(webhook_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.lpush(name, delivery.model_dump_json())
        pipe.ltrim(name, 0, DELIVERY_LOG_LENGTH - 1)
        pipe.expire(name, self.ttl)
        pipe.hincrby(rediskeys.METRICS_WEBHOOKS, delivery.outcome, 1)
        pipe.execute()

    def load_event(self, event_id: str) -> StoredEvent | None:
        tenant, kind, job_id, body = self.redis.hmget(
            rediskeys.event(event_id), ["tenant", "type", "job", "body"]
        )
        if tenant is None or kind is None or job_id is None or body is None:
            return None
        return StoredEvent(str(tenant), str(kind), str(job_id), str(body))

    def deliveries(self, webhook_id: str, limit: int = 100) -> list[Delivery]:
        raw = self.redis.lrange(rediskeys.webhook_deliveries(webhook_id), 0, limit - 1)
        return [Delivery.model_validate(json.loads(item)) for item in raw]

    # -- the retry schedule

    def schedule(self, entry: Scheduled, due: float) -> None:
        self.redis.zadd(rediskeys.WEBHOOKS_SCHEDULED, {entry.member: due})

    def due(self, now: float | None = None, limit: int = 500) -> list[Scheduled]:
        found = self.redis.zrangebyscore(
            rediskeys.WEBHOOKS_SCHEDULED, "-inf", now or time.time(), start=0, num=limit
        )
        return [Scheduled.parse(str(member)) for member in found]

    def unschedule(self, entry: Scheduled) -> None:
        self.redis.zrem(rediskeys.WEBHOOKS_SCHEDULED, entry.member)
