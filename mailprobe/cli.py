"""The `mailprobe` command: serve, worker, dev, keys."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import click
from pydantic import ValidationError

from mailprobe.settings import Settings, get_settings


def _settings() -> Settings:
    """The settings, or a readable start-up error instead of a traceback."""
    try:
        settings = get_settings()
        from mailprobe.crypto import KeyringError, SecretBox

        try:
            SecretBox(key.get_secret_value() for key in settings.encryption_keys)
        except KeyringError as exc:
            raise click.ClickException(str(exc)) from None
        return settings
    except ValidationError as exc:
        lines = [
            f"  MAILPROBE_{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        ]
        raise click.ClickException("invalid configuration:\n" + "\n".join(lines)) from None


@click.group()
def main() -> None:
    """mailprobe: test SMTP email providers at scale."""


def gunicorn_argv(app: str, bind: str, workers: int) -> list[str]:
    """How the API runs: gunicorn with gevent workers, so long polls cost no thread.

    The API benchmark serves its floor (a bare Flask endpoint) the same way.
    """
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--worker-class",
        "gevent",
        "--worker-connections",
        "1000",
        "--graceful-timeout",
        "10",
        "--access-logfile",
        "-",
        app,
    ]


@main.command()
@click.option("--workers", type=int, default=None, help="gunicorn worker processes")
@click.option(
    "--grpc/--no-grpc",
    "with_grpc",
    default=True,
    help="also serve Zitadel's native gRPC on MAILPROBE_GRPC_PORT",
)
def serve(workers: int | None, with_grpc: bool) -> None:
    """Run the API under gunicorn, and Zitadel's native gRPC beside it."""
    settings = _settings()
    argv = gunicorn_argv(
        "api.wsgi:app", f"{settings.host}:{settings.port}", workers or settings.api_workers
    )
    if not with_grpc:
        os.execv(sys.executable, argv)
    sys.exit(supervise([argv, [sys.executable, "-m", "api.zitadel.grpc_server"]]))


def supervise(commands: list[list[str]]) -> int:
    """Run the commands side by side until one ends or a signal comes; then stop the rest
    (SIGTERM: each ends its calls in flight) and return the first one's exit status."""
    children = [subprocess.Popen(argv) for argv in commands]

    def stop(signum: int, _frame: object) -> None:
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, stop)
    _pid, status = os.wait()
    stop(signal.SIGTERM, None)
    for child in children:
        child.wait()
    return os.waitstatus_to_exitcode(status)


@main.command()
@click.option("--pool", type=click.Choice(["gevent", "threads", "prefork", "solo"]), default=None)
@click.option("--concurrency", type=int, default=None)
@click.option("--loglevel", default="INFO")
@click.option(
    "--queues",
    default="mailprobe.smtp,mailprobe.webhooks",
    show_default=True,
    help="the queues to work: SMTP tests, webhook deliveries, or both",
)
def worker(pool: str | None, concurrency: int | None, loglevel: str, queues: str) -> None:
    """Run a Celery worker for SMTP tests and webhook deliveries."""
    settings = _settings()
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.app:celery_app",
        "worker",
        "--pool",
        pool or settings.worker_pool,
        "--concurrency",
        str(concurrency or settings.worker_concurrency),
        "--queues",
        queues,
        # A name of its own (exec keeps the pid): heartbeats and job leases tell workers
        # apart by it.
        "--hostname",
        f"mailprobe-{os.getpid()}@%h",
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
    ]
    # exec, so that celery's own entry point patches gevent before anything is imported.
    os.execv(sys.executable, argv)


@main.command()
@click.option("--sink/--no-sink", default=True, help="run a demo SMTP sink on 127.0.0.1:2525")
def dev(sink: bool) -> None:
    """All in one: Redis (started if none answers), a worker, the API and a demo SMTP sink."""
    from mailprobe.dev import run_dev

    run_dev(with_sink=sink)


@main.group()
def jobs() -> None:
    """Jobs that are stuck."""


@jobs.command("stuck")
def jobs_stuck() -> None:
    """List unfinished jobs with no progress for MAILPROBE_STUCK_AFTER seconds."""
    import time

    from mailprobe.jobs import JobStore
    from mailprobe.redisconn import get_redis

    settings = _settings()
    store = JobStore(get_redis(settings.redis_url), settings.result_ttl)
    for job_id in store.stale(time.time() - settings.stuck_seconds):
        stored = store.load(job_id)
        if stored is not None:
            job = stored.job
            click.echo(f"{job.id} {job.status} updated {job.updated_at or job.created_at}")


@jobs.command("sweep")
def jobs_sweep() -> None:
    """Send the tasks of stuck jobs again (workers also do this every 30 s)."""
    _settings()
    from worker.maintenance import sweep
    from worker.tasks import runtime

    counts = sweep(runtime())
    click.echo(f"re-queued {counts['requeued']} stuck job(s); {counts['busy']} running")


@main.group()
def keys() -> None:
    """API keys and encryption keys."""


@keys.command("create")
@click.option("--tenant", required=True)
@click.option(
    "--permission",
    "permissions",
    multiple=True,
    required=True,
    type=click.Choice(["smtp.test", "smtp.read", "smtp.write", "webhooks.write"]),
)
def keys_create(tenant: str, permissions: tuple[str, ...]) -> None:
    """Create an API key; it is printed once, alone on the last line."""
    from mailprobe.apikeys import ApiKeyStore
    from mailprobe.redisconn import get_redis

    settings = _settings()
    try:
        key = ApiKeyStore(get_redis(settings.redis_url)).create(tenant, list(permissions))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"API key for tenant {tenant} ({', '.join(sorted(permissions))}); shown once:", err=True
    )
    click.echo(key)


@keys.command("revoke")
@click.argument("key")
def keys_revoke(key: str) -> None:
    """Revoke an API key."""
    from mailprobe.apikeys import ApiKeyStore
    from mailprobe.redisconn import get_redis

    if not ApiKeyStore(get_redis(_settings().redis_url)).revoke(key):
        raise click.ClickException("no such API key")
    click.echo("revoked")


@keys.command("rotate-secrets")
def keys_rotate() -> None:
    """Re-encrypt every stored secret under the first key of MAILPROBE_ENCRYPTION_KEYS.

    Put the new key first, keep the old ones after it, restart the API and workers, run
    this; then the old keys can be removed.
    """
    from mailprobe.crypto import DecryptionError, SecretBox
    from mailprobe.redisconn import get_redis
    from mailprobe.rotation import reseal_secrets

    settings = _settings()
    box = SecretBox(key.get_secret_value() for key in settings.encryption_keys)
    try:
        counts = reseal_secrets(get_redis(settings.redis_url), box)
    except DecryptionError as exc:
        raise click.ClickException(f"{exc}: keep every old key configured until rotated") from None
    click.echo(
        f"re-encrypted under key {box.current_key_id}: "
        + ", ".join(f"{count} {kind} secret(s)" for kind, count in counts.items())
    )


@keys.command("generate-encryption-key")
@click.option("--id", "key_id", default="k1", help="the key id stored with each ciphertext")
def keys_generate(key_id: str) -> None:
    """Print a new entry for MAILPROBE_ENCRYPTION_KEYS (put it first to encrypt with it)."""
    from mailprobe.crypto import generate_key

    click.echo(generate_key(key_id))
