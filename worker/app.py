"""The worker's Celery app: the shared one (mailprobe.queues) with the worker's task
modules, and its logging."""

from __future__ import annotations

from typing import Any

from celery.signals import setup_logging

from mailprobe.logs import configure_logging
from mailprobe.queues import create_celery
from mailprobe.settings import get_settings

celery_app = create_celery(
    get_settings(), include=["worker.tasks", "worker.webhooks", "worker.maintenance"]
)


@setup_logging.connect
def _configure_logging(loglevel: int | str | None = None, **_: Any) -> None:
    """The worker logs in MAILPROBE_LOG_FORMAT (connected, this replaces Celery's set-up)."""
    configure_logging(get_settings().log_format, loglevel or "INFO")
