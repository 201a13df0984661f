"""The Celery app both sides build, with its queues and task names: the API publishes a
job's task and the worker consumes it, and neither imports the other to do so.

The broker's delivery guarantees mailprobe relies on are set here, once: a task is
acknowledged only after it ran, and handed back if its worker dies.
"""

from __future__ import annotations

from collections.abc import Sequence

from celery import Celery

from mailprobe import rediskeys
from mailprobe.redisconn import celery_broker
from mailprobe.settings import Settings

# The queues are Redis lists (kombu's naming): their names are Redis keys.
SMTP_QUEUE = rediskeys.SMTP_QUEUE
WEBHOOK_QUEUE = rediskeys.WEBHOOK_QUEUE
# Tasks are sent by name, so a publisher needs no import of the function that runs them.
RUN_SMTP_TEST = "mailprobe.run_smtp_test"
RUN_SMTP_TESTS = "mailprobe.run_smtp_tests"  # a chunk of a batch (worker/chunks.py)
DELIVER_WEBHOOK = "mailprobe.deliver_webhook"


def create_celery(settings: Settings, include: Sequence[str] = ()) -> Celery:
    """The Celery app on the settings' Redis; `include`: the modules of the tasks this
    process runs (the worker's), none for a process that only publishes."""
    broker_url, transport, sentinel_options = celery_broker(settings)
    app = Celery("mailprobe", broker=broker_url, include=list(include))
    app.conf.update(
        task_default_queue=SMTP_QUEUE,
        task_routes={DELIVER_WEBHOOK: {"queue": WEBHOOK_QUEUE}},
        # A task is acknowledged only when it has run, and handed back if its worker dies:
        # an accepted job is never lost with a worker.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # Tasks beyond the pool, so that a freed slot starts its next test at once instead
        # of waiting for the consumer's next poll (up to 2 s: it sends no BRPOP while the
        # prefetch limit is reached). The gevent pool blocks the consumer on a full pool,
        # so it holds one such task; prefork and threads hold one per slot. A reserved task
        # is unacknowledged in Redis like a running one: a killed worker's comes back.
        worker_prefetch_multiplier=2,
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
