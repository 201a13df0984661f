"""MAILPROBE_REDIS_URL's sentinel:// form and the settings beside it (pure functions)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from mailprobe.redisconn import celery_broker
from mailprobe.sentinelurl import SentinelUrl, parse_sentinel_url
from mailprobe.settings import Settings

KEYS = [SecretStr("k1:" + "A" * 43 + "=")]


def test_a_sentinel_url_names_each_sentinel_the_database_and_redis_credentials() -> None:
    assert parse_sentinel_url("sentinel://:p%40ss@s1:26380,s2,[::1]:26381/3") == SentinelUrl(
        sentinels=(("s1", 26380), ("s2", 26379), ("::1", 26381)),
        db=3,
        username=None,
        password="p@ss",
    )
    assert parse_sentinel_url("sentinel://s1:26379").db == 0


@pytest.mark.parametrize(
    "url", ["sentinel://s1:99999/0", "sentinel://s1:26379,/0", "sentinel://s1/zero"]
)
def test_a_malformed_sentinel_url_stops_start_up(url: str) -> None:
    with pytest.raises(ValidationError, match="MAILPROBE_REDIS_URL"):
        Settings(encryption_keys=KEYS, redis_url=url, redis_sentinel_master="m")


def test_a_sentinel_url_needs_the_primary_s_name() -> None:
    with pytest.raises(ValidationError, match="MAILPROBE_REDIS_SENTINEL_MASTER"):
        Settings(encryption_keys=KEYS, redis_url="sentinel://s1:26379/0")


def test_the_broker_takes_kombu_s_sentinel_form_and_the_secret_stays_out_of_sight() -> None:
    settings = Settings(
        encryption_keys=KEYS,
        redis_url="sentinel://:redis-pw@s1:26379,s2:26380/2",
        redis_sentinel_master="mailprobe",
        redis_sentinel_password=SecretStr("sentinel-pw"),
    )
    url, transport, options = celery_broker(settings)
    assert url == "sentinel://:redis-pw@s1:26379/2;sentinel://:redis-pw@s2:26380/2"
    assert transport == "mailprobe.broker:SentinelTransport"
    assert options["master_name"] == "mailprobe"
    assert options["sentinel_kwargs"]["password"] == "sentinel-pw"
    assert "sentinel-pw" not in repr(settings) and "sentinel-pw" not in str(settings)


def test_a_plain_url_keeps_the_plain_transport_and_no_replica_is_awaited_by_default() -> None:
    settings = Settings(encryption_keys=KEYS, redis_url="redis://127.0.0.1:6379/0")
    assert celery_broker(settings) == ("redis://127.0.0.1:6379/0", "mailprobe.broker:Transport", {})
    assert settings.redis_min_replicas == 0
