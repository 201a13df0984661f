"""The worker's Celery app: the shared one (mailprobe.queues) with the worker's task
modules, and its logging."""

from __future__ import annotations

import gc
import logging
import resource
from typing import Any

from celery.signals import setup_logging, worker_init, worker_process_init, worker_ready

from mailprobe.logs import configure_logging
from mailprobe.queues import create_celery
from mailprobe.settings import get_settings

log = logging.getLogger("mailprobe.worker")

celery_app = create_celery(
    get_settings(),
    include=["worker.tasks", "worker.chunks", "worker.webhooks", "worker.maintenance"],
)


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
    """What was built at start-up (Celery, kombu, pydantic's validators) lives as long as the
    process: frozen, no collection walks it again. Unfrozen, that rescanning was a fifth of
    a batch's CPU in a profile (as api/wsgi.py found for the API)."""
    gc.set_threshold(*GC_THRESHOLDS)
    gc.freeze()
