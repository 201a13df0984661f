"""Soak: tests through the HTTP API while workers are killed (SIGKILL) and Redis restarts.

    .venv/bin/python -m tests.bench.soak [--jobs 2000] [--batch-jobs 2000] [--workers 2]
        [--kill-every 3]

Two worker processes, the API under gunicorn, Redis with AOF (fsync always) and a sink on
loopback. While the jobs run, a worker is SIGKILLed at random moments and a new one started,
and Redis is restarted once. `--jobs` tests go one by one (`POST /email/smtp/_test`, a task
each) and, at the same time, `--batch-jobs` in batches of `--batch-size`
(`POST /email/smtp/_tests`, a task per chunk of MAILPROBE_BATCH_CHUNK_SIZE), a batch every
`--batch-every` seconds so that chunks run while workers die. The client submits each request
with an Idempotency-Key and retries on 503, as a careful client does. At the end it counts,
for each path, jobs submitted, accepted, ended and lost, and jobs whose message the sink got
twice (by the job id each message carries), and the jobs that ended failed "in doubt": their
worker died after handing the sink the message's end and before its reply was recorded, so
they were not sent again (worker/tasks.py). It exits non-zero if any accepted job was lost,
or any job's message was sent twice: a message goes at most once per job, even across
SMTP's own window between the server's 250 and the worker's record of it (RFC 1047).
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
from tests.support import ApiClient, Service, running_service, start_redis, wait_for


def _test(sink: DelaySink) -> dict[str, Any]:
    return {
        "senderAddress": "soak@example.com",
        "senderName": "Soak",
        "host": sink.address,
        "receiverAddress": "sink@example.com",
    }


def _post(client: ApiClient, path: str, body: dict[str, Any], counts: dict[str, int]) -> Any:
    """The answer to one request, retried with its Idempotency-Key on 503 (and 409: the
    first try is still under way) or a lost connection, as a careful client does."""
    key = {"Idempotency-Key": str(uuid.uuid4())}
    deadline = time.monotonic() + 120
    while True:
        try:
            response = client.post(path, json=body, headers=key, timeout=10)
        except requests.RequestException:
            response = None
        if response is not None and response.status_code in (200, 202):
            return response.json()
        if response is not None and response.status_code not in (409, 503):
            raise AssertionError(f"unexpected answer: {response.status_code} {response.text}")
        counts["unavailable"] += 1
        if time.monotonic() > deadline:
            raise AssertionError("the API did not come back within 120 s")
        time.sleep(0.2)  # a client's backoff before it tries again


def submit_singles(
    client: ApiClient, jobs: int, sink: DelaySink, accepted: list[str], counts: dict[str, int]
) -> None:
    """Submit every job by itself."""
    for _ in range(jobs):
        accepted.append(_post(client, "/email/smtp/_test", _test(sink), counts)["id"])


def submit_batches(
    client: ApiClient,
    jobs: int,
    size: int,
    every: float,
    sink: DelaySink,
    accepted: list[str],
    counts: dict[str, int],
) -> None:
    """Submit the jobs in batches of `size`, one batch every `every` seconds."""
    while len(accepted) < jobs:
        tests = [_test(sink)] * min(size, jobs - len(accepted))
        answer = _post(client, "/email/smtp/_tests", {"tests": tests}, counts)
        assert answer["rejected"] == 0, answer
        accepted += [item["job"]["id"] for item in answer["items"]]
        time.sleep(every)  # the pace of the load, not a synchronisation


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
    parser.add_argument("--jobs", type=int, default=2000, help="tests submitted one by one")
    parser.add_argument("--batch-jobs", type=int, default=0, help="tests submitted in batches")
    parser.add_argument("--batch-size", type=int, default=100, help="tests per batch request")
    parser.add_argument("--batch-every", type=float, default=0.5, help="seconds between batches")
    parser.add_argument("--chunk-size", type=int, default=20, help="MAILPROBE_BATCH_CHUNK_SIZE")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=3.0)
    parser.add_argument("--min-kills", type=int, default=3)
    parser.add_argument("--delay", type=float, default=0.05, help="sink reply delay, s")
    parser.add_argument("--logs", type=Path, default=None, help="keep the services' logs here")
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
            # A task lost around the Redis restart comes back by the sweeper (worker/maintenance):
            # after 15 s here, not the default visibility timeout + 60 s.
            MAILPROBE_STUCK_AFTER="15",
            MAILPROBE_MAX_ATTEMPTS="5",
            MAILPROBE_BATCH_CHUNK_SIZE=str(args.chunk_size),
        )

        def restart_redis() -> None:
            redis_server.process.terminate()
            redis_server.process.wait(10)
            redis_server.process = start_redis(root / "redis", redis_server.port, aof=True).process

        counts = {"kills": 0, "redis_restarts": 0, "unavailable": 0}
        accepted: dict[str, list[str]] = {"single": [], "batch": []}
        started = time.monotonic()
        with running_service(env, redis_server, args.logs or root / "logs") as service:
            for _ in range(args.workers - 1):
                service.start_worker()
            stop = threading.Event()
            monkey = threading.Thread(
                target=chaos,
                args=(service, restart_redis, args.kill_every, stop, counts, args.min_kills),
            )
            monkey.start()
            client = service.client(service.key(tenant="t-soak"))
            batches = threading.Thread(
                target=submit_batches,
                args=(
                    client,
                    args.batch_jobs,
                    args.batch_size,
                    args.batch_every,
                    sink,
                    accepted["batch"],
                    counts,
                ),
            )
            try:
                batches.start()
                submit_singles(client, args.jobs, sink, accepted["single"], counts)
                batches.join()
            finally:
                stop.set()
                monkey.join()
            submitted_after = time.monotonic() - started
            every = accepted["single"] + accepted["batch"]
            redis_client = redis_server.client()
            with contextlib.suppress(AssertionError):
                wait_for(
                    lambda: ended_count(redis_client, every) == len(every),
                    300,
                    "every accepted job to end",
                )
            elapsed = time.monotonic() - started
            store = JobStore(redis_client, 3600)
            statuses = {path: _statuses(store, ids, sink) for path, ids in accepted.items()}
        sink.stop()
        redis_server.process.terminate()

    print(
        f"soak: {args.jobs} tests one by one and {args.batch_jobs} in batches of "
        f"{args.batch_size} (chunks of {args.chunk_size}), {args.workers} workers, a worker "
        f"SIGKILLed every ~{args.kill_every:.0f} s, Redis restarted once; {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f} at the end\n"
    )
    print(
        "| path | submitted | accepted | ended | succeeded | failed | lost "
        "| sent twice (by job) | in doubt, not sent again | succeeded, no message |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    failed = False
    for path, submitted in (("single", args.jobs), ("batch", args.batch_jobs)):
        row = statuses[path]
        print(
            f"| {path} | {submitted} | {len(accepted[path])} "
            f"| {len(accepted[path]) - row['unfinished']} | {row['succeeded']} | {row['failed']} "
            f"| {row['unfinished']} | {row['twice']} | {row['in doubt']} "
            f"| {row['no message']} |"
        )
        failed = failed or bool(row["unfinished"] or row["twice"] or row["no message"])
        failed = failed or len(accepted[path]) != submitted
    print(
        f"\nworker kills {counts['kills']}, Redis restarts {counts['redis_restarts']}, "
        f"503s retried {counts['unavailable']}; submitted (and chaos over) after "
        f"{submitted_after:.0f} s, every job ended after {elapsed:.0f} s"
    )
    if failed:
        sys.exit(1)


def _statuses(store: JobStore, ids: list[str], sink: DelaySink) -> dict[str, int]:
    """The jobs' ends, and what the sink got for them, counted."""
    found = {"succeeded": 0, "failed": 0, "unfinished": 0, "twice": 0, "no message": 0}
    found["in doubt"] = 0
    for job_id in ids:
        stored = store.load(job_id)
        status = stored.job.status if stored is not None and stored.job.finished else None
        found[status or "unfinished"] += 1
        messages = sink.by_job[job_id.encode()]
        found["twice"] += messages > 1
        error = stored.job.result.error if stored and stored.job.result else None
        # worker/tasks.py's _end_in_doubt: failed at DATA's end, and said not to be sent again.
        found["in doubt"] += bool(
            error and error.phase == "data" and "not sent again" in error.message
        )
        found["no message"] += status == "succeeded" and messages == 0
    return found


if __name__ == "__main__":
    main()
