"""Helpers shared by the tests and the benchmarks: a real Redis server, waiting on conditions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import requests

from cli.dev import redis_server_command
from mailprobe.apikeys import PERMISSIONS, ApiKeyStore
from tests.smtp_servers import free_port


def wait_for(condition: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class RedisServer:
    port: int
    process: subprocess.Popen[bytes]
    db: int = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/{self.db}"

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, decode_responses=True)


def start_redis(directory: Path, port: int | None = None, *, aof: bool = False) -> RedisServer:
    port = port or free_port()
    process = subprocess.Popen(
        redis_server_command(port, directory, aof=aof),
        stdout=subprocess.DEVNULL,
    )
    server = RedisServer(port, process)

    def answers() -> bool:
        try:
            return bool(server.client().ping())
        except redis.RedisError:
            return False

    wait_for(answers, 10, "redis-server to answer")
    return server


ROOT = Path(__file__).resolve().parent.parent


SECRETS_USED: set[str] = set()


def all_but(permission: str) -> tuple[str, ...]:
    """Every permission except one: a key that must be refused where that one is needed."""
    return tuple(p for p in PERMISSIONS if p != permission)


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

    @property
    def grpc_target(self) -> str:
        """Where the native gRPC server listens (host:port)."""
        return f"127.0.0.1:{self.env['MAILPROBE_GRPC_PORT']}"

    def start_worker(self) -> subprocess.Popen[bytes]:
        """Another worker process (its log beside the first one's)."""
        log = self.logs[0].with_name(f"worker-{len(self.workers)}.log")
        self.logs.append(log)
        worker = start_process(
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

    def ended(self, job_id: str, timeout: float = 90) -> dict[str, Any]:
        """The job once it has ended, by long polls."""

        def poll() -> dict[str, Any] | None:
            job: dict[str, Any] = self.get(
                f"/email/smtp/_test/{job_id}", headers={"Prefer": "wait=5"}
            ).json()
            return job if job["status"] in ("succeeded", "failed") else None

        found: dict[str, Any] = wait_for(poll, timeout, f"job {job_id} to end")
        return found

    def test_provider(self, provider_id: str, wait: int = 20) -> dict[str, Any]:
        """POST /email/smtp/{id}/_test with a receiver, waiting up to `wait` s for the end."""
        job: dict[str, Any] = self.post(
            f"/email/smtp/{provider_id}/_test",
            json={"receiverAddress": "ops@example.org"},
            headers={"Prefer": f"wait={wait}"},
        ).json()
        return job

    def run(self, body: dict[str, Any], timeout: int = 30) -> dict[str, Any]:
        """Submit a test and return the job once it has ended (long polls, no sleeps)."""
        response = self.submit(body)
        assert response.status_code == 202, response.text
        return self.ended(response.json()["id"], timeout)


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`mailprobe ARGS` as an operator runs it, with `env`."""
    return subprocess.run(
        [sys.executable, "-m", "mailprobe", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def start_process(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A service process in its own session, its output appended to `log`."""
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


@contextmanager
def running_service(env: dict[str, str], redis: RedisServer, logs: Path) -> Iterator[Service]:
    """A worker process and the API under gunicorn (and its gRPC server) with `env`, until the
    block ends. The gRPC server gets a port of its own: services started from one
    environment must not meet on one port."""
    env = {**env, "MAILPROBE_GRPC_PORT": str(free_port())}
    logs.mkdir(parents=True, exist_ok=True)
    worker_log, api_log = logs / "worker.log", logs / "api.log"
    command = [sys.executable, "-m", "mailprobe"]
    worker = start_process([*command, "worker", "--concurrency", "50"], env, worker_log)
    api = start_process([*command, "serve", "--workers", "1"], env, api_log)
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
