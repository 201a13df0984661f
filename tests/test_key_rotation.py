"""Encryption keys: rotation without downtime for stored providers, clear start-up errors."""

from __future__ import annotations

import dataclasses
import ssl
from pathlib import Path

import pytest

from mailprobe.crypto import SecretBox, generate_key
from tests.conftest import Service, running_service, secret
from tests.smtp_servers import free_port, start_smtp_server
from tests.support import RedisServer, run_cli


def test_rotation_keeps_old_providers_testable(
    service_env: dict[str, str],
    redis_server: RedisServer,
    server_tls: ssl.SSLContext,
    tmp_path: Path,
) -> None:
    # A Redis database of its own, so that only this test's worker sees this test's jobs.
    redis = dataclasses.replace(redis_server, db=3)
    redis.client().flushdb()
    old, new = secret(generate_key("old")), secret(generate_key("new"))
    password = secret("rotated-provider-pw-4")
    server = start_smtp_server(starttls=server_tls, credentials={"alice": password})
    provider = {
        "senderAddress": "noreply@example.com",
        "senderName": "Rotation",
        "tls": True,
        "host": server.address,
        "user": "alice",
        "password": password,
    }

    def env(keys: str) -> dict[str, str]:
        return {
            **service_env,
            "MAILPROBE_REDIS_URL": redis.url,
            "MAILPROBE_ENCRYPTION_KEYS": keys,
            "MAILPROBE_PORT": str(free_port()),
        }

    def tested(running: Service, provider_id: str) -> str:
        client = running.client(running.key(tenant="t-rotation"))
        return str(client.test_provider(provider_id)["status"])

    def sealed_key_id(provider_id: str) -> str:
        return str(redis.client().hget(f"mailprobe:provider:{provider_id}", "secret")).split(".")[1]

    try:
        with running_service(env(old), redis, tmp_path / "1") as running:
            client = running.client(running.key(tenant="t-rotation"))
            provider_id = client.post("/email/smtp", json=provider).json()["id"]
            assert tested(running, provider_id) == "succeeded"
        assert sealed_key_id(provider_id) == "old"

        # The new key first, the old one still there: old secrets keep working.
        with running_service(env(f"{new},{old}"), redis, tmp_path / "2") as running:
            assert tested(running, provider_id) == "succeeded"
            rotated = run_cli(env(f"{new},{old}"), "keys", "rotate-secrets")
            assert rotated.returncode == 0, rotated.stderr
            assert "1 provider secret(s)" in rotated.stdout
            assert sealed_key_id(provider_id) == "new"
            assert tested(running, provider_id) == "succeeded"
        again = run_cli(env(f"{new},{old}"), "keys", "rotate-secrets")
        assert "0 provider secret(s)" in again.stdout

        # The old key removed: everything still opens.
        with running_service(env(new), redis, tmp_path / "3") as running:
            assert tested(running, provider_id) == "succeeded"
        assert len(server.auth_attempts) == 4
    finally:
        server.stop()
        redis.client().flushdb()


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (None, "MAILPROBE_ENCRYPTION_KEYS is not set"),
        ("k1:not-base64!!", "is not base64"),
        ("k1:" + "QUFB", "must be 32 bytes"),
        ("no-colon", "kid:base64key"),
    ],
)
@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_missing_or_malformed_key_stops_start_up(
    service_env: dict[str, str], keys: str | None, message: str, command: str
) -> None:
    env = {k: v for k, v in service_env.items() if k != "MAILPROBE_ENCRYPTION_KEYS"}
    if keys is not None:
        env["MAILPROBE_ENCRYPTION_KEYS"] = keys
    result = run_cli(env, command)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_rotation_refuses_when_an_old_key_is_missing(
    service_env: dict[str, str], redis_server: RedisServer
) -> None:
    redis = dataclasses.replace(redis_server, db=4)
    client = redis.client()
    client.flushdb()
    stranger = SecretBox([generate_key("gone")])
    client.hset(
        "mailprobe:provider:01ARZ3NDEKTSV4RRFFQ69G5FAV",
        mapping={"tenant": "t", "secret": stranger.encrypt("x", "provider:x")},
    )
    env = {**service_env, "MAILPROBE_REDIS_URL": redis.url}
    result = run_cli(env, "keys", "rotate-secrets")
    assert result.returncode != 0
    assert "keep every old key configured" in result.stderr
    client.flushdb()
