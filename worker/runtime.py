"""What a worker process needs to run jobs, built once per process: the tasks, the webhook
deliveries, the re-tests and the maintenance thread all start from it (each of the last
three adds its own stores), so none of them imports another to get it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from mailprobe.crypto import SecretBox
from mailprobe.jobs import JobStore
from mailprobe.progress import ProgressStore
from mailprobe.redisconn import get_redis
from mailprobe.redisgroup import GroupedRedis
from mailprobe.settings import Settings, get_settings
from worker.probe import ProbeOptions
from worker.progress import Watchers


@dataclass(frozen=True)
class Runtime:
    """What a worker process needs to run jobs, built once per process."""

    settings: Settings
    jobs: JobStore
    box: SecretBox
    options: ProbeOptions
    progress: ProgressStore
    watchers: Watchers


@lru_cache(maxsize=1)
def runtime() -> Runtime:
    settings = get_settings()
    client = get_redis(settings, worker=True)
    return Runtime(
        settings=settings,
        # Hundreds of sessions at once: their job writes share round trips (group commit).
        jobs=JobStore(GroupedRedis(client), settings.result_ttl),
        box=SecretBox(s.get_secret_value() for s in settings.encryption_keys),
        options=ProbeOptions.from_settings(settings),
        progress=ProgressStore(client, settings.result_ttl),
        watchers=Watchers(client, settings.smtp_session_deadline + 60),
    )
