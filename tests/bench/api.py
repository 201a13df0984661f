"""Benchmark 1: the API's requests per second and latency, beside a floor.

    .venv/bin/python -m tests.bench.api [--seconds 10] [--connections 8] [--reuse 20] [--runs 5]

Two gunicorn servers, started by the same command line (cli.main.gunicorn_argv, the
default number of workers): the API, and a bare Flask endpoint doing one Redis LPUSH (the
floor: what any Flask app that enqueues pays). A load generator in this process keeps
`connections` keep-alive connections busy on loopback, each sending its next request as soon
as the answer to the last one arrives, for a warm-up and then `seconds` seconds per server.
Each connection is replaced after `reuse` requests, as a client's pool does: gunicorn's
workers each accept what they can, and a handful of connections that live for ever can all
land on one worker (then the API does about 560 requests/s here, on one process).
The API gets POST /email/smtp/_test with a fresh, valid test each time; nothing consumes the
queue. Each of `runs` runs measures the floor, then the API, each in a fresh gunicorn: the
p99 moves from run to run on a shared machine, so one run proves little. Printed: the
machine, then per run requests/s, p50/p99 latency, non-2xx answers, the connections Redis
accepted during the measured seconds (none per request: the processes keep their pools),
the API's cost as a multiple of the floor's (by requests/s, and by the CPU time gunicorn
and Redis spent per request, which other work on a shared machine disturbs less) and the
load average; then the ranges.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from mailprobe.apikeys import PERMISSIONS, ApiKeyStore
from mailprobe.redisconn import get_redis
from tests.bench.common import bench_env, bench_test, machine, start_api, tree_cpu_seconds
from tests.smtp_servers import free_port
from tests.support import start_redis


@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)


async def _connection(port: int, request: bytes, until: float, reuse: int, load: Load) -> None:
    while time.perf_counter() < until:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for _ in range(reuse):
                if time.perf_counter() >= until:
                    break
                started = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                load.latencies.append(time.perf_counter() - started)
                load.statuses[int(head.split(b" ", 2)[1])] += 1
        finally:
            writer.close()


async def _run(port: int, request: bytes, connections: int, seconds: float, reuse: int) -> Load:
    load = Load()
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(
        *(_connection(port, request, until, reuse, load) for _ in range(connections))
    )
    load.seconds = time.perf_counter() - started
    return load


def post(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _measure(
    app: str,
    request: bytes,
    env: dict[str, str],
    root: Path,
    args: argparse.Namespace,
    redis_pid: int,
) -> tuple[Load, int, float]:
    """One run against `app` in a gunicorn of its own: its load, the Redis connections opened
    during the measured seconds, and the CPU time gunicorn and Redis spent in them per
    request (ms): a cost that other work on a shared machine disturbs less than a rate."""
    redis_client = get_redis(env["MAILPROBE_REDIS_URL"])

    def connections() -> int:
        return int(redis_client.info("stats")["total_connections_received"])

    port = free_port()
    server = start_api(app, port, env, root / f"{app.split(':')[0]}.log")
    try:
        asyncio.run(_run(port, request, args.connections, 2.0, args.reuse))  # warm-up
        before = connections()
        cpu_before = tree_cpu_seconds(server.pid) + tree_cpu_seconds(redis_pid)
        load = asyncio.run(_run(port, request, args.connections, args.seconds, args.reuse))
        cpu = tree_cpu_seconds(server.pid) + tree_cpu_seconds(redis_pid) - cpu_before
        return load, connections() - before, cpu / len(load.latencies) * 1000
    finally:
        server.terminate()
        server.wait(15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--reuse", type=int, default=20, help="requests per connection before a new one"
    )
    parser.add_argument("--runs", type=int, default=5, help="runs of the floor and the API")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        redis_server = start_redis(root)
        env = bench_env(redis_server.url)
        key = ApiKeyStore(redis_server.client()).create("t-bench", list(PERMISSIONS))
        test = bench_test("127.0.0.1:2525", user="bench", password="bench-password", tls=False)
        floor_request = post("/push", json.dumps(test).encode(), {})
        api_request = post(
            "/email/smtp/_test",
            json.dumps(test).encode(),
            {"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        )
        print(machine(redis_server.client()))
        print(
            f"{args.runs} runs; each: the floor, then the API, {args.seconds:.0f} s each, "
            f"{args.connections} keep-alive connections ({args.reuse} requests each), "
            "the load generator, gunicorn and Redis on the same CPUs\n"
        )
        print(
            "| run | floor requests/s | floor p99 ms | API requests/s | API p50 ms | API p99 ms "
            "| API non-2xx | new Redis connections | cost vs floor | CPU ms per request, floor "
            "/ API (cost) | load average |"
        )
        print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        costs: list[float] = []
        cpu_costs: list[float] = []
        p99s: list[float] = []
        try:
            for run in range(1, args.runs + 1):
                redis_pid = redis_server.process.pid
                floor, _, floor_cpu = _measure(
                    "tests.bench.floor_app:app", floor_request, env, root, args, redis_pid
                )
                api, opened, api_cpu = _measure(
                    "api.wsgi:app", api_request, env, root, args, redis_pid
                )
                costs.append(floor.rate / api.rate)
                cpu_costs.append(api_cpu / floor_cpu)
                p99s.append(api.percentile(99))
                load = " ".join(Path("/proc/loadavg").read_text().split()[:3])
                print(
                    f"| {run} | {floor.rate:,.0f} | {floor.percentile(99):.1f} | {api.rate:,.0f} "
                    f"| {api.percentile(50):.1f} | {api.percentile(99):.1f} | {api.errors} "
                    f"| {opened} | {costs[-1]:.2f}x "
                    f"| {floor_cpu:.2f} / {api_cpu:.2f} ({cpu_costs[-1]:.2f}x) | {load} |",
                    flush=True,
                )
        finally:
            redis_server.process.terminate()
        print(
            f"\n{args.runs} runs: the API's cost per request {min(costs):.2f}-{max(costs):.2f}x "
            f"the floor's by requests/s, {min(cpu_costs):.2f}-{max(cpu_costs):.2f}x by CPU "
            f"time; p99 {min(p99s):.1f}-{max(p99s):.1f} ms"
        )


if __name__ == "__main__":
    main()
