"""The WSGI entry point for gunicorn: `gunicorn api.wsgi:app`."""

import gc

from api.app import create_app

app = create_app()

# What start-up built (Flask, Celery, pydantic's validators: ~70,000 objects) lives as long
# as the process. Left to the garbage collector, every full collection scans it again: a
# 17 ms pause for every request in flight on this worker.
gc.freeze()
