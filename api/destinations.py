"""The destination guard at the door: a refused host or port is 403 before anything is queued.

The worker checks again when it resolves the host for the session (a name may change its
address in between); this check spares a job that could never run, and a packet.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from api.errors import invalid, refused
from mailprobe.destination import DestinationPolicy, DestinationRefused, resolve
from mailprobe.models import split_host_port


def check_smtp_host(
    host_port: str, policy: DestinationPolicy, verdicts: dict[str, str | None]
) -> None:
    """403 for a refused port or address. A name that does not resolve now is let through:
    the worker resolves it again, retries a temporary failure, and reports the rest.

    `verdicts` is kept for one request, so a batch resolves each host once.
    """
    if host_port not in verdicts:
        verdicts[host_port] = _smtp_verdict(host_port, policy)
    refusal = verdicts[host_port]
    if refusal is not None:
        raise refused(refusal)


def _smtp_verdict(host_port: str, policy: DestinationPolicy) -> str | None:
    """Why the destination is refused, or None."""
    host, port = split_host_port(host_port)
    try:
        policy.check_port(port)
        policy.check_all(resolve(host, port))
    except DestinationRefused as exc:
        return str(exc)
    except socket.gaierror:
        return None
    return None


def check_webhook_url(url: str, policy: DestinationPolicy) -> None:
    """403 for a URL whose host resolves to a refused address; 400 when it does not resolve."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        policy.check_all(resolve(host, parts.port or (443 if parts.scheme == "https" else 80)))
    except DestinationRefused as exc:
        raise refused(str(exc)) from None
    except socket.gaierror:
        raise invalid("url", f"cannot resolve {host}") from None
