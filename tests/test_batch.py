"""POST /email/smtp/_tests: a batch of tests, each checked on its own, queued together."""

from __future__ import annotations

import uuid

from tests.conftest import Service, probe_body
from tests.smtp_servers import start_smtp_server


def test_a_batch_accepts_the_valid_tests_and_explains_the_others(service: Service) -> None:
    client = service.client(service.key(tenant="t-batch"))
    server = start_smtp_server()
    try:
        tests = [probe_body(server.address, senderName=f"Batch {i}") for i in range(20)]
        tests[3] = {**tests[3], "host": "no-port"}  # invalid
        tests[7] = {**tests[7], "bogus": True}  # invalid
        tests[11] = probe_body("10.0.0.1:25")  # refused by policy
        response = client.post("/email/smtp/_tests", json={"tests": tests})
        assert response.status_code == 202, response.text
        result = response.json()
        assert (result["accepted"], result["rejected"]) == (17, 3)
        items = result["items"]
        assert [item["index"] for item in items] == list(range(20))
        assert items[3]["error"]["details"][0]["fieldViolations"][0]["field"] == "host"
        assert items[7]["error"]["details"][0]["fieldViolations"][0]["field"] == "bogus"
        assert items[11]["error"]["code"] == 7
        assert items[11]["error"]["details"][0]["metadata"] == {"category": "policy"}
        jobs = [item["job"] for item in items if item["job"]]
        assert len(jobs) == 17 and all(job["status"] == "queued" for job in jobs)
        for job in jobs:
            assert client.ended(job["id"])["status"] == "succeeded"
        assert len(server.handler.received) == 17
        names = {str(r.message["From"].addresses[0].display_name) for r in server.handler.received}
        assert names == {f"Batch {i}" for i in range(20)} - {"Batch 3", "Batch 7", "Batch 11"}
    finally:
        server.stop()


def test_a_batch_with_an_idempotency_key_runs_once(service: Service) -> None:
    client = service.client(service.key(tenant="t-batch-idem"))
    server = start_smtp_server()
    try:
        body = {"tests": [probe_body(server.address) for _ in range(5)]}
        key = {"Idempotency-Key": str(uuid.uuid4())}
        first = client.post("/email/smtp/_tests", json=body, headers=key).json()
        again = client.post("/email/smtp/_tests", json=body, headers=key)
        assert again.headers["Idempotent-Replayed"] == "true"
        assert [i["job"]["id"] for i in again.json()["items"]] == [
            i["job"]["id"] for i in first["items"]
        ]
        for item in first["items"]:
            client.ended(item["job"]["id"])
        assert len(server.handler.received) == 5
    finally:
        server.stop()


def test_batch_limits(service: Service) -> None:
    client = service.client(service.key(tenant="t-batch-limits"))
    assert client.post("/email/smtp/_tests", json={"tests": []}).status_code == 400
    too_many = {"tests": [probe_body("smtp.example.com:25")] * 1001}
    response = client.post("/email/smtp/_tests", json=too_many)
    assert response.status_code == 400
    assert response.json()["details"][0]["fieldViolations"][0]["field"] == "tests"
    # A batch may be larger than a single request's 64 KiB, up to 4 MiB.
    big = {"tests": [probe_body("smtp.example.com:25", senderName="n" * 190)] * 400}
    assert client.post("/email/smtp/_tests", json=big).status_code == 202
    huge = {"tests": [probe_body("smtp.example.com:25", senderName="n" * 190)] * 1000}
    huge["padding"] = "x" * (4 * 1024 * 1024)  # type: ignore[assignment]
    assert client.post("/email/smtp/_tests", json=huge).status_code == 413
    assert client.get("/email/smtp/_test?limit=100").json()["jobs"][0]["request"]["senderName"] == (
        "n" * 190
    )
