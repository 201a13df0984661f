"""Webhook subscriptions, their delivery log, and the events they deliver (a test ended, a
provider drifted, a certificate is expiring).
"""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, Field, StringConstraints

from mailprobe.models.base import RequestModel, ResponseModel
from mailprobe.models.fields import check_url, no_controls
from mailprobe.models.history import CertificateExpiring, ProviderDrift
from mailprobe.models.jobs import Job


def _check_webhook_url(value: str) -> str:
    return check_url(value, ("https", "http"))


WebhookEvent = Literal[
    "smtp_test.completed", "smtp_provider.changed", "smtp_provider.certificate_expiring"
]


def _all_events() -> list[WebhookEvent]:
    return list(get_args(WebhookEvent))


class WebhookRequest(RequestModel):
    """POST /webhooks: a subscription to a tenant's events."""

    url: Annotated[
        str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_check_webhook_url)
    ]
    events: Annotated[list[WebhookEvent], Field(min_length=1, max_length=10)] = Field(
        default_factory=_all_events
    )
    description: Annotated[str, StringConstraints(max_length=200), AfterValidator(no_controls)] = ""


class SmtpTestCompletedEvent(ResponseModel):
    type: Literal["smtp_test.completed"] = "smtp_test.completed"
    timestamp: str
    data: Job


class ProviderChangedEvent(ResponseModel):
    type: Literal["smtp_provider.changed"] = "smtp_provider.changed"
    timestamp: str
    data: ProviderDrift


class CertificateExpiringEvent(ResponseModel):
    type: Literal["smtp_provider.certificate_expiring"] = "smtp_provider.certificate_expiring"
    timestamp: str
    data: CertificateExpiring


class Webhook(ResponseModel):
    id: str
    url: str
    events: list[str]
    description: str
    created_at: str
    status: Literal["active", "disabled"] = "active"
    disabled_reason: str | None = None
    disabled_at: str | None = None
    failing_since: str | None = None


class WebhookCreated(Webhook):
    secret: str  # shown once


class WebhookList(ResponseModel):
    webhooks: list[Webhook]


class Delivery(ResponseModel):
    """One attempt to deliver one event to one subscription."""

    message_id: str  # the webhook-id header: the same across attempts
    job_id: str  # the job the event is about (for a provider's event: the re-test's)
    event: WebhookEvent = "smtp_test.completed"
    attempt: int
    time: str
    status: int | None  # the HTTP status, or None when no answer came
    latency_ms: float
    outcome: Literal["delivered", "retrying", "failed", "disabled"]
    error: str | None = None


class DeliveryList(ResponseModel):
    deliveries: list[Delivery]
