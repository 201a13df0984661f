"""A test's report: each phase of the SMTP session, the TLS certificate, the error and its
category; what the worker writes and every front-end shows.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from mailprobe.models.base import ResponseModel
from mailprobe.models.sender_domain import SenderDomainReport

PhaseName = Literal[
    "resolve",
    "connect",
    "tls",
    "banner",
    "ehlo",
    "starttls",
    "auth",
    "mail_from",
    "rcpt_to",
    "rset",
    "data",
    "quit",
]


ErrorCategory = Literal[
    "dns",
    "connect",
    "timeout",
    "tls",
    "auth",
    "sender_rejected",
    "recipient_rejected",
    "data_rejected",
    "protocol",
    "policy",
    "internal",
]


class Reply(ResponseModel):
    code: int
    text: str


class PhaseReport(ResponseModel):
    name: PhaseName
    ok: bool
    duration_ms: float
    reply: Reply | None = None
    note: str | None = Field(
        None,
        description="what the phase found besides success or failure, e.g. that the server "
        "greets in plaintext and STARTTLS follows on a new connection",
    )


class Certificate(ResponseModel):
    """The server's certificate, reported whether or not it was trusted."""

    subject: str
    issuer: str
    subject_alt_names: list[str] = Field(
        default_factory=list, description="the DNS names and IP addresses it is valid for"
    )
    not_before: str | None = None
    not_after: str
    sha256: str = Field(description="SHA-256 fingerprint of the certificate (DER), in hex")
    chain_length: int | None = Field(
        None, description="certificates the server sent, its own included"
    )
    verified: bool
    verify_error: str | None = Field(
        None, description="why it is not trusted (or that verification is turned off)"
    )


class TlsReport(ResponseModel):
    mode: Literal["starttls", "implicit", "none"] = "none"
    version: str | None = None
    cipher: str | None = None
    certificate: Certificate | None = None


WarningCode = Literal[
    "certificate_expiring",
    "certificate_expired",
    "certificate_not_verified",
    "tls_version",
    "cleartext_auth",
    "starttls_fallback",
]


class ReportWarning(ResponseModel):
    """Something that did not fail the test but deserves a look."""

    code: WarningCode
    message: str


class AuthReport(ResponseModel):
    offered: list[str] = Field(default_factory=list)
    used: str | None = None


class RecipientReport(ResponseModel):
    """What the server answered to RCPT TO: `accepted` (2xx), `deferred` (4xx: try again
    later, e.g. greylisting) or `rejected` (5xx, e.g. 550 unknown user)."""

    address: str
    status: Literal["accepted", "deferred", "rejected"]
    code: int
    enhanced_code: str | None = None
    text: str


class ProbeError(ResponseModel):
    category: ErrorCategory
    phase: PhaseName
    message: str
    smtp_code: int | None = None
    enhanced_code: str | None = None
    retryable: bool = Field(
        False,
        description="mailprobe will try this job again; false in the report of a job that "
        "has ended",
    )
    transient: bool = Field(
        False,
        description="the failure is of a temporary kind (a timeout, a refused connection, a "
        "4xx reply): a test made later may succeed",
    )
    attempt: int | None = Field(None, description="the attempt that failed")
    max_attempts: int | None = Field(None, description="the attempts this job may make")
    hint: str | None = Field(
        None, description="a well-known reply explained: its usual cause and the fix"
    )
    hint_source: str | None = Field(None, description="where the explanation comes from")

    def conclude(self, attempt: int, max_attempts: int) -> bool:
        """Record that this error ended attempt `attempt` of `max_attempts`, say in the
        message what happens next, and return whether the job is tried again."""
        self.attempt, self.max_attempts = attempt, max_attempts
        again = self.retryable and attempt < max_attempts
        if again:
            self.message += f" (attempt {attempt} of {max_attempts}; it will be tried again)"
        elif self.retryable:
            tries = "attempt" if max_attempts == 1 else "attempts"
            self.message += f" (tried {attempt} of {max_attempts} {tries}; no more will be made)"
        self.retryable = again
        return again


class Report(ResponseModel):
    """What one SMTP session did, phase by phase."""

    ok: bool = False
    host: str
    port: int
    address: str | None = None
    tls: TlsReport = Field(default_factory=TlsReport)
    extensions: list[str] = Field(default_factory=list)
    smtp_utf8: bool = Field(
        False,
        description="MAIL FROM carried SMTPUTF8 (RFC 6531): an address has UTF-8 characters "
        "before its @-sign, and the message's headers are in UTF-8",
    )
    auth: AuthReport = Field(default_factory=AuthReport)
    phases: list[PhaseReport] = Field(default_factory=list)
    dry_run: bool = Field(
        False, description="the session was to stop after RCPT TO, without sending (dryRun)"
    )
    recipient: RecipientReport | None = Field(
        None, description="the server's answer to RCPT TO; null when the session ended before"
    )
    sent: bool = Field(False, description="the server accepted the message (250 after DATA)")
    message_id: str | None = None
    subject: str | None = Field(
        None,
        description="the Subject of the test message the server accepted, to find it in the "
        "receiver's mailbox",
    )
    error: ProbeError | None = None
    warnings: list[ReportWarning] = Field(default_factory=list)
    transcript: list[str] = Field(default_factory=list)
    sender_domain: SenderDomainReport | None = None
