"""Heartbeat: what liveness costs an idle worker and Redis, and how soon a dead worker is known.

    .venv/bin/python -m tests.bench.heartbeat [--workers 2] [--seconds 30] [--kills 5]

Starts Redis and idle gevent workers, measures the workers' CPU time (from /proc) and the
commands Redis processed over --seconds, then SIGKILLs workers one by one and measures how
long each stays "alive" to the others (mailprobe.liveness.is_alive, polled every 10 ms).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import tempfile
import time
from functools import partial
from pathlib import Path

from mailprobe import liveness, rediskeys
from tests.bench.common import bench_env, start_worker, stop, tree_cpu_seconds
from tests.support import start_redis, wait_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--kills", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        redis_server = start_redis(root)
        client = redis_server.client()
        env = bench_env(redis_server.url)
        workers = [
            start_worker(env, "gevent", 10, root / f"worker-{i}.log") for i in range(args.workers)
        ]
        try:
            time.sleep(3)  # start-up work done: measure the idle state
            cpu_before = sum(tree_cpu_seconds(w.pid) for w in workers)
            commands_before = int(client.info("stats")["total_commands_processed"])
            started = time.monotonic()
            time.sleep(args.seconds)
            elapsed = time.monotonic() - started
            cpu = sum(tree_cpu_seconds(w.pid) for w in workers) - cpu_before
            commands = int(client.info("stats")["total_commands_processed"]) - commands_before

            detections = []
            for i in range(args.kills):
                victim = workers[i % len(workers)]
                prefix = f"mailprobe-{victim.pid}@"
                name = next(
                    n
                    for n in map(str, client.zrange(rediskeys.WORKERS, 0, -1))
                    if n.startswith(prefix)
                )
                wait_for(partial(liveness.is_alive, client, name), 30, "the worker to beat")
                os.killpg(victim.pid, signal.SIGKILL)
                victim.wait()
                killed = time.monotonic()
                while liveness.is_alive(client, name):
                    time.sleep(0.01)
                detections.append(time.monotonic() - killed)
                workers[i % len(workers)] = start_worker(
                    env, "gevent", 10, root / f"worker-k{i}.log"
                )
        finally:
            for worker in workers:
                stop(worker)
            redis_server.process.terminate()

    per_worker = args.workers * elapsed
    print(
        f"heartbeat: {args.workers} idle gevent workers for {elapsed:.0f} s, then "
        f"{args.kills} SIGKILLs; {os.cpu_count()} CPUs\n"
    )
    print(
        "| worker CPU ms/s (idle) | Redis commands/s per worker "
        "| known dead after SIGKILL, s (median, max) |"
    )
    print("|---:|---:|---:|")
    print(
        f"| {cpu * 1000 / per_worker:.2f} | {commands / per_worker:.1f} "
        f"| {statistics.median(detections):.2f}, {max(detections):.2f} |"
    )


if __name__ == "__main__":
    main()
