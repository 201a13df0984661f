"""The deployment's totals: what every API and worker process on every machine adds up to.

Jobs ended (by outcome and error category), SMTP phase durations (a histogram per phase) and
webhook delivery attempts (by outcome) are counters in Redis hashes (see rediskeys), counted
by the writes that already happen: the script that ends a job (JobStore.finish), the one that
saves a retried attempt (JobStore.save) and the transaction that records a delivery
(WebhookStore.record). So a job costs no extra round trip, and any process that reads Redis
reports the same totals. Queue depths, sessions in flight, unfinished jobs and living workers
are read when asked (`read_snapshot`, one round trip).

Every label comes from a fixed set (outcomes, categories, phases, queues): never a tenant, a
host, an address or a secret. `/metrics` exposes these through `RedisCollector`; the API's own
HTTP series live beside it in api/metrics.py; `mailprobe status` prints a Snapshot.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import get_args

import redis
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from mailprobe import liveness, rediskeys
from mailprobe.models.jobs import Job
from mailprobe.models.reports import ErrorCategory, PhaseName, PhaseReport

# Upper bounds of the phase histogram's buckets, seconds: from a loopback reply to the DATA
# phase's timeout.
PHASE_BUCKETS: tuple[float, ...] = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)
PHASES: tuple[str, ...] = get_args(PhaseName)
CATEGORIES: tuple[str, ...] = get_args(ErrorCategory)
NO_CATEGORY = "none"  # the category label of a job that succeeded
JOB_OUTCOMES = ("succeeded", "failed")
DELIVERY_OUTCOMES = ("delivered", "retrying", "failed", "disabled")

# Jobs ended recently, for `mailprobe status`: one hash per 5 s slot, kept a little over a
# minute.
RECENT_SLOT_SECONDS = 5
RECENT_SLOTS = 12
RECENT_TTL = RECENT_SLOT_SECONDS * (RECENT_SLOTS + 2)

# A Lua function for the scripts that end or save an attempt: count each phase observation
# given as ARGV triples (phase, bucket index, microseconds) from index `from` on.
OBSERVE_PHASES = """
local function observe_phases(key, from)
  for i = from, #ARGV, 3 do
    redis.call('HINCRBY', key, ARGV[i] .. ' ' .. ARGV[i + 1], 1)
    redis.call('HINCRBY', key, ARGV[i] .. ' sum', ARGV[i + 2])
  end
end
"""


def phase_observations(phases: Iterable[PhaseReport]) -> list[str | int]:
    """The ARGV triples OBSERVE_PHASES counts: phase, bucket index, duration in µs."""
    values: list[str | int] = []
    for phase in phases:
        seconds = phase.duration_ms / 1000
        values += [phase.name, bisect_left(PHASE_BUCKETS, seconds), round(seconds * 1_000_000)]
    return values


def job_outcome(job: Job) -> str:
    """The field a job's end is counted under: "outcome category"."""
    error = job.result.error if job.result else None
    if job.status == "succeeded":
        return f"succeeded {NO_CATEGORY}"
    return f"failed {error.category if error is not None else 'internal'}"


def recent_slot(now: float | None = None) -> int:
    return int((time.time() if now is None else now) // RECENT_SLOT_SECONDS)


# -- reading


@dataclass(frozen=True)
class PhaseHistogram:
    counts: list[int]  # per bucket, not cumulative; the last one is +Inf
    sum_seconds: float


@dataclass(frozen=True)
class Snapshot:
    """The deployment as Redis sees it now."""

    jobs_finished: dict[tuple[str, str], int]  # (outcome, category) -> total
    phases: dict[str, PhaseHistogram]
    webhook_deliveries: dict[str, int]  # outcome -> total
    queue_depth: dict[str, int]
    sessions_in_flight: int
    unfinished_jobs: int
    workers: list[tuple[str, float]]  # name, last heartbeat (unix time)
    recent: dict[tuple[str, str], int] = field(default_factory=dict)  # about the last minute


def _job_counts(raw: dict[str, str]) -> dict[tuple[str, str], int]:
    counts = {("succeeded", NO_CATEGORY): 0} | {("failed", c): 0 for c in CATEGORIES}
    for name, value in raw.items():
        outcome, _, category = name.partition(" ")
        counts[(outcome, category)] = counts.get((outcome, category), 0) + int(value)
    return counts


def _histograms(raw: dict[str, str]) -> dict[str, PhaseHistogram]:
    counts = {phase: [0] * (len(PHASE_BUCKETS) + 1) for phase in PHASES}
    sums = dict.fromkeys(PHASES, 0)
    for name, value in raw.items():
        phase, _, which = name.partition(" ")
        if phase not in counts:
            continue
        if which == "sum":
            sums[phase] = int(value)
        else:
            counts[phase][int(which)] += int(value)
    return {phase: PhaseHistogram(counts[phase], sums[phase] / 1_000_000) for phase in PHASES}


def _queue_keys(queue: str) -> list[str]:
    """The lists kombu keeps a queue in: one per priority step (0 is the plain name)."""
    return [queue] + [f"{queue}\x06\x16{step}" for step in (3, 6, 9)]


def read_snapshot(client: redis.Redis, *, recent: bool = False) -> Snapshot:
    """Every figure at once, in one round trip; with `recent`, jobs ended in the last minute."""
    now = time.time()
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(rediskeys.METRICS_JOBS)
    pipe.hgetall(rediskeys.METRICS_PHASES)
    pipe.hgetall(rediskeys.METRICS_WEBHOOKS)
    for queue in rediskeys.QUEUES:
        for key in _queue_keys(queue):
            pipe.llen(key)
    pipe.zcount(rediskeys.SESSIONS, now, "+inf")
    pipe.zcard(rediskeys.UNFINISHED_JOBS)
    pipe.zrangebyscore(rediskeys.WORKERS, now - liveness.STALE_SECONDS, "+inf", withscores=True)
    slots = range(recent_slot(now) - RECENT_SLOTS + 1, recent_slot(now) + 1) if recent else []
    for slot in slots:
        pipe.hgetall(rediskeys.recent_jobs(slot))
    results = iter(pipe.execute())
    jobs, phases, webhooks = next(results), next(results), next(results)
    queues = {
        queue: sum(int(next(results)) for _ in _queue_keys(queue)) for queue in rediskeys.QUEUES
    }
    sessions, unfinished, workers = next(results), next(results), next(results)
    last_minute: dict[tuple[str, str], int] = {}
    for raw in results:
        for name, value in raw.items():
            outcome, _, category = name.partition(" ")
            last_minute[(outcome, category)] = last_minute.get((outcome, category), 0) + int(value)
    return Snapshot(
        jobs_finished=_job_counts(jobs),
        phases=_histograms(phases),
        webhook_deliveries={o: 0 for o in DELIVERY_OUTCOMES}
        | {name: int(value) for name, value in webhooks.items()},
        queue_depth=queues,
        sessions_in_flight=int(sessions),
        unfinished_jobs=int(unfinished),
        workers=[(str(name), float(score)) for name, score in workers],
        recent=last_minute,
    )


def _cumulative(counts: Sequence[int]) -> list[tuple[str, float]]:
    bounds = [*(str(b) for b in PHASE_BUCKETS), "+Inf"]
    total, buckets = 0, []
    for bound, count in zip(bounds, counts, strict=True):
        total += count
        buckets.append((bound, float(total)))
    return buckets


def families(snapshot: Snapshot) -> Iterator[Metric]:
    """The snapshot as Prometheus metric families."""
    jobs = CounterMetricFamily(
        "mailprobe_jobs_finished",
        "Jobs that ended, after their last attempt, by outcome and error category",
        labels=["outcome", "category"],
    )
    for (outcome, category), count in sorted(snapshot.jobs_finished.items()):
        jobs.add_metric([outcome, category], count)
    yield jobs

    phases = HistogramMetricFamily(
        "mailprobe_smtp_phase_duration_seconds",
        "Duration of each SMTP phase of every attempt, failed phases included",
        labels=["phase"],
    )
    for phase, histogram in snapshot.phases.items():
        phases.add_metric([phase], _cumulative(histogram.counts), histogram.sum_seconds)
    yield phases

    deliveries = CounterMetricFamily(
        "mailprobe_webhook_deliveries",
        "Webhook delivery attempts, by outcome",
        labels=["outcome"],
    )
    for outcome, count in sorted(snapshot.webhook_deliveries.items()):
        deliveries.add_metric([outcome], count)
    yield deliveries

    queues = GaugeMetricFamily(
        "mailprobe_queue_depth", "Tasks waiting in each queue", labels=["queue"]
    )
    for queue, depth in snapshot.queue_depth.items():
        queues.add_metric([queue], depth)
    yield queues

    yield GaugeMetricFamily(
        "mailprobe_sessions_in_flight",
        "SMTP sessions running now, across all workers",
        value=snapshot.sessions_in_flight,
    )
    yield GaugeMetricFamily(
        "mailprobe_jobs_unfinished",
        "Jobs queued, running or waiting to retry",
        value=snapshot.unfinished_jobs,
    )
    yield GaugeMetricFamily(
        "mailprobe_workers_alive",
        "Worker processes whose heartbeat is recent",
        value=len(snapshot.workers),
    )


class RedisCollector(Collector):
    """The deployment's totals, read from Redis at each scrape."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def collect(self) -> Iterator[Metric]:
        return families(read_snapshot(self.client))
