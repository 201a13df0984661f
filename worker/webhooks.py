"""Webhook deliveries: every ended job, and the events of stored providers' re-tests
(mailprobe.history), to each of its tenant's subscriptions that takes the event, signed.

Deliveries are Celery tasks of their own queue, so a slow receiver never holds up an SMTP
test. An attempt that fails is not retried by a Celery countdown (which would hold the task
in a worker for hours, past the visibility timeout) but written to a schedule in Redis that
the workers' maintenance thread turns back into a task when it is due.

Outcomes: 2xx delivered; 410 disables the subscription; anything else, a redirect included
(never followed), a timeout or no answer, is retried on MAILPROBE_WEBHOOK_RETRY_SCHEDULE,
waiting at least what a 429 or 5xx's Retry-After asks; when the schedule is used up the
subscription is disabled, with the reason.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import cast

from mailprobe.errors import DestinationRefused
from mailprobe.history import is_event_id
from mailprobe.jobs import JobStore
from mailprobe.models.base import utcnow
from mailprobe.models.webhooks import Delivery, SmtpTestCompletedEvent, Webhook, WebhookEvent
from mailprobe.queues import DELIVER_WEBHOOK, WEBHOOK_QUEUE
from mailprobe.settings import Settings
from mailprobe.webhooks import Scheduled, WebhookStore, sign
from worker.app import celery_app
from worker.pinned_http import HttpFailure, post
from worker.probe import ProbeOptions
from worker.runtime import runtime

log = logging.getLogger("mailprobe.webhooks")

MAX_RETRY_AFTER = 24 * 3600.0


@dataclass(frozen=True)
class WebhookRuntime:
    settings: Settings
    jobs: JobStore
    webhooks: WebhookStore
    options: ProbeOptions  # the destination policy and TLS context, as for SMTP


@lru_cache(maxsize=1)
def webhook_runtime() -> WebhookRuntime:
    rt = runtime()
    return WebhookRuntime(
        settings=rt.settings,
        jobs=rt.jobs,
        webhooks=WebhookStore(rt.jobs.redis, rt.box, rt.settings.result_ttl),
        options=rt.options,
    )


def send(entry: Scheduled) -> None:
    celery_app.send_task(
        DELIVER_WEBHOOK, args=[entry.webhook_id, entry.subject, entry.attempt], queue=WEBHOOK_QUEUE
    )


def dispatch(job_id: str, tenant: str, webhook_ids: list[str] | None = None) -> int:
    """Send a delivery task of the ended job to each subscription of its tenant.

    `webhook_ids` are the tenant's subscriptions when the caller has read them already. Each
    delivery checks that its subscription is active and takes this event: the SMTP task's
    hot path reads no subscription.
    """
    rt = webhook_runtime()
    ids = rt.webhooks.ids(tenant) if webhook_ids is None else webhook_ids
    for webhook_id in ids:
        send(Scheduled(webhook_id, job_id, 1))
    rt.jobs.mark_notified(job_id)
    return len(ids)


def dispatch_events(event_ids: list[str], tenant: str) -> None:
    """Send a delivery task of each provider event to each subscription of its tenant."""
    rt = webhook_runtime()
    webhook_ids = rt.webhooks.ids(tenant)
    for event_id in event_ids:
        for webhook_id in webhook_ids:
            send(Scheduled(webhook_id, event_id, 1))


@dataclass(frozen=True)
class _Message:
    type: WebhookEvent
    job_id: str  # the job it is about
    body: bytes


def _message(rt: WebhookRuntime, subject: str) -> _Message | None:
    """What a delivery of `subject` sends: an ended job, or a provider's event."""
    if is_event_id(subject):
        event = rt.webhooks.load_event(subject)
        if event is None:
            return None
        return _Message(cast(WebhookEvent, event.type), event.job_id, event.body.encode())
    stored = rt.jobs.load(subject)
    if stored is None or not stored.job.finished:
        return None
    job = stored.job
    body = SmtpTestCompletedEvent(timestamp=job.finished_at or utcnow(), data=job)
    return _Message(body.type, job.id, body.model_dump_json().encode())


def send_due(rt: WebhookRuntime) -> int:
    """Turn scheduled attempts that are due into tasks (sent before unscheduled: at least once)."""
    due = rt.webhooks.due()
    for entry in due:
        send(entry)
        rt.webhooks.unschedule(entry)
    return len(due)


def _retry_after(value: str | None) -> float:
    if not value:
        return 0.0
    try:
        return min(float(value), MAX_RETRY_AFTER)
    except ValueError:
        try:
            return min(
                max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0), MAX_RETRY_AFTER
            )
        except (TypeError, ValueError):
            return 0.0


def deliver(rt: WebhookRuntime, entry: Scheduled) -> Delivery | None:
    """One delivery attempt; what it did (None when there was nothing to deliver)."""
    loaded = rt.webhooks.load(entry.webhook_id)
    message = _message(rt, entry.subject)
    if loaded is None or message is None:
        return None
    webhook, secret = loaded
    if webhook.status != "active" or message.type not in webhook.events:
        return None
    body = message.body
    message_id = f"msg_{entry.subject}"
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "mailprobe-webhooks",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
    }
    started = time.perf_counter()
    status: int | None = None
    retry_after = 0.0
    error: str | None = None
    try:
        answer = post(
            webhook.url,
            body,
            headers,
            policy=rt.options.policy,
            context=rt.options.ssl_context,
            timeout=rt.settings.webhook_timeout,
        )
        status = answer.status
        retry_after = _retry_after(answer.headers.get("retry-after"))
        if 300 <= status < 400:
            error = f"redirect ({status}) not followed"
        elif not 200 <= status < 300:
            error = f"the endpoint answered {status}"
    except DestinationRefused as exc:
        error = f"destination refused: {exc}"
    except HttpFailure as exc:
        error = str(exc)
    latency = round((time.perf_counter() - started) * 1000, 2)

    outcome = _conclude(rt, webhook, entry, status, retry_after)
    delivery = Delivery(
        message_id=message_id,
        job_id=message.job_id,
        event=message.type,
        attempt=entry.attempt,
        time=utcnow(),
        status=status,
        latency_ms=latency,
        outcome=outcome,
        error=error,
    )
    rt.webhooks.record(webhook.id, delivery)
    log.info("webhook %s: %s attempt %d: %s", webhook.id, message_id, entry.attempt, outcome)
    return delivery


def _conclude(
    rt: WebhookRuntime, webhook: Webhook, entry: Scheduled, status: int | None, retry_after: float
) -> str:
    now = utcnow()
    if status is not None and 200 <= status < 300:
        if webhook.failing_since:
            rt.webhooks.update(webhook.id, failing_since=None)
        return "delivered"
    if status == 410:
        rt.webhooks.update(
            webhook.id,
            status="disabled",
            disabled_at=now,
            disabled_reason="the endpoint answered 410 Gone",
        )
        return "disabled"
    schedule = rt.settings.webhook_retry_schedule
    if entry.attempt > len(schedule):
        since = webhook.failing_since or now
        rt.webhooks.update(
            webhook.id,
            status="disabled",
            disabled_at=now,
            disabled_reason=f"every attempt to deliver msg_{entry.subject} failed "
            f"({entry.attempt} attempts since {since})",
        )
        return "failed"
    delay = schedule[entry.attempt - 1] * random.uniform(0.9, 1.1)
    if status is not None and (status == 429 or status >= 500):
        delay = max(delay, retry_after)
    rt.webhooks.schedule(
        Scheduled(entry.webhook_id, entry.subject, entry.attempt + 1), time.time() + delay
    )
    if not webhook.failing_since:
        rt.webhooks.update(webhook.id, failing_since=now)
    return "retrying"


@celery_app.task(name=DELIVER_WEBHOOK, acks_late=True, reject_on_worker_lost=True)
def deliver_webhook(webhook_id: str, subject: str, attempt: int) -> None:
    deliver(webhook_runtime(), Scheduled(webhook_id, subject, attempt))
