"""Benchmark 4: tests per CPU-second of a worker, with TLS and without.

    .venv/bin/python -m tests.bench.cpu [--tests 2000]

A sink on loopback that answers at once, plain, with implicit TLS (as on port 465) and with
STARTTLS (certificates by trustme). For each, the API takes `tests` tests, then one gevent
worker process (concurrency 500) runs them; its CPU time (user + system, from /proc) from
start-up done to the last test ended gives tests per CPU-second. A STARTTLS test opens two
connections, as Zitadel does: implicit TLS is tried first, and the server's plaintext
greeting sends it to STARTTLS on a new connection.
"""

from __future__ import annotations

import argparse
import ssl
import tempfile
from pathlib import Path

import trustme

from mailprobe.redisconn import get_redis
from tests.bench.common import (
    bench_env,
    bench_test,
    ended_count,
    start_api,
    start_worker,
    stop,
    submit,
    tree_cpu_seconds,
)
from tests.bench.delay_sink import DelaySink
from tests.smtp_servers import free_port
from tests.support import start_redis, wait_for


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    args = parser.parse_args()

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    sinks = {
        "plain": DelaySink(0),
        "implicit TLS": DelaySink(0, tls=server_context, implicit=True),
        "STARTTLS": DelaySink(0, tls=server_context),
    }
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        ca_file = root / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        redis_server = start_redis(root)
        port = free_port()
        env = bench_env(
            redis_server.url, MAILPROBE_PORT=str(port), MAILPROBE_SMTP_CA_FILE=str(ca_file)
        )
        api = start_api("api.wsgi:app", port, env, root / "api.log")
        client = get_redis(redis_server.url)
        print(f"{args.tests} tests per row, a sink that answers at once, one gevent worker\n")
        print("| session | tests | worker CPU s | tests per CPU-second |")
        print("|---|---:|---:|---:|")
        try:
            for name, sink in sinks.items():
                sink.start()
                client.flushdb()
                test = bench_test(sink.address, tls=name != "plain")
                ids = submit(f"http://127.0.0.1:{port}", env, test, args.tests)
                worker = start_worker(env, "gevent", 500, root / "worker.log")
                try:
                    before = tree_cpu_seconds(worker.pid)

                    def ended(ids: list[str] = ids) -> bool:
                        return ended_count(client, ids) == len(ids)

                    wait_for(ended, 600, f"{args.tests} {name} tests")
                    cpu = tree_cpu_seconds(worker.pid) - before
                finally:
                    stop(worker)
                    sink.stop()
                assert sink.accepted == args.tests, (name, sink.accepted)
                print(f"| {name} | {args.tests} | {cpu:.1f} | {args.tests / cpu:.0f} |", flush=True)
        finally:
            stop(api)
            redis_server.process.terminate()


if __name__ == "__main__":
    main()
