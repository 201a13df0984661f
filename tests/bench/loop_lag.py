"""Loaded into a benchmark's gevent worker (celery worker --include): a greenlet that measures
how late the event loop wakes it, the lag every greenlet of the worker sees.

It sleeps SLEEP_SECONDS again and again, and appends each overshoot to the file named by
MAILPROBE_BENCH_LAG_FILE, one "unix-time lag-seconds" line each, written once a second.
"""

from __future__ import annotations

import os
import time
from typing import Any

import gevent
from celery.signals import worker_ready

SLEEP_SECONDS = 0.05
FILE_VARIABLE = "MAILPROBE_BENCH_LAG_FILE"


def _measure(path: str) -> None:
    lines: list[str] = []
    written = time.monotonic()
    while True:
        started = time.perf_counter()
        gevent.sleep(SLEEP_SECONDS)
        lag = time.perf_counter() - started - SLEEP_SECONDS
        lines.append(f"{time.time():.3f} {lag:.6f}\n")
        if time.monotonic() - written >= 1:
            with open(path, "a") as file:
                file.writelines(lines)
            lines.clear()
            written = time.monotonic()


@worker_ready.connect
def _start(**_: Any) -> None:
    path = os.environ.get(FILE_VARIABLE)
    if path:
        gevent.spawn(_measure, path)
