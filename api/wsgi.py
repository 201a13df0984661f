"""The WSGI entry point for gunicorn: `gunicorn api.wsgi:app`."""

import gc
import logging

from api.app import create_app
from mailprobe.logs import configure_logging
from mailprobe.settings import get_settings

if not logging.getLogger().handlers:  # not under `mailprobe serve`, which sets it up
    configure_logging(get_settings().log_format)
app = create_app()

# What start-up built (Flask, Celery, pydantic's validators: ~70,000 objects) lives as long
# as the process. Left to the garbage collector, every full collection scans it again: a
# 17 ms pause for every request in flight on this worker.
gc.freeze()
