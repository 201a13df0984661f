"""The destination guard at the door: a refused destination is 403 before anything is queued.

Every destination a request names is checked here: the SMTP host, an XOAUTH2 token endpoint
and a webhook URL. The worker checks again when it resolves each one for the session, the
token request or the delivery (a name may change its address in between); this check spares
a job that could never run, and a packet. mailprobe.destination decides, for both.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from urllib.parse import urlsplit

from api.errors import invalid, refused
from mailprobe.destination import DestinationPolicy, resolve
from mailprobe.errors import DestinationRefused
from mailprobe.models.fields import split_host_port
from mailprobe.models.smtp import SmtpSettings


def check_smtp_destinations(
    settings: SmtpSettings, policy: DestinationPolicy, verdicts: dict[str, str | None]
) -> None:
    """403 for a refused SMTP host or port, or a refused XOAUTH2 token endpoint. A name that
    does not resolve now is let through: the worker resolves it again, retries a temporary
    failure, and reports the rest.

    `verdicts` is kept for one call, so a batch resolves each destination once.
    """
    _check_once(verdicts, f"smtp {settings.host}", lambda: _smtp_verdict(settings.host, policy))
    if settings.xoauth2 is not None:
        endpoint = settings.xoauth2.token_endpoint
        _check_once(verdicts, f"token {endpoint}", lambda: _token_verdict(endpoint, policy))


def _check_once(
    verdicts: dict[str, str | None], key: str, verdict: Callable[[], str | None]
) -> None:
    if key not in verdicts:
        verdicts[key] = verdict()
    refusal = verdicts[key]
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


def _token_verdict(url: str, policy: DestinationPolicy) -> str | None:
    """Why the token endpoint is refused, or None (also when it does not resolve now)."""
    try:
        return _url_refusal(url, policy)
    except socket.gaierror:
        return None


def _url_refusal(url: str, policy: DestinationPolicy) -> str | None:
    """Why the URL's host is refused, or None. Raises socket.gaierror as the resolver does."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        policy.check_all(resolve(parts.hostname or "", port))
    except DestinationRefused as exc:
        return str(exc)
    return None


def check_webhook_url(url: str, policy: DestinationPolicy) -> None:
    """403 for a URL whose host resolves to a refused address; 400 when it does not resolve."""
    try:
        refusal = _url_refusal(url, policy)
    except socket.gaierror:
        raise invalid("url", f"cannot resolve {urlsplit(url).hostname}") from None
    if refusal is not None:
        raise refused(refusal)
