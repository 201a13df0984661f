"""Benchmark 2: N tests end to end against a slow SMTP server, gevent beside prefork.

    .venv/bin/python -m tests.bench.end_to_end [--tests 2000] [--delay 0.1] [--pools ...]
                                               [--prefork-tests 100]

Pools are pool:concurrency (gevent at 100, 250 and 1,000, prefork at the core count by
default); a gevent row runs at least 4 tests a slot.

The API (under gunicorn) takes N tests through POST /email/smtp/_tests; then one worker
process starts with a pool and runs them against a sink on loopback that delays every reply
by D seconds. A session is 7 replies (banner, EHLO, MAIL, RCPT, DATA, end of data, QUIT), so
it cannot take less than 7·D: a worker with S sessions in flight can at best end S / (7·D)
tests per second — the I/O limit. Printed per pool: tests per second (first session to last
message), the sessions in flight at the peak (counted by the sink), throughput as a share of
the I/O limit at that peak, how long a freed pool slot stays empty (from one attempt's end
to the next one's start in that slot, read from the jobs' attempts: p50 and p90), how soon
an idle worker starts a test once it is published (20 tests, from the job's creation to its
attempt's start), the worker's CPU time and peak RSS, and what each test cost Redis
while the worker ran: client reads (Redis's `total_reads_processed`: about one per round
trip, a pipeline or a script being one) and commands (those run inside scripts included);
then gevent's throughput as
a multiple of prefork's at the machine's core count (Celery's default). Prefork runs fewer
tests (at 2 sessions per 0.7 s, 2,000 would take 12 minutes); its rate is steady from the
first test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from datetime import datetime
from pathlib import Path

from mailprobe.jobs import JobStore
from mailprobe.redisconn import get_redis
from tests.bench.common import (
    PeakRss,
    bench_env,
    bench_test,
    ended_count,
    start_api,
    start_worker,
    stop,
    submit,
    tree_cpu_seconds,
)
from tests.bench.delay_sink import DelaySink
from tests.smtp_servers import free_port
from tests.support import start_redis, wait_for

REPLIES_PER_SESSION = 7
LATENCY_TESTS = 20


def _per_test(after: dict[str, int], before: dict[str, int], field: str, tests: int) -> float:
    return (int(after[field]) - int(before[field])) / tests


def _unix(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def refill_gaps(jobs: JobStore, ids: list[str], concurrency: int) -> list[float]:
    """How long each freed pool slot stayed empty, in seconds, from the jobs' own attempts.

    While the queue is not empty the pool is full, so the k-th attempt to end frees the slot
    that the (concurrency + k)-th attempt to start takes: the gap between the two is the
    time from a slot's last SMTP session to its next (the task's end, its acknowledgement,
    the next task's delivery and start, its lease).
    """
    starts: list[float] = []
    ends: list[float] = []
    for job_id in ids:
        stored = jobs.load(job_id)
        assert stored is not None, job_id
        for attempt in stored.job.attempts:
            starts.append(_unix(attempt.started_at))
            if attempt.finished_at is not None:
                ends.append(_unix(attempt.finished_at))
    starts.sort()
    ends.sort()
    return [start - end for start, end in zip(starts[concurrency:], ends, strict=False)]


def start_delays(jobs: JobStore, ids: list[str]) -> list[float]:
    """Seconds from each job's creation (its task is published right after) to the start of
    its first attempt."""
    delays = []
    for job_id in ids:
        stored = jobs.load(job_id)
        assert stored is not None and stored.job.attempts, job_id
        delays.append(_unix(stored.job.attempts[0].started_at) - _unix(stored.job.created_at))
    return delays


def run(
    pool: str, concurrency: int, tests: int, sink: DelaySink, base_url: str, env: dict[str, str]
) -> dict[str, float]:
    client = get_redis(env["MAILPROBE_REDIS_URL"])
    client.flushdb()
    ids = submit(base_url, env, bench_test(sink.address), tests)
    accepted_before = sink.accepted
    log = Path(tempfile.gettempdir()) / f"bench-worker-{pool}.log"
    # The queue is full before the worker starts: what is measured is the worker, from its
    # first SMTP session to its last accepted message.
    sink.reset()
    stats_before = client.info("stats")
    worker = start_worker(env, pool, concurrency, log)
    try:
        cpu_before = tree_cpu_seconds(worker.pid)
        peak_rss = PeakRss(worker.pid).start()

        def ended() -> bool:
            if sink.accepted - accepted_before < tests:
                return False  # cheap: ask Redis only once the sink has every message
            return ended_count(client, ids) == tests

        wait_for(ended, 1800, f"{tests} tests on {pool}")
        cpu = tree_cpu_seconds(worker.pid) - cpu_before
        stats = client.info("stats")
        peak_rss.stop()
        elapsed = sink.last_at - sink.first_at
        jobs = JobStore(client, 3600)
        gaps = sorted(refill_gaps(jobs, ids, concurrency)) or [0.0]
        result = {
            "refill_p50_ms": 1000 * statistics.median(gaps),
            "refill_p90_ms": 1000 * gaps[int(0.9 * (len(gaps) - 1))],
            "seconds": elapsed,
            "rate": tests / elapsed,
            "peak": sink.peak,
            "delivered": sink.accepted - accepted_before,
            "duplicates": sink.duplicates,
            "cpu": cpu,
            "rss_mib": peak_rss.mib,
            "reads": _per_test(stats, stats_before, "total_reads_processed", tests),
            "commands": _per_test(stats, stats_before, "total_commands_processed", tests),
        }
        # Then, the worker idle, how soon a test it is sent starts.
        idle = submit(base_url, env, bench_test(sink.address), LATENCY_TESTS)
        wait_for(lambda: ended_count(client, idle) == len(idle), 60, "tests on an idle worker")
        delays = start_delays(jobs, idle)
        result["start_p50_ms"] = 1000 * statistics.median(delays)
        result["start_max_ms"] = 1000 * max(delays)
        return result
    finally:
        stop(worker)


def main() -> None:
    cores = os.cpu_count() or 1
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--delay", type=float, default=0.1, help="seconds before each reply")
    parser.add_argument("--pools", default=f"gevent:100,gevent:250,gevent:1000,prefork:{cores}")
    parser.add_argument("--prefork-tests", type=int, default=100)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        redis_server = start_redis(root)
        sink = DelaySink(args.delay).start()
        port = free_port()
        env = bench_env(redis_server.url, MAILPROBE_PORT=str(port))
        api = start_api("api.wsgi:app", port, env, root / "api.log")
        session = REPLIES_PER_SESSION * args.delay
        print(
            f"{args.tests} tests, every reply delayed {args.delay * 1000:.0f} ms "
            f"(a session ≥ {session:.2f} s), one worker process, {cores} CPUs\n"
        )
        print(
            "| pool | concurrency | tests | seconds | tests/s | peak in flight | I/O limit at peak "
            "| % of limit | slot refill p50 / p90 ms | idle: publish to start p50 / max ms "
            "| worker CPU s | peak RSS MiB | Redis reads/test | Redis commands/test |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        rates: dict[str, float] = {}
        try:
            for spec in args.pools.split(","):
                pool, _, concurrency = spec.partition(":")
                # At least 4 tests a slot: the pool refills each slot 3 times or more.
                tests = (
                    args.prefork_tests
                    if pool == "prefork"
                    else max(args.tests, 4 * int(concurrency))
                )
                result = run(pool, int(concurrency), tests, sink, f"http://127.0.0.1:{port}", env)
                limit = result["peak"] / session
                rates[pool] = result["rate"]
                print(
                    f"| {pool} | {concurrency} | {tests} | {result['seconds']:.1f} "
                    f"| {result['rate']:.0f} | {result['peak']:.0f} | {limit:.0f}/s "
                    f"| {100 * result['rate'] / limit:.0f}% "
                    f"| {result['refill_p50_ms']:.0f} / {result['refill_p90_ms']:.0f} "
                    f"| {result['start_p50_ms']:.0f} / {result['start_max_ms']:.0f} "
                    f"| {result['cpu']:.1f} | {result['rss_mib']:.0f} "
                    f"| {result['reads']:.1f} | {result['commands']:.1f} |",
                    flush=True,
                )
                assert result["delivered"] == tests, result
                assert result["duplicates"] == 0, result
        finally:
            stop(api)
            sink.stop()
            redis_server.process.terminate()
        if "gevent" in rates and "prefork" in rates:
            print(f"\ngevent: {rates['gevent'] / rates['prefork']:.1f}x prefork's tests/s")


if __name__ == "__main__":
    main()
