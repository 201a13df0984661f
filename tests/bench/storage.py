"""Benchmark 6: Redis memory per finished job, every key it leaves counted.

    .venv/bin/python -m tests.bench.storage [--jobs 500]

The API and one gevent worker against a sink that answers at once and offers STARTTLS
(a certificate by trustme), as a typical provider does: the report then holds the TLS
session and the certificate, the transcript both EHLOs. A warm-up of 50 jobs creates what
every deployment has once (the tenant's index, the metrics hashes, kombu's bindings); then
`jobs` tests are submitted one by one (POST /email/smtp/_test, no Idempotency-Key) and run
to their end. The API and the worker stop after each of the two, so that used_memory is read
with only this process connected (their connections' buffers are not jobs' memory).
Printed: the machine, Redis's used_memory growth per finished job (everything: keys, their
expiry entries, the keyspace's hash table, shared indexes), and the keys the jobs left by
kind with MEMORY USAGE per job; then what storing and reading a finished job's document
costs in CPU (mailprobe.jobdoc.pack_doc / unpack_doc beside Pydantic's JSON), measured on the
documents the run left.
"""

from __future__ import annotations

import argparse
import re
import ssl
import tempfile
import time
import timeit
from collections import defaultdict
from pathlib import Path

import redis
import requests
import trustme

from mailprobe import rediskeys
from mailprobe.apikeys import PERMISSIONS, ApiKeyStore
from mailprobe.jobdoc import pack_doc, unpack_doc
from mailprobe.jobs import job_of
from mailprobe.models.jobs import Job
from mailprobe.redisconn import get_redis
from tests.bench.common import (
    bench_env,
    bench_test,
    ended_count,
    machine,
    start_api,
    start_worker,
    stop,
)
from tests.bench.delay_sink import DelaySink
from tests.smtp_servers import free_port
from tests.support import start_redis, wait_for

_ID = re.compile("[0-9A-HJKMNP-TV-Z]{26}")


def _submit(base_url: str, key: str, test: dict[str, object], count: int) -> list[str]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    ids = []
    for _ in range(count):
        answer = session.post(f"{base_url}/email/smtp/_test", json=test)
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["id"])
    return ids


def _used_memory(url: str) -> dict[str, int]:
    """used_memory, and its parts overhead (the keyspace's tables, expiry entries, clients)
    and dataset; and used_memory without the clients' buffers ("data"), which this process's
    own reads (SCAN, MEMORY USAGE) would otherwise swell. Read on a connection of its own,
    the smallest of a few readings."""
    parts = (("used", ""), ("overhead", "_overhead"), ("dataset", "_dataset"))
    readings = []
    with redis.Redis.from_url(url) as client:
        for _ in range(4):
            time.sleep(0.5)
            memory = client.info("memory")
            reading = {name: int(memory[f"used_memory{suffix}"]) for name, suffix in parts}
            reading["data"] = reading["used"] - int(memory["mem_clients_normal"])
            readings.append(reading)
    return min(readings, key=lambda reading: reading["used"])


def _keys_by_kind(client: redis.Redis) -> dict[str, tuple[int, int]]:
    """Each kind of key (job ids shown as {id}): how many, and their MEMORY USAGE in all."""
    kinds: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for key in client.scan_iter(count=1000):
        kind = _ID.sub("{id}", str(key))
        kinds[kind][0] += 1
        kinds[kind][1] += int(client.memory_usage(key, samples=0) or 0)
    return {kind: (count, size) for kind, (count, size) in kinds.items()}


def _docs(client: redis.Redis, ids: list[str]) -> list[bytes]:
    """The stored documents, undecoded."""
    pipe = client.pipeline(transaction=False)
    for job_id in ids:
        pipe.execute_command("HGET", rediskeys.job(job_id), "doc", NEVER_DECODE=True)  # type: ignore[no-untyped-call]
    return list(pipe.execute())


def _cpu_per_doc(jobs: list[Job]) -> dict[str, float]:
    """Microseconds per document, each way, for plain JSON and the stored form."""
    texts = [job.model_dump_json() for job in jobs]
    packed = [pack_doc(text) for text in texts]
    rounds = 5

    def per_doc(work: object) -> float:
        seconds = min(timeit.repeat(work, number=1, repeat=rounds))  # type: ignore[arg-type]
        return seconds / len(jobs) * 1e6

    return {
        "JSON dump (model_dump_json)": per_doc(lambda: [job.model_dump_json() for job in jobs]),
        "JSON parse (model_validate_json)": per_doc(
            lambda: [Job.model_validate_json(text) for text in texts]
        ),
        "pack (stored form)": per_doc(lambda: [pack_doc(text) for text in texts]),
        "unpack (stored form)": per_doc(lambda: [unpack_doc(value) for value in packed]),
        "plain bytes": sum(len(text) for text in texts) / len(texts),
        "stored bytes": sum(len(value) for value in packed) / len(packed),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=500)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        redis_server = start_redis(root)
        client = get_redis(redis_server.url)
        version = client.info("server")["redis_version"]
        ca = trustme.CA()
        server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(server_context)
        ca_file = root / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        sink = DelaySink(0, tls=server_context).start()
        port = free_port()
        env = bench_env(
            redis_server.url, MAILPROBE_PORT=str(port), MAILPROBE_SMTP_CA_FILE=str(ca_file)
        )
        base_url = f"http://127.0.0.1:{port}"
        key = ApiKeyStore(client).create("t-bench", list(PERMISSIONS))
        test = bench_test(sink.address, tls=True)

        def run(count: int) -> list[str]:
            """`count` jobs run to their end by an API and a worker that then stop: used_memory
            is read with neither connected, so their connections' buffers are not counted."""
            api = start_api("api.wsgi:app", port, env, root / "api.log")
            worker = start_worker(env, "gevent", 100, root / "worker.log")
            try:
                ids = _submit(base_url, key, test, count)
                wait_for(lambda: ended_count(client, ids) == len(ids), 300, f"{count} jobs")
                return ids
            finally:
                stop(worker)
                stop(api)

        try:
            run(50)  # the warm-up
            keys_before = _keys_by_kind(client)
            before = _used_memory(redis_server.url)
            ids = run(args.jobs)
            after = _used_memory(redis_server.url)
            keys_after = _keys_by_kind(client)
            docs = _docs(client, ids)
        finally:
            sink.stop()
            redis_server.process.terminate()

    jobs = [job_of(doc) for doc in docs]
    assert all(job.status == "succeeded" for job in jobs), {job.status for job in jobs}
    print(machine(), f"(at the end); Redis {version}")
    print(f"{args.jobs} jobs submitted one by one and ended, after a warm-up of 50\n")
    growth = {name: (after[name] - before[name]) / args.jobs for name in after}
    print(
        f"used_memory growth per finished job: {growth['used']:,.0f} bytes "
        f"(dataset {growth['dataset']:,.0f}, overhead {growth['overhead']:,.0f}); "
        f"without clients' buffers: {growth['data']:,.0f} bytes\n"
    )
    print("| key | keys added | MEMORY USAGE added per job, bytes |")
    print("|---|---:|---:|")
    for kind in sorted(keys_after):
        count, size = keys_after[kind]
        count_before, size_before = keys_before.get(kind, (0, 0))
        if size != size_before or count != count_before:
            print(f"| {kind} | {count - count_before} | {(size - size_before) / args.jobs:,.0f} |")
    cost = _cpu_per_doc(jobs)
    print(
        f"\na finished job's document: {cost.pop('plain bytes'):,.0f} bytes as JSON, "
        f"{cost.pop('stored bytes'):,.0f} stored\n"
    )
    print("| step | µs per document |")
    print("|---|---:|")
    for step, micros in cost.items():
        print(f"| {step} | {micros:.1f} |")


if __name__ == "__main__":
    main()
