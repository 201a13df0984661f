"""Redis under Sentinel: a 202 survives the loss of the primary, and a write no replica has
is never answered 2xx.

A real primary, two replicas and three Sentinels (tests/sentinels.py); the real API and a
worker on the sentinel:// URL with MAILPROBE_REDIS_MIN_REPLICAS=1. The tests run in order:
the last one kills the primary.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import grpc
import pytest
import redis.sentinel
from kombu.connection import Connection
from pydantic import SecretStr

from api.zitadel.methods import SERVICE
from api.zitadel.pb.zitadel import admin_pb2
from mailprobe import rediskeys
from mailprobe.crypto import generate_key
from mailprobe.redisconn import celery_broker
from mailprobe.settings import Settings
from tests.bench.delay_sink import DelaySink
from tests.bench.failover import FAILOVER_SETTINGS, failover_soak, print_runs
from tests.conftest import Service, probe_body, running_service
from tests.sentinels import MASTER, SentinelGroup, sentinel_group
from tests.smtp_servers import free_port, start_smtp_server
from tests.support import wait_for
from tests.test_providers import provider_body

WAIT_TIMEOUT_MS = 500


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentinelGroup]:
    with sentinel_group(tmp_path_factory.mktemp("sentinel")) as started:
        yield started


@pytest.fixture(scope="module")
def failover(
    service_env: dict[str, str], group: SentinelGroup, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    env = {
        **service_env,
        **FAILOVER_SETTINGS,
        "MAILPROBE_REDIS_URL": group.url,
        "MAILPROBE_REDIS_WAIT_TIMEOUT": str(WAIT_TIMEOUT_MS),
        "MAILPROBE_PORT": str(free_port()),
    }
    with running_service(env, group.primary(), tmp_path_factory.mktemp("failover")) as running:
        yield running


def _in_sync(group: SentinelGroup) -> bool:
    info = group.primary().client().info("replication")
    return [info.get(f"slave{i}", {}).get("state") for i in range(2)] == ["online", "online"]


def test_the_broker_s_sentinel_channel_keeps_one_client_on_the_primary(
    group: SentinelGroup,
) -> None:
    """mailprobe/broker.py's SentinelTransport: kombu's Sentinel pool, one synchronous client per
    channel on it (tests/test_kombu_contract.py checks the same for the plain transport)."""
    settings = Settings(
        encryption_keys=[SecretStr(generate_key("k1"))],
        redis_url=group.url.replace("/0", "/15"),
        redis_sentinel_master=MASTER,
    )
    url, transport, options = celery_broker(settings)
    broker = Connection(url, transport=transport, transport_options=options)  # type: ignore[no-untyped-call]
    with broker as connection:
        channel = connection.default_channel
        client = channel._create_client()
        assert channel._create_client() is client
        assert isinstance(client.connection_pool, redis.sentinel.SentinelConnectionPool)
        assert client.connection_pool is channel.pool
        queue = connection.SimpleQueue("mailprobe.sentinel-contract")
        queue.put({"n": 1})
        message = queue.get(timeout=5)
        assert message.payload == {"n": 1}
        message.ack()
        assert client.hlen(channel.unacked_key) == 0
        queue.close()
        assert group.primary().client().info("keyspace").get("db15")  # on the primary
        client.flushdb()


def test_native_grpc_waits_for_the_end_through_the_sentinels(failover: Service) -> None:
    """The gRPC server's waiter (an asyncio client on the primary the Sentinels name) sees
    the job end: the call answers after the message is there."""
    server = start_smtp_server()
    request = admin_pb2.TestEmailProviderSMTPRequest(
        sender_address="probe@example.com",
        sender_name="Wire",
        host=server.address,
        receiver_address="inbox@example.org",
    )
    with grpc.insecure_channel(failover.grpc_target) as channel:
        call = channel.unary_unary(
            f"/{SERVICE}/TestEmailProviderSMTP",
            request_serializer=admin_pb2.TestEmailProviderSMTPRequest.SerializeToString,
            response_deserializer=admin_pb2.TestEmailProviderSMTPResponse.FromString,
        )
        key = failover.key(tenant="t-grpc")
        response = call(request, metadata=(("authorization", f"Bearer {key}"),), timeout=30)
    assert response == admin_pb2.TestEmailProviderSMTPResponse()
    assert len(server.handler.received) == 1
    server.stop()


def test_with_no_replica_answering_a_submission_is_503_and_leaves_nothing(
    failover: Service, group: SentinelGroup
) -> None:
    tenant = "t-no-replica"
    client = failover.client(failover.key(tenant=tenant))
    server = start_smtp_server()
    body = probe_body(server.address)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    primary = group.primary().client()
    try:
        for port in group.replicas():
            group.pause(port)
        started = time.monotonic()
        # The timeout bounds the answer: a hang fails the test.
        refused = client.post("/email/smtp/_test", json=body, headers=key, timeout=10)
        waited = time.monotonic() - started
        assert refused.status_code == 503, refused.text
        assert refused.headers["Retry-After"] == "1"
        assert refused.json()["code"] == 14  # UNAVAILABLE
        assert "replicas" in refused.json()["message"]
        # A batch and a provider write are refused alike (never a 500).
        batch = client.post("/email/smtp/_tests", json={"tests": [body]}, timeout=10)
        assert batch.status_code == 503, batch.text
        provider = client.post("/email/smtp", json=provider_body(server.address), timeout=10)
        assert provider.status_code == 503, provider.text
        print(f"\n  no replica: 503 after {waited:.2f} s (WAIT timeout {WAIT_TIMEOUT_MS} ms)")

        # Nothing half-written: no job, no claim on the key, no task queued.
        assert primary.zcard(rediskeys.tenant_jobs(tenant)) == 0
        hashes = primary.scan_iter(rediskeys.job("*"), _type="hash")
        owners = [primary.hget(name, "tenant") for name in hashes]
        assert tenant not in owners
        assert not list(primary.scan_iter(f"{rediskeys.PREFIX}:idempotency:{tenant}:*"))
        assert primary.llen(rediskeys.SMTP_QUEUE) == 0
    finally:
        for port in list(group.stopped):
            group.resume(port)
    wait_for(lambda: _in_sync(group), 20, "the replicas to catch up")

    # The client's retry with the same key is a new, single job.
    accepted = client.post("/email/smtp/_test", json=body, headers=key)
    assert accepted.status_code == 202, accepted.text
    assert "Idempotent-Replayed" not in accepted.headers
    job = client.ended(accepted.json()["id"])
    assert job["status"] == "succeeded"
    assert len(server.handler.received) == 1
    assert server.handler.received[0].message["X-Mailprobe-Job"] == job["id"]
    server.stop()


def test_a_retry_after_an_unacknowledged_202_finds_the_same_job(
    failover: Service, group: SentinelGroup
) -> None:
    """The jobs reached a replica, the task did not: the 503 leaves the job, and the retry
    with the same key answers it (waiting for the replicas again), never a second one."""
    client = failover.client(failover.key(tenant="t-late-replica"))
    server = start_smtp_server()
    body = probe_body(server.address)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = client.post("/email/smtp/_test", json=body, headers=key)
    assert first.status_code == 202
    try:
        for port in group.replicas():
            group.pause(port)
        again = client.post("/email/smtp/_test", json=body, headers=key, timeout=10)
        assert again.status_code == 503, again.text  # the replay, too, waits for a replica
    finally:
        for port in list(group.stopped):
            group.resume(port)
    wait_for(lambda: _in_sync(group), 20, "the replicas to catch up")
    replayed = client.post("/email/smtp/_test", json=body, headers=key)
    assert replayed.status_code in (200, 202)
    assert replayed.json()["id"] == first.json()["id"]
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert client.ended(first.json()["id"])["status"] == "succeeded"
    assert len(server.handler.received) == 1
    server.stop()


def test_the_primary_dies_under_load_and_no_accepted_job_is_lost_or_sent_twice(
    failover: Service, group: SentinelGroup
) -> None:
    jobs = 150
    sink = DelaySink(0.1).start()  # a session of about 0.7 s: some are in flight at the kill
    try:
        run = failover_soak(
            failover,
            group,
            sink,
            failover.key(tenant="t-failover"),
            jobs,
            lambda run: sink.accepted >= 5 and sink.in_flight > 0,
            pace=0.1,  # 40 submissions/s: they go on through the failover
            end_within=90,
        )
    finally:
        sink.stop()
    print()
    print_runs({"while accepting messages": run})
    assert len(run.accepted) == jobs
    assert run.refused, "the kill refused no submission: it did not happen under load"
    assert run.lost == 0, run.statuses
    assert run.statuses["succeeded"] == jobs
    assert run.sent_twice == 0
    assert sorted(job.decode() for job in sink.by_job) == sorted(run.accepted)  # each arrived
