"""The test session's real parts: a Redis server, a Celery worker process and the API process.

Each is a real process on loopback, started once per session. SMTP servers are started by
the tests that need them (tests/smtp_servers.py).
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme

from mailprobe.apikeys import PERMISSIONS, ApiKeyStore
from mailprobe.crypto import generate_key
from tests.smtp_servers import free_port
from tests.support import RedisServer, start_redis, wait_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    """A server context whose certificate the worker trusts (its CA is in SMTP_CA_FILE)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


@pytest.fixture(scope="session")
def untrusted_tls() -> ssl.SSLContext:
    """A server context whose certificate comes from a CA the worker does not know."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


SECRETS_USED: set[str] = set()


def secret(value: str) -> str:
    """Register a secret a test uses, so the suite can check it never leaked."""
    SECRETS_USED.add(value)
    return value


@dataclass
class Service:
    """The running API and worker, and what the tests need to reach them."""

    base_url: str
    redis: RedisServer
    env: dict[str, str]
    logs: list[Path]
    workers: list[subprocess.Popen[bytes]]

    def start_worker(self) -> subprocess.Popen[bytes]:
        """Another worker process (its log beside the first one's)."""
        log = self.logs[0].with_name(f"worker-{len(self.workers)}.log")
        self.logs.append(log)
        worker = _start(
            [sys.executable, "-m", "mailprobe", "worker", "--concurrency", "50"], self.env, log
        )
        self.workers.append(worker)
        return worker

    def kill_workers(self) -> None:
        """SIGKILL every worker: no clean shutdown, no acknowledgement, nothing handed back."""
        for worker in self.workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()

    def key(self, tenant: str = "t-main", permissions: tuple[str, ...] = PERMISSIONS) -> str:
        key = ApiKeyStore(self.redis.client()).create(tenant, list(permissions))
        return secret(key)

    def client(self, key: str | None = None) -> ApiClient:
        return ApiClient(self.base_url, key if key is not None else self.key())


class ApiClient:
    def __init__(self, base_url: str, key: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        if key:
            self.session.headers["Authorization"] = f"Bearer {key}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return self.session.request(method, self.base_url + path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def submit(self, body: dict[str, Any], wait: int | None = None) -> requests.Response:
        headers = {"Prefer": f"wait={wait}"} if wait is not None else {}
        return self.post("/email/smtp/_test", json=body, headers=headers)

    def run(self, body: dict[str, Any], timeout: int = 30) -> dict[str, Any]:
        """Submit a test and return the job once it has ended (long polls, no sleeps)."""
        response = self.submit(body)
        assert response.status_code == 202, response.text
        job: dict[str, Any] = response.json()
        deadline = time.monotonic() + timeout
        while job["status"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, f"job did not end in {timeout}s: {job}"
            polled = self.get(f"/email/smtp/_test/{job['id']}", headers={"Prefer": "wait=10"})
            assert polled.status_code == 200, polled.text
            job = polled.json()
        return job


# Short timeouts and retry delays, so misbehaving servers end jobs in seconds.
TEST_SETTINGS = {
    "MAILPROBE_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
    "MAILPROBE_ALLOWED_PORTS": "1-65535",
    "MAILPROBE_SMTP_CONNECT_TIMEOUT": "2",
    "MAILPROBE_SMTP_COMMAND_TIMEOUT": "2",
    "MAILPROBE_SMTP_DATA_TIMEOUT": "4",
    "MAILPROBE_SMTP_SESSION_DEADLINE": "6",
    "MAILPROBE_MAX_ATTEMPTS": "3",
    "MAILPROBE_RETRY_BASE_DELAY": "0.2",
    "MAILPROBE_RETRY_MAX_DELAY": "1",
    "MAILPROBE_SMTP_HELO_NAME": "mailprobe.test.invalid",
}


def _start(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen(
        argv, env=env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="session")
def service_env(
    redis_server: RedisServer, ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPROBE_")}
    env.update(TEST_SETTINGS)
    env.update(
        MAILPROBE_REDIS_URL=redis_server.url,
        MAILPROBE_ENCRYPTION_KEYS=secret(generate_key("test1")),
        MAILPROBE_SMTP_CA_FILE=str(ca_file),
        MAILPROBE_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    return env


@contextmanager
def running_service(env: dict[str, str], redis: RedisServer, logs: Path) -> Iterator[Service]:
    """A worker process and the API under gunicorn with `env`, until the block ends."""
    logs.mkdir(parents=True, exist_ok=True)
    worker_log, api_log = logs / "worker.log", logs / "api.log"
    command = [sys.executable, "-m", "mailprobe"]
    worker = _start([*command, "worker", "--concurrency", "50"], env, worker_log)
    api = _start([*command, "serve", "--workers", "1"], env, api_log)
    base_url = f"http://127.0.0.1:{env['MAILPROBE_PORT']}"

    def ready() -> bool:
        for process, log in ((worker, worker_log), (api, api_log)):
            if process.poll() is not None:
                raise AssertionError(f"{log.name} exited:\n{log.read_text()[-3000:]}")
        try:
            return requests.get(f"{base_url}/readyz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    running = Service(base_url, redis, env, [worker_log, api_log], [worker])
    try:
        wait_for(ready, 60, "the API and a worker to be ready")
        yield running
    finally:
        _stop(api)
        for process in running.workers:
            _stop(process)
        LOGS.extend(running.logs)


# Every log a service wrote, for the final scan for secrets.
LOGS: list[Path] = []


@pytest.fixture(scope="session")
def service(
    service_env: dict[str, str], redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    with running_service(service_env, redis_server, tmp_path_factory.mktemp("logs")) as running:
        yield running


@pytest.fixture
def client(service: Service) -> ApiClient:
    return service.client()


def probe_body(server_address: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "senderAddress": "probe@example.com",
        "senderName": "Mailprobe Test",
        "host": server_address,
        "receiverAddress": "inbox@example.org",
    }
    body.update(overrides)
    return body
