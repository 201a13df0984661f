"""Bad input: a clear 400 in the google.rpc.Status shape, one violation per field, no job."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import ApiClient, Service, probe_body

VALID = probe_body("smtp.example.com:587")
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"


def _violations(response: Any) -> dict[str, str]:
    body = response.json()
    assert body["code"] == 3, body
    details = body["details"]
    assert len(details) == 1 and details[0]["@type"] == BAD_REQUEST
    fields = [v["field"] for v in details[0]["fieldViolations"]]
    assert len(fields) == len(set(fields)), "one violation per broken field"
    return {v["field"]: v["description"] for v in details[0]["fieldViolations"]}


@pytest.fixture(scope="module")
def tenant_client(service: Service) -> ApiClient:
    return service.client(service.key(tenant="t-validation"))


def _job_count(service: Service) -> int:
    return int(service.redis.client().zcard("mailprobe:tenant:t-validation:jobs"))


CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("missing sender", {"senderAddress": None}, "senderAddress", "required"),
    ("empty sender", {"senderAddress": ""}, "senderAddress", "at least 1"),
    ("long sender", {"senderAddress": "a" * 190 + "@example.com"}, "senderAddress", "at most 200"),
    ("sender not an address", {"senderAddress": "not-an-address"}, "senderAddress", "@"),
    (
        "sender with CRLF",
        {"senderAddress": "a@example.com\r\nRCPT TO:<x@y.z>"},
        "senderAddress",
        "",
    ),
    ("missing name", {"senderName": None}, "senderName", "required"),
    ("empty name", {"senderName": ""}, "senderName", "at least 1"),
    ("long name", {"senderName": "n" * 201}, "senderName", "at most 200"),
    ("name with CR/LF", {"senderName": "Evil\r\nBcc: victim@example.com"}, "senderName", "control"),
    ("name with NUL", {"senderName": "a\x00b"}, "senderName", "control"),
    ("tls not a bool", {"tls": "true"}, "tls", "boolean"),
    ("tls a number", {"tls": 1}, "tls", "boolean"),
    ("missing host", {"host": None}, "host", "required"),
    ("empty host", {"host": ""}, "host", "at least 1"),
    ("long host", {"host": "h" * 495 + ".com:25"}, "host", "at most 500"),
    ("host without port", {"host": "smtp.example.com"}, "host", "port is required"),
    ("port zero", {"host": "smtp.example.com:0"}, "host", "1 to 65535"),
    ("port too big", {"host": "smtp.example.com:65536"}, "host", "1 to 65535"),
    ("port not a number", {"host": "smtp.example.com:smtp"}, "host", "1 to 65535"),
    ("bare IPv6", {"host": "2001:db8::1:25"}, "host", "[addr]:port"),
    ("bad IPv6 in brackets", {"host": "[2001:db8::zz]:25"}, "host", "IPv6"),
    ("host with space", {"host": "smtp example.com:25"}, "host", "host name"),
    # Python's `$` matches before a final newline: patterns must match the whole text.
    ("host with a trailing newline", {"host": "127.0.0.1\n:2525"}, "host", "host name"),
    ("host not a string", {"host": 25}, "host", "string"),
    ("long user", {"user": "u" * 201}, "user", "at most 200"),
    ("user with LF", {"user": "a\nb"}, "user", "control"),
    ("long password", {"password": "p" * 201}, "password", "at most 200"),
    ("password with CR", {"password": "a\rb"}, "password", "CR"),
    ("missing receiver", {"receiverAddress": None}, "receiverAddress", "required"),
    ("receiver not an address", {"receiverAddress": "x@"}, "receiverAddress", "address"),
    ("unknown field", {"bogus": 1}, "bogus", "unknown field"),
    ("two auth members", {"none": {}, "plain": {"password": "x"}}, "plain", "at most one"),
    ("unknown field in plain", {"plain": {"pass": "x"}}, "plain.pass", "unknown field"),
]


@pytest.mark.parametrize(("case", "change", "field", "text"), CASES, ids=[c[0] for c in CASES])
def test_each_field_rule(
    tenant_client: ApiClient,
    service: Service,
    case: str,
    change: dict[str, Any],
    field: str,
    text: str,
) -> None:
    before = _job_count(service)
    body = {k: v for k, v in {**VALID, **change}.items() if v is not None}
    response = tenant_client.submit(body)
    assert response.status_code == 400, response.text
    violations = _violations(response)
    assert list(violations) == [field]
    assert text.lower() in violations[field].lower()
    assert response.json()["message"].startswith(f"{field}: ")
    assert _job_count(service) == before


def test_snake_case_names_are_accepted(tenant_client: ApiClient) -> None:
    body = {
        "sender_address": "a@example.com",
        "sender_name": "A",
        "host": "smtp.example.com:25",
        "receiver_address": "b@example.com",
        "tls": False,
    }
    response = tenant_client.submit(body)
    assert response.status_code == 202, response.text
    assert response.json()["request"]["senderAddress"] == "a@example.com"


# Addresses SMTP allows, that a naming or deliverability policy would refuse: Active
# Directory's .local, staging relays' .test and localhost, and RFC 6531's UTF-8 local parts.
SMTP_ADDRESSES = [
    "ops@corp.local",
    "x@example.test",
    "admin@localhost",
    "jörg@example.com",
    "postmaster@mail.invalid",
    "ü.ñ@xn--bcher-kva.de",
]


@pytest.mark.parametrize("address", SMTP_ADDRESSES)
def test_addresses_smtp_allows_are_accepted_for_sender_receiver_and_reply_to(
    tenant_client: ApiClient, address: str
) -> None:
    response = tenant_client.submit({**VALID, "senderAddress": address, "receiverAddress": address})
    assert response.status_code == 202, response.text
    request = response.json()["request"]
    assert request["senderAddress"] == request["receiverAddress"] == address
    settings = {k: v for k, v in VALID.items() if k != "receiverAddress"}
    provider = tenant_client.post(
        "/email/smtp", json={**settings, "senderAddress": address, "replyToAddress": address}
    )
    assert provider.status_code == 200, provider.text
    stored = tenant_client.get(f"/email/{provider.json()['id']}").json()["config"]
    assert stored["senderAddress"] == stored["replyToAddress"] == address


def test_an_idn_domain_is_kept_in_its_ascii_form(tenant_client: ApiClient) -> None:
    response = tenant_client.submit({**VALID, "receiverAddress": "jörg@bücher.de"})
    assert response.status_code == 202, response.text
    assert response.json()["request"]["receiverAddress"] == "jörg@xn--bcher-kva.de"


@pytest.mark.parametrize(
    "address",
    ["jörg@", "@example.com", "a@b@example.com", "a..b@example.com", "a@-example.com", "a b@x.org"],
)
def test_addresses_that_break_the_syntax_are_still_400(
    tenant_client: ApiClient, address: str
) -> None:
    response = tenant_client.submit({**VALID, "receiverAddress": address})
    assert response.status_code == 400, response.text
    assert list(_violations(response)) == ["receiverAddress"]


def test_a_refused_ipv6_destination_is_403_policy(tenant_client: ApiClient) -> None:
    # Valid in form (IPv6 in brackets), refused by policy: 2001:db8::/32 is documentation.
    response = tenant_client.submit({**VALID, "host": "[2001:db8::25]:587"})
    assert response.status_code == 403, response.text
    assert response.json()["details"][0]["metadata"] == {"category": "policy"}


def test_every_broken_field_is_reported_once(tenant_client: ApiClient, service: Service) -> None:
    before = _job_count(service)
    body = {"senderAddress": "x", "senderName": "a\nb", "tls": "no", "host": "h", "extra": 1}
    response = tenant_client.submit(body)
    assert response.status_code == 400
    assert set(_violations(response)) == {
        "senderAddress",
        "senderName",
        "tls",
        "host",
        "receiverAddress",
        "extra",
    }
    assert _job_count(service) == before


@pytest.mark.parametrize(
    ("data", "content_type", "status", "text"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"[1, 2]", "application/json", 400, "JSON object"),
        (b"", "application/json", 400, "not valid JSON"),
        (b"senderAddress=a", "application/x-www-form-urlencoded", 415, "application/json"),
        (b"{}", "text/plain", 415, "application/json"),
        (b'{"senderName": "' + b"x" * 70_000 + b'"}', "application/json", 413, "limit"),
    ],
    ids=["malformed", "array", "empty", "form", "text", "too large"],
)
def test_bodies_that_are_not_a_json_object(
    tenant_client: ApiClient,
    service: Service,
    data: bytes,
    content_type: str,
    status: int,
    text: str,
) -> None:
    before = _job_count(service)
    response = tenant_client.post(
        "/email/smtp/_test", data=data, headers={"Content-Type": content_type}
    )
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == 3
    assert text in body["message"]
    assert _job_count(service) == before


def test_a_rejected_password_is_never_echoed(tenant_client: ApiClient) -> None:
    password = "echo-me-not-" + "p" * 200
    response = tenant_client.submit({**VALID, "password": password})
    assert response.status_code == 400
    assert "echo-me-not" not in response.text


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=done", "status"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=x", "limit"),
        ("cursor=abc", "cursor"),
        ("limit=%D9%A1%D9%A2", "limit"),  # Arabic-Indic digits: not 12
        ("cursor=" + "0" * 26 + "%0A", "cursor"),  # an id with a trailing newline
    ],
)
def test_listing_parameters(tenant_client: ApiClient, query: str, field: str) -> None:
    response = tenant_client.get(f"/email/smtp/_test?{query}")
    assert response.status_code == 400
    assert list(_violations(response)) == [field]


@pytest.mark.parametrize(
    "url",
    [
        "https://a..b/",
        "https://.a/",
        f"https://{'a' * 64}.example/",
        "https://ex ample.com/",
        "https://example.com/\r\nX-Injected: 1",
        "https://exam\tple.com/",
    ],
)
def test_webhook_urls_whose_host_cannot_be_a_name(service: Service, url: str) -> None:
    client = service.client(service.key(tenant="t-validation-webhooks"))
    response = client.post("/webhooks", json={"url": url, "events": ["smtp_test.completed"]})
    assert response.status_code == 400, response.text
    assert list(_violations(response)) == ["url"]
