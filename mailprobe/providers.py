"""ProviderStore: a tenant's stored SMTP providers, their secrets encrypted at rest.

A stored secret is bound to its destination (host, user, and for XOAUTH2 the token endpoint
and client id): it is never sent anywhere else. Changing the destination without giving the
secret again is refused (StaleSecret), here and when a test names a provider by id.

A provider with a re-test interval is in the re-test schedule (mailprobe.schedule), kept in
step with it in the same transaction as each change; its history of re-tests goes with it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import redis

from mailprobe import rediskeys
from mailprobe.crypto import SecretBox, open_secrets, provider_context, seal_secrets
from mailprobe.errors import StaleSecret
from mailprobe.ids import new_id
from mailprobe.models.base import ms_time, utcnow
from mailprobe.models.providers import Details, Provider, ProviderRequest
from mailprobe.models.smtp import SmtpSettings, SmtpTestRequest
from mailprobe.schedule import next_due


@dataclass(frozen=True)
class StoredProvider:
    id: str
    tenant: str
    settings: ProviderRequest  # without secrets; its re-test fields filled in
    sealed: str  # the encrypted secrets
    details: Details
    active: bool
    next_retest_ms: int | None = None  # when its next re-test is due (unix ms)
    certificate_warned: str = ""  # the certificate whose expiry was announced (its sha256)
    version: str = ""  # its details as stored, which every change rewrites

    @property
    def retest_interval(self) -> int:
        return self.settings.retest_interval_seconds or 0

    @property
    def retest_receiver(self) -> str:
        return self.settings.retest_receiver_address or self.settings.sender_address

    def secrets(self, box: SecretBox) -> dict[str, str]:
        return open_secrets(box, self.sealed, provider_context(self.id))

    def test_request(
        self, receiver_address: str, box: SecretBox, *, dry_run: bool = False
    ) -> SmtpTestRequest:
        """A test of this provider as it is stored, with its secrets."""
        fields = self.settings.model_dump(include=set(SmtpSettings.model_fields))
        test = SmtpTestRequest.model_validate(
            {**fields, "receiver_address": receiver_address, "id": self.id, "dry_run": dry_run}
        )
        return test.with_secrets(self.secrets(box))

    def public(self) -> Provider:
        settings = self.settings.public()
        return Provider.model_validate(
            {
                **settings,
                "id": self.id,
                "details": self.details,
                "state": "SMTP_CONFIG_ACTIVE" if self.active else "SMTP_CONFIG_INACTIVE",
                "hasPassword": bool(self.sealed),
                "nextRetestAt": None
                if self.next_retest_ms is None
                else ms_time(self.next_retest_ms),
            }
        )


def with_schedule(new: ProviderRequest, old: ProviderRequest | None) -> ProviderRequest:
    """`new` with its re-test fields filled in: those it leaves out stay as in `old` (on
    Zitadel's wire, which has none of them, they all do), or are off for a new provider."""
    return new.model_copy(
        update={
            "retest_interval_seconds": new.retest_interval_seconds
            if new.retest_interval_seconds is not None
            else (old.retest_interval_seconds or 0 if old else 0),
            "retest_receiver_address": new.retest_receiver_address
            if new.retest_receiver_address is not None
            else (old.retest_receiver_address or "" if old else ""),
        }
    )


def merge_secrets(
    old: ProviderRequest | None, kept: dict[str, str], new: ProviderRequest
) -> dict[str, str]:
    """The secrets a provider has after `new` replaces `old`: empty ones keep the stored ones.

    Raises StaleSecret when a kept secret would follow a changed destination.
    """
    given = new.secrets()
    if new.auth_mode == "none":
        return given
    carried = {name: value for name, value in kept.items() if name not in given}
    needed = {"plain": "password", "xoauth2": "clientSecret"}[new.auth_mode]
    if needed in carried and (old is None or old.destination() != new.destination()):
        raise StaleSecret(
            "the host, user or auth endpoint changed: give the secret again "
            "(a stored secret is never sent to a new destination)"
        )
    return {**carried, **given}


def _reschedule(
    pipe: redis.client.Pipeline,
    provider_id: str,
    old: ProviderRequest | None,
    new: ProviderRequest,
) -> int | None:
    """Keep the re-test schedule in step with a change, in `pipe`: a new interval starts
    the provider's due times afresh, 0 takes it out; the same interval keeps its due time.
    The next due time when it is set here."""
    interval = new.retest_interval_seconds or 0
    if old is not None and (old.retest_interval_seconds or 0) == interval:
        return None
    if not interval:
        pipe.zrem(rediskeys.RETESTS_DUE, provider_id)
        return None
    due = next_due(provider_id, interval, int(time.time() * 1000))
    pipe.zadd(rediskeys.RETESTS_DUE, {provider_id: due})
    return due


class ProviderStore:
    def __init__(self, client: redis.Redis, box: SecretBox) -> None:
        self.redis = client
        self.box = box

    def create(self, tenant: str, request: ProviderRequest) -> StoredProvider:
        provider_id = new_id()
        now = utcnow()
        details = Details(sequence=1, creation_date=now, change_date=now, resource_owner=tenant)
        sealed = seal_secrets(
            self.box, merge_secrets(None, {}, request), provider_context(provider_id)
        )
        settings = with_schedule(request, None).with_secrets({})
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(
            rediskeys.provider(provider_id), mapping=self._fields(tenant, settings, sealed, details)
        )
        pipe.zadd(rediskeys.tenant_providers(tenant), {provider_id: 0})
        next_ms = _reschedule(pipe, provider_id, None, settings)
        pipe.execute()
        return StoredProvider(provider_id, tenant, settings, sealed, details, False, next_ms)

    def get(self, provider_id: str, tenant: str) -> StoredProvider | None:
        """The provider, or None when there is none or it belongs to another tenant."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(rediskeys.provider(provider_id))
        pipe.get(rediskeys.tenant_active_provider(tenant))
        pipe.zscore(rediskeys.RETESTS_DUE, provider_id)
        fields, active, due = pipe.execute()
        if not fields or fields.get("tenant") != tenant:
            return None
        return self._load(provider_id, fields, active == provider_id, due)

    def load(self, provider_id: str) -> StoredProvider | None:
        """The provider, whoever's it is (the re-test schedule's side); None when deleted."""
        fields = self.redis.hgetall(rediskeys.provider(provider_id))
        return self._load(provider_id, fields, active=False) if fields else None

    def active(self, tenant: str) -> StoredProvider | None:
        provider_id = self.redis.get(rediskeys.tenant_active_provider(tenant))
        return self.get(str(provider_id), tenant) if provider_id else None

    def update(self, provider_id: str, tenant: str, request: ProviderRequest) -> Details | None:
        def change(current: StoredProvider) -> tuple[ProviderRequest, str]:
            secrets = merge_secrets(current.settings, current.secrets(self.box), request)
            settings = with_schedule(request, current.settings).with_secrets({})
            return settings, seal_secrets(self.box, secrets, provider_context(provider_id))

        return self._change(provider_id, tenant, change)

    def set_password(self, provider_id: str, tenant: str, password: str) -> Details | None:
        def change(current: StoredProvider) -> tuple[ProviderRequest, str]:
            secrets = {**current.secrets(self.box), "password": password}
            if not password:
                secrets.pop("password")
            return current.settings, seal_secrets(self.box, secrets, provider_context(provider_id))

        return self._change(provider_id, tenant, change)

    def set_active(self, provider_id: str, tenant: str, active: bool) -> Details | None:
        """Activate (the tenant's one active provider) or deactivate."""
        details = self._change(provider_id, tenant, lambda p: (p.settings, p.sealed))
        if details is None:
            return None
        key = rediskeys.tenant_active_provider(tenant)
        if active:
            self.redis.set(key, provider_id)
        elif self.redis.get(key) == provider_id:
            self.redis.delete(key)
        return details

    def delete(self, provider_id: str, tenant: str) -> bool:
        if self.get(provider_id, tenant) is None:
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(rediskeys.provider(provider_id), rediskeys.provider_history(provider_id))
        pipe.zrem(rediskeys.tenant_providers(tenant), provider_id)
        pipe.zrem(rediskeys.RETESTS_DUE, provider_id)
        pipe.execute()
        if self.redis.get(rediskeys.tenant_active_provider(tenant)) == provider_id:
            self.redis.delete(rediskeys.tenant_active_provider(tenant))
        return True

    def search(
        self, tenant: str, *, offset: int, limit: int, asc: bool
    ) -> tuple[int, list[StoredProvider]]:
        index = rediskeys.tenant_providers(tenant)
        total = int(self.redis.zcard(index))
        if limit == 0 or offset >= total:
            return total, []
        bounds = ("-", "+") if asc else ("+", "-")
        read = self.redis.zrangebylex if asc else self.redis.zrevrangebylex
        ids = [str(i) for i in read(index, *bounds, start=offset, num=limit)]
        found = [self.get(provider_id, tenant) for provider_id in ids]
        return total, [p for p in found if p is not None]

    # -- helpers

    @staticmethod
    def _fields(
        tenant: str, settings: ProviderRequest, sealed: str, details: Details
    ) -> dict[Any, Any]:  # redis-py's hset mapping type is invariant; these are all str
        return {
            "tenant": tenant,
            "doc": json.dumps(settings.public()),
            "secret": sealed,
            "details": details.model_dump_json(),
        }

    @staticmethod
    def _load(
        provider_id: str, fields: dict[Any, Any], active: bool, due: float | None = None
    ) -> StoredProvider:
        settings = ProviderRequest.model_validate(json.loads(fields["doc"]))
        return StoredProvider(
            id=provider_id,
            tenant=fields["tenant"],
            settings=with_schedule(settings, None),  # stored before schedules: off
            sealed=fields.get("secret", ""),
            details=Details.model_validate_json(fields["details"]),
            active=active,
            next_retest_ms=None if due is None else int(due),
            certificate_warned=fields.get("certificateWarned", ""),
            version=fields["details"],
        )

    def _change(
        self,
        provider_id: str,
        tenant: str,
        change: Any,
    ) -> Details | None:
        """Apply `change(current) -> (settings, sealed)` atomically; None when not found."""
        key = rediskeys.provider(provider_id)
        result: list[Details] = []

        def attempt(pipe: redis.client.Pipeline) -> None:
            fields = pipe.hgetall(key)
            if not fields or fields.get("tenant") != tenant:
                return
            current = self._load(provider_id, fields, active=False)
            settings, sealed = change(current)
            details = current.details.model_copy(
                update={"sequence": current.details.sequence + 1, "change_date": utcnow()}
            )
            pipe.multi()
            pipe.hset(key, mapping=self._fields(tenant, settings, sealed, details))
            _reschedule(pipe, provider_id, current.settings, settings)
            result.append(details)

        self.redis.transaction(attempt, key)
        return result[-1] if result else None
