"""HTTP(S) POST to a checked address: what the worker uses for token endpoints and webhooks.

The URL's host is resolved once, every address is checked against the destination policy,
and the request goes to the first checked address, while TLS still verifies the host name:
a DNS answer that changes between the check and the connection changes nothing. Redirects
are never followed.

`timeout` bounds the whole exchange — connect, TLS, request and response — not each socket
read: a peer that drips a byte a second would reset a per-read timeout for ever.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from mailprobe.destination import DestinationPolicy, ResolvedAddress, resolve

MAX_RESPONSE = 64 * 1024


class HttpFailure(Exception):
    """No HTTP answer: the message says why, `retryable` whether trying later may help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes  # at most MAX_RESPONSE + 1 bytes


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, address: ResolvedAddress, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def _pinned_socket(self) -> socket.socket:
        sock = socket.socket(self._address.family, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._address.sockaddr)
        except OSError:
            sock.close()
            raise
        return sock

    def connect(self) -> None:
        self.sock = self._pinned_socket()


class _PinnedHTTPSConnection(_PinnedHTTPConnection):
    def __init__(
        self,
        host: str,
        port: int,
        address: ResolvedAddress,
        timeout: float,
        context: ssl.SSLContext,
    ) -> None:
        super().__init__(host, port, address, timeout)
        self._tls_context = context

    def connect(self) -> None:
        self.sock = self._tls_context.wrap_socket(self._pinned_socket(), server_hostname=self.host)


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    policy: DestinationPolicy,
    context: ssl.SSLContext,
    timeout: float,
) -> HttpAnswer:
    """POST body to url. Raises DestinationRefused, or HttpFailure when no answer came."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve(host, port)
    except socket.gaierror as exc:
        raise HttpFailure(
            f"cannot resolve {host}: {exc.strerror}", retryable=exc.errno == socket.EAI_AGAIN
        ) from None
    if not addresses:
        raise HttpFailure(f"{host} has no address", retryable=False)
    policy.check_all(addresses)
    timeout = max(timeout, 0.1)
    connection = (
        _PinnedHTTPSConnection(host, port, addresses[0], timeout, context)
        if parts.scheme == "https"
        else _PinnedHTTPConnection(host, port, addresses[0], timeout)
    )
    # At the deadline the socket is shut from outside, whatever the exchange is waiting for.
    deadline = threading.Timer(timeout, _shut, args=(connection,))
    deadline.daemon = True
    started = time.monotonic()
    deadline.start()
    try:
        connection.request(
            "POST",
            (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
            body=body,
            headers=headers,
        )
        response = connection.getresponse()
        return HttpAnswer(
            status=response.status,
            headers={name.lower(): value for name, value in response.getheaders()},
            body=response.read(MAX_RESPONSE + 1),
        )
    except ssl.SSLCertVerificationError as exc:
        raise HttpFailure(
            f"certificate not trusted: {exc.verify_message}", retryable=False
        ) from None
    except (OSError, http.client.HTTPException) as exc:
        if isinstance(exc, TimeoutError) or time.monotonic() - started >= timeout:
            raise HttpFailure(
                f"no complete answer within the timeout ({timeout:g} s)", retryable=True
            ) from None
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise HttpFailure(f"connection failed: {reason}", retryable=True) from None
    finally:
        deadline.cancel()
        connection.close()


def _shut(connection: http.client.HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed
            sock.shutdown(socket.SHUT_RDWR)
