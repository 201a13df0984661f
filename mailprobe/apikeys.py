"""ApiKeyStore: API keys, each bound to one tenant and a set of permissions.

Only a key's SHA-256 is stored. Keys are 256 random bits, so a fast hash is as good as a slow
one against guessing, and lets every request be checked with one Redis read.

A submission needs no read of its own: it takes the key as this process read it last
(`recall`, at most RECALL_SECONDS old) and its script checks the key again, atomically with
what it writes (mailprobe.submission).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Literal, get_args

import redis

from mailprobe import rediskeys
from mailprobe.models.base import utcnow

Permission = Literal["smtp.test", "smtp.read", "smtp.write", "webhooks.write"]
PERMISSIONS: tuple[str, ...] = get_args(Permission)
KEY_PREFIX = "mpk_"
# How long a process trusts what it read of a key before a submission (which checks the key
# again in its own script): this bounds only what an invalid request may cost before it is
# refused (its validation, a destination's DNS lookup), never what it may write.
RECALL_SECONDS = 60.0
_RECALLED_MAX = 10_000


@dataclass(frozen=True)
class Principal:
    """Who a request acts for."""

    tenant: str
    permissions: frozenset[str]
    key_id: str  # the first characters of the key's hash: safe to log
    digest: str = field(default="", repr=False)  # the key's hash, as rediskeys.api_key takes it

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyStore:
    def __init__(self, client: redis.Redis) -> None:
        self.redis = client
        # key digest -> (when read, monotonic; its principal)
        self._recalled: dict[str, tuple[float, Principal]] = {}

    def create(self, tenant: str, permissions: list[str]) -> str:
        """A new key; it is shown this once and never stored."""
        unknown = sorted(set(permissions) - set(PERMISSIONS))
        if unknown:
            raise ValueError(f"unknown permission(s): {', '.join(unknown)}")
        if not tenant or len(tenant) > 200 or not tenant.isprintable() or ":" in tenant:
            raise ValueError("a tenant is 1-200 printable characters without ':'")
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        self.redis.hset(
            rediskeys.api_key(_digest(key)),
            mapping={
                "tenant": tenant,
                "permissions": " ".join(sorted(set(permissions))),
                "createdAt": utcnow(),
            },
        )
        return key

    def authenticate(self, key: str) -> Principal | None:
        """The key's principal, or None for an unknown or revoked key."""
        if not key.startswith(KEY_PREFIX) or len(key) > 200:
            return None
        digest = _digest(key)
        tenant, permissions, revoked = self.redis.hmget(
            rediskeys.api_key(digest), ["tenant", "permissions", "revokedAt"]
        )
        if tenant is None or revoked:
            return None
        return Principal(
            str(tenant), frozenset(str(permissions or "").split()), digest[:12], digest
        )

    def recall(self, key: str) -> Principal | None:
        """The key's principal as this process read it in the last RECALL_SECONDS, or as
        authenticate() reads it now. Only for a use that checks the key again atomically
        with what it writes (mailprobe.submission)."""
        if not key.startswith(KEY_PREFIX) or len(key) > 200:
            return None
        digest = _digest(key)
        now = time.monotonic()
        recalled = self._recalled.get(digest)
        if recalled is not None and now - recalled[0] < RECALL_SECONDS:
            return recalled[1]
        principal = self.authenticate(key)
        if principal is not None:
            if len(self._recalled) >= _RECALLED_MAX:
                self._recalled.clear()
            self._recalled[digest] = (now, principal)
        return principal

    def forget(self, principal: Principal) -> None:
        """Recall the principal's key no more (it was found revoked)."""
        self._recalled.pop(principal.digest, None)

    def revoke(self, key: str) -> bool:
        """Revoke a key; False when there is no such key."""
        name = rediskeys.api_key(_digest(key))
        if not self.redis.exists(name):
            return False
        self.redis.hset(name, "revokedAt", utcnow())
        return True
