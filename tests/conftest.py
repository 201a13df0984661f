"""The test session's real parts: a Redis server, a Celery worker process and the API process.

Each is a real process on loopback, started once per session. SMTP servers are started by
the tests that need them (tests/smtp_servers.py).
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from selenium.webdriver.chrome.webdriver import WebDriver

from mailprobe.crypto import generate_key
from tests.browser import start_chromium
from tests.dns_server import LoopbackDns, running_dns
from tests.secret_scan import no_secret_leaks
from tests.smtp_servers import free_port
from tests.support import (
    LOGS,
    ROOT,
    SECRETS_USED,
    ApiClient,
    RedisServer,
    Service,
    running_service,
    secret,
    start_redis,
)

__all__ = [
    "LOGS",
    "ROOT",
    "SECRETS_USED",
    "ApiClient",
    "Service",
    "no_secret_leaks",
    "probe_body",
    "running_service",
    "secret",
]


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis"))
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)


@pytest.fixture(scope="session")
def dns_server() -> Iterator[LoopbackDns]:
    """The DNS server of the sender domains' zones; the service resolves through it."""
    with running_dns() as server:
        yield server


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="session")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    """A server context whose certificate the worker trusts (its CA is in SMTP_CA_FILE)."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


@pytest.fixture(scope="session")
def untrusted_tls() -> ssl.SSLContext:
    """A server context whose certificate comes from a CA the worker does not know."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    trustme.CA().issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


# Short timeouts and retry delays, so misbehaving servers end jobs in seconds.
TEST_SETTINGS = {
    "MAILPROBE_ALLOWED_NETWORKS": "127.0.0.0/8,::1/128",
    "MAILPROBE_ALLOWED_PORTS": "1-65535",
    "MAILPROBE_SMTP_CONNECT_TIMEOUT": "2",
    "MAILPROBE_SMTP_COMMAND_TIMEOUT": "2",
    "MAILPROBE_SMTP_DATA_TIMEOUT": "4",
    "MAILPROBE_SMTP_SESSION_DEADLINE": "6",
    "MAILPROBE_MAX_ATTEMPTS": "3",
    "MAILPROBE_RETRY_BASE_DELAY": "0.2",
    "MAILPROBE_RETRY_MAX_DELAY": "1",
    "MAILPROBE_SMTP_HELO_NAME": "mailprobe.test.invalid",
    "MAILPROBE_WEBHOOK_RETRY_SCHEDULE": "0.3,0.5,1",
    "MAILPROBE_WEBHOOK_TIMEOUT": "2",
    "MAILPROBE_CORS_ORIGINS": "https://console.example.test",
    "MAILPROBE_RETEST_MIN_INTERVAL": "2",
}


@pytest.fixture(scope="session")
def service_env(
    redis_server: RedisServer,
    ca: trustme.CA,
    dns_server: LoopbackDns,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, str]:
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPROBE_")}
    env.update(TEST_SETTINGS)
    env.update(
        MAILPROBE_REDIS_URL=redis_server.url,
        MAILPROBE_ENCRYPTION_KEYS=secret(generate_key("test1")),
        MAILPROBE_SMTP_CA_FILE=str(ca_file),
        MAILPROBE_DNS_RESOLVERS=dns_server.resolver,
        MAILPROBE_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="session")
def service(
    service_env: dict[str, str], redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Service]:
    with running_service(service_env, redis_server, tmp_path_factory.mktemp("logs")) as running:
        yield running


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WebDriver, Path]]:
    """One headless Chromium for the session's console tests, and where its downloads go."""
    downloads = tmp_path_factory.mktemp("downloads")
    driver = start_chromium(downloads)
    yield driver, downloads
    driver.quit()


@pytest.fixture
def servers() -> Iterator[list[Any]]:
    """Servers a test starts (SMTP, raw, scripted): each is stopped when the test ends."""
    started: list[Any] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def client(service: Service) -> ApiClient:
    return service.client()


def probe_body(server_address: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "senderAddress": "probe@example.com",
        "senderName": "Mailprobe Test",
        "host": server_address,
        "receiverAddress": "inbox@example.org",
    }
    body.update(overrides)
    return body
