"""Re-tests on a schedule: the spread of 10,000 providers' due times, and their Redis cost.

    .venv/bin/python -m tests.bench.retests [--providers 10000] [--interval 86400]

Starts Redis, stores --providers providers with a re-test interval of --interval seconds, all
within a few seconds (the worst case for a schedule that would count from the creation
time), and prints:

1. the spread of their due times over the interval: runs per minute (mean, max, p99), the
   busiest second, beside what "created at + interval" would give;
2. a whole interval of scheduler ticks, one a second of simulated time (mailprobe.schedule's
   claims, with the jobs they store; the tasks are not sent): runs claimed per minute, each
   (provider, due time) once, and Redis commands per idle tick and per run (round trips, and
   commands counted inside scripts too). A provider whose due time falls in the first and the
   last second of the window runs twice, for two due times;
3. memory per provider: its schedule entry, its stored settings, a history of 10 re-tests.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import redis

from mailprobe import rediskeys
from mailprobe.crypto import SecretBox, generate_key
from mailprobe.history import HISTORY_LENGTH, HistoryStore
from mailprobe.jobs import JobStore
from mailprobe.models.history import ProviderCheck
from mailprobe.models.providers import ProviderRequest
from mailprobe.models.reports import RecipientReport
from mailprobe.providers import ProviderStore
from mailprobe.schedule import RetestSchedule
from mailprobe.settings import Settings
from tests.support import start_redis
from worker.retests import RetestRuntime, schedule_due


class CountingRedis(redis.Redis):
    """A client that counts the commands it sends: its round trips to Redis."""

    round_trips = 0

    def execute_command(self, *args: Any, **options: Any) -> Any:
        self.round_trips += 1
        return super().execute_command(*args, **options)  # type: ignore[no-untyped-call]


def _processed(client: redis.Redis) -> int:
    """Commands Redis has processed, those run by scripts included."""
    return int(client.info("stats")["total_commands_processed"])


def _per_minute(times_ms: list[int], start_ms: int, minutes: int) -> list[int]:
    counts = Counter((t - start_ms) // 60_000 for t in times_ms)
    return [counts.get(minute, 0) for minute in range(minutes)]


def _spread_row(name: str, per_minute: list[int], per_second_max: int) -> str:
    mean = statistics.fmean(per_minute)
    p99 = sorted(per_minute)[int(len(per_minute) * 0.99) - 1]
    peak = max(per_minute)
    return f"| {name} | {mean:.1f} | {p99} | {peak} | {peak / mean:.1f}x | {per_second_max} |"


def _check(index: int) -> str:
    """A history entry as a re-test writes it, of a usual size."""
    return ProviderCheck(
        job_id="01KB2Q5M8N0000000000000000",
        due_at="2026-01-01T00:00:00.000Z",
        checked_at="2026-01-01T00:00:01.234Z",
        outcome="succeeded",
        recipient=RecipientReport(
            address="postmaster@acme.example",
            status="accepted",
            code=250,
            enhanced_code="2.1.5",
            text="2.1.5 OK",
        ),
        tls_version="TLSv1.3",
        certificate_sha256=f"{index:064x}",
        certificate_not_after="2026-03-01T12:00:00Z",
        auth_offered=["LOGIN", "PLAIN", "XOAUTH2"],
        banner="smtp.acme.example ESMTP Postfix (Debian/GNU)",
    ).model_dump_json()


def _runs(client: redis.Redis, job_ids: list[str]) -> list[tuple[str, str]]:
    """The (provider, due time) of each run, from its job."""
    runs = [job.retest for job in JobStore(client, 0).many(job_ids) if job is not None]
    return [(run.provider_id, run.due_at) for run in runs if run is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--providers", type=int, default=10_000)
    parser.add_argument("--interval", type=int, default=86_400)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        server = start_redis(Path(directory))
        try:
            client = CountingRedis(port=server.port, decode_responses=True)
            run(client, args.providers, args.interval)
        finally:
            server.process.terminate()
            server.process.wait(timeout=10)


def run(client: CountingRedis, count: int, interval: int) -> None:
    box = SecretBox([generate_key("bench")])
    providers = ProviderStore(client, box)
    memory_before = int(client.info("memory")["used_memory"])
    created_ms: list[int] = []
    ids: list[str] = []
    for i in range(count):
        request = ProviderRequest.model_validate(
            {
                "description": f"tenant {i} relay",
                "senderAddress": f"noreply@tenant{i}.example",
                "senderName": f"Tenant {i}",
                "tls": True,
                "host": f"smtp.tenant{i % 500}.example:587",
                "user": f"noreply@tenant{i}.example",
                "password": "a-password-of-usual-length",
                "retestIntervalSeconds": interval,
            }
        )
        ids.append(providers.create(f"tenant-{i % 100}", request).id)
        created_ms.append(int(time.time() * 1000))
    memory_after = int(client.info("memory")["used_memory"])
    creation_seconds = (created_ms[-1] - created_ms[0]) / 1000

    # 1. The spread of the due times.
    start_ms = min(created_ms)
    minutes = -(-interval // 60)
    due_ms = [int(score or 0) for score in client.zmscore(rediskeys.RETESTS_DUE, ids)]
    naive_ms = [t + interval * 1000 for t in created_ms]
    hashed_second = max(Counter(t // 1000 for t in due_ms).values())
    naive_second = max(Counter(t // 1000 for t in naive_ms).values())
    print(f"\n{count:,} providers, interval {interval:,} s, stored in {creation_seconds:.1f} s\n")
    print("| due times | runs/min mean | p99 | max | max/mean | max in one second |")
    print("|---|---:|---:|---:|---:|---:|")
    print(
        _spread_row(
            "hashed phase (mailprobe)", _per_minute(due_ms, start_ms, minutes), hashed_second
        )
    )
    print(
        _spread_row(
            "creation time + interval",
            _per_minute(naive_ms, start_ms + interval * 1000, minutes),
            naive_second,
        )
    )

    # 2. A whole interval of ticks, one a simulated second.
    runtime = RetestRuntime(
        settings=Settings(),
        schedule=RetestSchedule(client, 7 * 86400),
        providers=providers,
        history=HistoryStore(client, 7 * 86400),
        box=box,
    )
    claimed_ms: list[int] = []
    made_ids: list[str] = []
    idle = {"ticks": 0, "trips": 0, "all": 0}
    busy = {"runs": 0, "trips": 0, "all": 0}
    # What measuring costs by itself: the INFO, counted by the next one.
    overhead = -_processed(client) + _processed(client)
    started = time.perf_counter()
    tick_ms = start_ms
    while tick_ms <= start_ms + interval * 1000 + 1000:
        everything = _processed(client)
        trips = client.round_trips
        made = schedule_due(runtime, lambda job_id: None, now=tick_ms / 1000)
        spent_trips = client.round_trips - trips
        spent_all = _processed(client) - everything - overhead
        if made:
            busy["runs"] += len(made)
            busy["trips"] += spent_trips
            busy["all"] += spent_all
            claimed_ms += [tick_ms] * len(made)
            made_ids += made
        else:
            idle["ticks"] += 1
            idle["trips"] += spent_trips
            idle["all"] += spent_all
        tick_ms += 1000
    elapsed = time.perf_counter() - started
    claims = _per_minute(claimed_ms, start_ms, minutes + 1)
    runs = _runs(client, made_ids)
    print(
        f"\nTicks over the interval: {idle['ticks'] + len(set(claimed_ms)):,} "
        f"({elapsed:.1f} s of real time); runs: {len(runs):,}, of {len(set(runs)):,} "
        f"(provider, due time) pairs, {len({provider for provider, _ in runs}):,} providers\n"
    )
    print("| | ticks or runs | round trips each | Redis commands each (in scripts too) |")
    print("|---|---:|---:|---:|")
    print(
        f"| idle tick (nothing due) | {idle['ticks']:,} | "
        f"{idle['trips'] / max(idle['ticks'], 1):.2f} | {idle['all'] / max(idle['ticks'], 1):.2f} |"
    )
    print(
        f"| a run claimed (its job stored) | {busy['runs']:,} | "
        f"{busy['trips'] / max(busy['runs'], 1):.2f} | {busy['all'] / max(busy['runs'], 1):.2f} |"
    )
    print(
        f"\nRuns claimed per minute: mean {statistics.fmean(claims[:minutes]):.1f}, "
        f"max {max(claims)}"
    )

    # 3. Memory per provider.
    schedule_bytes = int(client.memory_usage(rediskeys.RETESTS_DUE) or 0)
    sample = ids[: min(100, count)]
    provider_bytes = statistics.fmean(
        int(client.memory_usage(rediskeys.provider(i)) or 0) for i in sample
    )
    for provider_id in sample:
        key = rediskeys.provider_history(provider_id)
        client.rpush(key, *[_check(n) for n in range(HISTORY_LENGTH)])
    history_bytes = statistics.fmean(
        int(client.memory_usage(rediskeys.provider_history(i)) or 0) for i in sample
    )
    print("\n| per provider | bytes |")
    print("|---|---:|")
    print(f"| its entry in the schedule (sorted set) | {schedule_bytes / count:.0f} |")
    print(f"| its settings (hash, as before schedules) | {provider_bytes:.0f} |")
    print(f"| a history of {HISTORY_LENGTH} re-tests (list) | {history_bytes:.0f} |")
    print(
        f"| used_memory growth while storing them, all keys | "
        f"{(memory_after - memory_before) / count:.0f} |"
    )


if __name__ == "__main__":
    main()
