"""Soak: N tests through the HTTP API while workers are killed (SIGKILL) and Redis restarts.

    .venv/bin/python -m tests.bench.soak [--jobs 2000] [--workers 2] [--kill-every 3]

Two worker processes, the API under gunicorn, Redis with AOF (fsync always) and a sink on
loopback. While the jobs run, a worker is SIGKILLed at random moments and a new one started,
and Redis is restarted once. The client submits each job with an Idempotency-Key and retries
on 503, as a careful client does. At the end it counts jobs submitted, accepted, ended and
lost, and messages the sink received twice; it exits non-zero if any accepted job was lost
or any message was delivered twice.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests

from mailprobe.jobs import JobStore
from tests.bench.common import bench_env, ended_count
from tests.bench.delay_sink import DelaySink
from tests.smtp_servers import free_port
from tests.support import Service, running_service, start_redis, wait_for


def submit_all(service: Service, jobs: int, sink: DelaySink, accepted: list[str]) -> int:
    """Submit every job, retrying a 503 or a lost connection; the number of 503s seen."""
    client = service.client(service.key(tenant="t-soak"))
    body = {
        "senderAddress": "soak@example.com",
        "senderName": "Soak",
        "host": sink.address,
        "receiverAddress": "sink@example.com",
    }
    unavailable = 0
    for _ in range(jobs):
        key = {"Idempotency-Key": str(uuid.uuid4())}
        deadline = time.monotonic() + 120
        while True:
            try:
                response = client.post("/email/smtp/_test", json=body, headers=key, timeout=10)
            except requests.RequestException:
                response = None
            if response is not None and response.status_code in (200, 202):
                accepted.append(response.json()["id"])
                break
            if response is not None and response.status_code not in (409, 503):
                raise AssertionError(f"unexpected answer: {response.status_code} {response.text}")
            unavailable += 1
            if time.monotonic() > deadline:
                raise AssertionError("the API did not come back within 120 s")
            time.sleep(0.2)  # a client's backoff before it tries again
    return unavailable


def chaos(
    service: Service,
    redis_restart: Any,
    kill_every: float,
    stop: threading.Event,
    counts: dict[str, int],
    min_kills: int,
) -> None:
    """SIGKILL a random worker every ~kill_every s and start another; restart Redis once.

    Goes on until told to stop, and until it has killed `min_kills` workers and restarted
    Redis, whichever is later.
    """
    rng = random.Random()
    while True:
        stopping = stop.wait(rng.uniform(kill_every / 2, kill_every * 1.5))
        if stopping and counts["redis_restarts"] and counts["kills"] >= min_kills:
            return
        alive = [w for w in service.workers if w.poll() is None]
        if alive:
            victim = rng.choice(alive)
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
            counts["kills"] += 1
            service.start_worker()
        if not counts["redis_restarts"] and counts["kills"] >= 2:
            redis_restart()
            counts["redis_restarts"] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=3.0)
    parser.add_argument("--min-kills", type=int, default=3)
    parser.add_argument("--delay", type=float, default=0.05, help="sink reply delay, s")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        (root / "redis").mkdir()
        redis_server = start_redis(root / "redis", aof=True)
        sink = DelaySink(args.delay).start()
        env = bench_env(
            redis_server.url,
            MAILPROBE_PORT=str(free_port()),
            MAILPROBE_SMTP_SESSION_DEADLINE="10",
            MAILPROBE_RETRY_BASE_DELAY="0.2",
            MAILPROBE_RETRY_MAX_DELAY="1",
            MAILPROBE_VISIBILITY_TIMEOUT="5",
            MAILPROBE_RESTORE_INTERVAL="1",
            MAILPROBE_MAX_ATTEMPTS="5",
        )

        def restart_redis() -> None:
            redis_server.process.terminate()
            redis_server.process.wait(10)
            redis_server.process = start_redis(root / "redis", redis_server.port, aof=True).process

        counts = {"kills": 0, "redis_restarts": 0}
        accepted: list[str] = []
        started = time.monotonic()
        with running_service(env, redis_server, root / "logs") as service:
            for _ in range(args.workers - 1):
                service.start_worker()
            stop = threading.Event()
            monkey = threading.Thread(
                target=chaos,
                args=(service, restart_redis, args.kill_every, stop, counts, args.min_kills),
            )
            monkey.start()
            try:
                unavailable = submit_all(service, args.jobs, sink, accepted)
                client = redis_server.client()

                def unfinished() -> int:
                    return len(accepted) - ended_count(client, accepted)

            finally:
                stop.set()
                monkey.join()
            with contextlib.suppress(AssertionError):
                wait_for(lambda: unfinished() == 0, 300, "every accepted job to end")
            elapsed = time.monotonic() - started
            statuses: dict[str, int] = {}
            for job in JobStore(client, 0).many(accepted):
                status = (
                    job.status
                    if job is not None and job.status in ("succeeded", "failed")
                    else "unfinished"
                )
                statuses[status] = statuses.get(status, 0) + 1
        sink.stop()
        redis_server.process.terminate()

    lost = statuses.get("unfinished", 0)
    print(
        f"soak: {args.jobs} jobs, {args.workers} workers, a worker SIGKILLed every "
        f"~{args.kill_every:.0f} s, Redis restarted once; {os.cpu_count()} CPUs\n"
    )
    print(
        "| submitted | accepted | ended | succeeded | failed | lost | delivered twice "
        "| worker kills | Redis restarts | 503s retried | seconds |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {args.jobs} | {len(accepted)} | {len(accepted) - lost} "
        f"| {statuses.get('succeeded', 0)} | {statuses.get('failed', 0)} | {lost} "
        f"| {sink.duplicates} | {counts['kills']} | {counts['redis_restarts']} "
        f"| {unavailable} | {elapsed:.0f} |"
    )
    if lost or sink.duplicates or len(accepted) != args.jobs:
        sys.exit(1)


if __name__ == "__main__":
    main()
