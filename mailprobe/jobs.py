"""JobStore: where jobs live in Redis, from submission to retention's end.

A job is one Redis hash (see rediskeys) holding its tenant, its public document (compact:
mailprobe.jobdoc, bytes: the reads that carry it take the reply undecoded) and, until it
ends, its encrypted password. Only the API creates jobs and
only a worker changes them.

A job's end wakes whoever waits for it through its done stream. Redis 7.0 gives a new stream
a 4 KiB node however small its one entry, so only a job someone waits for (a long poll, a
Server-Sent Events client, Zitadel's synchronous calls) gets one, kept DONE_KEPT seconds:
the waiter marks the job awaited before it blocks, or finds it ended and the stream written.
A job has ended when its hash exists and it is no longer among the unfinished jobs.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import redis
from redis.client import NEVER_DECODE

from mailprobe import durability, liveness, rediskeys
from mailprobe.crypto import SecretBox, job_context, open_secrets, seal_secrets
from mailprobe.ids import new_id
from mailprobe.jobdoc import pack_doc, unpack_doc, unpack_job
from mailprobe.metrics import (
    OBSERVE_PHASES,
    RECENT_TTL,
    job_outcome,
    phase_observations,
    recent_slot,
)
from mailprobe.models.base import utcnow
from mailprobe.models.jobs import Job, JobStatus, RetestRun
from mailprobe.models.reports import PhaseReport, Report
from mailprobe.models.smtp import SmtpTestRequest
from mailprobe.settings import Settings

# How long a job's done stream outlives its end. A waiter reads it right after marking the
# job awaited (or finding it ended), so minutes are plenty; one that came later still gets
# the right answer when its wait times out and it reads the job.
DONE_KEPT = 600


def new_job(
    request: SmtpTestRequest,
    box: SecretBox,
    *,
    max_attempts: int | None = None,
    retest: RetestRun | None = None,
) -> tuple[Job, str]:
    """A queued job for `request`, not yet stored, and its secrets sealed for it."""
    job = Job(
        id=new_id(),
        status="queued",
        created_at=utcnow(),
        request=request.public(),
        max_attempts=max_attempts,
        retest=retest,
    )
    return job, seal_secrets(box, request.secrets(), job_context(job.id))


@dataclass(frozen=True)
class StoredJob:
    tenant: str
    job: Job
    secret: str  # encrypted secrets (JSON); "" when there are none or the job has ended
    accepted: Report | None = None  # the report as of the server's 250 after DATA
    # The attempt whose worker handed the server the end of DATA (mark_committing), if any.
    committing: int | None = None
    notify: bool = False  # ended, and its webhook deliveries may not all be sent yet
    watched: bool = False  # a client follows its events (mailprobe.progress)

    def request_with_secrets(self, box: SecretBox) -> SmtpTestRequest:
        request = SmtpTestRequest.model_validate(self.job.request)
        return request.with_secrets(open_secrets(box, self.secret, job_context(self.job.id)))


_FIELDS = ["tenant", "doc", "secret", "accepted", "committing", "notify", "watched"]


def _undecoded(client: redis.Redis | redis.client.Pipeline, *command: Any) -> Any:
    """Run (or, on a pipeline, queue) a command whose reply carries a stored document: its
    reply comes as bytes, not decoded."""
    return client.execute_command(*command, **{NEVER_DECODE: True})  # type: ignore[no-untyped-call]


def stored_doc(job: Job) -> str:
    """The document of a job that has not ended, as its hash keeps it: plain JSON. It lives
    minutes and is written at every step, so deflating it would cost CPU at every step for
    memory held briefly; JobStore.finish stores the ended job deflated (mailprobe.jobdoc)."""
    return job.model_dump_json()


def job_of(stored: bytes) -> Job:
    """The job from the document its hash keeps."""
    return Job.model_validate_json(unpack_doc(stored))


def _owned(tenant: bytes | None, doc: bytes | None) -> tuple[str, Job] | None:
    """The job and its tenant from its hash's tenant and doc fields, read undecoded: an
    ended job keeps its tenant in its doc (mailprobe.jobdoc)."""
    if doc is None:
        return None
    kept, text = unpack_job(doc)
    owner = kept if tenant is None else tenant.decode()
    if owner is None:
        return None
    return owner, Job.model_validate_json(text)


def _stored(fields: list[Any]) -> StoredJob | None:
    """The job from its hash's _FIELDS, read undecoded."""
    tenant, doc, secret, accepted, committing, notify, watched = fields
    owned = _owned(tenant, doc)
    if owned is None:
        return None
    return StoredJob(
        tenant=owned[0],
        job=owned[1],
        secret=secret.decode() if secret else "",
        accepted=Report.model_validate_json(accepted) if accepted else None,
        committing=int(committing) if committing else None,
        notify=notify is not None,
        watched=watched is not None,
    )


@dataclass
class Hold:
    """What a running attempt holds in Redis: its job's lease and, once the attempt has
    begun, a slot among the sessions its destination host allows across all workers (a slot
    expires on its own if its worker dies).

    Both are given back together, by JobStore.finish or JobStore.release, whichever is first.
    """

    job_id: str
    lease: str
    host: str = ""
    slot: str = ""
    watched: bool = False  # begin_attempt found that a client follows the job's events

    @property
    def worker(self) -> str:
        """The worker holding the lease (its token is "worker random")."""
        return lease_holder(self.lease)


# How long a worker tries to make its "message accepted" mark durable: about as long as its
# Redis client retries a command (mailprobe.redisconn).
MARK_SECONDS = 30.0


def lease_holder(token: str) -> str:
    return token.split(" ", 1)[0]


class JobStore:
    def __init__(self, client: redis.Redis, ttl: int) -> None:
        self.redis = client
        self.ttl = ttl

    # -- the API's side

    def delete_many(self, job_ids: list[str], tenant: str) -> None:
        """Undo a submission (mailprobe.submission) the API did not confirm: the replicas did
        not have it in time (MAILPROBE_REDIS_MIN_REPLICAS). A task already queued for one of
        these jobs finds no job and is dropped."""
        pipe = self.redis.pipeline(transaction=True)
        for job_id in job_ids:
            pipe.delete(rediskeys.job(job_id))
            pipe.zrem(rediskeys.tenant_jobs(tenant), job_id)
            pipe.zrem(rediskeys.UNFINISHED_JOBS, job_id)
        pipe.execute()

    def get(self, job_id: str, tenant: str) -> Job | None:
        """The job, or None when there is none or it belongs to another tenant."""
        owned = _owned(*_undecoded(self.redis, "HMGET", rediskeys.job(job_id), "tenant", "doc"))
        if owned is None or owned[0] != tenant:
            return None
        return owned[1]

    def wait_until_finished(self, job_id: str, timeout: float) -> None:
        """Block until the job ends or `timeout` seconds pass, whichever is first.

        The job is marked awaited and its done stream read in one round trip, so an end
        before the mark writes the stream at the mark, and one after it at the end: a waiter
        that arrives after the end returns at once and no end is missed between a read and
        a wait.
        """
        block_ms = int(timeout * 1000)
        if block_ms > 0:
            done = rediskeys.job_done(job_id)
            pipe = self.redis.pipeline(transaction=False)
            pipe.eval(
                AWAIT_END,
                3,
                rediskeys.job(job_id),
                rediskeys.UNFINISHED_JOBS,
                done,
                job_id,
                DONE_KEPT,
            )
            pipe.xread({done: "0-0"}, count=1, block=block_ms)
            pipe.execute()

    def list_jobs(
        self, tenant: str, *, status: JobStatus | None, limit: int, cursor: str | None
    ) -> tuple[list[Job], str | None]:
        """The tenant's jobs, newest first; the cursor is the last id a page showed."""
        index = rediskeys.tenant_jobs(tenant)
        jobs: list[Job] = []
        upper = f"({cursor}" if cursor else "+"
        batch = max(limit, 50)
        while len(jobs) < limit:
            ids = [str(i) for i in self.redis.zrevrangebylex(index, upper, "-", start=0, num=batch)]
            if not ids:
                return jobs, None
            for job_id, found in zip(ids, self.many(ids), strict=True):
                upper = f"({job_id}"
                if found is None:
                    continue
                job = found
                if status is None or job.status == status:
                    jobs.append(job)
                    if len(jobs) == limit:
                        return jobs, job_id
            if len(ids) < batch:
                return jobs, None
        return jobs, None

    def many(self, job_ids: list[str]) -> list[Job | None]:
        """The jobs, None for each that is gone, whoever's they are (one round trip)."""
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            _undecoded(pipe, "HGET", rediskeys.job(job_id), "doc")
        return [None if doc is None else job_of(doc) for doc in pipe.execute()]

    # -- the worker's side

    def load(self, job_id: str) -> StoredJob | None:
        return _stored(_undecoded(self.redis, "HMGET", rediskeys.job(job_id), *_FIELDS))

    def start(self, job_id: str, seconds: int, worker: str) -> tuple[Hold, StoredJob | None] | None:
        """Take the job's lease and read the job, in one round trip; None when a living
        worker holds the lease (it is running an attempt of this job right now).

        A lease held by a dead worker (mailprobe.liveness) is taken over at once: its attempt
        died with it. Each worker's leases are listed (rediskeys.worker_leases), so that the
        jobs of a dead worker can be found and sent again (worker/maintenance.py).
        """
        return self.start_many([job_id], seconds, worker)[0]

    def start_many(
        self, job_ids: list[str], seconds: int, worker: str
    ) -> list[tuple[Hold, StoredJob | None] | None]:
        """start() for each job, the leases taken and the jobs read in one round trip (a lease
        a dead worker holds costs its own round trips to take over)."""
        tokens = [f"{worker} {os.urandom(8).hex()}" for _ in job_ids]
        pipe = self.redis.pipeline(transaction=False)
        for job_id, token in zip(job_ids, tokens, strict=True):
            _undecoded(
                pipe,
                "EVAL",
                _START,
                3,
                rediskeys.job_lease(job_id),
                rediskeys.job(job_id),
                rediskeys.worker_leases(worker),
                token,
                seconds,
                job_id,
                *_FIELDS,
            )
        started: list[tuple[Hold, StoredJob | None] | None] = []
        for job_id, token, (won, *fields) in zip(job_ids, tokens, pipe.execute(), strict=True):
            if won:
                started.append((Hold(job_id, token), _stored(fields)))
            else:
                started.append(self._take_over(job_id, token, seconds, worker))
        return started

    def _take_over(
        self, job_id: str, token: str, seconds: int, worker: str
    ) -> tuple[Hold, StoredJob | None] | None:
        """The job's lease, if a dead worker held it; None when a living one does."""
        name = rediskeys.job_lease(job_id)
        holder = self.redis.get(name)
        if holder is None or liveness.is_alive(self.redis, lease_holder(str(holder))):
            return None
        taken = self.redis.eval(
            _TAKE_OVER,
            3,
            name,
            rediskeys.worker_leases(lease_holder(str(holder))),
            rediskeys.worker_leases(worker),
            str(holder),
            token,
            seconds,
            job_id,
        )
        if not taken:
            return None
        return Hold(job_id, token), self.load(job_id)

    def release(self, hold: Hold) -> None:
        """Give back what `hold` still holds (nothing, once finish() has run)."""
        self.release_many([hold])

    def release_many(self, holds: list[Hold]) -> None:
        """release() for each hold, in one round trip."""
        held = [hold for hold in holds if hold.lease]
        if not held:
            return
        pipe = self.redis.pipeline(transaction=False)
        for hold in held:
            pipe.eval(
                _RELEASE,
                2,
                rediskeys.job_lease(hold.job_id),
                rediskeys.worker_leases(hold.worker),
                hold.lease,
                hold.job_id,
            )
            if hold.slot:
                pipe.zrem(rediskeys.destination(hold.host), hold.slot)
                pipe.zrem(rediskeys.SESSIONS, hold.slot)
        pipe.execute()
        for hold in held:
            hold.lease = hold.slot = ""

    def held_by(self, worker: str) -> list[str]:
        """The jobs whose lease `worker` holds now (not the ones it held and lost)."""
        job_ids = [str(job_id) for job_id in self.redis.smembers(rediskeys.worker_leases(worker))]
        if not job_ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.get(rediskeys.job_lease(job_id))
        tokens = pipe.execute()
        return [
            job_id
            for job_id, token in zip(job_ids, tokens, strict=True)
            if token is not None and lease_holder(str(token)) == worker
        ]

    def forget_leases(self, worker: str) -> None:
        """Drop a dead worker's list of leases, once its jobs have been sent again."""
        self.redis.delete(rediskeys.worker_leases(worker))

    def begin_attempt(self, job: Job, hold: Hold, host: str, limit: int, seconds: int) -> bool:
        """Take one of the `limit` session slots of `host` and, with it, save the job (now
        running its new attempt), in one round trip; False, and nothing written, when the host
        has its limit of sessions already.

        The slot is also counted among the deployment's sessions in flight, and `hold.watched`
        says whether a client follows the job's events (read in the same script).
        """
        return self.begin_attempts([(job, hold, host)], limit, seconds)[0]

    def begin_attempts(
        self, attempts: list[tuple[Job, Hold, str]], limit: int, seconds: int
    ) -> list[bool]:
        """begin_attempt() for each (job, hold, host), in one round trip, in order: jobs to
        one host take its free slots first come, first served."""
        if not attempts:
            return []
        tokens = [os.urandom(8).hex() for _ in attempts]
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        for (job, _, host), token in zip(attempts, tokens, strict=True):
            job.updated_at = utcnow()
            pipe.eval(
                _BEGIN_ATTEMPT,
                4,
                rediskeys.destination(host),
                rediskeys.job(job.id),
                rediskeys.UNFINISHED_JOBS,
                rediskeys.SESSIONS,
                now,
                limit,
                seconds,
                token,
                stored_doc(job),
                job.id,
            )
        answers: list[bool] = []
        for (_, hold, host), token, began in zip(attempts, tokens, pipe.execute(), strict=True):
            if began:
                hold.host, hold.slot, hold.watched = host, token, began == 2
            answers.append(bool(began))
        return answers

    def save(self, job: Job, phases: list[PhaseReport]) -> None:
        """Save the job between attempts, counting the phases of the attempt that just ran
        (mailprobe.metrics), in one round trip."""
        job.updated_at = utcnow()
        self.redis.eval(
            _SAVE,
            3,
            rediskeys.job(job.id),
            rediskeys.UNFINISHED_JOBS,
            rediskeys.METRICS_PHASES,
            stored_doc(job),
            time.time(),
            job.id,
            *phase_observations(phases),
        )

    def mark_committing(self, job_id: str, attempt: int) -> None:
        """Attempt `attempt` is about to send the end of DATA: once it has, the server may
        accept the message at any moment, so a worker that dies before its reply is recorded
        leaves the job in doubt, and it is not sent again (worker/tasks.py). Returns only once
        Redis has the mark."""
        self.redis.hset(rediskeys.job(job_id), "committing", attempt)

    def mark_accepted(self, job_id: str, report: Report, settings: Settings) -> None:
        """The server accepted the message: from now on it must never be sent again. With
        MAILPROBE_REDIS_MIN_REPLICAS, the mark is on the replicas before the session goes on
        (so before the job can succeed): a failover then cannot lose it and send again."""
        name, doc = rediskeys.job(job_id), report.model_dump_json()
        durability.write_durably(
            self.redis, settings, lambda pipe: pipe.hset(name, "accepted", doc), MARK_SECONDS
        )

    def finish(
        self, job: Job, tenant: str, hold: Hold, phases: list[PhaseReport] | None = None
    ) -> list[str]:
        """Store the ended job, forget its secret, wake every waiter, give back what the
        attempt held and count the end and the `phases` of the attempt that just ran (the
        deployment's totals: mailprobe.metrics), atomically and in one round trip.

        Returns the ids of the tenant's webhook subscriptions. When there are any, the job is
        marked to notify until mark_notified(): a task redelivered before that sends the
        deliveries (again: delivery is at least once).
        """
        job.updated_at = utcnow()
        webhooks: list[str] = self.redis.eval(
            _FINISH,
            11,
            rediskeys.job(job.id),
            rediskeys.job_done(job.id),
            rediskeys.UNFINISHED_JOBS,
            rediskeys.job_lease(job.id),
            rediskeys.destination(hold.host),
            rediskeys.tenant_webhooks(tenant),
            rediskeys.SESSIONS,
            rediskeys.METRICS_JOBS,
            rediskeys.recent_jobs(recent_slot()),
            rediskeys.METRICS_PHASES,
            rediskeys.worker_leases(hold.worker),
            pack_doc(job.model_dump_json(), tenant),
            job.status,
            DONE_KEPT,
            job.id,
            hold.lease,
            hold.slot,
            job_outcome(job),
            RECENT_TTL,
            *phase_observations(phases or []),
        )
        hold.lease = hold.slot = ""
        return webhooks

    def mark_notified(self, job_id: str) -> None:
        self.redis.hdel(rediskeys.job(job_id), "notify")

    def lease_ttl(self, job_id: str) -> int:
        return max(int(self.redis.ttl(rediskeys.job_lease(job_id))), 1)

    def leased(self, job_id: str) -> bool:
        return bool(self.redis.exists(rediskeys.job_lease(job_id)))

    # -- stuck jobs

    def stale(self, older_than: float, limit: int = 500) -> list[str]:
        """Unfinished jobs with no progress since `older_than` (unix time), oldest first."""
        found = self.redis.zrangebyscore(
            rediskeys.UNFINISHED_JOBS, "-inf", older_than, start=0, num=limit
        )
        return [str(job_id) for job_id in found]

    def touch(self, job_id: str) -> None:
        self.redis.zadd(rediskeys.UNFINISHED_JOBS, {job_id: time.time()}, xx=True)

    def forget_unfinished(self, job_id: str) -> None:
        self.redis.zrem(rediskeys.UNFINISHED_JOBS, job_id)


# KEYS: lease, job, the worker's leases; ARGV: token, seconds, job id, then the fields to read
# Take the lease if it is free, list it among the worker's, and read the job.
_START = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then
  redis.call('SADD', KEYS[3], ARGV[3])
  return {1, unpack(redis.call('HMGET', KEYS[2], unpack(ARGV, 4)))}
end
return {0}
"""
# KEYS: lease, the dead worker's leases, ours; ARGV: dead worker's token, ours, seconds, job id
# Take a dead worker's lease only if it is still that worker's.
_TAKE_OVER = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
redis.call('SREM', KEYS[2], ARGV[4])
redis.call('SADD', KEYS[3], ARGV[4])
return redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
"""
# KEYS: lease, the worker's leases; ARGV: token, job id
# Delete the lease only if it is still ours: it may have expired and been taken since.
_RELEASE = """
redis.call('SREM', KEYS[2], ARGV[2])
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# Lua: the job's end, as its done stream's one entry, kept `seconds`.
WRITE_DONE = """
local function write_done(done, status, seconds)
  redis.call('XADD', done, 'MAXLEN', '1', '*', 'status', status)
  redis.call('EXPIRE', done, seconds)
end
"""

# KEYS: job, unfinished jobs, done stream; ARGV: job id, seconds the done stream is kept
# Someone waits for the job's end: mark the job awaited, so that its end writes the done
# stream, or, when it has ended already, write the stream now. Answers 0 (the job is
# unknown), 1 (marked) or 2 (it has ended).
AWAIT_END_BODY = """
local function await_end(job, unfinished, done, id, seconds)
  if redis.call('EXISTS', job) == 0 then return 0 end
  if redis.call('ZSCORE', unfinished, id) then
    redis.call('HSET', job, 'awaited', '1')
    return 1
  end
  if redis.call('EXISTS', done) == 0 then write_done(done, 'ended', seconds) end
  return 2
end
"""
AWAIT_END = (
    WRITE_DONE + AWAIT_END_BODY + "return await_end(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2])"
)

# Lua: store a new, queued job (its hash, the tenant's index, the unfinished jobs), and trim
# the tenant's index of ids older than retention. A submission (mailprobe.submission) and the
# re-test schedule's claim (mailprobe.schedule) store jobs with these.
STORE_JOB = """
local function store_job(job, tenant_jobs, unfinished, now, ttl, tenant, id, doc, secret)
  redis.call('HSET', job, 'tenant', tenant, 'doc', doc, 'secret', secret)
  redis.call('EXPIRE', job, ttl)
  redis.call('ZADD', tenant_jobs, 0, id)
  redis.call('ZADD', unfinished, now, id)
end
local function trim_tenant_jobs(tenant_jobs, oldest_kept, ttl)
  redis.call('ZREMRANGEBYLEX', tenant_jobs, '-', '(' .. oldest_kept)
  redis.call('EXPIRE', tenant_jobs, ttl)
end
"""

# KEYS: destination slots, job, unfinished jobs, sessions in flight
# ARGV: now, slot limit, slot lifetime (s), slot token, doc, job id
# Answers 0 (the host is full), 1 (begun) or 2 (begun, and a client watches the job).
_BEGIN_ATTEMPT = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])) + 1)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[3]), ARGV[4])
redis.call('HSET', KEYS[2], 'doc', ARGV[5])
redis.call('ZADD', KEYS[3], now, ARGV[6])
if redis.call('HEXISTS', KEYS[2], 'watched') == 1 then return 2 end
return 1
"""

# KEYS: job, unfinished jobs, phase histogram
# ARGV: doc, now, job id, then the attempt's phase observations
_SAVE = (
    OBSERVE_PHASES
    + """
redis.call('HSET', KEYS[1], 'doc', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[3])
observe_phases(KEYS[3], 4)
"""
)

# The ended job's doc keeps its tenant: the tenant field goes (mailprobe.jobdoc).
# KEYS: job, done stream, unfinished jobs, lease, destination slots, tenant's webhooks,
#       sessions in flight, jobs ended (totals), jobs ended (this slot), phase histogram,
#       the worker's leases
# ARGV: doc, status, seconds the done stream is kept, job id, lease token, slot token (""
#       when none), "outcome category", the slot's lifetime (s), then the last attempt's phase
#       observations
_FINISH = (
    OBSERVE_PHASES
    + WRITE_DONE
    + """
redis.call('SREM', KEYS[11], ARGV[4])
redis.call('HSET', KEYS[1], 'doc', ARGV[1])
redis.call('HDEL', KEYS[1], 'secret', 'accepted', 'committing', 'tenant')
redis.call('ZREM', KEYS[3], ARGV[4])
local awaited = redis.call('HMGET', KEYS[1], 'awaited', 'watched')
if awaited[1] or awaited[2] then
  write_done(KEYS[2], ARGV[2], ARGV[3])
  redis.call('HDEL', KEYS[1], 'awaited')
end
if ARGV[5] ~= '' and redis.call('GET', KEYS[4]) == ARGV[5] then redis.call('DEL', KEYS[4]) end
if ARGV[6] ~= '' then
  redis.call('ZREM', KEYS[5], ARGV[6])
  redis.call('ZREM', KEYS[7], ARGV[6])
end
redis.call('HINCRBY', KEYS[8], ARGV[7], 1)
redis.call('HINCRBY', KEYS[9], ARGV[7], 1)
redis.call('EXPIRE', KEYS[9], ARGV[8])
observe_phases(KEYS[10], 9)
local webhooks = redis.call('ZRANGE', KEYS[6], 0, -1)
if #webhooks > 0 then redis.call('HSET', KEYS[1], 'notify', '1') end
return webhooks
"""
)
