"""Failover: N tests through the HTTP API while the Redis primary is SIGKILLed.

    .venv/bin/python -m tests.bench.failover [--jobs 1000] [--delay 0.1]

A primary, two replicas and three Sentinels on loopback (tests/sentinels.py), the API and a
worker on the Sentinel URL with MAILPROBE_REDIS_MIN_REPLICAS=1, and a slow SMTP sink. Clients
submit each test with an Idempotency-Key and retry a 503 (or a lost connection) with the same
key, as a careful client does. The primary is killed twice over two runs: once early, once
while the sink is accepting messages. Each run prints the jobs answered 202, those lost (not
ended, or gone), the messages the sink received twice for one job, and the 503 window (from
the first refused submission to the last). Then the API's submissions per second, with and
without MIN_REPLICAS=1 (tests/bench/api.py's load; two runs each, in the order 0, 1, 1, 0).
Exits non-zero on a lost job or a message sent twice.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import Any

import requests

from mailprobe.apikeys import PERMISSIONS, ApiKeyStore
from mailprobe.jobs import JobStore
from tests.bench.api import Load, _run, post
from tests.bench.common import bench_env, bench_test, start_api
from tests.bench.delay_sink import DelaySink
from tests.sentinels import MASTER, SentinelGroup, sentinel_group
from tests.smtp_servers import free_port
from tests.support import Service, running_service, wait_for

# What a service on a Sentinel group needs beyond its usual settings: a task whose worker lost
# its broker connection in the failover comes back within seconds (its job then drops it, or
# runs it if it had not run).
FAILOVER_SETTINGS = {
    "MAILPROBE_REDIS_SENTINEL_MASTER": MASTER,
    "MAILPROBE_REDIS_MIN_REPLICAS": "1",
    "MAILPROBE_REDIS_WAIT_TIMEOUT": "1000",
    "MAILPROBE_VISIBILITY_TIMEOUT": "5",
    "MAILPROBE_RESTORE_INTERVAL": "1",
}


@dataclass
class FailoverRun:
    """What one run saw."""

    submitted: int = 0
    accepted: list[str] = field(default_factory=list)
    refused: list[float] = field(default_factory=list)  # monotonic times of 503s / errors
    killed_at: float = 0.0
    promoted_at: float = 0.0
    statuses: Counter[str] = field(default_factory=Counter)
    sent_twice: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def lost(self) -> int:
        return sum(n for status, n in self.statuses.items() if status not in ENDED)

    @property
    def window(self) -> float:
        """Seconds from the first refused submission to the last (0: none was refused)."""
        return max(self.refused) - min(self.refused) if self.refused else 0.0


ENDED = ("succeeded", "failed")


def _submit(
    client: requests.Session, base_url: str, body: dict[str, Any], run: FailoverRun
) -> None:
    """One test, retried with its Idempotency-Key until it is answered 2xx."""
    key = {"Idempotency-Key": str(uuid.uuid4())}
    deadline = time.monotonic() + 120
    while True:
        try:
            response = client.post(
                f"{base_url}/email/smtp/_test", json=body, headers=key, timeout=15
            )
        except requests.RequestException:
            response = None
        if response is not None and response.status_code in (200, 202):
            with run.lock:
                run.accepted.append(response.json()["id"])
            return
        if response is not None and response.status_code not in (409, 503):
            raise AssertionError(f"unexpected answer: {response.status_code} {response.text}")
        if response is not None and response.status_code == 503:
            assert response.headers.get("Retry-After"), response.headers
            assert response.json()["code"] == 14, response.text  # UNAVAILABLE
        with run.lock:
            run.refused.append(time.monotonic())
        if time.monotonic() > deadline:
            raise AssertionError("the API did not come back within 120 s")
        time.sleep(0.05)  # a client's backoff before it tries again (shorter than Retry-After)


def failover_soak(
    service: Service,
    group: SentinelGroup,
    sink: DelaySink,
    key: str,
    jobs: int,
    kill_when: Callable[[FailoverRun], bool],
    *,
    clients: int = 4,
    pace: float = 0.0,
    end_within: float = 120,
) -> FailoverRun:
    """Submit `jobs` tests from `clients` threads (each waiting `pace` seconds between two);
    SIGKILL the primary once `kill_when(run)`; wait for every accepted job to end; count what
    ended, what was lost and sent twice."""
    run = FailoverRun(submitted=jobs)
    body = {
        "senderAddress": "failover@example.com",
        "senderName": "Failover",
        "host": sink.address,
        "receiverAddress": "sink@example.com",
    }
    shares = [jobs // clients + (1 if index < jobs % clients else 0) for index in range(clients)]
    failures: list[BaseException] = []

    def client_thread(share: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {key}"
        try:
            for _ in range(share):
                _submit(session, service.base_url, body, run)
                time.sleep(pace)  # a steady stream of submissions, across the failover
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=client_thread, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    wait_for(lambda: kill_when(run) or failures, 120, "the moment to kill the primary")
    old = group.kill_primary()
    run.killed_at = time.monotonic()
    group.wait_for_failover(old, 60)
    run.promoted_at = time.monotonic()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]

    client = group.client()

    def statuses() -> Counter[str]:
        found: Counter[str] = Counter()
        for job in JobStore(client, 0).many(run.accepted):
            found[job.status if job is not None else "gone"] += 1
        return found

    def all_ended() -> bool:
        run.statuses = statuses()
        return run.lost == 0

    with contextlib.suppress(AssertionError):  # what has not ended by then is lost
        wait_for(all_ended, end_within, "every accepted job to end")
    run.sent_twice = sink.duplicates
    return run


def print_runs(runs: dict[str, FailoverRun]) -> None:
    print(
        "| primary killed | jobs | answered 202 | succeeded | failed | lost | sent twice "
        "| 503s retried | 503 window, s | kill to new primary, s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, run in runs.items():
        print(
            f"| {name} | {run.submitted} | {len(run.accepted)} | {run.statuses['succeeded']} "
            f"| {run.statuses['failed']} | {run.lost} | {run.sent_twice} | {len(run.refused)} "
            f"| {run.window:.1f} | {run.promoted_at - run.killed_at:.1f} |"
        )


def _service_env(group: SentinelGroup, **overrides: str) -> dict[str, str]:
    return bench_env(
        group.url,
        MAILPROBE_PORT=str(free_port()),
        MAILPROBE_SMTP_SESSION_DEADLINE="20",
        MAILPROBE_RETRY_BASE_DELAY="0.2",
        MAILPROBE_RETRY_MAX_DELAY="1",
        MAILPROBE_MAX_ATTEMPTS="5",
        **{**FAILOVER_SETTINGS, **overrides},
    )


def one_run(root: Path, jobs: int, delay: float, name: str) -> FailoverRun:
    """One soak on a group of its own: the primary killed "early" (after a tenth of the jobs
    were answered 202) or "while accepting messages" (once the sink has accepted a tenth
    and is in sessions). 8 clients, each waiting 50 ms between two submissions, so that
    submissions go on through the failover."""
    with sentinel_group(root / "redis") as group:
        sink = DelaySink(delay).start()
        try:
            env = _service_env(group)
            with running_service(env, group.primary(), root / "logs") as service:
                key = service.key(tenant="t-failover")

                def kill_when(run: FailoverRun) -> bool:
                    if name == "early":
                        return len(run.accepted) >= jobs // 10
                    return sink.accepted >= jobs // 10 and sink.in_flight > 0

                return failover_soak(
                    service, group, sink, key, jobs, kill_when, clients=8, pace=0.05
                )
        finally:
            sink.stop()


def submissions_per_second(root: Path, min_replicas: int, seconds: float) -> Load:
    """POST /email/smtp/_test under tests/bench/api.py's load (8 keep-alive connections),
    against the API alone on a Sentinel group (nothing consumes the queue, as there)."""
    with sentinel_group(root / "redis") as group:
        env = _service_env(group, MAILPROBE_REDIS_MIN_REPLICAS=str(min_replicas))
        key = ApiKeyStore(group.client()).create("t-bench", list(PERMISSIONS))
        test = bench_test("127.0.0.1:2525", user="bench", password="bench-password", tls=False)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        request = post("/email/smtp/_test", json.dumps(test).encode(), headers)
        port = free_port()
        server = start_api("api.wsgi:app", port, env, root / "api.log")
        try:
            asyncio.run(_run(port, request, 8, 2.0, 20))  # warm-up
            return asyncio.run(_run(port, request, 8, seconds, 20))
        finally:
            server.terminate()
            server.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.1, help="sink reply delay, s")
    parser.add_argument("--seconds", type=float, default=10, help="of each submission load")
    args = parser.parse_args()
    runs: dict[str, FailoverRun] = {}
    with tempfile.TemporaryDirectory() as directory:
        for name in ("early", "while accepting messages"):
            runs[name] = one_run(
                Path(directory) / name.replace(" ", "-"), args.jobs, args.delay, name
            )
        print_runs(runs)
        print()
        # In the order 0, 1, 1, 0: a machine shared with other work drifts less into one side.
        loads: dict[int, list[Load]] = {0: [], 1: []}
        for index, min_replicas in enumerate((0, 1, 1, 0)):
            root = Path(directory) / f"load-{index}"
            loads[min_replicas].append(submissions_per_second(root, min_replicas, args.seconds))
        print("| MAILPROBE_REDIS_MIN_REPLICAS | API submissions/s (each run) | p50 ms | p99 ms |")
        print("|---:|---:|---:|---:|")
        for min_replicas, measured in loads.items():
            rates = " / ".join(f"{load.rate:,.0f}" for load in measured)
            print(
                f"| {min_replicas} | {mean(load.rate for load in measured):,.0f} ({rates}) "
                f"| {mean(load.percentile(50) for load in measured):.1f} "
                f"| {mean(load.percentile(99) for load in measured):.1f} |"
            )
            assert not any(load.errors for load in measured), "a submission was not answered 2xx"
    if any(
        run.lost or run.sent_twice or len(run.accepted) != run.submitted for run in runs.values()
    ):
        sys.exit(1)


if __name__ == "__main__":
    main()
