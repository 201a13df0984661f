"""GET /email/smtp/_test/{id}/events: phases live, as Server-Sent Events, against a slow SMTP
server; a client that reconnects with Last-Event-ID misses nothing and sees nothing twice."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from aiosmtpd.controller import Controller
from httpx_sse import ServerSentEvent, connect_sse

from mailprobe import rediskeys
from tests.conftest import ApiClient, Service, probe_body
from tests.smtp_servers import SlowHandler, free_port, start_smtp_server
from tests.support import all_but


@pytest.fixture
def slow_server() -> Iterator[str]:
    controller = Controller(SlowHandler(), hostname="127.0.0.1", port=free_port())
    controller.start()
    yield f"127.0.0.1:{controller.port}"
    controller.stop()


def _events_url(service: Service, job_id: str) -> str:
    return f"{service.base_url}/email/smtp/_test/{job_id}/events"


def _auth(client: ApiClient) -> dict[str, str]:
    return {"Authorization": str(client.session.headers["Authorization"])}


def test_phases_arrive_live_and_a_reconnect_resumes_after_the_last_one(
    service: Service, client: ApiClient, slow_server: str
) -> None:
    job_id = client.submit(probe_body(slow_server)).json()["id"]
    url = _events_url(service, job_id)
    first: list[ServerSentEvent] = []
    statuses_seen: list[str] = []
    with httpx.Client(timeout=30) as http:
        with connect_sse(http, "GET", url, headers=_auth(client)) as source:
            assert source.response.status_code == 200
            assert source.response.headers["Content-Type"].startswith("text/event-stream")
            for event in source.iter_sse():
                assert event.event == "phase", event
                first.append(event)
                statuses_seen.append(client.get(f"/email/smtp/_test/{job_id}").json()["status"])
                if json.loads(event.data)["name"] == "mail_from":
                    break  # drop the connection mid-session
        rest: list[ServerSentEvent] = []
        headers = {**_auth(client), "Last-Event-ID": first[-1].id}
        with connect_sse(http, "GET", url, headers=headers) as source:
            rest = list(source.iter_sse())
        # After the last event, a client that reconnects is told there is nothing more.
        done = http.get(url, headers={**_auth(client), "Last-Event-ID": "end"})
        assert done.status_code == 204

    # The phases came while the job ran, not after its end.
    assert statuses_seen[0] == "running"
    assert "running" in statuses_seen
    job_event = rest[-1]
    assert (job_event.event, job_event.id) == ("job", "end")
    job = json.loads(job_event.data)
    assert job["status"] == "succeeded"
    phases = [json.loads(event.data) for event in first + rest[:-1]]
    assert all(event.event == "phase" for event in rest[:-1])
    # Every phase once, in order, as the job reports them; ids increase.
    assert [{k: v for k, v in p.items() if k != "attempt"} for p in phases] == job["result"][
        "phases"
    ]
    assert {p["attempt"] for p in phases} == {1}
    ids = [event.id for event in first + rest[:-1]]
    assert ids == sorted(ids, key=lambda i: tuple(int(n) for n in i.split("-")))
    assert len(set(ids)) == len(ids)
    assert job == client.get(f"/email/smtp/_test/{job_id}").json()


def test_a_job_nobody_watches_writes_no_events(service: Service, client: ApiClient) -> None:
    server = start_smtp_server()
    try:
        job = client.run(probe_body(server.address))
    finally:
        server.stop()
    assert job["status"] == "succeeded"
    redis = service.redis.client()
    assert not redis.exists(rediskeys.job_events(job["id"]))
    assert redis.hget(rediskeys.job(job["id"]), "watched") is None

    # Followed after its end: the finished job at once (its phases are in it).
    url = _events_url(service, job["id"])
    with (
        httpx.Client(timeout=10) as http,
        connect_sse(http, "GET", url, headers=_auth(client)) as s,
    ):
        events = list(s.iter_sse())
    assert [(e.event, e.id) for e in events] == [("job", "end")]
    assert json.loads(events[0].data) == job


def test_events_refuse_what_they_should(service: Service, client: ApiClient) -> None:
    server = start_smtp_server()
    try:
        job = client.run(probe_body(server.address))
    finally:
        server.stop()
    url = _events_url(service, job["id"])
    bad_id = httpx.get(url, headers={**_auth(client), "Last-Event-ID": "7; DROP"}, timeout=10)
    assert bad_id.status_code == 400
    assert bad_id.json()["details"][0]["fieldViolations"][0]["field"] == "Last-Event-ID"
    other_tenant = service.client(service.key(tenant="t-events-other"))
    assert httpx.get(url, headers=_auth(other_tenant), timeout=10).status_code == 404
    unknown = _events_url(service, "01HZZZZZZZZZZZZZZZZZZZZZZZ")
    assert httpx.get(unknown, headers=_auth(client), timeout=10).status_code == 404
    no_read = service.client(service.key(permissions=all_but("smtp.read")))
    assert httpx.get(url, headers=_auth(no_read), timeout=10).status_code == 403
    assert httpx.get(url, timeout=10).status_code == 401
