"""Stored providers: CRUD through HTTP, tests by id, stored secrets that never move."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import ApiClient, Service, probe_body, secret
from tests.smtp_servers import RawServer, SmtpServer, start_smtp_server
from tests.support import all_but

UNKNOWN_ID = "01ARZ3NDEKTSV4RRFFQ69G5FAV"


def provider_body(host: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "description": "onboarding relay",
        "senderAddress": "noreply@example.com",
        "senderName": "Example",
        "tls": True,
        "host": host,
        "user": "alice",
        "password": "",
        "replyToAddress": "help@example.com",
    }
    body.update(overrides)
    return body


@pytest.fixture
def auth_server(server_tls: ssl.SSLContext) -> Iterator[tuple[SmtpServer, str]]:
    password = secret("stored-provider-pw-9f2")
    server = start_smtp_server(starttls=server_tls, credentials={"alice": password})
    yield server, password
    server.stop()


@pytest.fixture
def recorder() -> Iterator[RawServer]:
    """A listener that only counts connections: a destination that must never be reached."""
    held: list[socket.socket] = []
    server = RawServer(held.append)
    yield server
    server.stop()


@pytest.fixture
def tenant(service: Service) -> ApiClient:
    return service.client(service.key(tenant="t-providers"))


def _create(client: ApiClient, body: dict[str, Any]) -> str:
    response = client.post("/email/smtp", json=body)
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["details"]["sequence"] == 1
    provider_id: str = created["id"]
    return provider_id


def test_crud_round_trip(tenant: ApiClient, auth_server: tuple[SmtpServer, str]) -> None:
    server, password = auth_server
    provider_id = _create(tenant, provider_body(server.address, password=password))

    shown = tenant.get(f"/email/{provider_id}")
    assert shown.status_code == 200
    config = shown.json()["config"]
    assert password not in shown.text
    assert config["hasPassword"] is True
    assert config["state"] == "SMTP_CONFIG_INACTIVE"
    assert config["host"] == server.address
    assert config["replyToAddress"] == "help@example.com"
    assert config["description"] == "onboarding relay"
    assert config["details"]["resourceOwner"] == "t-providers"
    assert "password" not in config

    # Update with an empty password, same host and user: the stored password is kept.
    changed = tenant.request(
        "PUT",
        f"/email/smtp/{provider_id}",
        json=provider_body(server.address, description="renamed", senderName="Renamed"),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["details"]["sequence"] == 2
    config = tenant.get(f"/email/{provider_id}").json()["config"]
    assert (config["description"], config["senderName"], config["hasPassword"]) == (
        "renamed",
        "Renamed",
        True,
    )
    job = tenant.test_provider(provider_id)
    assert job["status"] == "succeeded", job
    assert server.auth_attempts[-1] == ("PLAIN", "alice")

    # Activation: one active provider per tenant.
    assert tenant.get("/email").status_code == 404
    other_id = _create(tenant, provider_body("smtp.example.net:587", password="x"))
    assert tenant.post(f"/email/{provider_id}/_activate").status_code == 200
    assert tenant.get("/email").json()["config"]["id"] == provider_id
    assert tenant.post(f"/email/{other_id}/_activate").status_code == 200
    assert tenant.get("/email").json()["config"]["id"] == other_id
    assert tenant.get(f"/email/{provider_id}").json()["config"]["state"] == "SMTP_CONFIG_INACTIVE"
    assert tenant.post(f"/email/{other_id}/_deactivate").status_code == 200
    assert tenant.get("/email").status_code == 404

    # Delete.
    assert tenant.request("DELETE", f"/email/{provider_id}").status_code == 200
    assert tenant.get(f"/email/{provider_id}").status_code == 404
    assert tenant.request("DELETE", f"/email/{provider_id}").status_code == 404
    assert tenant.request("DELETE", f"/email/{other_id}").status_code == 200


def test_search_pages(service: Service) -> None:
    client = service.client(service.key(tenant="t-search"))
    ids = [_create(client, provider_body(f"smtp{i}.example.com:587")) for i in range(5)]
    page = client.post("/email/_search", json={"query": {"offset": 1, "limit": 2, "asc": True}})
    assert page.status_code == 200
    body = page.json()
    assert body["details"]["totalResult"] == 5
    assert [p["id"] for p in body["result"]] == ids[1:3]
    newest = client.post("/email/_search", json={"query": {"limit": 2}}).json()
    assert [p["id"] for p in newest["result"]] == ids[::-1][:2]
    assert client.post("/email/_search", json={}).json()["details"]["totalResult"] == 5
    past = client.post("/email/_search", json={"query": {"offset": 9}}).json()
    assert past["result"] == [] and past["details"]["totalResult"] == 5


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"replyToAddress": "not-an-address"}, "replyToAddress"),
        ({"description": "d" * 201}, "description"),
        ({"host": "no-port"}, "host"),
        ({"plain": {}, "none": {}}, "plain"),
        (
            {
                "xoauth2": {
                    "tokenEndpoint": "http://idp.example.com/token",
                    "clientCredentials": {"clientId": "c"},
                }
            },
            "xoauth2.tokenEndpoint",
        ),
        ({"secret": "x"}, "secret"),
    ],
)
def test_provider_validation(service: Service, change: dict[str, Any], field: str) -> None:
    client = service.client(service.key(tenant="t-provider-validation"))
    response = client.post("/email/smtp", json={**provider_body("smtp.example.com:587"), **change})
    assert response.status_code == 400, response.text
    violations = response.json()["details"][0]["fieldViolations"]
    assert field in [v["field"] for v in violations]
    found = client.post("/email/_search", json={}).json()["details"]["totalResult"]
    assert found == 0


def test_changing_the_destination_needs_the_secret_again(
    tenant: ApiClient, auth_server: tuple[SmtpServer, str], recorder: RawServer
) -> None:
    server, password = auth_server
    provider_id = _create(tenant, provider_body(server.address, password=password))
    for change in ({"host": recorder.address}, {"user": "mallory"}):
        response = tenant.request(
            "PUT", f"/email/smtp/{provider_id}", json={**provider_body(server.address), **change}
        )
        assert response.status_code == 400, response.text
        assert response.json()["code"] == 9
    # With the password given again, the new destination is fine.
    moved = tenant.request(
        "PUT",
        f"/email/smtp/{provider_id}",
        json=provider_body(recorder.address, password=secret("new-dest-pw-1")),
    )
    assert moved.status_code == 200
    assert tenant.get(f"/email/{provider_id}").json()["config"]["host"] == recorder.address
    assert recorder.connections == 0


def test_test_with_id_reuses_the_stored_password_only_for_the_stored_destination(
    tenant: ApiClient, auth_server: tuple[SmtpServer, str], recorder: RawServer
) -> None:
    server, password = auth_server
    provider_id = _create(tenant, provider_body(server.address, password=password))
    same = probe_body(server.address, tls=True, user="alice", id=provider_id)
    job = tenant.submit(same, wait=20).json()
    assert job["status"] == "succeeded", job
    assert job["request"]["id"] == provider_id
    assert server.auth_attempts == [("PLAIN", "alice")]

    for change in ({"host": recorder.address}, {"user": "bob"}):
        refused = tenant.submit({**same, **change})
        assert refused.status_code == 400, refused.text
        assert refused.json()["code"] == 9
    assert recorder.connections == 0  # refused before any packet

    assert tenant.submit({**same, "id": UNKNOWN_ID}).status_code == 404


def test_a_queued_job_keeps_what_it_was_submitted_with(
    tenant: ApiClient, server_tls: ssl.SSLContext, recorder: RawServer
) -> None:
    password = secret("captured-at-submission-7")
    greylisted = "450 4.2.0 greylisted"
    server = start_smtp_server(
        starttls=server_tls, credentials={"alice": password}, rcpt_replies=[greylisted] * 2
    )
    try:
        provider_id = _create(tenant, provider_body(server.address, password=password))
        job = tenant.post(
            f"/email/smtp/{provider_id}/_test", json={"receiverAddress": "ops@example.org"}
        ).json()
        # While the job waits to retry, the provider moves elsewhere, then disappears.
        moved = tenant.request(
            "PUT",
            f"/email/smtp/{provider_id}",
            json=provider_body(recorder.address, password=secret("moved-pw-2")),
        )
        assert moved.status_code == 200
        assert tenant.request("DELETE", f"/email/{provider_id}").status_code == 200
        ended = tenant.get(f"/email/smtp/_test/{job['id']}", headers={"Prefer": "wait=30"}).json()
    finally:
        server.stop()
    assert ended["status"] == "succeeded", ended
    assert len(ended["attempts"]) == 3
    assert all(attempt == ("PLAIN", "alice") for attempt in server.auth_attempts)
    assert len(server.auth_attempts) == 3
    assert recorder.connections == 0


PROVIDER_ROUTES = [
    ("GET", "/email/{id}", "smtp.read", None),
    ("PUT", "/email/smtp/{id}", "smtp.write", provider_body("smtp.example.com:587")),
    ("PUT", "/email/smtp/{id}/password", "smtp.write", {"password": "x"}),
    ("POST", "/email/{id}/_activate", "smtp.write", None),
    ("POST", "/email/{id}/_deactivate", "smtp.write", None),
    ("DELETE", "/email/{id}", "smtp.write", None),
    ("POST", "/email/smtp/{id}/_test", "smtp.test", {"receiverAddress": "a@example.com"}),
]


@pytest.mark.parametrize(("method", "path", "permission", "body"), PROVIDER_ROUTES)
def test_every_provider_route_isolates_tenants_and_checks_permissions(
    service: Service, method: str, path: str, permission: str, body: dict[str, Any] | None
) -> None:
    owner = service.client(service.key(tenant="t-iso-a"))
    provider_id = _create(owner, provider_body("smtp.example.com:587", password="pw"))
    intruder = service.client(service.key(tenant="t-iso-b"))
    foreign = intruder.request(method, path.format(id=provider_id), json=body)
    missing = intruder.request(method, path.format(id=UNKNOWN_ID), json=body)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()
    weak = service.client(service.key(tenant="t-iso-a", permissions=all_but(permission)))
    denied = weak.request(method, path.format(id=provider_id), json=body)
    assert denied.status_code == 403
    assert permission in denied.json()["message"]
    # Nothing changed for the owner.
    config = owner.get(f"/email/{provider_id}").json()["config"]
    assert config["details"]["sequence"] == 1


@pytest.mark.parametrize(
    ("method", "path", "permission"),
    [
        ("POST", "/email/smtp", "smtp.write"),
        ("GET", "/email", "smtp.read"),
        ("POST", "/email/_search", "smtp.read"),
    ],
)
def test_collection_routes_check_permissions(
    service: Service, method: str, path: str, permission: str
) -> None:
    weak = service.client(service.key(tenant="t-iso-c", permissions=all_but(permission)))
    response = weak.request(method, path, json=provider_body("smtp.example.com:587"))
    assert response.status_code == 403
