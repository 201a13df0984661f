"""The Celery application: broker, queue and the delivery guarantees mailprobe relies on."""

from __future__ import annotations

import gc
import logging
import resource
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_init, worker_process_init, worker_ready

from mailprobe import rediskeys
from mailprobe.logs import configure_logging
from mailprobe.settings import Settings, get_settings

log = logging.getLogger("mailprobe.worker")

SMTP_QUEUE = rediskeys.SMTP_QUEUE
RUN_SMTP_TEST = "mailprobe.run_smtp_test"
WEBHOOK_QUEUE = rediskeys.WEBHOOK_QUEUE
DELIVER_WEBHOOK = "mailprobe.deliver_webhook"


def create_celery(settings: Settings) -> Celery:
    app = Celery(
        "mailprobe",
        broker=settings.redis_url,
        include=["worker.tasks", "worker.webhooks", "worker.maintenance"],
    )
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
        broker_transport="worker.broker:Transport",
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


@worker_init.connect
def _raise_open_files_limit(**_: Any) -> None:
    """Every SMTP session holds a socket: a gevent worker of thousands of sessions needs more
    than the usual soft limit of 1,024 open files, and may raise it to the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:  # an unlimited hard limit the kernel caps lower
        log.warning("open files: the soft limit stays at %d (%s)", soft, exc)


# Python's garbage collector stops every greenlet while it runs, and a full collection walks
# every object the worker holds: with thousands of sessions in flight, a heap of hundreds of
# MB, a pause of seconds (tests/bench/sessions.py counts them). Almost everything a session
# leaves behind is freed by reference counting; the collector is for cycles only, so it may
# run far less often: young collections every 50,000 allocations instead of 700, and full
# ones considered ten times less often.
GC_THRESHOLDS = (50_000, 10, 100)


@worker_ready.connect
@worker_process_init.connect  # each process of a prefork pool, too
def _collect_garbage_less_often(**_: Any) -> None:
    """What was built at start-up lives as long as the process: frozen, no collection walks
    it again."""
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()
