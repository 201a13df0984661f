"""A tenant's rate of test submissions, kept in Redis so it holds across every API process.

The generic cell rate algorithm (GCRA): a sustained rate with a burst, one Redis key per
tenant, no background refill. It runs in the same script that stores the new jobs, so a
submission is counted exactly when its jobs are stored. (The other abuse limit, SMTP sessions
at once per destination host, is taken with a job's attempt: JobStore.begin_attempt.)
"""

from __future__ import annotations

from dataclasses import dataclass

# The algorithm, as a Lua function: the script that stores new jobs runs it first and stores
# nothing when it answers a wait (mailprobe.submission).
GCRA = """
local function gcra(key, now, interval, burst, cost)
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new_tat = tat + cost * interval
  local allowed_at = new_tat - burst * interval
  if now < allowed_at then return allowed_at - now end
  redis.call('SET', key, tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1)
  return 0
end
"""


@dataclass(frozen=True)
class RateLimit:
    """A sustained rate of submissions per second, with a burst."""

    per_second: float
    burst: int

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second
