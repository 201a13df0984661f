"""Abuse limits kept in Redis, so they hold across every API process and worker.

- RateLimit: a tenant's test submissions, by the generic cell rate algorithm (GCRA): a
  sustained rate with a burst, one Redis call per request, no background refill.
- DestinationSlots: SMTP sessions at once per destination host, across all workers; a slot
  expires on its own if its worker dies.
"""

from __future__ import annotations

import os
import time

import redis

from mailprobe import rediskeys

_GCRA = """
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
if tat < now then tat = now end
local new_tat = tat + cost * interval
local allowed_at = new_tat - burst * interval
if now < allowed_at then return tostring(allowed_at - now) end
redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1)
return '0'
"""

_TAKE_SLOT = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[4])
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[3])) + 1)
return 1
"""


class RateLimit:
    def __init__(self, client: redis.Redis, per_second: float, burst: int) -> None:
        self.redis = client
        self.interval = 1.0 / per_second
        self.burst = burst

    def wait_time(self, tenant: str, cost: int = 1) -> float:
        """0 when `cost` submissions may go ahead (and are counted), else seconds until then."""
        answer = self.redis.eval(
            _GCRA, 1, rediskeys.rate_limit(tenant), time.time(), self.interval, self.burst, cost
        )
        return float(answer)


class DestinationSlots:
    def __init__(self, client: redis.Redis, limit: int, lease_seconds: float) -> None:
        self.redis = client
        self.limit = limit
        self.lease_seconds = lease_seconds

    def take(self, host: str) -> str | None:
        """A slot's token, or None when the host has its limit of sessions already."""
        token = os.urandom(8).hex()
        taken = self.redis.eval(
            _TAKE_SLOT,
            1,
            rediskeys.destination(host),
            time.time(),
            self.limit,
            self.lease_seconds,
            token,
        )
        # Given back with the job's lease: mailprobe.jobs.JobStore.finish and .release.
        return token if taken else None
