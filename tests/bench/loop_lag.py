"""Loaded into a benchmark's gevent worker (celery worker --include): a greenlet that measures
how late the event loop wakes it, the lag every greenlet of the worker sees.

It sleeps SLEEP_SECONDS again and again, and appends each overshoot to the file named by
MAILPROBE_BENCH_LAG_FILE, one "unix-time lag-seconds" line each, written once a second; and
each full (generation 2) collection of Python's garbage collector, which stops every
greenlet, as a "gc unix-time seconds" line.
"""

from __future__ import annotations

import gc
import os
import time
from typing import Any

import gevent
from celery.signals import worker_ready

SLEEP_SECONDS = 0.05
FILE_VARIABLE = "MAILPROBE_BENCH_LAG_FILE"


lines: list[str] = []
_collection_started = 0.0


def _on_collection(phase: str, info: dict[str, int]) -> None:
    global _collection_started
    if info["generation"] != 2:
        return
    if phase == "start":
        _collection_started = time.perf_counter()
    else:
        lines.append(f"gc {time.time():.3f} {time.perf_counter() - _collection_started:.6f}\n")


def _measure(path: str) -> None:
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
        gc.callbacks.append(_on_collection)
        gevent.spawn(_measure, path)
