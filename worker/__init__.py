"""The worker: Celery tasks that run SMTP probes and record their reports."""
