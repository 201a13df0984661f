"""A stored provider's re-tests as its history keeps them, and what changed between two:
the drift and certificate expiry its webhook events report.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from mailprobe.models.base import ResponseModel
from mailprobe.models.reports import Certificate, ErrorCategory, PhaseName, RecipientReport


class ProviderCheck(ResponseModel):
    """One scheduled re-test of a stored provider, as its history keeps it. A field is null
    when the session did not get that far (e.g. no certificate when the connection failed)."""

    job_id: str
    due_at: str
    checked_at: str
    outcome: Literal["succeeded", "failed"]
    category: ErrorCategory | None = None
    phase: PhaseName | None = None
    message: str | None = None
    recipient: RecipientReport | None = None
    tls_version: str | None = None
    certificate_sha256: str | None = None
    certificate_not_after: str | None = None
    auth_offered: list[str] | None = Field(
        None, description="the AUTH mechanisms the server's last EHLO offered"
    )
    banner: str | None = Field(None, description="the server's greeting (220)")


class ProviderHistory(ResponseModel):
    """GET /email/{id}/history: the provider's last re-tests, newest first."""

    provider_id: str
    retest_interval_seconds: int
    next_retest_at: str | None = None
    history: list[ProviderCheck]


class FieldChange(ResponseModel):
    field: Literal[
        "outcome", "category", "certificateSha256", "certificateNotAfter", "tlsVersion",
        "authOffered", "banner",
    ]  # fmt: skip
    before: Any
    after: Any


class ProviderDrift(ResponseModel):
    """What changed between a stored provider's previous re-test and this one."""

    provider_id: str
    host: str
    job_id: str
    changes: list[FieldChange]
    before: ProviderCheck
    after: ProviderCheck


class CertificateExpiring(ResponseModel):
    """A stored provider's certificate expires within MAILPROBE_CERT_EXPIRY_WARN_DAYS."""

    provider_id: str
    host: str
    job_id: str
    certificate: Certificate
    days_left: float = Field(description="negative when it has expired")
    warn_days: int
