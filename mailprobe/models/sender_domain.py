"""The sender domain's readiness in a report: its SPF and DMARC records and whether the
provider may send for it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mailprobe.models.base import ResponseModel

SpfResult = Literal["pass", "fail", "softfail", "neutral", "none", "permerror", "temperror"]


DmarcPolicy = Literal["none", "quarantine", "reject"]


DmarcAlignment = Literal["r", "s"]


class SpfProvider(ResponseModel):
    """A well-known provider of the table (worker/spf_providers.py), matched by SMTP host."""

    name: str
    spf_domain: str = Field(description="the domain its customers include in their SPF record")
    source: str = Field(description="the provider's documentation of that include")


class SpfAuthorization(ResponseModel):
    """Whether the sender domain's SPF record lets this provider send its mail.

    `provider_include`: a well-known provider, judged by whether the record includes its SPF
    domain (at any depth). `evaluation`: any other host, judged by evaluating the address
    mailprobe connected to against the record, as a receiver would.
    """

    method: Literal["provider_include", "evaluation"]
    authorized: bool | None = Field(description="null: it could not be told")
    provider: SpfProvider | None = None
    address: str | None = None
    result: SpfResult | None = None
    explanation: str


class SpfReport(ResponseModel):
    record: str | None = Field(None, description="the SPF record; null: none is published")
    errors: list[str] = Field(
        default_factory=list, description="what makes receivers fail the record (permerror)"
    )
    dns_lookups: int | None = Field(
        None, description="DNS lookups the record needs, includes followed (RFC 7208 4.6.4)"
    )
    dns_lookup_limit: int = 10
    authorization: SpfAuthorization | None = None


class DmarcReport(ResponseModel):
    record: str | None = Field(None, description="the DMARC record; null: none is published")
    domain: str | None = Field(None, description="where it was found: the domain or a parent")
    p: DmarcPolicy | None = None
    sp: DmarcPolicy | None = Field(None, description="the policy for subdomains")
    adkim: DmarcAlignment | None = None
    aspf: DmarcAlignment | None = None
    pct: int | None = Field(None, description="the percentage the policy applies to")
    errors: list[str] = Field(default_factory=list)


class SenderDomainReport(ResponseModel):
    """The sender address's domain: is mail from it through this provider likely accepted?

    `checked`: the lookups were made; `dns_error`: a lookup failed (a resolver did not
    answer, or answered with an error), so the section is partial; `skipped`: the session's
    deadline left no time; `error`: mailprobe could not make the check. None of them fails
    the SMTP test.
    """

    domain: str
    status: Literal["checked", "dns_error", "skipped", "error"]
    message: str | None = None
    spf: SpfReport | None = None
    dmarc: DmarcReport | None = None
    warnings: list[str] = Field(
        default_factory=list,
        description="why mail from this sender through this provider is likely rejected or "
        "filtered, in plain words; empty when all is well",
    )
    duration_ms: float = 0.0
