"""The API's data: the requests it takes and the jobs and reports it serves.

One set of pydantic models serves the API's validation, the worker's report, the job store
and the OpenAPI document, so the four cannot drift apart.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Any, Literal, Self, get_args
from urllib.parse import urlsplit

import email_validator
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


def ms_time(unix_ms: int) -> str:
    """Unix milliseconds as utcnow() writes a time."""
    moment = datetime.fromtimestamp(unix_ms / 1000, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
        if not _HOSTNAME.fullmatch(host):
            raise ValueError("not a valid host name or IPv4 address")
    if not port_text.isascii() or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError("the port must be a number from 1 to 65535")
    return host, int(port_text)


def _check_host(value: str) -> str:
    split_host_port(value)
    return value


# An address is checked for its syntax only (RFC 5321/5322, and RFC 6531 for UTF-8 before the
# @-sign), never for where it could be delivered: ops@corp.local, x@example.test and
# admin@localhost are real addresses on many company and staging relays, and mailprobe
# never routes by an address's domain (the SMTP host is given; the destination guard judges
# it). email-validator refuses special-use domain names whatever its options; emptying its
# list is the library's documented way to accept them.
email_validator.SPECIAL_USE_DOMAIN_NAMES.clear()


@lru_cache(maxsize=4096)
def _check_address(value: str) -> str:
    # A pure function of the text, and the slowest check of a test request (~20 µs): a
    # burst of onboarding tests repeats the same senders and receivers.
    try:
        checked = email_validator.validate_email(
            value,
            check_deliverability=False,
            globally_deliverable=False,  # a domain without a dot (admin@localhost) is fine
            allow_smtputf8=True,
        )
    except email_validator.EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None
    # The domain in its ASCII (IDNA) form; a UTF-8 local part stays as it is, and only an
    # SMTPUTF8 session can carry it (SmtpTestRequest.needs_smtputf8).
    return str(checked.ascii_email or f"{checked.local_part}@{checked.ascii_domain}")


def _check_optional_address(value: str) -> str:
    return _check_address(value) if value else value


def _no_controls(value: str) -> str:
    # CR/LF would let a caller inject headers or SMTP commands; the rest are never legitimate.
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError("control characters (such as CR or LF) are not allowed")
    return value


def _secret_no_controls(value: SecretStr) -> SecretStr:
    if any(ch in "\r\n\0" for ch in value.get_secret_value()):
        raise ValueError("CR, LF and NUL are not allowed")
    return value


def _check_url(value: str, schemes: tuple[str, ...]) -> str:
    _no_controls(value)  # urlsplit drops tabs and newlines: the stored text would keep them
    parsed = urlsplit(value)
    if parsed.scheme not in schemes or not parsed.hostname:
        raise ValueError(f"must be a {' or '.join(f'{s}://' for s in schemes)} URL")
    if parsed.username or parsed.password:
        raise ValueError("must not carry credentials")
    try:
        parsed.port  # noqa: B018 - raises for a bad port
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    _check_url_host(parsed.hostname)
    return value


def _check_url_host(host: str) -> None:
    """An IP address, or a name the resolver takes: the IDNA codec that getaddrinfo applies
    refuses empty and over-long labels, and would otherwise fail later as a 500."""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("the host name has an empty or over-long label") from None
    if not _HOSTNAME.fullmatch(ascii_host):
        raise ValueError("not a valid host name")


def _check_token_endpoint(value: str) -> str:
    return _check_url(value, ("https",))


EmailAddress = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_check_address)
]
DisplayName = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_no_controls)
]
HostPort = Annotated[
    str, StringConstraints(min_length=1, max_length=500), AfterValidator(_check_host)
]
TokenEndpoint = Annotated[
    str, StringConstraints(min_length=1, max_length=500), AfterValidator(_check_token_endpoint)
]
Scope = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21\x23-\x5b\x5d-\x7e]+$")
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


class ClientCredentials(RequestModel):
    client_id: Annotated[
        str, StringConstraints(min_length=1, max_length=200), AfterValidator(_no_controls)
    ]
    client_secret: Password = SecretStr("")


class XOAuth2Auth(RequestModel):
    """SASL XOAUTH2 with a token from an OAuth2 client-credentials grant (Gmail, Microsoft 365)."""

    token_endpoint: TokenEndpoint
    scopes: Annotated[list[Scope], Field(max_length=20)] = Field(default_factory=list)
    client_credentials: ClientCredentials


class SmtpSettings(RequestModel):
    """The fields a stored provider and a test share, Zitadel's Auth oneof included."""

    sender_address: EmailAddress
    sender_name: DisplayName
    tls: bool = False
    host: HostPort
    user: UserName = ""
    password: Password = SecretStr("")
    none: NoneAuth | None = None
    plain: PlainAuth | None = None
    xoauth2: XOAuth2Auth | None = None

    @model_validator(mode="after")
    def _one_auth(self) -> Self:
        given = [name for name in ("none", "plain", "xoauth2") if getattr(self, name) is not None]
        if len(given) > 1:
            raise PydanticCustomError(
                "auth_oneof",
                "at most one of none, plain, xoauth2 may be given",
                {"field": given[1]},
            )
        return self

    @property
    def auth_mode(self) -> Literal["none", "plain", "xoauth2"]:
        """none: no AUTH; plain: PLAIN/LOGIN; xoauth2: SASL XOAUTH2."""
        if self.none is not None:
            return "none"
        if self.xoauth2 is not None:
            return "xoauth2"
        if self.plain is not None or self.user or self.password.get_secret_value():
            return "plain"
        return "none"

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
    def client_secret(self) -> str:
        if self.xoauth2 is None:
            return ""
        return self.xoauth2.client_credentials.client_secret.get_secret_value()

    def secrets(self) -> dict[str, str]:
        """The secrets, by name, for encryption at rest; empty ones left out."""
        found = {"password": self.auth_password, "clientSecret": self.client_secret}
        return {name: value for name, value in found.items() if value}

    def with_secrets(self, secrets: dict[str, str]) -> Self:
        """A copy whose secrets are the given ones (as secrets() named them)."""
        update: dict[str, Any] = {"password": SecretStr(secrets.get("password", ""))}
        if self.plain is not None:
            update["plain"] = self.plain.model_copy(update={"password": SecretStr("")})
        if self.xoauth2 is not None:
            credentials = self.xoauth2.client_credentials.model_copy(
                update={"client_secret": SecretStr(secrets.get("clientSecret", ""))}
            )
            update["xoauth2"] = self.xoauth2.model_copy(update={"client_credentials": credentials})
        return self.model_copy(update=update)

    def public(self) -> dict[str, Any]:
        """As a job or a provider shows it: everything but secrets."""
        return self.model_dump(
            mode="json",
            exclude={
                "password": True,
                "plain": {"password"},
                "xoauth2": {"client_credentials": {"client_secret"}},
            },
            exclude_none=True,
        )

    def destination(self) -> tuple[str, ...]:
        """Where a stored secret would be sent: it may go nowhere else."""
        where = (self.auth_mode, self.host.lower(), self.user)
        if self.xoauth2 is not None:
            credentials = self.xoauth2.client_credentials
            return (*where, self.xoauth2.token_endpoint, credentials.client_id)
        return where

    def missing_secrets(self) -> bool:
        """True when the auth mode needs a secret this request does not carry."""
        mode = self.auth_mode
        return (mode == "plain" and not self.auth_password) or (
            mode == "xoauth2" and not self.client_secret
        )


class ZitadelTestRequest(SmtpSettings):
    """Zitadel's TestEmailProviderSMTPRequest: what gRPC, gRPC-web and
    POST /admin/v1/email/smtp/_test take. A test there always sends its message."""

    receiver_address: EmailAddress
    id: Annotated[str, StringConstraints(max_length=200)] = ""

    @property
    def needs_smtputf8(self) -> bool:
        """True when an address has UTF-8 before its @-sign (RFC 6531): only a server that
        offers SMTPUTF8 can take it."""
        return not (self.sender_address.isascii() and self.receiver_address.isascii())


DryRun = Annotated[
    bool,
    Field(
        description="Verify without sending: the session stops after RCPT TO with RSET and "
        "QUIT, and the report says what the server answered to the recipient "
        "(`result.recipient`). No message is sent."
    ),
]


class SmtpTestRequest(ZitadelTestRequest):
    """POST /email/smtp/_test: one test of an SMTP provider (Zitadel's fields, and dryRun)."""

    dry_run: DryRun = False


class ZitadelProviderTestRequest(RequestModel):
    """Zitadel's TestEmailProviderSMTPByIdRequest (its id is in the path)."""

    receiver_address: EmailAddress


class ProviderTestRequest(ZitadelProviderTestRequest):
    """POST /email/smtp/{id}/_test: test a stored provider as it is stored."""

    dry_run: DryRun = False


# The longest re-test interval a stored provider may have: 30 days. The shortest is the
# operator's MAILPROBE_RETEST_MIN_INTERVAL.
MAX_RETEST_INTERVAL = 30 * 24 * 3600

OptionalAddress = Annotated[
    str, StringConstraints(max_length=200), AfterValidator(_check_optional_address)
]


class ProviderRequest(SmtpSettings):
    """POST /email/smtp and PUT /email/smtp/{id}: a stored SMTP provider."""

    description: Annotated[str, StringConstraints(max_length=200), AfterValidator(_no_controls)] = (
        ""
    )
    reply_to_address: OptionalAddress = ""
    # mailprobe's own fields (Zitadel's wire has neither: there they stay as stored).
    retest_interval_seconds: Annotated[
        int | None,
        Field(
            ge=0,
            le=MAX_RETEST_INTERVAL,
            description="Re-test this provider every so many seconds, in dry-run mode (nothing "
            "is sent), and keep its history (GET /email/{id}/history): 0 turns it off. At "
            "least MAILPROBE_RETEST_MIN_INTERVAL (default 300). Left out: off for a new "
            "provider, unchanged by an update.",
        ),
    ] = None
    retest_receiver_address: Annotated[
        OptionalAddress | None,
        Field(
            description="The recipient (RCPT TO) of the re-tests; empty: the sender address. "
            "Left out: unchanged by an update."
        ),
    ] = None


class PasswordRequest(RequestModel):
    """PUT /email/smtp/{id}/password."""

    password: Password


class BatchRequest(RequestModel):
    """POST /email/smtp/_tests: up to 1,000 tests, each checked on its own."""

    tests: Annotated[list[dict[str, Any]], Field(min_length=1, max_length=1000)]


class SearchQuery(RequestModel):
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    limit: Annotated[int, Field(ge=0, le=1000)] = 100
    asc: bool = False


class SearchRequest(RequestModel):
    """POST /email/_search."""

    query: SearchQuery = Field(default_factory=SearchQuery)


def _check_webhook_url(value: str) -> str:
    return _check_url(value, ("https", "http"))


WebhookEvent = Literal[
    "smtp_test.completed", "smtp_provider.changed", "smtp_provider.certificate_expiring"
]


def _all_events() -> list[WebhookEvent]:
    return list(get_args(WebhookEvent))


class WebhookRequest(RequestModel):
    """POST /webhooks: a subscription to a tenant's events."""

    url: Annotated[
        str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_check_webhook_url)
    ]
    events: Annotated[list[WebhookEvent], Field(min_length=1, max_length=10)] = Field(
        default_factory=_all_events
    )
    description: Annotated[str, StringConstraints(max_length=200), AfterValidator(_no_controls)] = (
        ""
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


AttemptOutcome = Literal["running", "succeeded", "failed", "retrying"]


class Attempt(ResponseModel):
    number: int
    started_at: str
    finished_at: str | None = None
    outcome: AttemptOutcome = "running"
    error: ProbeError | None = None


class RetestRun(ResponseModel):
    """A scheduled re-test of a stored provider: which one, and the due time it ran for."""

    provider_id: str
    due_at: str


class Job(ResponseModel):
    """A test of an SMTP provider, from submission to its last attempt's report."""

    id: str
    status: JobStatus
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    updated_at: str | None = None
    request: dict[str, Any]
    # Attempts this job may make; None: the operator's MAILPROBE_MAX_ATTEMPTS. Zitadel's
    # synchronous surface makes one attempt, as Zitadel does.
    max_attempts: int | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    result: Report | None = None
    retest: RetestRun | None = Field(
        None, description="set when the job is a stored provider's scheduled re-test"
    )

    @property
    def finished(self) -> bool:
        return self.status in FINAL_STATUSES

    def attempt_limit(self, default: int) -> int:
        return self.max_attempts or default


class BatchItem(ResponseModel):
    """One test of a batch: its job, or why it was not accepted."""

    index: int
    job: Job | None = None
    error: Status | None = None


class BatchResult(ResponseModel):
    accepted: int
    rejected: int
    items: list[BatchItem]


class Details(ResponseModel):
    """Zitadel's ObjectDetails."""

    sequence: int
    creation_date: str
    change_date: str
    resource_owner: str


class Provider(ResponseModel):
    """A stored SMTP provider as the API shows it: never its secrets."""

    id: str
    details: Details
    state: Literal["SMTP_CONFIG_ACTIVE", "SMTP_CONFIG_INACTIVE"]
    description: str
    sender_address: str
    sender_name: str
    tls: bool
    host: str
    user: str
    reply_to_address: str
    has_password: bool
    none: dict[str, Any] | None = None
    plain: dict[str, Any] | None = None
    xoauth2: dict[str, Any] | None = None
    retest_interval_seconds: int = Field(0, description="0: not re-tested on a schedule")
    retest_receiver_address: str = Field("", description="empty: the sender address")
    next_retest_at: str | None = Field(None, description="when the next re-test is due")


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


class SmtpTestCompletedEvent(ResponseModel):
    type: Literal["smtp_test.completed"] = "smtp_test.completed"
    timestamp: str
    data: Job


class ProviderChangedEvent(ResponseModel):
    type: Literal["smtp_provider.changed"] = "smtp_provider.changed"
    timestamp: str
    data: ProviderDrift


class CertificateExpiringEvent(ResponseModel):
    type: Literal["smtp_provider.certificate_expiring"] = "smtp_provider.certificate_expiring"
    timestamp: str
    data: CertificateExpiring


class ProviderConfig(ResponseModel):
    config: Provider


class ProviderAdded(ResponseModel):
    id: str
    details: Details


class ProviderChanged(ResponseModel):
    details: Details


class ListDetails(ResponseModel):
    total_result: int
    timestamp: str


class ProviderList(ResponseModel):
    details: ListDetails
    result: list[Provider]


class Webhook(ResponseModel):
    id: str
    url: str
    events: list[str]
    description: str
    created_at: str
    status: Literal["active", "disabled"] = "active"
    disabled_reason: str | None = None
    disabled_at: str | None = None
    failing_since: str | None = None


class WebhookCreated(Webhook):
    secret: str  # shown once


class WebhookList(ResponseModel):
    webhooks: list[Webhook]


class Delivery(ResponseModel):
    """One attempt to deliver one event to one subscription."""

    message_id: str  # the webhook-id header: the same across attempts
    job_id: str  # the job the event is about (for a provider's event: the re-test's)
    event: WebhookEvent = "smtp_test.completed"
    attempt: int
    time: str
    status: int | None  # the HTTP status, or None when no answer came
    latency_ms: float
    outcome: Literal["delivered", "retrying", "failed", "disabled"]
    error: str | None = None


class DeliveryList(ResponseModel):
    deliveries: list[Delivery]


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


class ErrorInfoDetail(ResponseModel):
    """google.rpc.ErrorInfo: why, as a machine reads it (e.g. the category "policy")."""

    type: str = Field("type.googleapis.com/google.rpc.ErrorInfo", alias="@type")
    reason: str
    domain: str = "mailprobe"
    metadata: dict[str, str] = Field(default_factory=dict)


class RetryInfoDetail(ResponseModel):
    """google.rpc.RetryInfo: the failure is transient; try again after retryDelay."""

    type: str = Field("type.googleapis.com/google.rpc.RetryInfo", alias="@type")
    retry_delay: str = Field(description="a google.protobuf.Duration in JSON: seconds, e.g. 5s")


ErrorDetail = BadRequestDetail | ErrorInfoDetail | RetryInfoDetail


class Status(ResponseModel):
    """Every error the API answers: a google.rpc.Status as grpc-gateway writes it."""

    code: int
    message: str
    details: list[ErrorDetail] = Field(default_factory=list)
