"""Benchmark 5: how many SMTP sessions one worker process holds at once, and at what cost.

    .venv/bin/python -m tests.bench.sessions [--sessions 10000] [--delay 2] [--runs 1]

The API takes `sessions` tests through the batch route, POST /email/smtp/_tests (1,000 a
request; one Celery task a chunk of MAILPROBE_BATCH_CHUNK_SIZE tests, by default); then one
gevent worker process with a pool of as many greenlets runs them against a sink on loopback
that delays every reply by D seconds (a session is 7 replies: at least 7·D). The benchmark
raises its own descriptor limit (the sink holds one socket per session), as the worker
raises its own at start.

Printed per run: the sessions in flight at the peak (counted by the sink), how many tests
succeeded, the seconds from the first session to the last message, the worker's CPU time and
peak RSS (the process tree, sampled every 0.2 s), and the lag of its event loop: how late a
greenlet that sleeps 50 ms again and again is woken (tests/bench/loop_lag.py), p50, p99 and
the worst, over the whole run; and the full collections of Python's garbage collector in
the worker (which stop every greenlet), how many and the longest.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cli.main import worker_argv
from mailprobe import rediskeys
from mailprobe.jobs import JobStore
from mailprobe.liveness import alive_count
from mailprobe.redisconn import get_redis
from mailprobe.settings import Settings
from tests.bench.common import (
    PeakRss,
    bench_env,
    bench_test,
    ended_count,
    start_api,
    stop,
    submit,
    tree_cpu_seconds,
)
from tests.bench.delay_sink import DelaySink
from tests.bench.loop_lag import FILE_VARIABLE
from tests.smtp_servers import free_port
from tests.support import start_process, start_redis, wait_for

REPLIES_PER_SESSION = 7


def raise_descriptor_limit(needed: int) -> int:
    """The soft limit of open files raised to the hard one; exits when that is too few."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard != resource.RLIM_INFINITY and hard < needed:
        sys.exit(f"the hard limit of open files is {hard}; this run needs about {needed}")
    return hard


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(sessions: int, delay: float, root: Path) -> dict[str, float]:
    redis_server = start_redis(root)
    sink = DelaySink(delay).start()
    port = free_port()
    lag_file = root / "lag.txt"
    env = bench_env(
        redis_server.url,
        MAILPROBE_PORT=str(port),
        # Sizes the worker's broker connection pool (mailprobe/queues.py) for its pool of greenlets.
        MAILPROBE_WORKER_CONCURRENCY=str(sessions),
        **{FILE_VARIABLE: str(lag_file)},
    )
    api = start_api("api.wsgi:app", port, env, root / "api.log")
    client = get_redis(redis_server.url)
    worker = None
    try:
        ids = submit(f"http://127.0.0.1:{port}", env, bench_test(sink.address), sessions)
        sink.reset()
        argv = worker_argv("gevent", sessions, "WARNING", rediskeys.SMTP_QUEUE, "bench@%h")
        worker = start_process([*argv, "--include", "tests.bench.loop_lag"], env, root / "w.log")
        wait_for(lambda: alive_count(client) > 0, 60, "the worker to beat")
        started = time.time()
        cpu_before = tree_cpu_seconds(worker.pid)
        peak_rss = PeakRss(worker.pid).start()

        def ended() -> bool:
            assert worker is not None and worker.poll() is None, "the worker exited"
            if sink.accepted < sessions:
                return False
            return ended_count(client, ids) == sessions

        wait_for(ended, 1800, f"{sessions} sessions")
        cpu = tree_cpu_seconds(worker.pid) - cpu_before
        peak_rss.stop()
        jobs = JobStore(client, 3600)
        statuses = [stored.job.status for stored in map(jobs.load, ids) if stored is not None]
        records = [line.split() for line in lag_file.read_text().splitlines()]
        lags = [
            float(lag) for at, lag in (r for r in records if r[0] != "gc") if float(at) >= started
        ]
        collections = [float(r[2]) for r in records if r[0] == "gc" and float(r[1]) >= started]
        return {
            "peak": sink.peak,
            "succeeded": statuses.count("succeeded"),
            "duplicates": sink.duplicates,
            "seconds": sink.last_at - sink.first_at,
            "cpu": cpu,
            "rss_mib": peak_rss.mib,
            "lag_p50_ms": 1000 * statistics.median(lags),
            "lag_p99_ms": 1000 * percentile(lags, 0.99),
            "lag_max_ms": 1000 * max(lags),
            "collections": len(collections),
            "collection_max_ms": 1000 * max(collections, default=0.0),
        }
    finally:
        if worker is not None:
            stop(worker)
        stop(api)
        sink.stop()
        redis_server.process.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--delay", type=float, default=2.0, help="seconds before each reply")
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    # One socket a session in the sink (this process), as in the worker (which inherits
    # the limit, and raises its own soft one), and some for Redis beside them.
    limit = raise_descriptor_limit(args.sessions + 1000)
    chunk = Settings.model_fields["batch_chunk_size"].default
    print(
        f"{args.sessions} tests (batch submissions, one task a chunk of {chunk}), "
        f"every reply delayed {args.delay * 1000:.0f} ms "
        f"(a session ≥ {REPLIES_PER_SESSION * args.delay:.0f} s), "
        f"one gevent worker process of {args.sessions} greenlets, {os.cpu_count()} CPUs "
        f"({platform.machine()}), open files limit {limit}, {args.runs} run(s)\n"
    )
    print(
        "| run | peak in flight | succeeded | duplicates | seconds | worker CPU s "
        "| peak RSS MiB | loop lag p50 / p99 / max ms | full GCs; longest ms |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for number in range(1, args.runs + 1):
        with tempfile.TemporaryDirectory() as directory:
            result = run(args.sessions, args.delay, Path(directory))
        print(
            f"| {number} | {result['peak']:.0f} | {result['succeeded']:.0f} "
            f"| {result['duplicates']:.0f} | {result['seconds']:.1f} | {result['cpu']:.1f} "
            f"| {result['rss_mib']:.0f} | {result['lag_p50_ms']:.1f} / "
            f"{result['lag_p99_ms']:.1f} / {result['lag_max_ms']:.0f} "
            f"| {result['collections']:.0f}; {result['collection_max_ms']:.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
