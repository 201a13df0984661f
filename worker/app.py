"""The Celery application: broker, queue and the delivery guarantees mailprobe relies on."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import setup_logging

from mailprobe import rediskeys
from mailprobe.logs import configure_logging
from mailprobe.redisconn import celery_broker
from mailprobe.settings import Settings, get_settings

SMTP_QUEUE = rediskeys.SMTP_QUEUE
RUN_SMTP_TEST = "mailprobe.run_smtp_test"
WEBHOOK_QUEUE = rediskeys.WEBHOOK_QUEUE
DELIVER_WEBHOOK = "mailprobe.deliver_webhook"


def create_celery(settings: Settings) -> Celery:
    broker_url, transport, sentinel_options = celery_broker(settings)
    app = Celery(
        "mailprobe",
        broker=broker_url,
        include=["worker.tasks", "worker.webhooks", "worker.maintenance"],
    )
    app.conf.update(
        task_default_queue=SMTP_QUEUE,
        task_routes={DELIVER_WEBHOOK: {"queue": WEBHOOK_QUEUE}},
        # A task is acknowledged only when it has run, and handed back if its worker dies:
        # an accepted job is never lost with a worker.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        # Results live in the JobStore, not in Celery's backend.
        task_ignore_result=True,
        # The disabled backend holds no state; without this Celery builds one per greenlet.
        result_backend_thread_safe=True,
        broker_transport=transport,
        task_serializer="json",
        accept_content=["json"],
        # The session deadline ends every probe; the hard limit only catches a bug.
        task_time_limit=settings.smtp_session_deadline + 60,
        # Fail fast when Redis is down, so the API can answer 503 at once.
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.broker_visibility_timeout,
            "unacked_restore_interval": settings.restore_interval,
            "unacked_restore_throttle": 1,
            # Every running task acknowledges through this pool: kombu's default of 10
            # starves a gevent worker that runs hundreds at once.
            "max_connections": settings.worker_concurrency + 50,
            **sentinel_options,
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        enable_utc=True,
    )
    return app


celery_app = create_celery(get_settings())


@setup_logging.connect
def _configure_logging(loglevel: int | str | None = None, **_: Any) -> None:
    """The worker logs in MAILPROBE_LOG_FORMAT (connected, this replaces Celery's set-up)."""
    configure_logging(get_settings().log_format, loglevel or "INFO")
