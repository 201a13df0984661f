"""The API benchmark's floor: a bare Flask endpoint that does one Redis LPUSH, no more.

Served by the same gunicorn command as the API (cli.main.gunicorn_argv).
"""

from __future__ import annotations

import os

import redis
from flask import Flask, request

app = Flask(__name__)
client = redis.Redis.from_url(os.environ["MAILPROBE_REDIS_URL"], max_connections=1000)


@app.post("/push")
def push() -> tuple[dict[str, bool], int]:
    client.lpush("floor", request.get_data())
    return {"queued": True}, 202
