"""Which Celery pool for I/O-bound SMTP sessions? Measured side by side in one run.

    .venv/bin/python -m tests.bench.pool [--jobs 1000] [--delay 0.1] [--pools gevent:500,...]

For each pool, one real worker process runs N jobs against a sink that delays every reply by
D seconds (a session is 7 replies, so 7·D seconds). Printed: throughput, the sessions in
flight at the peak, throughput as a share of the I/O limit min(concurrency, N) / (7·D), and
the worker's peak RSS (its whole process tree).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from pydantic import SecretStr

from mailprobe import rediskeys
from mailprobe.crypto import SecretBox
from mailprobe.jobs import JobStore
from mailprobe.models import SmtpTestRequest
from mailprobe.redisconn import get_redis
from mailprobe.settings import Settings
from tests.bench.common import bench_env
from tests.bench.delay_sink import DelaySink
from tests.support import start_redis, wait_for
from worker.app import RUN_SMTP_TEST, SMTP_QUEUE, create_celery

ROOT = Path(__file__).resolve().parents[2]
REPLIES_PER_SESSION = 7


def tree_rss_kib(pid: int) -> int:
    """RSS of a process and all its descendants, in KiB, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        todo.extend(children.get(current, []))
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def run_pool(
    pool: str, concurrency: int, jobs: int, sink: DelaySink, redis_url: str, env: dict[str, str]
) -> dict[str, float]:
    client = get_redis(redis_url)
    client.flushdb()
    log = open(Path(tempfile.gettempdir()) / f"bench-worker-{pool}.log", "w")  # noqa: SIM115
    settings = Settings(
        redis_url=redis_url, encryption_keys=[SecretStr(env["MAILPROBE_ENCRYPTION_KEYS"])]
    )
    store = JobStore(client, 3600)
    box = SecretBox([env["MAILPROBE_ENCRYPTION_KEYS"]])
    celery = create_celery(settings)
    request = SmtpTestRequest.model_validate(
        {
            "senderAddress": "bench@example.com",
            "senderName": "Bench",
            "host": sink.address,
            "receiverAddress": "sink@example.com",
        }
    )
    # The queue is full before the worker starts: what is measured is the worker, from its
    # first SMTP session to its last accepted message, not how fast this script enqueues.
    ids = []
    for _ in range(jobs):
        job = store.create("bench", request, box)
        celery.send_task(RUN_SMTP_TEST, args=[job.id], queue=SMTP_QUEUE)
        ids.append(job.id)
    sink.reset()
    accepted_before = sink.accepted
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mailprobe",
            "worker",
            "--pool",
            pool,
            "--concurrency",
            str(concurrency),
            "--loglevel",
            "WARNING",
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        peak_rss = [tree_rss_kib(worker.pid)]
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(0.2):
                peak_rss.append(tree_rss_kib(worker.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()

        def ended() -> bool:
            if sink.accepted - accepted_before < jobs:
                return False  # cheap: ask Redis only once the sink has every message
            pipe = client.pipeline(transaction=False)
            for job_id in ids:
                pipe.exists(rediskeys.job_done(job_id))
            return bool(sum(pipe.execute()) == jobs)

        wait_for(ended, 900, f"{jobs} jobs on {pool}")
        elapsed = sink.last_at - sink.first_at
        stop.set()
        sampler.join()
        return {
            "seconds": elapsed,
            "rate": jobs / elapsed,
            "peak": sink.peak,
            "delivered": sink.accepted - accepted_before,
            "rss_mib": max(peak_rss) / 1024,
        }
    finally:
        worker.terminate()
        worker.wait(30)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.1)
    parser.add_argument("--pools", default="gevent:500,threads:500,prefork:2,prefork:16")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        redis_server = start_redis(Path(directory))
        sink = DelaySink(args.delay).start()
        env = bench_env(redis_server.url)
        session = REPLIES_PER_SESSION * args.delay
        print(
            f"{args.jobs} jobs, every reply delayed {args.delay * 1000:.0f} ms "
            f"(a session ≈ {session:.2f} s), {os.cpu_count()} CPUs\n"
        )
        print(
            "| pool | concurrency | seconds | tests/s | peak in flight | % of I/O limit "
            "| peak RSS MiB |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|")
        try:
            for spec in args.pools.split(","):
                pool, _, concurrency = spec.partition(":")
                result = run_pool(pool, int(concurrency), args.jobs, sink, redis_server.url, env)
                limit = min(int(concurrency), args.jobs) / session
                print(
                    f"| {pool} | {concurrency} | {result['seconds']:.1f} | {result['rate']:.0f} "
                    f"| {result['peak']:.0f} | {100 * result['rate'] / limit:.0f}% "
                    f"| {result['rss_mib']:.0f} |",
                    flush=True,
                )
                assert result["delivered"] == args.jobs, result
        finally:
            sink.stop()
            redis_server.process.terminate()


if __name__ == "__main__":
    main()
