"""MAILPROBE_REDIS_URL's Sentinel form, parsed: read by the settings (to refuse a malformed URL
at start-up) and by mailprobe.redisconn (to connect), so it lives below both."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

SENTINEL_PORT = 26379


@dataclass(frozen=True)
class SentinelUrl:
    """A sentinel:// URL, parsed: the Sentinels, the database, and Redis's own credentials."""

    sentinels: tuple[tuple[str, int], ...]
    db: int
    username: str | None
    password: str | None


def parse_sentinel_url(url: str) -> SentinelUrl:
    """sentinel://[[user]:password@]host[:port][,host[:port]...][/db]; ValueError when not."""
    parts = urlsplit(url)
    if parts.scheme != "sentinel":
        raise ValueError("not a sentinel:// URL")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    sentinels: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, port = _host_port(item.strip())
        sentinels.append((host, port))
    path = parts.path.strip("/") or "0"
    if not (path.isascii() and path.isdigit()):
        raise ValueError(f"MAILPROBE_REDIS_URL: the database is a number, not {path!r}")
    return SentinelUrl(
        sentinels=tuple(sentinels),
        db=int(path),
        username=unquote(user) or None,
        password=unquote(password) or None,
    )


def _host_port(item: str) -> tuple[str, int]:
    if item.startswith("["):
        host, _, rest = item[1:].partition("]")
        port_text = rest.removeprefix(":")
    else:
        host, _, port_text = item.partition(":")
    if not host:
        raise ValueError("MAILPROBE_REDIS_URL: a Sentinel is host:port, and one is missing")
    if not port_text:
        return host, SENTINEL_PORT
    if not (port_text.isascii() and port_text.isdigit() and 1 <= int(port_text) <= 65535):
        raise ValueError(f"MAILPROBE_REDIS_URL: not a port: {port_text!r}")
    return host, int(port_text)
