"""Benchmark 4: tests per CPU-second of a worker, with TLS and without, on each path.

    .venv/bin/python -m tests.bench.cpu [--tests 2000] [--paths single,batch]
        [--sessions plain,implicit-tls,starttls] [--profile DIR]

A sink on loopback that answers at once, plain, with implicit TLS (as on port 465) and with
STARTTLS (certificates by trustme). For each path and session, the API takes `tests` tests,
then one gevent worker process (concurrency 500) runs them; its CPU time (user + system, from
/proc) from start-up done to the last test ended gives tests per CPU-second. The single path
submits each test by itself (`POST /email/smtp/_test`: one task each); the batch path 1,000
at a time (`POST /email/smtp/_tests`: one task per MAILPROBE_BATCH_CHUNK_SIZE tests). A
STARTTLS test opens two connections, as Zitadel does: implicit TLS is tried first, and the
server's plaintext greeting sends it to STARTTLS on a new connection.

With --profile, py-spy samples the worker over each row's run and writes its collapsed
stacks (one file a row) into DIR.
"""

from __future__ import annotations

import argparse
import os
import ssl
import subprocess
import sys
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
    submit_singles,
    tree_cpu_seconds,
)
from tests.bench.delay_sink import DelaySink
from tests.smtp_servers import free_port
from tests.support import start_redis, wait_for

SESSIONS = {"plain": "plain", "implicit-tls": "implicit TLS", "starttls": "STARTTLS"}


def _profiler(pid: int, out: Path) -> subprocess.Popen[bytes]:
    py_spy = Path(sys.executable).with_name("py-spy")  # pip install py-spy
    argv = [str(py_spy), "record", "--subprocesses", "--pid", str(pid), "--rate", "200"]
    argv += ["--format", "raw", "--output", str(out)]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--paths", default="single,batch")
    parser.add_argument("--sessions", default=",".join(SESSIONS))
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args()

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    sinks = {
        "plain": lambda: DelaySink(0),
        "implicit-tls": lambda: DelaySink(0, tls=server_context, implicit=True),
        "starttls": lambda: DelaySink(0, tls=server_context),
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
        base_url = f"http://127.0.0.1:{port}"
        print(
            f"{args.tests} tests per row, a sink that answers at once, one gevent worker; "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start\n"
        )
        print("| path | session | tests | worker CPU s | tests per CPU-second |")
        print("|---|---|---:|---:|---:|")
        try:
            for path in args.paths.split(","):
                for name in args.sessions.split(","):
                    sink = sinks[name]().start()
                    client.flushdb()
                    test = bench_test(sink.address, tls=name != "plain")
                    send = submit if path == "batch" else submit_singles
                    ids = send(base_url, env, test, args.tests)
                    worker = start_worker(env, "gevent", 500, root / "worker.log")
                    profiler = None
                    if args.profile is not None:
                        args.profile.mkdir(parents=True, exist_ok=True)
                        profiler = _profiler(worker.pid, args.profile / f"{path}-{name}.txt")
                    try:
                        before = tree_cpu_seconds(worker.pid)

                        def ended(ids: list[str] = ids) -> bool:
                            return ended_count(client, ids) == len(ids)

                        wait_for(ended, 600, f"{args.tests} {name} tests")
                        cpu = tree_cpu_seconds(worker.pid) - before
                    finally:
                        if profiler is not None:
                            profiler.send_signal(2)  # py-spy writes its file on SIGINT
                            profiler.wait(30)
                        stop(worker)
                        sink.stop()
                    assert sink.accepted == args.tests, (name, sink.accepted)
                    assert sink.duplicates == 0, (name, sink.duplicates)
                    print(
                        f"| {path} | {SESSIONS[name]} | {args.tests} | {cpu:.1f} "
                        f"| {args.tests / cpu:.0f} |",
                        flush=True,
                    )
        finally:
            stop(api)
            redis_server.process.terminate()


if __name__ == "__main__":
    main()
