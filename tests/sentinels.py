"""A real replicated Redis under Sentinel on loopback: a primary, two replicas, three Sentinels.

For the failover tests and the failover benchmark. Every server is a redis-server process on
a free port, its files in a directory of its own; the Sentinels notice a dead primary after
DOWN_AFTER_MS and promote a replica.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import redis.sentinel

from cli.dev import redis_binary, redis_server_command
from tests.smtp_servers import free_port
from tests.support import RedisServer, wait_for

MASTER = "mailprobe"
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 3000


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


def _start_server(directory: Path, port: int, *extra: str) -> subprocess.Popen[bytes]:
    directory.mkdir(parents=True, exist_ok=True)
    # A replica's first sync starts at once (by default a primary waits 5 s for others).
    process = subprocess.Popen(
        [*redis_server_command(port, directory), "--repl-diskless-sync-delay", "0", *extra],
        stdout=subprocess.DEVNULL,
    )
    wait_for(lambda: _answers(port), 10, f"redis-server on {port} to answer")
    return process


def _start_sentinel(directory: Path, port: int, primary: int) -> subprocess.Popen[bytes]:
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "sentinel.conf"  # Sentinel rewrites its file: one each
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {directory}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {primary} 2\n"
        f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
        f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}\n"
        f"sentinel parallel-syncs {MASTER} 2\n"
    )
    process = subprocess.Popen([redis_binary(), str(conf), "--sentinel"], stdout=subprocess.DEVNULL)
    wait_for(lambda: _answers(port), 10, f"Sentinel on {port} to answer")
    return process


@dataclass
class SentinelGroup:
    servers: dict[int, subprocess.Popen[bytes]]  # port -> redis-server (primary or replica)
    sentinels: dict[int, subprocess.Popen[bytes]]
    first_primary: int
    stopped: set[int] = field(default_factory=set)  # SIGSTOPped servers

    @property
    def url(self) -> str:
        """MAILPROBE_REDIS_URL for this group (with MAILPROBE_REDIS_SENTINEL_MASTER=MASTER)."""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinels)
        return f"sentinel://{hosts}/0"

    def sentinel(self) -> Any:  # redis.sentinel.Sentinel, which has no type hints
        return redis.sentinel.Sentinel(  # type: ignore[no-untyped-call]
            [("127.0.0.1", port) for port in self.sentinels],
            sentinel_kwargs={"socket_timeout": 1.0, "socket_connect_timeout": 1.0},
            socket_timeout=5.0,
            socket_connect_timeout=1.0,
        )

    def primary_port(self) -> int:
        return int(self.sentinel().discover_master(MASTER)[1])

    def primary(self) -> RedisServer:
        """The primary as the Sentinels know it now."""
        port = self.primary_port()
        return RedisServer(port, self.servers[port])

    def replicas(self) -> list[int]:
        primary = self.primary_port()
        return [port for port in self.servers if port != primary]

    def client(self) -> redis.Redis:
        """A client that follows the primary, as the service's do."""
        client: redis.Redis = self.sentinel().master_for(MASTER, decode_responses=True)
        return client

    def kill_primary(self) -> int:
        """SIGKILL the primary; its port."""
        port = self.primary_port()
        self.servers[port].send_signal(signal.SIGKILL)
        self.servers[port].wait()
        return port

    def wait_for_failover(self, old: int, timeout: float = 30) -> int:
        """The new primary's port, once the Sentinels have promoted a replica and it has
        a replica of its own again."""

        def promoted() -> int | None:
            try:
                port = self.primary_port()
                if port == old:
                    return None
                info = redis.Redis(port=port, socket_timeout=1).info("replication")
                return port if info.get("slave0", {}).get("state") == "online" else None
            except redis.RedisError:
                return None

        found: int = wait_for(promoted, timeout, "the Sentinels to promote a replica")
        return found

    def pause(self, port: int) -> None:
        """SIGSTOP a server: it holds its connections and answers nothing (nor acknowledges)."""
        os.kill(self.servers[port].pid, signal.SIGSTOP)
        self.stopped.add(port)

    def resume(self, port: int) -> None:
        os.kill(self.servers[port].pid, signal.SIGCONT)
        self.stopped.discard(port)

    def stop(self) -> None:
        for port in list(self.stopped):
            self.resume(port)
        for process in [*self.sentinels.values(), *self.servers.values()]:
            if process.poll() is None:
                process.terminate()
        for process in [*self.sentinels.values(), *self.servers.values()]:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def sentinel_group(directory: Path) -> Iterator[SentinelGroup]:
    """A primary, two replicas of it and three Sentinels watching it, until the block ends."""
    primary = free_port()
    servers = {primary: _start_server(directory / "primary", primary)}
    group = SentinelGroup(servers, {}, primary)
    try:
        for name in ("replica-1", "replica-2"):
            port = free_port()
            servers[port] = _start_server(
                directory / name, port, "--replicaof", "127.0.0.1", str(primary)
            )

        def in_sync() -> bool:
            info = redis.Redis(port=primary).info("replication")
            states = [info.get(f"slave{index}", {}).get("state") for index in range(2)]
            return states == ["online", "online"]

        wait_for(in_sync, 15, "both replicas to be in sync")
        for index in range(3):
            port = free_port()
            group.sentinels[port] = _start_sentinel(directory / f"sentinel-{index}", port, primary)

        def known() -> bool:
            # Each Sentinel has found both replicas and the other Sentinels (it can vote).
            try:
                for port in group.sentinels:
                    # SENTINEL MASTER by hand: redis-py 6.4's sentinel_master() breaks; a
                    # reply is a dict or, unparsed (6.4), its pairs in a list.
                    sentinel: Any = redis.Redis(port=port, decode_responses=True)
                    reply = sentinel.execute_command("SENTINEL", "MASTER", MASTER)
                    if not isinstance(reply, dict):
                        reply = dict(zip(reply[::2], reply[1::2], strict=True))
                    state = reply
                    if int(state["num-slaves"]) < 2 or int(state["num-other-sentinels"]) < 2:
                        return False
                return True
            except redis.RedisError:
                return False

        wait_for(known, 20, "the Sentinels to know the replicas and each other")
        yield group
    finally:
        group.stop()
