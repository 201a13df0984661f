"""OAuth2 client-credentials tokens for SASL XOAUTH2, fetched with a timeout and cached.

The token endpoint is a destination like an SMTP host (worker/pinned_http.py). Tokens and
client secrets are never logged.
"""

from __future__ import annotations

import hashlib
import json
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode

from mailprobe.destination import DestinationPolicy
from mailprobe.models.smtp import XOAuth2Auth
from worker.pinned_http import MAX_RESPONSE, HttpFailure, post

EXPIRY_MARGIN = 60.0  # seconds before expiry a cached token is no longer handed out


class TokenError(HttpFailure):
    """The token could not be had: no answer from the token endpoint, or one without a token;
    `retryable` when trying later could help."""


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_at: float  # time.monotonic()


def fetch_token(
    auth: XOAuth2Auth, *, policy: DestinationPolicy, context: ssl.SSLContext, timeout: float
) -> Token:
    """One client-credentials grant (RFC 6749 4.4), the secret sent in the body."""
    credentials = auth.client_credentials
    body = urlencode(
        {
            "grant_type": "client_credentials",
            "client_id": credentials.client_id,
            "client_secret": credentials.client_secret.get_secret_value(),
            **({"scope": " ".join(auth.scopes)} if auth.scopes else {}),
        }
    )
    started = time.monotonic()
    try:
        answer = post(
            auth.token_endpoint,
            body.encode(),
            {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            policy=policy,
            context=context,
            timeout=timeout,
        )
    except HttpFailure as exc:
        raise TokenError(f"the token endpoint: {exc}", retryable=exc.retryable) from None
    data = answer.body
    try:
        document = json.loads(data) if len(data) <= MAX_RESPONSE else {}
    except ValueError:
        document = {}
    if answer.status != 200 or not isinstance(document, dict):
        error = document.get("error") if isinstance(document, dict) else None
        detail = f" ({str(error)[:100]})" if isinstance(error, str) else ""
        raise TokenError(
            f"the token endpoint answered {answer.status}{detail}",
            retryable=answer.status >= 500 or answer.status == 429,
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
