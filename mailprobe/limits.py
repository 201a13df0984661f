"""A tenant's rate of test submissions, kept in Redis so it holds across every API process.

RateLimit uses the generic cell rate algorithm (GCRA): a sustained rate with a burst, one
Redis call per request, no background refill. (The other abuse limit, SMTP sessions at once
per destination host, is taken with a job's attempt: mailprobe.jobs.JobStore.begin_attempt.)
"""

from __future__ import annotations

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
