"""OAuth2 client-credentials tokens for SASL XOAUTH2, fetched with a timeout and cached.

The token endpoint is a destination like an SMTP host: it is resolved once, every address is
checked against the destination policy, and the request goes to the checked address while TLS
still verifies the endpoint's name. Tokens and client secrets are never logged.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from mailprobe.destination import DestinationPolicy, ResolvedAddress, resolve
from mailprobe.models import XOAuth2Auth

MAX_RESPONSE = 64 * 1024
EXPIRY_MARGIN = 60.0  # seconds before expiry a cached token is no longer handed out


class TokenError(Exception):
    """The token could not be had; `retryable` when trying later could help."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_at: float  # time.monotonic()


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a name, over a TCP connection to one already-checked address."""

    def __init__(
        self,
        host: str,
        port: int,
        address: ResolvedAddress,
        context: ssl.SSLContext,
        timeout: float,
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls_context = context

    def connect(self) -> None:
        sock = socket.socket(self._address.family, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._address.sockaddr)
        except OSError:
            sock.close()
            raise
        self.sock = self._tls_context.wrap_socket(sock, server_hostname=self.host)


def fetch_token(
    auth: XOAuth2Auth, *, policy: DestinationPolicy, context: ssl.SSLContext, timeout: float
) -> Token:
    """One client-credentials grant (RFC 6749 4.4), the secret sent in the body."""
    url = urlsplit(auth.token_endpoint)
    host, port = url.hostname or "", url.port or 443
    try:
        addresses = resolve(host, port)
    except socket.gaierror as exc:
        raise TokenError(
            f"cannot resolve the token endpoint {host}: {exc.strerror}",
            retryable=exc.errno == socket.EAI_AGAIN,
        ) from None
    policy.check_all(addresses)  # raises DestinationRefused
    if not addresses:
        raise TokenError(f"the token endpoint {host} has no address", retryable=False)
    credentials = auth.client_credentials
    body = urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret.get_secret_value(),
            **({"scope": " ".join(auth.scopes)} if auth.scopes else {}),
        }
    )
    connection = _PinnedHTTPSConnection(
        host, port, addresses[0], context=context, timeout=max(timeout, 0.1)
    )
    started = time.monotonic()
    try:
        connection.request(
            "POST",
            (url.path or "/") + (f"?{url.query}" if url.query else ""),
            body=body,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        response = connection.getresponse()
        data = response.read(MAX_RESPONSE + 1)
    except ssl.SSLCertVerificationError as exc:
        raise TokenError(
            f"the token endpoint's certificate is not trusted: {exc.verify_message}",
            retryable=False,
        ) from None
    except TimeoutError:
        raise TokenError("the token endpoint did not answer in time", retryable=True) from None
    except OSError as exc:
        raise TokenError(
            f"cannot reach the token endpoint: {exc.strerror or type(exc).__name__}",
            retryable=True,
        ) from None
    finally:
        connection.close()
    try:
        document = json.loads(data) if len(data) <= MAX_RESPONSE else {}
    except ValueError:
        document = {}
    if response.status != 200 or not isinstance(document, dict):
        error = document.get("error") if isinstance(document, dict) else None
        detail = f" ({str(error)[:100]})" if isinstance(error, str) else ""
        raise TokenError(
            f"the token endpoint answered {response.status}{detail}",
            retryable=response.status >= 500 or response.status == 429,
        )
    token = document.get("access_token")
    if not isinstance(token, str) or not token:
        raise TokenError("the token endpoint's answer has no access_token", retryable=False)
    expires_in = document.get("expires_in", 3600)
    lifetime = float(expires_in) if isinstance(expires_in, int | float | str) else 3600.0
    return Token(token, started + lifetime)


class TokenCache:
    """Tokens by endpoint, client and scopes, kept until shortly before they expire."""

    def __init__(self, policy: DestinationPolicy, context: ssl.SSLContext) -> None:
        self._policy = policy
        self._context = context
        self._tokens: dict[tuple[str, ...], Token] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(auth: XOAuth2Auth) -> tuple[str, ...]:
        secret = auth.client_credentials.client_secret.get_secret_value()
        return (
            auth.token_endpoint,
            auth.client_credentials.client_id,
            " ".join(sorted(auth.scopes)),
            hashlib.sha256(secret.encode()).hexdigest(),
        )

    def token(self, auth: XOAuth2Auth, timeout: float) -> str:
        key = self._key(auth)
        with self._lock:
            cached = self._tokens.get(key)
        if cached is not None and cached.expires_at - EXPIRY_MARGIN > time.monotonic():
            return cached.access_token
        fresh = fetch_token(auth, policy=self._policy, context=self._context, timeout=timeout)
        with self._lock:
            self._tokens[key] = fresh
        return fresh.access_token
