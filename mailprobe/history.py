"""A stored provider's history of re-tests, what changed from one to the next, and the webhook
events that say so.

Each scheduled re-test (mailprobe.schedule) ends with an entry in its provider's history, the
last HISTORY_LENGTH, newest first. When the entry differs from the one before in its outcome,
its certificate (fingerprint, expiry), TLS version, the AUTH mechanisms offered or its banner,
an `smtp_provider.changed` event carries the difference. A certificate that expires within
MAILPROBE_CERT_EXPIRY_WARN_DAYS fires `smtp_provider.certificate_expiring`, once per
certificate (the provider remembers the fingerprint it warned about).

A field the session did not reach (no certificate when the connection failed, no AUTH list
when EHLO failed) is unknown, not changed: it is compared with the last known value, so a
failed run reports its outcome, and the run after it a certificate swapped meanwhile. Banners
are compared without what large providers change on every connection (tokens with digits:
session ids, times, load-balanced host names such as BN8PR04CA0123.outlook.office365.com;
names of days and months), and reported as they are.

An entry, its events and the provider's warned fingerprint are written by one script
(_RECORD), which also takes the job's `retest` mark away: a job's run is recorded once,
however often its task is delivered. The script writes only when the history's newest entry
is still the one the comparison was made with; otherwise the caller compares again.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import redis

from mailprobe import rediskeys
from mailprobe.ids import new_id
from mailprobe.models.base import utcnow
from mailprobe.models.history import CertificateExpiring, FieldChange, ProviderCheck, ProviderDrift
from mailprobe.models.jobs import Job
from mailprobe.models.reports import Certificate, Report
from mailprobe.models.webhooks import CertificateExpiringEvent, ProviderChangedEvent

HISTORY_LENGTH = 10
EVENT_PREFIX = "evt_"  # an event's id; a job's has no prefix

# Compared with the previous entry itself (null is a value: a success has no category).
_ALWAYS = ("outcome", "category")
# Compared with the last entry that knew them.
_WHEN_KNOWN = (
    "certificate_sha256",
    "certificate_not_after",
    "tls_version",
    "auth_offered",
    "banner",
)

_VOLATILE = re.compile(
    r"\S*\d\S*|\b(?:mon|tue|wed|thu|fri|sat|sun|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
    r"[a-z]*\b",
    re.IGNORECASE,
)


def is_event_id(subject: str) -> bool:
    return subject.startswith(EVENT_PREFIX)


def banner_signature(banner: str) -> str:
    """The banner without what changes from one connection to the next."""
    return " ".join(_VOLATILE.sub(" ", banner).split()).lower()


def check_of(job: Job) -> ProviderCheck:
    """The history entry of a re-test's ended job."""
    assert job.retest is not None
    report = job.result or Report(host="", port=0)
    error = report.error if job.status == "failed" else None
    certificate = report.tls.certificate
    return ProviderCheck(
        job_id=job.id,
        due_at=job.retest.due_at,
        checked_at=job.finished_at or utcnow(),
        outcome="succeeded" if job.status == "succeeded" else "failed",
        category=error.category if error else None,
        phase=error.phase if error else None,
        message=error.message if error else None,
        recipient=report.recipient,
        tls_version=report.tls.version,
        certificate_sha256=certificate.sha256 if certificate else None,
        certificate_not_after=certificate.not_after if certificate else None,
        auth_offered=_auth_offered(report),
        banner=_banner(report),
    )


def _reached(report: Report, phase: str) -> bool:
    return any(p.name == phase and p.ok for p in report.phases)


def _auth_offered(report: Report) -> list[str] | None:
    """The mechanisms of the last EHLO's AUTH lines (AUTH and the old AUTH= form)."""
    if not _reached(report, "ehlo"):
        return None
    offered: set[str] = set()
    for line in report.extensions:
        keyword, _, mechanisms = line.replace("=", " ", 1).partition(" ")
        if keyword.upper() == "AUTH":
            offered.update(mechanisms.upper().split())
    return sorted(offered)


def _banner(report: Report) -> str | None:
    banner = next((p for p in report.phases if p.name == "banner" and p.ok), None)
    if banner is None or banner.reply is None:
        return None
    return banner.reply.text.splitlines()[0] if banner.reply.text else ""


def changes(history: list[ProviderCheck], check: ProviderCheck) -> list[FieldChange]:
    """What `check` changed against the history before it (newest first); nothing for a
    provider's first re-test."""
    if not history:
        return []
    found: list[FieldChange] = []
    for name in _ALWAYS:
        before, after = getattr(history[0], name), getattr(check, name)
        if before != after:
            found.append(_change(name, before, after))
    for name in _WHEN_KNOWN:
        after = getattr(check, name)
        known = (getattr(entry, name) for entry in history)
        before = next((value for value in known if value is not None), None)
        if after is None or before is None:
            continue
        same = (
            banner_signature(before) == banner_signature(after)
            if name == "banner"
            else before == after
        )
        if not same:
            found.append(_change(name, before, after))
    return found


def _change(name: str, before: Any, after: Any) -> FieldChange:
    field = ProviderCheck.model_fields[name].alias or name
    return FieldChange.model_validate({"field": field, "before": before, "after": after})


def expiring(
    report: Report | None, warned: str, warn_days: int, now: datetime | None = None
) -> tuple[Certificate, float] | None:
    """The session's certificate and its days left, when it expires within `warn_days` and
    was not warned about already."""
    certificate = report.tls.certificate if report else None
    if certificate is None or certificate.sha256 == warned:
        return None
    expires = datetime.fromisoformat(certificate.not_after.replace("Z", "+00:00"))
    days_left = (expires - (now or datetime.now(UTC))).total_seconds() / 86400
    return (certificate, round(days_left, 2)) if days_left <= warn_days else None


@dataclass(frozen=True)
class NewEvent:
    id: str
    type: str
    body: str  # the whole message a subscriber receives, as JSON


def changed_event(provider_id: str, host: str, before: ProviderCheck, after: ProviderCheck,
                  found: list[FieldChange]) -> NewEvent:  # fmt: skip
    drift = ProviderDrift(
        provider_id=provider_id,
        host=host,
        job_id=after.job_id,
        changes=found,
        before=before,
        after=after,
    )
    message = ProviderChangedEvent(timestamp=after.checked_at, data=drift)
    return NewEvent(EVENT_PREFIX + new_id(), message.type, message.model_dump_json())


def expiring_event(
    provider_id: str,
    host: str,
    check: ProviderCheck,
    certificate: Certificate,
    days_left: float,
    warn_days: int,
) -> NewEvent:
    data = CertificateExpiring(
        provider_id=provider_id,
        host=host,
        job_id=check.job_id,
        certificate=certificate,
        days_left=days_left,
        warn_days=warn_days,
    )
    message = CertificateExpiringEvent(timestamp=check.checked_at, data=data)
    return NewEvent(EVENT_PREFIX + new_id(), message.type, message.model_dump_json())


@dataclass(frozen=True)
class History:
    """A provider's history as read: its entries and the newest as stored (the script's
    check that nothing was recorded since)."""

    entries: list[ProviderCheck]
    head: str


Recorded = Literal["recorded", "done", "moved", "gone"]


class HistoryStore:
    def __init__(self, client: redis.Redis, ttl: int) -> None:
        self.redis = client
        self.ttl = ttl  # how long an event stays deliverable: as long as the jobs

    def read(self, provider_id: str) -> History:
        raw = [
            str(item) for item in self.redis.lrange(rediskeys.provider_history(provider_id), 0, -1)
        ]
        entries = [ProviderCheck.model_validate(json.loads(item)) for item in raw]
        return History(entries, raw[0] if raw else "")

    def pending(self, job_id: str) -> tuple[bool, list[str]]:
        """Whether the job's run is still to be recorded, and the ids of its events still to
        be dispatched."""
        retest, events = self.redis.hmget(rediskeys.job(job_id), ["retest", "events"])
        return retest is not None, str(events or "").split()

    def record(
        self,
        provider_id: str,
        tenant: str,
        history: History,
        check: ProviderCheck,
        events: list[NewEvent],
        warned: str,
    ) -> Recorded:
        """Write the entry, its events and the certificate warned about ("": unchanged), as
        the module says. "done": the run was recorded already; "gone": its provider was
        deleted; "moved": another entry came first, compare again."""
        outcome = self.redis.eval(
            _RECORD,
            3 + len(events),
            rediskeys.job(check.job_id),
            rediskeys.provider_history(provider_id),
            rediskeys.provider(provider_id),
            *[rediskeys.event(event.id) for event in events],
            history.head,
            check.model_dump_json(),
            HISTORY_LENGTH,
            self.ttl,
            tenant,
            check.job_id,
            warned,
            *[part for event in events for part in (event.id, event.type, event.body)],
        )
        return outcome  # type: ignore[no-any-return]

    def dispatched(self, job_id: str) -> None:
        self.redis.hdel(rediskeys.job(job_id), "events")


# KEYS: job, history, provider, then each event
# ARGV: the history's newest entry as read ("" when empty), the entry, history length, ttl,
#       tenant, job id, the certificate warned about ("": unchanged), then each event's id,
#       type and body
_RECORD = """
if not redis.call('HGET', KEYS[1], 'retest') then return 'done' end
if redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('HDEL', KEYS[1], 'retest')
  return 'gone'
end
if (redis.call('LINDEX', KEYS[2], 0) or '') ~= ARGV[1] then return 'moved' end
redis.call('LPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
if ARGV[7] ~= '' then redis.call('HSET', KEYS[3], 'certificateWarned', ARGV[7]) end
local ids = {}
for i = 4, #KEYS do
  local at = 8 + (i - 4) * 3
  redis.call('HSET', KEYS[i], 'tenant', ARGV[5], 'job', ARGV[6], 'type', ARGV[at + 1],
             'body', ARGV[at + 2])
  redis.call('EXPIRE', KEYS[i], ARGV[4])
  ids[#ids + 1] = ARGV[at]
end
if #ids > 0 then redis.call('HSET', KEYS[1], 'events', table.concat(ids, ' ')) end
redis.call('HDEL', KEYS[1], 'retest')
return 'recorded'
"""
