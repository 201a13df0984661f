"""API keys: 401 without a valid one, 403 without the permission, 404 across tenants."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from tests.conftest import ApiClient, Service, probe_body, secret
from tests.smtp_servers import start_smtp_server
from tests.support import all_but, run_cli


def _error(response: requests.Response, status: int, code: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["message"]
    return body


ROUTES = [
    ("POST", "/email/smtp/_test", "smtp.test"),
    ("GET", "/email/smtp/_test", "smtp.read"),
    ("GET", "/email/smtp/_test/01ARZ3NDEKTSV4RRFFQ69G5FAV", "smtp.read"),
]


@pytest.mark.parametrize(("method", "path", "permission"), ROUTES)
def test_missing_and_malformed_keys_are_401(
    service: Service, method: str, path: str, permission: str
) -> None:
    for headers in (
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer mpk_unknown"},
        {"Authorization": "Bearer x" * 100},
    ):
        response = requests.request(
            method,
            service.base_url + path,
            headers=headers,
            json=probe_body("smtp.example.com:25"),
            timeout=10,
        )
        _error(response, 401, 16)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path", "permission"), ROUTES)
def test_a_key_without_the_permission_is_403(
    service: Service, method: str, path: str, permission: str
) -> None:
    client = service.client(service.key(tenant="t-perm", permissions=all_but(permission)))
    response = client.request(method, path, json=probe_body("smtp.example.com:25"))
    body = _error(response, 403, 7)
    assert permission in body["message"]


def test_cli_creates_a_key_on_the_last_line_and_revokes_it(service: Service) -> None:
    created = run_cli(
        service.env,
        "keys",
        "create",
        "--tenant",
        "t-cli",
        "--permission",
        "smtp.read",
        "--permission",
        "smtp.test",
    )
    assert created.returncode == 0, created.stderr
    key = secret(created.stdout.strip().splitlines()[-1])
    assert key.startswith("mpk_")
    client = ApiClient(service.base_url, key)
    assert client.get("/email/smtp/_test").status_code == 200
    # Only a hash of the key is stored.
    assert not any(
        key in str(v)
        for v in service.redis.client()
        .hgetall(next(iter(service.redis.client().scan_iter("mailprobe:apikey:*"))))
        .values()
    )

    revoked = run_cli(service.env, "keys", "revoke", key)
    assert revoked.returncode == 0, revoked.stderr
    _error(client.get("/email/smtp/_test"), 401, 16)
    again = run_cli(service.env, "keys", "revoke", "mpk_no-such-key")
    assert again.returncode != 0
    assert "no such API key" in again.stderr


def test_cli_rejects_unknown_permissions(service: Service) -> None:
    result = run_cli(
        service.env, "keys", "create", "--tenant", "t", "--permission", "smtp.everything"
    )
    assert result.returncode != 0
    assert "smtp.everything" in result.stderr


def test_another_tenants_job_is_404_exactly_like_a_missing_one(service: Service) -> None:
    server = start_smtp_server()
    try:
        owner = service.client(service.key(tenant="t-owner"))
        intruder = service.client(service.key(tenant="t-intruder"))
        job = owner.run(probe_body(server.address))
    finally:
        server.stop()
    assert owner.get(f"/email/smtp/_test/{job['id']}").status_code == 200
    foreign = intruder.get(f"/email/smtp/_test/{job['id']}")
    missing = intruder.get("/email/smtp/_test/01ARZ3NDEKTSV4RRFFQ69G5FAV")
    assert _error(foreign, 404, 5) == _error(missing, 404, 5)
    assert intruder.get("/email/smtp/_test").json()["jobs"] == []
