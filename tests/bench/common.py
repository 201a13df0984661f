"""What the benchmarks share: the environment of a service they start, its processes, and
how they are measured (RSS and CPU time from /proc, the whole process tree)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
import requests

from cli.main import gunicorn_argv
from mailprobe import liveness, rediskeys
from mailprobe.apikeys import PERMISSIONS, ApiKeyStore
from mailprobe.crypto import generate_key
from mailprobe.redisconn import get_redis
from mailprobe.settings import Settings
from tests.smtp_servers import free_port
from tests.support import start_process, wait_for

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def bench_env(redis_url: str, **overrides: str) -> dict[str, str]:
    """This process's environment without MAILPROBE_* settings, then a benchmark's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPROBE_")}
    env.update(
        MAILPROBE_REDIS_URL=redis_url,
        MAILPROBE_ENCRYPTION_KEYS=generate_key("bench"),
        MAILPROBE_ALLOWED_NETWORKS="127.0.0.0/8",
        MAILPROBE_ALLOWED_PORTS="1-65535",
        # Every session goes to the one sink: no per-destination cap, no tenant rate limit.
        MAILPROBE_DESTINATION_CONCURRENCY="100000",
        MAILPROBE_RATE_LIMIT="1000000",
        MAILPROBE_RATE_BURST="1000000",
        MAILPROBE_GRPC_PORT=str(free_port()),
        # No SPF/DMARC lookups: the benchmarks measure SMTP, and query no resolver off loopback.
        MAILPROBE_SENDER_DOMAIN_CHECK="false",
    )
    env.update(overrides)
    return env


def _tree(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


class PeakRss:
    """The peak RSS of a process tree, sampled every 0.2 s in a thread from start() to stop()."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples = [tree_rss_kib(pid)]
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._done.wait(0.2):
            self.samples.append(tree_rss_kib(self.pid))

    def start(self) -> PeakRss:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._done.set()
        self._thread.join()

    @property
    def mib(self) -> float:
        return max(self.samples) / 1024


def tree_rss_kib(pid: int) -> int:
    """RSS of a process and all its descendants, in KiB."""
    total = 0
    for member in _tree(pid):
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its living descendants, in seconds."""
    ticks = 0
    for member in _tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / CLOCK_TICKS


def _started(
    argv: list[str], env: dict[str, str], log: Path, ready: Callable[[], bool], timeout: float
) -> subprocess.Popen[bytes]:
    """The process, once `ready()` says so (and it has not exited meanwhile)."""
    process = start_process(argv, env, log)

    def up() -> bool:
        assert process.poll() is None, log.read_text()[-2000:]
        return ready()

    wait_for(up, timeout, f"{argv[-1]} to be ready")
    return process


def start_api(app: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`app` under gunicorn as `mailprobe serve` runs the API, once it answers."""
    workers = Settings.model_fields["api_workers"].default

    def answers() -> bool:
        try:
            requests.get(f"http://127.0.0.1:{port}/", timeout=1)
            return True
        except requests.RequestException:
            return False

    argv = gunicorn_argv(app, f"127.0.0.1:{port}", workers)
    return _started(argv, env, log, answers, 30)


def start_worker(
    env: dict[str, str], pool: str, concurrency: int, log: Path
) -> subprocess.Popen[bytes]:
    """`mailprobe worker` with a pool, once it beats (mailprobe.liveness)."""
    client = get_redis(env["MAILPROBE_REDIS_URL"])
    before = liveness.alive_count(client)
    argv = [sys.executable, "-m", "mailprobe", "worker", "--pool", pool]
    argv += ["--concurrency", str(concurrency), "--loglevel", "WARNING"]
    return _started(argv, env, log, lambda: liveness.alive_count(client) > before, 60)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def machine(redis_client: redis.Redis | None = None) -> str:
    """One line naming the machine a benchmark ran on, and how busy it was when it printed:
    the machine is shared, so a figure is read with the load beside it."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])
    parts = [
        f"{os.cpu_count()} CPUs ({model})",
        f"{memory_kib / 1024 / 1024:.0f} GiB",
        f"Python {sys.version.split()[0]}",
    ]
    if redis_client is not None:
        parts.append(f"Redis {redis_client.info('server')['redis_version']}")
    load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return ", ".join(parts) + f"; load average {load}"


def bench_test(host: str, **fields: Any) -> dict[str, Any]:
    """The test every benchmark submits, to `host`."""
    return {
        "senderAddress": "bench@example.com",
        "senderName": "Bench",
        "host": host,
        "receiverAddress": "sink@example.com",
        **fields,
    }


def ended_count(client: redis.Redis, job_ids: list[str]) -> int:
    """How many of the jobs have ended: stored, and no longer unfinished (one round trip)."""
    pipe = client.pipeline(transaction=False)
    pipe.zmscore(rediskeys.UNFINISHED_JOBS, job_ids)
    for job_id in job_ids:
        pipe.exists(rediskeys.job(job_id))
    unfinished, *stored = pipe.execute()
    return sum(
        1 for score, exists in zip(unfinished, stored, strict=True) if exists and score is None
    )


def _session(env: dict[str, str]) -> requests.Session:
    key = ApiKeyStore(get_redis(env["MAILPROBE_REDIS_URL"])).create("t-bench", list(PERMISSIONS))
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    return session


def submit(base_url: str, env: dict[str, str], test: dict[str, Any], count: int) -> list[str]:
    """`count` copies of `test` through POST /email/smtp/_tests, 1,000 at a time; job ids."""
    session = _session(env)
    ids: list[str] = []
    while len(ids) < count:
        size = min(1000, count - len(ids))
        answer = session.post(f"{base_url}/email/smtp/_tests", json={"tests": [test] * size})
        assert answer.status_code == 202, answer.text
        items = answer.json()["items"]
        assert all(item.get("job") for item in items), items[:3]
        ids += [item["job"]["id"] for item in items]
    return ids


def submit_singles(
    base_url: str, env: dict[str, str], test: dict[str, Any], count: int
) -> list[str]:
    """`count` copies of `test`, one `POST /email/smtp/_test` each (one task each); job ids."""
    session = _session(env)
    ids: list[str] = []
    for _ in range(count):
        answer = session.post(f"{base_url}/email/smtp/_test", json=test)
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    return ids
