"""Job documents are stored compactly (mailprobe.jobdoc) and read back as the same JSON; a
document stored as plain JSON (before compaction) still reads; only a job someone waits for
leaves a done stream."""

from __future__ import annotations

import json

import pytest
import redis

from mailprobe import rediskeys
from mailprobe.ids import new_id
from mailprobe.jobdoc import pack_doc, unpack_doc, unpack_job
from tests.conftest import ApiClient, Service, probe_body
from tests.smtp_servers import start_smtp_server
from tests.support import wait_for


def _stored_doc(service: Service, job_id: str) -> bytes:
    raw = redis.Redis(port=service.redis.port, db=service.redis.db)
    doc = raw.hget(rediskeys.job(job_id), "doc")
    assert isinstance(doc, bytes)
    return doc


def _finished_job(client: ApiClient) -> dict[str, object]:
    server = start_smtp_server()
    try:
        job = client.run(probe_body(server.address))
    finally:
        server.stop()
    assert job["status"] == "succeeded"
    return job


def test_a_finished_job_is_stored_compactly_and_read_back_as_the_same_json(
    service: Service,
) -> None:
    client = service.client(service.key(tenant="t-compact"))
    job = _finished_job(client)
    stored = _stored_doc(service, str(job["id"]))
    answered = client.get(f"/email/smtp/_test/{job['id']}")
    assert answered.status_code == 200
    as_json = answered.text.encode()
    assert stored[:1] == b"\x02"  # the compact form of an ended job, not JSON
    assert unpack_job(stored)[0] == "t-compact"  # its tenant kept in it, not in a field
    assert not service.redis.client().hexists(rediskeys.job(str(job["id"])), "tenant")
    assert len(stored) < len(as_json) / 3
    assert json.loads(unpack_doc(stored)) == answered.json() == job
    assert client.get("/email/smtp/_test").json()["jobs"] == [job]


def test_a_document_stored_as_plain_json_still_reads(service: Service) -> None:
    """A job stored before compaction (its doc plain JSON) answers as it did."""
    client = service.client(service.key(tenant="t-plain"))
    job = _finished_job(client)
    old_id = new_id()
    old_doc = json.dumps({**job, "id": old_id}, separators=(",", ":"))
    redis_client = service.redis.client()
    redis_client.hset(rediskeys.job(old_id), mapping={"tenant": "t-plain", "doc": old_doc})
    redis_client.expire(rediskeys.job(old_id), 3600)
    redis_client.zadd(rediskeys.tenant_jobs("t-plain"), {old_id: 0})

    assert client.get(f"/email/smtp/_test/{old_id}").json() == json.loads(old_doc)
    listed = client.get("/email/smtp/_test").json()["jobs"]
    assert [listed_job["id"] for listed_job in listed] == [old_id, job["id"]]
    # A long poll on it returns at once: it has ended, though it has no done stream.
    waited = client.get(f"/email/smtp/_test/{old_id}", headers={"Prefer": "wait=20"})
    assert waited.json()["status"] == "succeeded"


def test_only_a_job_someone_waits_for_leaves_a_done_stream(service: Service) -> None:
    client = service.client(service.key(tenant="t-done"))
    server = start_smtp_server()
    try:
        body = probe_body(server.address)
        unwatched = client.post("/email/smtp/_test", json=body).json()["id"]
        waited = client.post("/email/smtp/_test", json=body, headers={"Prefer": "wait=20"})
        assert waited.status_code == 200 and waited.json()["status"] == "succeeded"
        redis_client = service.redis.client()

        def unwatched_ended() -> bool:
            return redis_client.zscore(rediskeys.UNFINISHED_JOBS, unwatched) is None

        # Read from Redis, not by long polls: a long poll is a waiter too.
        wait_for(unwatched_ended, 30, "the job nobody waits for to end")
        assert client.get(f"/email/smtp/_test/{unwatched}").json()["status"] == "succeeded"
    finally:
        server.stop()
    assert not redis_client.exists(rediskeys.job_done(unwatched))
    assert not redis_client.hexists(rediskeys.job(unwatched), "awaited")
    done = rediskeys.job_done(waited.json()["id"])
    assert redis_client.exists(done)
    assert 0 < redis_client.ttl(done) <= 600  # kept minutes, not the job's retention


@pytest.mark.parametrize("text", ['{"id":"x","status":"queued"}', "{}", '{"é":"ü"}'])
def test_pack_and_unpack_are_inverse(text: str) -> None:
    packed = pack_doc(text)
    assert packed.startswith(b"\x01")
    assert unpack_doc(packed) == text
    assert unpack_doc(text.encode()) == text  # plain JSON, as stored before


def test_an_ended_jobs_document_carries_its_tenant() -> None:
    packed = pack_doc('{"id":"x"}', "tenant-ü")
    assert unpack_job(packed) == ("tenant-ü", '{"id":"x"}')
    assert unpack_job(pack_doc('{"id":"x"}')) == (None, '{"id":"x"}')


def test_an_unknown_format_is_an_error_not_a_wrong_job() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        unpack_doc(b"\x03anything")
    with pytest.raises(ValueError, match="the end of its tenant"):
        unpack_doc(b"\x02tenant without its end")
