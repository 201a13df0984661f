"""Work a worker does beside its tasks: its presence and heartbeat (mailprobe.liveness),
sending again the jobs of dead workers, handing back their tasks, sending webhook attempts
that are due, claiming stored providers' re-tests that are due (worker/retests.py), and
sweeping stuck jobs.

Sending again: a worker that dies in a session leaves its job's lease behind, and its task
unacknowledged until the visibility timeout (minutes, by default). One worker at a time
looks for dead workers every beat and sends the task of each job whose lease a dead worker
still holds; the worker that gets it takes the lease over at once. Within seconds, then,
instead of minutes, and with the same guards as any redelivered task: the lease, the
attempt numbers, and the "accepted" mark that stops a second send.

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
from mailprobe.models.jobs import Attempt
from mailprobe.redisconn import connect_once, get_redis
from mailprobe.settings import get_settings
from worker.app import celery_app
from worker.retests import retest_runtime, schedule_due
from worker.runtime import Runtime, runtime
from worker.tasks import enqueue
from worker.webhooks import send_due, webhook_runtime

log = logging.getLogger("mailprobe.worker")

SWEEP_SECONDS = 30.0
RETEST_TICK_MS = 1000


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
        _send_again(job_id, stored.job.attempts)
        counts["requeued"] += 1
        log.warning(
            "job %s: no progress for %ss, its task is sent again", job_id, rt.settings.stuck_seconds
        )
    return counts


def _send_again(job_id: str, attempts: list[Attempt]) -> None:
    """The task for the job's due attempt: an interrupted one is run again under its number."""
    interrupted = bool(attempts) and attempts[-1].outcome == "running"
    enqueue(job_id, len(attempts) if interrupted else len(attempts) + 1)


def take_over_dead(rt: Runtime) -> int:
    """Send again the jobs whose lease a dead worker holds; how many."""
    dead, _alive = liveness.dead_and_alive(rt.jobs.redis)
    sent = 0
    for worker in dead:
        for job_id in rt.jobs.held_by(worker):
            stored = rt.jobs.load(job_id)
            if stored is not None and not stored.job.finished:
                _send_again(job_id, stored.job.attempts)
                sent += 1
                log.warning("job %s: its worker %s died, its task is sent again", job_id, worker)
        rt.jobs.forget_leases(worker)
        liveness.forget(rt.jobs.redis, worker)
    return sent


def _beat(name: str, presence: liveness.Presence) -> None:
    """Presence and heartbeat, for as long as the process lives: through a warm shutdown's
    last sessions too, which no other worker may take for dead."""
    client = get_redis(get_settings(), worker=True)
    while True:
        try:
            # Presence first: a beat says "subscribed on this server".
            liveness.beat(client, name, presence.keep())
        except Exception as exc:  # Redis restarting: carry on once it is back.
            log.warning("heartbeat failed: %s", type(exc).__name__)
        time.sleep(liveness.HEARTBEAT_SECONDS)


def _maintain(name: str, stop: threading.Event) -> None:
    settings = get_settings()
    client = get_redis(settings, worker=True)
    now = time.monotonic()
    due = {"restore": now, "sweep": now + SWEEP_SECONDS}
    tick = min(liveness.HEARTBEAT_SECONDS, settings.restore_interval)
    reaper_ms = int(tick * 900)
    with celery_app.connection_for_read() as connection:
        while not stop.is_set():
            now = time.monotonic()
            try:
                # One worker at a time sends the jobs of dead workers again.
                if client.set(rediskeys.REAPER, name, nx=True, px=reaper_ms):
                    take_over_dead(runtime())
                if now >= due["restore"]:
                    due["restore"] = now + settings.restore_interval
                    connection.default_channel.qos.restore_visible(num=None, interval=1)
                # Webhook attempts that are due: one dispatcher at a time.
                if client.set(rediskeys.WEBHOOK_DISPATCHER, name, nx=True, px=900):
                    send_due(webhook_runtime())
                # Re-tests that are due: one scheduler a second (the claim, not this lock,
                # is what makes each run once: mailprobe.schedule).
                if client.set(rediskeys.RETEST_SCHEDULER, name, nx=True, px=RETEST_TICK_MS):
                    schedule_due(retest_runtime(), enqueue)
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
    rt = runtime()  # fail at start-up, not at the first job, when a setting is wrong
    name = _name(sender)
    presence = liveness.Presence(lambda **options: connect_once(rt.settings, **options), name)
    for target, args in ((_beat, (name, presence)), (_maintain, (name, _stop))):
        threading.Thread(target=target, args=args, name=target.__name__, daemon=True).start()


@worker_shutdown.connect
def _on_worker_shutdown(sender: Any = None, **_: Any) -> None:
    # The heartbeat goes on until the process exits: then its presence connection closes,
    # and the others see it dead and clear its traces (take_over_dead).
    _stop.set()
