"""Configuration: an empty variable is an unset one, for every optional setting.

Compose files pass `${VAR:-}` for what they leave out; `MAILPROBE_SMTP_CA_FILE=` once
stopped start-up ("no such file: ."). The optional settings are read from the Settings model
itself, so a setting added later is covered without touching this file.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import requests
from pydantic import SecretStr

from mailprobe.settings import Settings
from tests.conftest import running_service
from tests.smtp_servers import free_port
from tests.support import RedisServer

# Settings the processes cannot start without (their defaults are placeholders).
REQUIRED = {"encryption_keys"}
OPTIONAL = sorted(set(Settings.model_fields) - REQUIRED)


def _variable(field: str) -> str:
    return f"MAILPROBE_{field.upper()}"


def test_every_optional_setting_left_empty_takes_its_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keys = [SecretStr("k1:" + "A" * 43 + "=")]
    for field in Settings.model_fields:
        monkeypatch.delenv(_variable(field), raising=False)
    defaults = Settings(encryption_keys=keys)
    for field in OPTIONAL:
        monkeypatch.setenv(_variable(field), "")
    assert Settings(encryption_keys=keys) == defaults


def test_serve_and_worker_start_with_every_optional_variable_empty(
    service_env: dict[str, str], redis_server: RedisServer, tmp_path: Path
) -> None:
    # A Redis database of its own: /readyz then counts this test's worker only.
    redis = dataclasses.replace(redis_server, db=6)
    redis.client().flushdb()
    env = {k: v for k, v in service_env.items() if not k.startswith("MAILPROBE_")}
    env.update({_variable(field): "" for field in OPTIONAL})
    # Where this test's Redis and a free port are: left empty, they would be the defaults
    # (127.0.0.1:6379 and port 8080), which other people's processes may hold.
    env.update(
        MAILPROBE_REDIS_URL=redis.url,
        MAILPROBE_PORT=str(free_port()),
        MAILPROBE_ENCRYPTION_KEYS=service_env["MAILPROBE_ENCRYPTION_KEYS"],
    )
    try:
        # running_service fails with the process's log if either exits at start-up.
        with running_service(env, redis, tmp_path) as running:
            health = requests.get(f"{running.base_url}/healthz", timeout=5)
            assert health.json() == {"status": "alive"}
            ready = requests.get(f"{running.base_url}/readyz", timeout=5)
            assert ready.status_code == 200, ready.text
            assert ready.json()["workers"] == 1
    finally:
        redis.client().flushdb()
