"""Work a worker does beside its tasks: a heartbeat for /readyz, handing back the tasks of
dead workers, sending webhook attempts that are due, and sweeping stuck jobs.

Handing back: a task whose worker died stays "unacknowledged" in Redis until kombu's restore
sweep puts it back in the queue, once it is older than the visibility timeout. Kombu runs
that sweep from its event loop (prefork), but its blocking consumer, the one the gevent pool
uses, never reaches it: every idle BRPOP ends in Empty before the sweep. So this thread calls
kombu's own sweep (QoS.restore_visible, with its mutex) every MAILPROBE_RESTORE_INTERVAL.

A job is stuck when it is unfinished and nothing has happened to it for a while
(MAILPROBE_STUCK_AFTER): its task was lost (Redis lost it, or a retry could not be
published). The sweeper sends the task for the job's due attempt again; the attempt numbers
and the lease of the lifecycle (worker/tasks.py) make a needless resend harmless.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import Any

from celery.signals import worker_ready, worker_shutdown

from mailprobe import liveness, rediskeys
from mailprobe.redisconn import get_redis
from mailprobe.settings import get_settings
from worker.app import celery_app
from worker.tasks import Runtime, enqueue, runtime
from worker.webhooks import send_due, webhook_runtime

log = logging.getLogger("mailprobe.worker")

SWEEP_SECONDS = 30.0


def sweep(rt: Runtime) -> dict[str, int]:
    """Re-queue the tasks of stuck jobs; how many were re-queued, and how many were busy."""
    counts = {"requeued": 0, "busy": 0}
    for job_id in rt.jobs.stale(time.time() - rt.settings.stuck_seconds):
        stored = rt.jobs.load(job_id)
        if stored is None or stored.job.finished:
            rt.jobs.forget_unfinished(job_id)
            continue
        rt.jobs.touch(job_id)
        if rt.jobs.leased(job_id):
            counts["busy"] += 1  # an attempt is running right now
            continue
        attempts = stored.job.attempts
        interrupted = bool(attempts) and attempts[-1].outcome == "running"
        enqueue(job_id, len(attempts) if interrupted else len(attempts) + 1)
        counts["requeued"] += 1
        log.warning(
            "job %s: no progress for %ss, its task is sent again", job_id, rt.settings.stuck_seconds
        )
    return counts


def _maintain(name: str, stop: threading.Event) -> None:
    settings = get_settings()
    client = get_redis(settings.redis_url, worker=True)
    now = time.monotonic()
    due = {"beat": now, "restore": now, "sweep": now + SWEEP_SECONDS}
    tick = min(1.0, settings.restore_interval)
    with celery_app.connection_for_read() as connection:
        while not stop.is_set():
            now = time.monotonic()
            try:
                if now >= due["beat"]:
                    due["beat"] = now + liveness.HEARTBEAT_SECONDS
                    liveness.beat(client, name)
                if now >= due["restore"]:
                    due["restore"] = now + settings.restore_interval
                    connection.default_channel.qos.restore_visible(num=None, interval=1)
                # Webhook attempts that are due: one dispatcher at a time.
                if client.set(rediskeys.WEBHOOK_DISPATCHER, name, nx=True, px=900):
                    send_due(webhook_runtime())
                if now >= due["sweep"]:
                    due["sweep"] = now + SWEEP_SECONDS
                    # One sweeper at a time across all workers.
                    if client.set(rediskeys.SWEEPER, name, nx=True, ex=int(SWEEP_SECONDS) - 5):
                        sweep(runtime())
            except Exception as exc:  # Redis restarting: carry on once it is back.
                log.warning("maintenance failed: %s", type(exc).__name__)
                connection.ensure_connection(max_retries=1)
            stop.wait(tick)


_stop = threading.Event()


def _name(sender: Any) -> str:
    return str(getattr(sender, "hostname", None) or socket.gethostname())


@worker_ready.connect
def _on_worker_ready(sender: Any = None, **_: Any) -> None:
    runtime()  # fail at start-up, not at the first job, when a setting is wrong
    threading.Thread(
        target=_maintain, args=(_name(sender), _stop), name="maintenance", daemon=True
    ).start()


@worker_shutdown.connect
def _on_worker_shutdown(sender: Any = None, **_: Any) -> None:
    _stop.set()
    try:
        liveness.forget(get_redis(get_settings().redis_url), _name(sender))
    except Exception:  # shutting down anyway
        log.debug("could not remove the heartbeat of %s", _name(sender))
