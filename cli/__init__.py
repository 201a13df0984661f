"""The `mailprobe` command: the one part that wires everything (the API under gunicorn, the
worker under Celery, the development set-up, `mailprobe test` in or out of process), so it
sits above the API, the worker and the core, and nothing imports it."""
