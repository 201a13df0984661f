"""Idempotency-Key: one job and one SMTP session per key, whatever the client repeats."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import Service, probe_body
from tests.smtp_servers import start_smtp_server


def test_same_key_same_body_same_job_one_session(service: Service) -> None:
    client = service.client(service.key(tenant="t-idem"))
    server = start_smtp_server()
    try:
        body = probe_body(server.address)
        key = {"Idempotency-Key": str(uuid.uuid4())}
        first = client.post("/email/smtp/_test", json=body, headers=key)
        assert first.status_code == 202
        ended = client.get(
            f"/email/smtp/_test/{first.json()['id']}", headers={"Prefer": "wait=20"}
        ).json()
        assert ended["status"] == "succeeded"
        again = client.post("/email/smtp/_test", json=body, headers=key)
        assert again.status_code == 200  # the same job, already ended
        assert again.json()["id"] == first.json()["id"]
        assert again.headers["Idempotent-Replayed"] == "true"

        other = client.post("/email/smtp/_test", json={**body, "senderName": "Else"}, headers=key)
        assert other.status_code == 422
        assert other.json()["code"] == 3
        assert len(server.handler.received) == 1
        # Keys are per tenant: another tenant's same key is another job.
        stranger = service.client(service.key(tenant="t-idem-2"))
        theirs = stranger.post("/email/smtp/_test", json=body, headers=key)
        assert theirs.status_code == 202 and theirs.json()["id"] != first.json()["id"]
    finally:
        server.stop()


def test_concurrent_duplicates_make_one_job(service: Service) -> None:
    client = service.client(service.key(tenant="t-idem-race"))
    server = start_smtp_server()
    try:
        body = probe_body(server.address)
        key = {"Idempotency-Key": str(uuid.uuid4())}
        with ThreadPoolExecutor(max_workers=10) as pool:
            responses = list(
                pool.map(
                    lambda _: client.post("/email/smtp/_test", json=body, headers=key), range(10)
                )
            )
        statuses = {r.status_code for r in responses}
        assert statuses <= {200, 202, 409}
        ids = {r.json()["id"] for r in responses if r.status_code in (200, 202)}
        assert len(ids) == 1
        job_id = ids.pop()
        assert (
            client.get(f"/email/smtp/_test/{job_id}", headers={"Prefer": "wait=20"}).json()[
                "status"
            ]
            == "succeeded"
        )
        assert len(server.handler.received) == 1
        listed = client.get("/email/smtp/_test").json()["jobs"]
        assert [j["id"] for j in listed] == [job_id]
    finally:
        server.stop()


def test_a_malformed_key_is_rejected(service: Service) -> None:
    client = service.client(service.key(tenant="t-idem-bad"))
    response = client.post(
        "/email/smtp/_test",
        json=probe_body("smtp.example.com:25"),
        headers={"Idempotency-Key": "x" * 300},
    )
    assert response.status_code == 400
    assert response.json()["details"][0]["fieldViolations"][0]["field"] == "Idempotency-Key"
    assert client.get("/email/smtp/_test").json()["jobs"] == []


def test_a_claim_and_its_expiry_are_one_atomic_step(service: Service) -> None:
    """A claim left without an expiry (a crash or a failover between two commands) would
    answer 409 for ever: the claim is made with its expiry in one script."""
    client = service.client(service.key(tenant="t-idem-atomic"))
    with service.redis.client().monitor() as monitor:  # type: ignore[no-untyped-call]
        response = client.post(
            "/email/smtp/_test",
            json=probe_body("127.0.0.1:9"),
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        assert response.status_code == 202
        claim: dict[str, dict[str, str]] = {}
        while len(claim) < 2:
            seen = monitor.next_command()
            name = seen["command"].split()[0].upper()
            if name in ("HSET", "EXPIRE") and ":idempotency:" in seen["command"]:
                claim[name] = seen
    # Both ran inside one script (MONITOR marks a script's commands "lua"): no window
    # between them in which the claim has no expiry. (A single test's claim is written by the
    # script that stores its job: mailprobe.submission.)
    assert {seen["client_type"] for seen in claim.values()} == {"lua"}
    key = claim["HSET"]["command"].split()[1]
    assert 0 < service.redis.client().ttl(key) <= 24 * 3600
