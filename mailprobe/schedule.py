"""When each stored provider is re-tested, and how a due re-test is claimed exactly once.

The schedule is one sorted set, rediskeys.RETESTS_DUE: provider id -> the time its next
re-test is due, in unix milliseconds. A provider is in it while its retestIntervalSeconds is
not 0 (mailprobe.providers keeps it so, in the same transaction as the provider's change).

Spread. A provider's due times are the points phase + k * interval, where its phase is a hash
of its id modulo the interval. The phases of many providers are spread evenly over the
interval, whenever the providers were created (10,000 stored in one minute with a daily
interval are not all due in one minute the next day), and a provider keeps its phase across
restarts, updates that keep its interval, and outages: no drift, and no two providers
bunched together by the schedule's own history. `tests/bench/retests.py` measures the spread.

Exactly once. Every worker's maintenance thread is a scheduler (worker/retests.py): any
number of them may read the same due entries at once, and each takes its turn holding a
short lock, but the lock only saves work; it is not what makes a run happen once. That is
the claim, one script (_CLAIM) that, atomically:

1. checks that the entry's score is still the due time the scheduler read (ZSCORE equals it)
   and that the provider is still as the scheduler read it (its `details`, which every change
   rewrites); otherwise another scheduler claimed this due time already, or the provider was
   changed or deleted meanwhile, and nothing is written;
2. moves the due time forward to the provider's next point after now (ZADD XX: only while it
   is still scheduled);
3. stores the run's job, queued, marked as this provider's re-test.

Only then does the scheduler send the job's task. So one due time makes at most one job (no
double run, whatever the number of schedulers, and whatever their clocks: the comparison is
of the score itself), and a due time that was moved forward always has its job (no missed
run): a scheduler killed after the script and before its task was sent leaves a queued job
with no task, which the stuck-job sweeper sends again (worker/maintenance.py, within
MAILPROBE_STUCK_AFTER + 30 s). A scheduler killed before the script claimed nothing: the entry
is still due, and the next tick of any scheduler claims it. From there on the run is an
ordinary job, whose lease and attempt numbers run a task delivered twice once.

The schedule is in Redis, so it survives every restart of the workers. Due times that pass
while no scheduler runs (all workers down) make one run when one is back, not one per missed
interval; the next due time is then the provider's next point after now.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import redis

from mailprobe import rediskeys
from mailprobe.ids import oldest_kept_id
from mailprobe.jobs import STORE_JOB, stored_doc
from mailprobe.models.jobs import Job


def phase_ms(provider_id: str, interval_ms: int) -> int:
    """Where in each interval the provider's re-tests fall: a hash of its id."""
    digest = hashlib.sha256(provider_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % interval_ms


def next_due(provider_id: str, interval_seconds: int, after_ms: int) -> int:
    """The provider's first due time strictly after `after_ms` (unix ms)."""
    interval = interval_seconds * 1000
    return after_ms + (phase_ms(provider_id, interval) - after_ms - 1) % interval + 1


@dataclass(frozen=True)
class Overview:
    """The schedule as an operator reads it (`mailprobe schedule`)."""

    scheduled: int  # providers with a re-test interval
    overdue: int  # due now and not yet claimed
    oldest_late_seconds: float  # how late the longest overdue one is
    next_minute: int
    next_hour: int
    next_day: int
    busiest_minute: int  # the most re-tests due in one minute of the next 24 h
    mean_minute: float  # the next 24 h's re-tests per minute, on average


@dataclass(frozen=True)
class Due:
    """A provider's re-test due at `due_ms` (unix ms), as a scheduler read it."""

    provider_id: str
    due_ms: int


class RetestSchedule:
    def __init__(self, client: redis.Redis, ttl: int) -> None:
        self.redis = client
        self.ttl = ttl  # how long a job stays readable (MAILPROBE_RESULT_TTL)

    def due(self, now_ms: int, limit: int) -> list[Due]:
        """Up to `limit` providers whose re-test is due at `now_ms`, the longest due first."""
        found = self.redis.zrangebyscore(
            rediskeys.RETESTS_DUE, "-inf", now_ms, start=0, num=limit, withscores=True
        )
        return [Due(str(entry[0]), int(entry[1])) for entry in found]

    def overview(self, now_ms: int) -> Overview:
        key = rediskeys.RETESTS_DUE
        pipe = self.redis.pipeline(transaction=False)
        pipe.zcard(key)
        pipe.zcount(key, "-inf", now_ms)
        pipe.zrange(key, 0, 0, withscores=True)
        pipe.zcount(key, f"({now_ms}", now_ms + 60_000)
        pipe.zcount(key, f"({now_ms}", now_ms + 3_600_000)
        pipe.zrangebyscore(key, f"({now_ms}", now_ms + 86_400_000, withscores=True)
        scheduled, overdue, first, minute, hour, day = pipe.execute()
        per_minute = Counter((int(entry[1]) - now_ms) // 60_000 for entry in day)
        late = (now_ms - int(first[0][1])) / 1000 if overdue and first else 0.0
        return Overview(
            scheduled=int(scheduled),
            overdue=int(overdue),
            oldest_late_seconds=max(late, 0.0),
            next_minute=int(minute),
            next_hour=int(hour),
            next_day=len(day),
            busiest_minute=max(per_minute.values(), default=0),
            mean_minute=len(day) / 1440,
        )

    def next_due_ms(self, provider_ids: list[str]) -> list[int | None]:
        scores = self.redis.zmscore(rediskeys.RETESTS_DUE, provider_ids) if provider_ids else []
        return [None if score is None else int(score) for score in scores]

    def claim(
        self,
        due: Due,
        next_ms: int,
        details: str,
        tenant: str,
        job: Job,
        sealed: str,
        now: float,
    ) -> bool:
        """Claim the due re-test and store its `job`, as the module says; False, and nothing
        written, when another scheduler has claimed it or the provider has changed."""
        return bool(
            self.redis.eval(
                _CLAIM,
                5,
                rediskeys.RETESTS_DUE,
                rediskeys.provider(due.provider_id),
                rediskeys.job(job.id),
                rediskeys.tenant_jobs(tenant),
                rediskeys.UNFINISHED_JOBS,
                due.provider_id,
                due.due_ms,
                next_ms,
                details,
                now,
                self.ttl,
                oldest_kept_id(now, self.ttl),
                tenant,
                job.id,
                stored_doc(job),
                sealed,
            )
        )

    def postpone(self, due: Due, next_ms: int | None) -> bool:
        """Move a due time forward without a run (its provider cannot be tested now), or
        with None take the provider out (it is gone, or has no interval), only if no other
        scheduler has moved it: an entry that cannot run must not stay due for ever."""
        return bool(
            self.redis.eval(
                _POSTPONE, 1, rediskeys.RETESTS_DUE, due.provider_id, due.due_ms, next_ms or ""
            )
        )


# KEYS: schedule, provider, job, tenant's jobs, unfinished jobs
# ARGV: provider id, due time read, next due time, provider's details read, now (unix s), ttl,
#       oldest id kept in the tenant's index, tenant, job id, doc, sealed secrets
_CLAIM = (
    STORE_JOB
    + """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if redis.call('HGET', KEYS[2], 'details') ~= ARGV[4] then return 0 end
redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
store_job(KEYS[3], KEYS[4], KEYS[5], ARGV[5], ARGV[6], ARGV[8], ARGV[9], ARGV[10], ARGV[11])
redis.call('HSET', KEYS[3], 'retest', ARGV[1])
trim_tenant_jobs(KEYS[4], ARGV[7], ARGV[6])
return 1
"""
)

# KEYS: schedule; ARGV: provider id, due time read, next due time ("": take it out)
_POSTPONE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not score or tonumber(score) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then return redis.call('ZREM', KEYS[1], ARGV[1]) end
return redis.call('ZADD', KEYS[1], 'XX', 'CH', ARGV[3], ARGV[1])
"""
