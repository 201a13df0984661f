"""Secrets at rest: AES-256-GCM under a keyring of named keys, so keys can be rotated.

A ciphertext reads ``v1.<key id>.<base64url(nonce || ciphertext+tag)>``. The first key of the
keyring encrypts; any key of the keyring decrypts what it encrypted. The caller passes a
context (e.g. the record's key) that is bound as associated data, so a ciphertext copied to
another record does not decrypt there.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Callable, Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from mailprobe.errors import DecryptionError, KeyringError

_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_VERSION = "v1"


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_key(key_id: str) -> str:
    """A new keyring entry, ``kid:base64key``, for MAILPROBE_ENCRYPTION_KEYS."""
    return f"{key_id}:{base64.urlsafe_b64encode(AESGCM.generate_key(256)).decode()}"


class SecretBox:
    def __init__(self, entries: Iterable[str]) -> None:
        self._keys: dict[str, AESGCM] = {}
        self._current = ""
        for entry in entries:
            key_id, sep, material = entry.strip().partition(":")
            if not sep or not _KEY_ID.fullmatch(key_id):
                raise KeyringError(
                    "MAILPROBE_ENCRYPTION_KEYS: each entry must be 'kid:base64key' "
                    "with a key id of letters, digits, '-' or '_'"
                )
            try:
                raw = _b64decode(material)
            except ValueError:
                raise KeyringError(
                    f"MAILPROBE_ENCRYPTION_KEYS: key {key_id!r} is not base64"
                ) from None
            if len(raw) != 32:
                raise KeyringError(
                    f"MAILPROBE_ENCRYPTION_KEYS: key {key_id!r} must be 32 bytes, got {len(raw)}"
                )
            if key_id in self._keys:
                raise KeyringError(f"MAILPROBE_ENCRYPTION_KEYS: key id {key_id!r} appears twice")
            self._keys[key_id] = AESGCM(raw)
            self._current = self._current or key_id
        if not self._keys:
            raise KeyringError(
                "MAILPROBE_ENCRYPTION_KEYS is not set: secrets cannot be stored. "
                "Create a key with `mailprobe keys generate-encryption-key`."
            )

    @property
    def current_key_id(self) -> str:
        return self._current

    def encrypt(self, plaintext: str, context: str) -> str:
        nonce = os.urandom(12)
        sealed = self._keys[self._current].encrypt(nonce, plaintext.encode(), context.encode())
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{_VERSION}.{self._current}.{body}"

    def decrypt(self, token: str, context: str) -> str:
        version, _, rest = token.partition(".")
        key_id, _, body = rest.partition(".")
        key = self._keys.get(key_id)
        if version != _VERSION or key is None:
            raise DecryptionError(f"no key {key_id!r} in the keyring")
        try:
            raw = _b64decode(body)
            return key.decrypt(raw[:12], raw[12:], context.encode()).decode()
        except (InvalidTag, ValueError):
            raise DecryptionError(f"ciphertext under key {key_id!r} does not open") from None

    def key_id_of(self, token: str) -> str:
        return token.split(".", 2)[1] if token.count(".") >= 2 else ""


# The associated data each kind of record seals its secrets with: a ciphertext copied to
# another record does not open there. Key rotation re-seals each kind with the same.
def job_context(job_id: str) -> str:
    return job_id


def provider_context(provider_id: str) -> str:
    return f"provider:{provider_id}"


def webhook_context(webhook_id: str) -> str:
    return f"webhook:{webhook_id}"


# Record kind (as in its Redis key, mailprobe:{kind}:{id}) -> its context.
SEALED_RECORDS: dict[str, Callable[[str], str]] = {
    "job": job_context,
    "provider": provider_context,
    "webhook": webhook_context,
}


def seal_secrets(box: SecretBox, secrets: dict[str, str], context: str) -> str:
    """Secrets by name, encrypted as one JSON document; "" when there are none."""
    return box.encrypt(json.dumps(secrets), context) if secrets else ""


def open_secrets(box: SecretBox, sealed: str, context: str) -> dict[str, str]:
    if not sealed:
        return {}
    opened: dict[str, str] = json.loads(box.decrypt(sealed, context))
    return opened
