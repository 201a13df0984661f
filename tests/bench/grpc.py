"""Benchmark: many native gRPC test calls waiting at once on one gRPC server process.

`python -m tests.bench.grpc [--calls 500] [--delay 0.2]`

Starts Redis, a gevent worker, `mailprobe serve` (gunicorn and the asyncio gRPC server) and a
sink that delays every SMTP reply by `delay` seconds (a session of ~8 replies takes ~8 x
delay). Sends `calls` TestEmailProviderSMTP calls at once from an asyncio client and prints
calls/s, how many succeeded, and the gRPC server process's threads and RSS before the burst
and at their peak while the calls wait.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import threading
import time
from pathlib import Path

import grpc

from api.zitadel.pb.zitadel import admin_pb2
from mailprobe.apikeys import PERMISSIONS, ApiKeyStore
from mailprobe.redisconn import get_redis
from tests.bench.common import bench_env, start_worker, stop, tree_rss_kib
from tests.bench.delay_sink import DelaySink
from tests.smtp_servers import free_port
from tests.support import start_process, start_redis, wait_for

METHOD = "/zitadel.admin.v1.AdminService/TestEmailProviderSMTP"


def _grpc_pid(serve_pid: int) -> int:
    """The gRPC server: the child of `mailprobe serve` that runs api.zitadel.grpc_server."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
        if parent == serve_pid and b"api.zitadel.grpc_server" in cmdline:
            return int(entry.name)
    return 0  # not started yet


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


async def _burst(target: str, key: str, sink: str, calls: int) -> tuple[int, float]:
    async with grpc.aio.insecure_channel(target) as channel:
        await channel.channel_ready()
        call = channel.unary_unary(
            METHOD,
            request_serializer=admin_pb2.TestEmailProviderSMTPRequest.SerializeToString,
            response_deserializer=admin_pb2.TestEmailProviderSMTPResponse.FromString,
        )
        request = admin_pb2.TestEmailProviderSMTPRequest(
            sender_address="bench@example.com",
            sender_name="Bench",
            host=sink,
            receiver_address="sink@example.com",
        )
        metadata = (("authorization", f"Bearer {key}"),)

        async def one() -> bool:
            try:
                await call(request, metadata=metadata, timeout=300)
                return True
            except grpc.aio.AioRpcError as error:
                print(f"  call failed: {error.code().name} {error.details()}", file=sys.stderr)
                return False

        started = time.monotonic()
        results = await asyncio.gather(*(one() for _ in range(calls)))
        return sum(results), time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--delay", type=float, default=0.2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        redis_server = start_redis(root)
        sink = DelaySink(args.delay).start()
        http_port, grpc_port = free_port(), free_port()
        env = bench_env(
            redis_server.url,
            MAILPROBE_PORT=str(http_port),
            MAILPROBE_GRPC_PORT=str(grpc_port),
            MAILPROBE_SMTP_SESSION_DEADLINE="120",
        )
        worker = start_worker(env, "gevent", max(args.calls, 100), root / "worker.log")
        serve = start_process(
            [sys.executable, "-m", "mailprobe", "serve", "--workers", "1"], env, root / "api.log"
        )
        try:
            server_pid = wait_for(lambda: _grpc_pid(serve.pid), 30, "the gRPC server to start")
            key = ApiKeyStore(get_redis(redis_server.url)).create("t-bench", list(PERMISSIONS))
            target = f"127.0.0.1:{grpc_port}"
            # Warm up: one call, so start-up costs are not in the figures.
            asyncio.run(_burst(target, key, sink.address, 1))
            idle_threads, idle_rss = _threads(server_pid), tree_rss_kib(server_pid)
            peak = {"threads": idle_threads, "rss": idle_rss}
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.05):
                    peak["threads"] = max(peak["threads"], _threads(server_pid))
                    peak["rss"] = max(peak["rss"], tree_rss_kib(server_pid))

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            sink.reset()
            succeeded, seconds = asyncio.run(_burst(target, key, sink.address, args.calls))
            done.set()
            sampler.join()
        finally:
            stop(serve)
            stop(worker)
            sink.stop()
            redis_server.process.terminate()

    print(
        f"\n{args.calls} concurrent gRPC TestEmailProviderSMTP calls, sink delay "
        f"{args.delay * 1000:.0f} ms per reply; one gRPC server process, one gevent worker\n"
    )
    print("| calls | succeeded | seconds | calls/s | peak sessions at the sink "
          "| server threads idle → peak | server RSS idle → peak MiB |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {args.calls} | {succeeded} | {seconds:.1f} | {args.calls / seconds:.0f} "
        f"| {sink.peak} | {idle_threads} → {peak['threads']} "
        f"| {idle_rss / 1024:.0f} → {peak['rss'] / 1024:.0f} |"
    )


if __name__ == "__main__":
    main()
