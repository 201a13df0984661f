"""The `mailprobe` command: serve, worker, dev, keys, jobs, test, schedule, status."""

from __future__ import annotations

import dataclasses
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click
from pydantic import ValidationError

from mailprobe.settings import Settings, get_settings

if TYPE_CHECKING:
    from mailprobe.models.jobs import Job
    from mailprobe.models.smtp import SmtpTestRequest
    from mailprobe.progress import PhaseEvent


def _settings(*, keys: bool = True) -> Settings:
    """The settings, or a readable start-up error instead of a traceback; with `keys`, the
    encryption keys are checked too (what stores or reads secrets needs them)."""
    try:
        settings = get_settings()
        if not keys:
            return settings
        from mailprobe.crypto import SecretBox
        from mailprobe.errors import KeyringError

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

    Requests are logged by the app (with their request id), gunicorn's own lines in
    MAILPROBE_LOG_FORMAT. The API benchmark serves its floor (a bare Flask endpoint) the
    same way.
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
        "--logger-class",
        "cli.gunicorn_logger.GunicornLogger",
        app,
    ]


def fresh_metrics_dir(path: Path) -> None:
    """An empty directory for the HTTP metrics of the gunicorn workers about to start
    (prometheus-client's multiprocess mode: each worker writes its own file there)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, mode=0o700)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


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
    _ports_free(settings, with_grpc)
    fresh_metrics_dir(settings.metrics_path)
    argv = gunicorn_argv(
        "api.wsgi:app", f"{settings.host}:{settings.port}", workers or settings.api_workers
    )
    if not with_grpc:
        os.execv(sys.executable, argv)
    sys.exit(supervise([argv, [sys.executable, "-m", "api.zitadel.grpc_server"]]))


def _ports_free(settings: Settings, with_grpc: bool) -> None:
    from cli.ports import port_is_free

    wanted = [("MAILPROBE_PORT", settings.port)]
    if with_grpc:
        wanted.append(("MAILPROBE_GRPC_PORT", settings.grpc_port))
    for variable, port in wanted:
        if not port_is_free(settings.host, port):
            raise click.ClickException(
                f"{settings.host}:{port} is in use by another program: set {variable}"
            )


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
    if concurrency is not None:
        # The worker sizes its broker connection pool by the setting (mailprobe/queues.py).
        os.environ["MAILPROBE_WORKER_CONCURRENCY"] = str(concurrency)
    # A name of its own (exec keeps the pid): heartbeats and job leases tell workers apart
    # by it.
    name = f"mailprobe-{os.getpid()}@%h"
    argv = worker_argv(
        pool or settings.worker_pool,
        concurrency or settings.worker_concurrency,
        loglevel,
        queues,
        name,
    )
    # exec, so that celery's own entry point patches gevent before anything is imported.
    os.execv(sys.executable, argv)


def worker_argv(pool: str, concurrency: int, loglevel: str, queues: str, name: str) -> list[str]:
    """How a worker runs: Celery's own command, with mailprobe's app."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.app:celery_app",
        # No start-up banner on stdout: the worker's output is its log lines.
        "--quiet",
        "worker",
        "--pool",
        pool,
        "--concurrency",
        str(concurrency),
        "--queues",
        queues,
        "--hostname",
        name,
        "--loglevel",
        loglevel,
        "--without-gossip",
        "--without-mingle",
    ]


@main.command()
@click.option("--sink/--no-sink", default=True, help="run a demo SMTP sink on 127.0.0.1:2525")
def dev(sink: bool) -> None:
    """All in one: Redis (started if none answers), a worker, the API and a demo SMTP sink."""
    from cli.dev import run_dev

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
    store = JobStore(get_redis(settings), settings.result_ttl)
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
    from worker.runtime import runtime

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
        key = ApiKeyStore(get_redis(settings)).create(tenant, list(permissions))
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

    if not ApiKeyStore(get_redis(_settings())).revoke(key):
        raise click.ClickException("no such API key")
    click.echo("revoked")


@keys.command("rotate-secrets")
def keys_rotate() -> None:
    """Re-encrypt every stored secret under the first key of MAILPROBE_ENCRYPTION_KEYS.

    Put the new key first, keep the old ones after it, restart the API and workers, run
    this; then the old keys can be removed.
    """
    from mailprobe.crypto import SecretBox
    from mailprobe.errors import DecryptionError
    from mailprobe.redisconn import get_redis
    from mailprobe.rotation import reseal_secrets

    settings = _settings()
    box = SecretBox(key.get_secret_value() for key in settings.encryption_keys)
    try:
        counts = reseal_secrets(get_redis(settings), box)
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


_TEST_EPILOG = """\b
Exit codes:
   0  the server accepted the message (--dry-run: the recipient)
   1  the test could not run (the API refused it or cannot be reached)
   2  wrong options
   3  dns                  8  sender_rejected
   4  connect              9  recipient_rejected
   5  timeout             10  data_rejected
   6  tls                 11  protocol
   7  auth                12  policy
                          13  internal
\b
--local reads the SMTP client's settings from the environment as the worker does
(MAILPROBE_SMTP_CA_FILE, MAILPROBE_SMTP_VERIFY_CERTIFICATES, MAILPROBE_SMTP_*_TIMEOUT,
MAILPROBE_SMTP_HELO_NAME) and connects wherever it is told, as swaks does.
--api takes its key from MAILPROBE_API_KEY.
"""


def _password(from_stdin: bool, env_name: str | None) -> str:
    if from_stdin and env_name:
        raise click.UsageError("give --password-stdin or --password-env, not both")
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if env_name:
        if env_name not in os.environ:
            raise click.UsageError(f"--password-env: {env_name} is not set")
        return os.environ[env_name]
    return ""


@main.command("test", epilog=_TEST_EPILOG)
@click.option("--host", required=True, help="the SMTP server: host:port, or [IPv6]:port")
@click.option(
    "--tls",
    is_flag=True,
    help="require encryption: implicit TLS, or STARTTLS when the server greets in plaintext",
)
@click.option("--user", default="", help="the AUTH user (AUTH PLAIN, or LOGIN)")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@click.option("--password-env", metavar="VAR", help="read the password from this variable")
@click.option("--from", "sender", required=True, metavar="ADDRESS", help="the sender")
@click.option("--to", "receiver", required=True, metavar="ADDRESS", help="the receiver")
@click.option("--name", default="mailprobe", show_default=True, help="the sender's name")
@click.option(
    "--dry-run",
    is_flag=True,
    help="verify without sending: stop after RCPT TO (RSET, QUIT) and show the recipient's answer",
)
@click.option("--local", is_flag=True, help="run the test in this process: no API, no Redis")
@click.option("--api", "api_url", metavar="URL", help="run the test through a running API")
@click.option("--json", "as_json", is_flag=True, help="print the job as JSON, nothing else")
def test_command(
    host: str,
    tls: bool,
    user: str,
    password_stdin: bool,
    password_env: str | None,
    sender: str,
    receiver: str,
    name: str,
    dry_run: bool,
    local: bool,
    api_url: str | None,
    as_json: bool,
) -> None:
    """Send a test email through an SMTP server and show each phase as it happens.

    Like swaks: the reply and time of each phase, the TLS certificate, the verdict. With
    --dry-run nothing is sent: the session stops after RCPT TO, and the verdict is the
    server's answer to the recipient.
    """
    from cli.console import EXIT_CODES, EXIT_NOT_RUN, display, exit_code
    from mailprobe.models.smtp import SmtpTestRequest

    if local == bool(api_url):
        raise click.UsageError("choose one: --local, or --api URL")
    body = {
        "senderAddress": sender,
        "senderName": name,
        "tls": tls,
        "host": host,
        "user": user,
        "password": _password(password_stdin, password_env),
        "receiverAddress": receiver,
    }
    if dry_run:
        body["dryRun"] = True
    try:
        request = SmtpTestRequest.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'options'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise click.UsageError(problems) from None

    shown = display() if not as_json else None
    if shown is not None:
        where = "in this process" if local else f"through {api_url}"
        encryption = "TLS required" if tls else "no TLS"
        sending = "dry run: nothing is sent, " if dry_run else ""
        shown.begin(
            f"mailprobe test: {host} ({encryption}), {sender} to {receiver}, {sending}{where}"
        )
    on_phase = shown.phase if shown is not None else (lambda _: None)
    if local:
        job = _run_local(request, on_phase)
    else:
        from cli.apiclient import ApiFailure, run_test

        key = os.environ.get("MAILPROBE_API_KEY", "")
        if not key:
            raise click.UsageError("--api needs the API key in MAILPROBE_API_KEY")
        try:
            job = run_test(str(api_url), key, body, on_phase)
        except ApiFailure as failure:
            click.echo(f"error: {failure}", err=True)
            sys.exit(EXIT_CODES.get(failure.category or "", EXIT_NOT_RUN))
    if shown is not None:
        shown.end(job)
    else:
        click.echo(job.model_dump_json(by_alias=True, indent=2))
    sys.exit(exit_code(job))


def _run_local(request: SmtpTestRequest, on_phase: Callable[[PhaseEvent], None]) -> Job:
    """One attempt in this process, reported as a job (as the API would show it)."""
    import ipaddress

    from mailprobe.destination import DestinationPolicy
    from mailprobe.ids import new_id
    from mailprobe.models.base import utcnow
    from mailprobe.models.jobs import Attempt, Job
    from mailprobe.progress import PhaseEvent
    from worker.probe import ProbeOptions, probe_smtp

    # The caller's own machine, connecting where the caller says: no destination policy.
    anywhere = DestinationPolicy(
        (ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")),
        frozenset(range(1, 65536)),
    )
    options = dataclasses.replace(
        ProbeOptions.from_settings(_settings(keys=False)), policy=anywhere
    )
    job_id, started = new_id(), utcnow()
    report = probe_smtp(
        request,
        options,
        reference=job_id,
        on_phase=lambda phase: on_phase(PhaseEvent(attempt=1, **phase.model_dump())),
    )
    finished = utcnow()
    status = "succeeded" if report.ok else "failed"
    if report.error is not None:
        report.error.conclude(1, 1)  # one attempt, and no other
    attempt = Attempt(
        number=1, started_at=started, finished_at=finished, outcome=status, error=report.error
    )
    return Job(
        id=job_id,
        status=status,
        created_at=started,
        started_at=started,
        finished_at=finished,
        request=request.public(),
        attempts=[attempt],
        result=report,
    )


@main.command()
@click.option("--provider", "provider_id", metavar="ID", help="one provider's re-tests")
@click.option("--json", "as_json", is_flag=True, help="print the figures as JSON")
def schedule(provider_id: str | None, as_json: bool) -> None:
    """Stored providers' re-tests: how many are scheduled, overdue and due soon, and how
    evenly; with --provider, that provider's next re-test and history."""
    import dataclasses
    import json
    import time

    import redis

    from cli.console import history_rows, schedule_rows
    from mailprobe.history import HistoryStore
    from mailprobe.redisconn import get_redis
    from mailprobe.schedule import RetestSchedule

    settings = _settings(keys=False)
    client = get_redis(settings)
    plan = RetestSchedule(client, settings.result_ttl)
    try:
        if provider_id is None:
            overview = plan.overview(int(time.time() * 1000))
            if as_json:
                click.echo(json.dumps(dataclasses.asdict(overview), indent=2))
                return
            for label, value in schedule_rows(overview):
                click.echo(f"{label + ':':<24}{value}")
            return
        next_ms = plan.next_due_ms([provider_id])[0]
        entries = HistoryStore(client, settings.result_ttl).read(provider_id).entries
    except redis.RedisError as exc:
        raise click.ClickException(f"Redis does not answer: {type(exc).__name__}") from None
    if as_json:
        shown = [entry.model_dump(mode="json") for entry in entries]
        click.echo(json.dumps({"nextDueMs": next_ms, "history": shown}, indent=2))
        return
    for line in history_rows(provider_id, next_ms, entries):
        click.echo(line)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="print the figures as JSON")
def status(as_json: bool) -> None:
    """Queue depths, sessions in flight, workers alive and jobs of the last minute."""
    import json

    import redis

    from cli.console import status_document, status_rows
    from mailprobe.metrics import read_snapshot
    from mailprobe.redisconn import get_redis

    try:
        snapshot = read_snapshot(get_redis(_settings(keys=False)), recent=True)
    except redis.RedisError as exc:
        raise click.ClickException(f"Redis does not answer: {type(exc).__name__}") from None
    if as_json:
        click.echo(json.dumps(status_document(snapshot), indent=2))
        return
    for label, value in status_rows(snapshot):
        click.echo(f"{label + ':':<15}{value}")
