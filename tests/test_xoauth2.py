"""SASL XOAUTH2: a real token endpoint (HTTPS) and an SMTP server that checks the bearer token."""

from __future__ import annotations

import base64
import json
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from tests.conftest import ApiClient, Service, probe_body, secret
from tests.smtp_servers import RecordingHandler, free_port

CLIENT_ID = "mailprobe-client"


@dataclass
class TokenServer:
    """An OAuth2 token endpoint for the client-credentials grant, over HTTPS."""

    client_secret: str
    issued: list[str] = field(default_factory=list)
    requests: list[dict[str, list[str]]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"https://localhost:{self.server.server_address[1]}/oauth2/token"

    def start(self, context: ssl.SSLContext) -> TokenServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                owner.requests.append(form)
                ok = (
                    form.get("grant_type") == ["client_credentials"]
                    and form.get("client_id") == [CLIENT_ID]
                    and form.get("client_secret") == [owner.client_secret]
                )
                if ok:
                    token = f"ya29.token-{len(owner.issued) + 1}"
                    owner.issued.append(token)
                    body = {"access_token": token, "token_type": "Bearer", "expires_in": 3600}
                    status = 200
                else:
                    body, status = {"error": "invalid_client"}, 401
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()


class XOAuth2Handler(RecordingHandler):
    """Accepts AUTH XOAUTH2 only with a token the token server issued, for the right user."""

    def __init__(self, tokens: TokenServer, user: str) -> None:
        super().__init__()
        self.tokens = tokens
        self.user = user
        self.xoauth2_payloads: list[str] = []

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:
        payload = base64.b64decode(args[1]).decode()
        self.xoauth2_payloads.append(payload)
        fields = dict(part.split("=", 1) for part in payload.split("\x01") if part)
        if (
            fields.get("user") == self.user
            and fields.get("auth", "").removeprefix("Bearer ") in self.tokens.issued
        ):
            return AuthResult(success=True)
        # Gmail's way: a 334 with an error document, then 535 after the client's empty line.
        error = base64.b64encode(b'{"status":"400","schemes":"Bearer"}').decode()
        await server.challenge_auth(error, encode_to_b64=False)
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Username and Password not accepted"
        )


@pytest.fixture(scope="module")
def token_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


@pytest.fixture
def xoauth2(
    token_context: ssl.SSLContext, server_tls: ssl.SSLContext
) -> Iterator[tuple[TokenServer, XOAuth2Handler, str]]:
    tokens = TokenServer(client_secret=secret("client-secret-Xo2-551")).start(token_context)
    handler = XOAuth2Handler(tokens, user="sender@example.com")
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=server_tls,
        require_starttls=True,
        auth_require_tls=True,
    )
    controller.start()
    yield tokens, handler, f"127.0.0.1:{controller.port}"
    controller.stop()
    tokens.stop()


def _xoauth2_body(tokens: TokenServer, address: str, client_secret: str) -> dict[str, Any]:
    return probe_body(
        address,
        tls=True,
        user="sender@example.com",
        xoauth2={
            "tokenEndpoint": tokens.url,
            "scopes": ["https://mail.google.com/"],
            "clientCredentials": {"clientId": CLIENT_ID, "clientSecret": client_secret},
        },
    )


def test_xoauth2_with_a_fetched_and_cached_token(
    client: ApiClient, xoauth2: tuple[TokenServer, XOAuth2Handler, str]
) -> None:
    tokens, handler, address = xoauth2
    body = _xoauth2_body(tokens, address, tokens.client_secret)
    first = client.run(body)
    assert first["status"] == "succeeded", first
    assert first["result"]["auth"]["used"] == "XOAUTH2"
    assert "XOAUTH2" in first["result"]["auth"]["offered"]
    assert "C: AUTH XOAUTH2 <redacted>" in first["result"]["transcript"]
    assert handler.xoauth2_payloads == [
        "user=sender@example.com\x01auth=Bearer ya29.token-1\x01\x01"
    ]
    assert tokens.requests[0]["scope"] == ["https://mail.google.com/"]
    assert len(handler.received) == 1
    # The request echoes the client id, never the secret; the token is nowhere in the job.
    echoed = first["request"]["xoauth2"]
    assert echoed["clientCredentials"] == {"clientId": CLIENT_ID}
    assert tokens.client_secret not in json.dumps(first)
    assert "ya29.token-1" not in json.dumps(first)

    second = client.run(body)
    assert second["status"] == "succeeded"
    assert len(tokens.issued) == 1  # cached until it expires


def test_a_rejected_client_secret_fails_as_auth_without_trying_smtp_auth(
    client: ApiClient, xoauth2: tuple[TokenServer, XOAuth2Handler, str]
) -> None:
    tokens, handler, address = xoauth2
    job = client.run(_xoauth2_body(tokens, address, secret("wrong-client-secret-3")))
    assert job["status"] == "failed"
    error = job["result"]["error"]
    assert (error["category"], error["phase"], error["retryable"]) == ("auth", "auth", False)
    assert "401" in error["message"] and "invalid_client" in error["message"]
    assert len(job["attempts"]) == 1
    assert handler.xoauth2_payloads == []


def test_a_token_the_server_refuses_is_reported_with_its_code(
    client: ApiClient, xoauth2: tuple[TokenServer, XOAuth2Handler, str]
) -> None:
    tokens, handler, address = xoauth2
    handler.user = "someone-else@example.com"  # the token is fine, the user is not
    job = client.run(_xoauth2_body(tokens, address, tokens.client_secret))
    assert job["status"] == "failed"
    error = job["result"]["error"]
    assert (error["category"], error["smtpCode"], error["retryable"]) == ("auth", 535, False)
    assert len(handler.xoauth2_payloads) == 1


def test_a_stored_xoauth2_provider_keeps_its_client_secret(
    service: Service, xoauth2: tuple[TokenServer, XOAuth2Handler, str]
) -> None:
    tokens, _handler, address = xoauth2
    client = service.client(service.key(tenant="t-xoauth2"))
    body = _xoauth2_body(tokens, address, tokens.client_secret)
    fields = {k: v for k, v in body.items() if k != "receiverAddress"}
    created = client.post("/email/smtp", json=fields)
    assert created.status_code == 200, created.text
    provider_id = created.json()["id"]
    shown = client.get(f"/email/{provider_id}")
    assert tokens.client_secret not in shown.text
    assert shown.json()["config"]["xoauth2"]["clientCredentials"] == {"clientId": CLIENT_ID}

    job = client.test_provider(provider_id)
    assert job["status"] == "succeeded", job
    # id + an empty client secret reuses the stored one, for the same endpoint and client.
    no_secret = _xoauth2_body(tokens, address, "")
    assert client.submit({**no_secret, "id": provider_id}, wait=20).json()["status"] == (
        "succeeded"
    )
    moved = {**no_secret, "id": provider_id}
    moved["xoauth2"] = {**moved["xoauth2"], "tokenEndpoint": "https://attacker.example/token"}
    refused = client.submit(moved)
    assert refused.status_code == 400 and refused.json()["code"] == 9
