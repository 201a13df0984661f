"""Benchmark 3: a worker's memory per SMTP session in flight.

    .venv/bin/python -m tests.bench.memory [--sessions 500]

One gevent worker process (concurrency = sessions) starts and beats; its RSS then is its
baseline. The API takes `sessions` tests against a sink that waits 2 s before every reply,
so sessions stay open; once the sink counts them all in flight, the worker's RSS is read
again. Printed: the baseline, the RSS with every session open, and the difference per
session — a task, its greenlet, socket, buffers, report and Redis connections.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from tests.bench.common import (
    bench_env,
    bench_test,
    start_api,
    start_worker,
    submit,
    tree_rss_kib,
)
from tests.bench.delay_sink import DelaySink
from tests.smtp_servers import free_port
from tests.support import start_redis, wait_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=500)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        redis_server = start_redis(root)
        sink = DelaySink(2.0).start()
        port = free_port()
        env = bench_env(redis_server.url, MAILPROBE_PORT=str(port))
        api = start_api("api.wsgi:app", port, env, root / "api.log")
        worker = start_worker(env, "gevent", args.sessions, root / "worker.log")
        try:
            baseline = tree_rss_kib(worker.pid)
            submit(f"http://127.0.0.1:{port}", env, bench_test(sink.address), args.sessions)
            wait_for(lambda: sink.in_flight >= args.sessions, 120, "every session in flight")
            loaded = tree_rss_kib(worker.pid)
            in_flight = sink.in_flight
        finally:
            worker.kill()
            api.terminate()
            sink.stop()
            redis_server.process.terminate()
        print(
            "| sessions in flight | worker RSS idle MiB | RSS with all in flight MiB "
            "| KiB per session |"
        )
        print("|---:|---:|---:|---:|")
        print(
            f"| {in_flight} | {baseline / 1024:.0f} | {loaded / 1024:.0f} "
            f"| {(loaded - baseline) / in_flight:.0f} |"
        )


if __name__ == "__main__":
    main()
