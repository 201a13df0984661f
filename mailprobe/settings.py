"""All of mailprobe's configuration: one pydantic settings object read from MAILPROBE_* variables.

The README's Configuration table documents every field; keep the two in step.
"""

from __future__ import annotations

import ipaddress
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from mailprobe.sentinelurl import parse_sentinel_url

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _split(value: object) -> object:
    """Comma-separated environment values ("a, b") become lists; lists pass through."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def parse_resolver(item: str) -> tuple[str, int]:
    """A DNS resolver as MAILPROBE_DNS_RESOLVERS names it: ``ip``, ``ip:port`` or ``[v6]:port``."""
    host, port = item, 53
    if item.startswith("["):
        host, sep, rest = item[1:].partition("]")
        if sep and rest.startswith(":"):
            port = _resolver_port(item, rest[1:])
        elif not sep or rest:
            raise ValueError(f"not an address or address:port: {item!r}")
    elif item.count(":") == 1:
        host, _, port_text = item.partition(":")
        port = _resolver_port(item, port_text)
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"a resolver is an IP address (and a port): {item!r}") from None
    return host, port


def _resolver_port(item: str, text: str) -> int:
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= 65535):
        raise ValueError(f"the port must be a number from 1 to 65535: {item!r}")
    return int(text)


def parse_ports(items: list[str]) -> frozenset[int]:
    """Ports and inclusive ranges: ["25", "587", "2500-2599"]."""
    ports: set[int] = set()
    for item in items:
        low, _, high = item.partition("-")
        first, last = int(low), int(high or low)
        if not 1 <= first <= last <= 65535:
            raise ValueError(f"port or range out of 1-65535: {item!r}")
        ports.update(range(first, last + 1))
    return frozenset(ports)


class Settings(BaseSettings):
    # An empty variable is an unset one: compose files pass `${VAR:-}` for what they leave
    # out, and "MAILPROBE_SMTP_CA_FILE=" must mean no extra CA file, not a file named "".
    model_config = SettingsConfigDict(env_prefix="MAILPROBE_", frozen=True, env_ignore_empty=True)

    # Where jobs, keys and the Celery queue live: one server (redis://, rediss://, unix://),
    # or the Sentinels that know the primary: sentinel://host:port[,host:port...]/db.
    redis_url: str = "redis://127.0.0.1:6379/0"
    # With a sentinel:// URL: the name of the primary the Sentinels watch, and their password
    # (the password of Redis itself goes in the URL: sentinel://:password@host:port/db).
    redis_sentinel_master: str | None = None
    redis_sentinel_password: SecretStr | None = None
    # Durability: a write the API answers 2xx for (a 202 for a test) has reached this many
    # replicas (WAIT), or the answer is 503; and the worker's "message accepted" mark is on
    # them before the job succeeds. The most milliseconds one WAIT may take.
    redis_min_replicas: int = Field(0, ge=0, le=10)
    redis_wait_timeout: int = Field(1000, ge=10, le=30_000)
    # The API's bind address (mailprobe serve / dev).
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=1, le=65535)
    api_workers: int = Field(2, ge=1, description="gunicorn worker processes")
    # Native gRPC (Zitadel's AdminService), on the API's host.
    grpc_port: int = Field(8081, ge=1, le=65535)
    # Browser origins allowed to call the API across origins (gRPC-web clients need it).
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Encryption of secrets at rest: "kid:base64-32-byte-key,..."; the first key encrypts.
    encryption_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    # How long finished jobs (and their secrets) stay readable, in seconds.
    result_ttl: int = Field(7 * 24 * 3600, ge=60)

    # The SMTP client.
    smtp_ca_file: Path | None = None
    smtp_verify_certificates: bool = True
    smtp_helo_name: str = "mailprobe.localdomain"
    smtp_connect_timeout: float = Field(10.0, gt=0)
    smtp_command_timeout: float = Field(30.0, gt=0)
    smtp_data_timeout: float = Field(60.0, gt=0)
    smtp_session_deadline: float = Field(120.0, gt=0)
    # AUTH over an unencrypted connection is refused, as Go's net/smtp (Zitadel's client)
    # refuses it, except to localhost, 127.0.0.1 and ::1; true lets it through (a warning).
    allow_cleartext_auth: bool = False
    # A certificate that expires within this many days is a warning on the report, and fires
    # a stored provider's smtp_provider.certificate_expiring event (once per certificate).
    cert_expiry_warn_days: int = Field(14, ge=0, le=3650)

    # The sender domain's SPF and DMARC after each session (off: no DNS query is made; the
    # benchmarks and the soak turn it off, so they measure SMTP and query no outside resolver),
    # the DNS resolvers to ask ("ip" or "ip:port"; none: the system's), and the most seconds
    # their lookups may take after a session, within its deadline.
    sender_domain_check: bool = True
    dns_resolvers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    dns_timeout: float = Field(5.0, gt=0)

    # Destination policy: refused address ranges can be let through per network.
    allowed_networks: Annotated[list[Network], NoDecode] = Field(default_factory=list)
    allowed_ports: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["25", "465", "587", "2525"]
    )

    # Abuse limits: test submissions per tenant (a sustained rate per second and a burst),
    # and SMTP sessions at once per destination host across all workers (the rest wait).
    rate_limit: float = Field(100.0, gt=0)
    rate_burst: int = Field(2000, ge=1)
    destination_concurrency: int = Field(10, ge=1)

    # Retries of transient failures: attempts in all, and exponential backoff with jitter.
    max_attempts: int = Field(3, ge=1, le=20)
    retry_base_delay: float = Field(5.0, ge=0)
    retry_max_delay: float = Field(300.0, ge=0)

    # Redelivery. A task whose worker died goes back to the queue once it has been
    # unacknowledged this long (default: deadline + longest retry wait + 60 s, so a task
    # waiting for its retry is not handed to a second worker).
    visibility_timeout: int | None = Field(None, ge=1)
    # How often a worker looks for such tasks, seconds.
    restore_interval: float = Field(10.0, gt=0)
    # A job with no progress for this long is re-queued by the sweeper (default:
    # visibility timeout + 60 s, so Celery's own redelivery comes first).
    stuck_after: int | None = Field(None, ge=1)

    # Webhooks: seconds between delivery attempts (after the first, immediate one), and the
    # timeout of one attempt. When every attempt of a delivery failed, the subscription is
    # disabled.
    webhook_retry_schedule: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0]
    )
    webhook_timeout: float = Field(10.0, gt=0)

    # Stored providers re-tested on a schedule (their retestIntervalSeconds): the shortest
    # interval a provider may ask for, in seconds.
    retest_min_interval: int = Field(300, ge=1)

    # The worker.
    worker_pool: Literal["gevent", "threads", "prefork", "solo"] = "gevent"
    worker_concurrency: int = Field(500, ge=1)
    # Tests of one batch submission per task (worker/chunks.py): Celery's cost per message is
    # paid once per chunk; a chunk's sessions run at once on one worker.
    batch_chunk_size: int = Field(50, ge=1, le=1000)

    # Longest Prefer: wait=N honoured, seconds.
    max_wait: int = Field(30, ge=0, le=300)

    # Logs: one JSON object a line (for a log shipper), or text for a person (`mailprobe dev`
    # sets text for the processes it starts).
    log_format: Literal["json", "text"] = "json"
    # Where the API's gunicorn workers keep their HTTP metrics, so that /metrics adds them up
    # (prometheus-client's multiprocess mode); `mailprobe serve` empties it at start.
    # Default: mailprobe-metrics-<port> in the system's temporary directory.
    metrics_dir: Path | None = None

    _split_lists = field_validator(
        "encryption_keys",
        "cors_origins",
        "allowed_networks",
        "allowed_ports",
        "webhook_retry_schedule",
        "dns_resolvers",
        mode="before",
    )(_split)

    @field_validator("dns_resolvers")
    @classmethod
    def _check_resolvers(cls, value: list[str]) -> list[str]:
        for item in value:
            parse_resolver(item)
        return value

    @field_validator("allowed_ports")
    @classmethod
    def _check_ports(cls, value: list[str]) -> list[str]:
        parse_ports(value)
        return value

    @model_validator(mode="after")
    def _check_sentinel(self) -> Settings:
        # Parsed here so that a malformed URL stops the process at start, not at first use.
        if self.redis_url.startswith("sentinel://"):
            parse_sentinel_url(self.redis_url)
            if not self.redis_sentinel_master:
                raise ValueError(
                    "MAILPROBE_REDIS_SENTINEL_MASTER: a sentinel:// MAILPROBE_REDIS_URL needs "
                    "the name of the primary the Sentinels watch"
                )
        return self

    @model_validator(mode="after")
    def _check_ca_file(self) -> Settings:
        if self.smtp_ca_file is not None and not self.smtp_ca_file.is_file():
            raise ValueError(f"MAILPROBE_SMTP_CA_FILE: no such file: {self.smtp_ca_file}")
        return self

    @property
    def broker_visibility_timeout(self) -> int:
        if self.visibility_timeout is not None:
            return self.visibility_timeout
        return int(self.smtp_session_deadline + self.retry_max_delay + 60)

    @property
    def stuck_seconds(self) -> int:
        if self.stuck_after is not None:
            return self.stuck_after
        return self.broker_visibility_timeout + 60

    @property
    def lease_seconds(self) -> int:
        """How long one attempt may hold its job: the session deadline and a margin."""
        return int(self.smtp_session_deadline + 10)

    @property
    def dns_nameservers(self) -> list[tuple[str, int]]:
        """The configured resolvers as (address, port); empty: the system's."""
        return [parse_resolver(item) for item in self.dns_resolvers]

    @property
    def port_set(self) -> frozenset[int]:
        return parse_ports(self.allowed_ports)

    @property
    def metrics_path(self) -> Path:
        if self.metrics_dir is not None:
            return self.metrics_dir
        return Path(tempfile.gettempdir()) / f"mailprobe-metrics-{self.port}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
