"""The API's data: the requests it takes and the jobs and reports it serves.

One set of pydantic models serves the API's validation, the worker's report, the job store
and the OpenAPI document, so the four cannot drift apart.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from email_validator import EmailNotValidError, validate_email
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError


def utcnow() -> str:
    """Now as an RFC 3339 UTC string with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- field rules -------------------------------------------------------------------------------

_HOSTNAME = re.compile(
    r"^(?=.{1,253}\.?$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$"
)


def split_host_port(value: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` into its parts; ValueError says what is wrong."""
    if value.startswith("["):
        address, sep, port_text = value[1:].partition("]:")
        if not sep:
            raise ValueError("a port is required (host:port, IPv6 as [addr]:port)")
        try:
            ipaddress.IPv6Address(address)
        except ValueError:
            raise ValueError("not a valid IPv6 address in brackets") from None
        host = address
    else:
        host, sep, port_text = value.rpartition(":")
        if not sep or not host:
            raise ValueError("a port is required (host:port)")
        if ":" in host:
            raise ValueError("an IPv6 address must be written as [addr]:port")
        if not _HOSTNAME.match(host):
            raise ValueError("not a valid host name or IPv4 address")
    if not port_text.isascii() or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError("the port must be a number from 1 to 65535")
    return host, int(port_text)


def _check_host(value: str) -> str:
    split_host_port(value)
    return value


def _check_address(value: str) -> str:
    try:
        checked = validate_email(value, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None
    return str(checked.ascii_email or checked.normalized)


def _no_controls(value: str) -> str:
    # CR/LF would let a caller inject headers or SMTP commands; the rest are never legitimate.
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError("control characters (such as CR or LF) are not allowed")
    return value


def _secret_no_controls(value: SecretStr) -> SecretStr:
    if any(ch in "\r\n\0" for ch in value.get_secret_value()):
        raise ValueError("CR, LF and NUL are not allowed")
    return value


EmailAddress = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_check_address)
]
DisplayName = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_no_controls)
]
HostPort = Annotated[
    str, StringConstraints(min_length=1, max_length=500), AfterValidator(_check_host)
]
UserName = Annotated[str, StringConstraints(max_length=200), AfterValidator(_no_controls)]
Password = Annotated[
    SecretStr,
    Field(max_length=200, json_schema_extra={"format": "password"}),
    AfterValidator(_secret_no_controls),
]


# --- requests ----------------------------------------------------------------------------------


class RequestModel(BaseModel):
    """Requests: camelCase or snake_case field names, strict JSON types, no unknown fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="forbid",
        strict=True,
        frozen=True,
    )


class NoneAuth(RequestModel):
    """No AUTH, even when a user is set."""


class PlainAuth(RequestModel):
    """AUTH PLAIN or LOGIN (whichever the server offers) with the top-level user."""

    password: Password = SecretStr("")


class SmtpTestRequest(RequestModel):
    """POST /email/smtp/_test: one test of an SMTP provider."""

    sender_address: EmailAddress
    sender_name: DisplayName
    tls: bool = False
    host: HostPort
    user: UserName = ""
    password: Password = SecretStr("")
    receiver_address: EmailAddress
    none: NoneAuth | None = None
    plain: PlainAuth | None = None

    @model_validator(mode="after")
    def _one_auth(self) -> SmtpTestRequest:
        given = [name for name in ("none", "plain") if getattr(self, name) is not None]
        if len(given) > 1:
            raise PydanticCustomError(
                "auth_oneof",
                "at most one of none, plain may be given",
                {"field": given[1]},
            )
        return self

    @property
    def host_name(self) -> str:
        return split_host_port(self.host)[0]

    @property
    def port(self) -> int:
        return split_host_port(self.host)[1]

    @property
    def auth_password(self) -> str:
        """The password AUTH sends: the plain member's when given, else the top-level one."""
        if self.plain is not None and self.plain.password.get_secret_value():
            return self.plain.password.get_secret_value()
        return self.password.get_secret_value()

    @property
    def wants_auth(self) -> bool:
        if self.none is not None:
            return False
        return bool(self.user or self.auth_password or self.plain is not None)

    def public(self) -> dict[str, Any]:
        """The request as a job shows it: everything but secrets."""
        return self.model_dump(
            mode="json", exclude={"password": True, "plain": {"password"}}, exclude_none=True
        )


# --- reports and jobs --------------------------------------------------------------------------


class ResponseModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


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
JobStatus = Literal["queued", "running", "retrying", "succeeded", "failed"]
FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed"})


class Reply(ResponseModel):
    code: int
    text: str


class PhaseReport(ResponseModel):
    name: PhaseName
    ok: bool
    duration_ms: float
    reply: Reply | None = None


class Certificate(ResponseModel):
    subject: str
    issuer: str
    not_after: str
    sha256: str
    verified: bool


class TlsReport(ResponseModel):
    mode: Literal["starttls", "implicit", "none"] = "none"
    version: str | None = None
    cipher: str | None = None
    certificate: Certificate | None = None


class AuthReport(ResponseModel):
    offered: list[str] = Field(default_factory=list)
    used: str | None = None


class ProbeError(ResponseModel):
    category: ErrorCategory
    phase: PhaseName
    message: str
    smtp_code: int | None = None
    enhanced_code: str | None = None
    retryable: bool = False


class Report(ResponseModel):
    """What one SMTP session did, phase by phase."""

    ok: bool = False
    host: str
    port: int
    address: str | None = None
    tls: TlsReport = Field(default_factory=TlsReport)
    extensions: list[str] = Field(default_factory=list)
    auth: AuthReport = Field(default_factory=AuthReport)
    phases: list[PhaseReport] = Field(default_factory=list)
    message_id: str | None = None
    error: ProbeError | None = None
    transcript: list[str] = Field(default_factory=list)


class Attempt(ResponseModel):
    number: int
    started_at: str
    finished_at: str | None = None
    outcome: Literal["running", "succeeded", "failed", "retrying"] = "running"
    error: ProbeError | None = None


class Job(ResponseModel):
    """A test of an SMTP provider, from submission to its last attempt's report."""

    id: str
    status: JobStatus
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    request: dict[str, Any]
    attempts: list[Attempt] = Field(default_factory=list)
    result: Report | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES


class JobPage(ResponseModel):
    jobs: list[Job]
    next_cursor: str | None = None


# --- errors: google.rpc.Status -----------------------------------------------------------------


class FieldViolation(ResponseModel):
    field: str
    description: str


class BadRequestDetail(ResponseModel):
    type: str = Field("type.googleapis.com/google.rpc.BadRequest", alias="@type")
    field_violations: list[FieldViolation]


class Status(ResponseModel):
    """Every error the API answers: a google.rpc.Status as grpc-gateway writes it."""

    code: int
    message: str
    details: list[BadRequestDetail] = Field(default_factory=list)
