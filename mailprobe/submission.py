"""A submission of tests, in one Redis round trip.

One script checks the API key again (it may have been revoked since the API last read it),
answers an Idempotency-Key's earlier claim, applies the tenant's rate limit, stores the new
jobs (queued), pushes their tasks' messages onto the queue and claims the Idempotency-Key
for them, atomically: when any check refuses, nothing is written, and a stored job always
has its task queued. The messages are built by Celery and kombu and captured, not sent
(mailprobe.broker.captured_publishes): the script runs the Redis commands kombu would have run.

`Submissions.submit` is the one place that round trip is made.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import redis

from mailprobe import rediskeys
from mailprobe.errors import RateLimited
from mailprobe.ids import oldest_kept_id
from mailprobe.jobs import STORE_JOB, stored_doc
from mailprobe.limits import GCRA, RateLimit
from mailprobe.models.jobs import Job


@dataclass(frozen=True)
class Claim:
    """An Idempotency-Key as Redis keeps it: its key, the request's fingerprint, and (once
    the jobs are stored) what it remembers of them, for `seconds`."""

    name: str
    fingerprint: str
    remember: str
    seconds: int


class KeyRefused(Exception):
    """The API key is no longer valid (revoked or deleted since the API read it)."""


class Claimed(Exception):
    """The Idempotency-Key was claimed before: by a request with `fingerprint`, which made
    what `remembered` says ("" while that request is still being handled)."""

    def __init__(self, fingerprint: str, remembered: str) -> None:
        super().__init__("the Idempotency-Key was claimed before")
        self.fingerprint = fingerprint
        self.remembered = remembered


@dataclass(frozen=True)
class NewJob:
    job: Job
    sealed: str  # its encrypted secrets ("" when none)


class Submissions:
    def __init__(self, client: redis.Redis, ttl: int) -> None:
        self.redis = client
        self.ttl = ttl  # how long a job is kept
        self._script = client.register_script(_SUBMIT)

    def submit(
        self,
        *,
        key_digest: str,
        tenant: str,
        permission: str,
        jobs: list[NewJob],
        publish: list[tuple[str, tuple[Any, ...]]],
        rate: RateLimit | None,
        claim: Claim | None = None,
        awaited: bool = False,
    ) -> None:
        """Store `jobs` for `tenant` and run the `publish` commands (kombu's, captured), if
        the key still has `permission`, `claim` (when given) was never claimed and the rate
        limit (when given) admits the jobs; with `awaited`, the jobs' ends write their done
        streams (mailprobe.jobs). Raises KeyRefused, Claimed or RateLimited, having written
        nothing."""
        now = time.time()
        keys = [
            rediskeys.api_key(key_digest),
            rediskeys.rate_limit(tenant),
            rediskeys.tenant_jobs(tenant),
            rediskeys.UNFINISHED_JOBS,
            claim.name if claim else rediskeys.api_key(key_digest),  # unused without a claim
            *[rediskeys.job(new.job.id) for new in jobs],
        ]
        args: list[Any] = [
            tenant,
            permission,
            now,
            rate.interval if rate else 0,
            rate.burst if rate else 0,
            self.ttl,
            oldest_kept_id(now, self.ttl),
            claim.fingerprint if claim else "",
            claim.remember if claim else "",
            claim.seconds if claim else 0,
            "1" if awaited else "",
            len(jobs),
        ]
        for new in jobs:
            args += [new.job.id, stored_doc(new.job), new.sealed]
        for name, command in publish:
            queue, *rest = command
            keys.append(queue)
            args += [name, len(rest), *rest]
        # The one round trip (api.operations.enqueue waits for replicas after it, when asked).
        answer = self._script(keys=keys, args=args)
        verdict = answer[0].decode() if isinstance(answer[0], bytes) else str(answer[0])
        if verdict == "key":
            raise KeyRefused()
        if verdict == "claimed":
            raise Claimed(str(answer[1]), str(answer[2]))
        if verdict == "wait":
            raise RateLimited(float(answer[1]))

    def publish(self, publish: list[tuple[str, tuple[Any, ...]]]) -> None:
        """Run `publish` commands (kombu's, captured) on their own: the tasks of jobs that
        submit() stored without them, once the replicas have the jobs."""
        pipe = self.redis.pipeline(transaction=True)
        for name, command in publish:
            pipe.execute_command(name.upper(), *command)  # type: ignore[no-untyped-call]
        pipe.execute()


# KEYS: API key, tenant's rate limit, tenant's jobs, unfinished jobs, Idempotency-Key claim,
#       then each new job, then the key of each publish command
# ARGV: tenant, permission, now, rate interval (0: no limit), burst, ttl, oldest id kept in
#       the tenant's index, the claim's fingerprint ("": no claim), what it remembers, its
#       seconds, awaited ("1" or ""), number of jobs, then each job's id, doc and encrypted
#       secrets, then each publish command's name, number of further arguments and those
_SUBMIT = (
    GCRA
    + STORE_JOB
    + """
local key = redis.call('HMGET', KEYS[1], 'tenant', 'permissions', 'revokedAt')
local permissions = ' ' .. (key[2] or '') .. ' '
if key[1] ~= ARGV[1] or key[3] or not string.find(permissions, ' ' .. ARGV[2] .. ' ', 1, true) then
  return {'key'}
end
local claimed = ARGV[8] ~= ''
if claimed then
  local earlier = redis.call('HMGET', KEYS[5], 'request', 'result')
  if earlier[1] then return {'claimed', earlier[1], earlier[2] or ''} end
end
local now = tonumber(ARGV[3])
local count = tonumber(ARGV[12])
if tonumber(ARGV[4]) > 0 and count > 0 then
  local wait = gcra(KEYS[2], now, tonumber(ARGV[4]), tonumber(ARGV[5]), count)
  if wait > 0 then return {'wait', tostring(wait)} end
end
local at = 13
for i = 1, count do
  local job = KEYS[5 + i]
  store_job(job, KEYS[3], KEYS[4], now, ARGV[6], ARGV[1], ARGV[at], ARGV[at + 1], ARGV[at + 2])
  if ARGV[11] ~= '' then redis.call('HSET', job, 'awaited', '1') end
  at = at + 3
end
if count > 0 then trim_tenant_jobs(KEYS[3], ARGV[7], ARGV[6]) end
for i = 6 + count, #KEYS do
  local name, n = ARGV[at], tonumber(ARGV[at + 1])
  redis.call(name, KEYS[i], unpack(ARGV, at + 2, at + 1 + n))
  at = at + 2 + n
end
if claimed then
  redis.call('HSET', KEYS[5], 'request', ARGV[8], 'result', ARGV[9])
  redis.call('EXPIRE', KEYS[5], ARGV[10])
end
return {'ok'}
"""
)
