"""A test's SMTP settings and authentication, and the requests that run one: the API's own
(POST /email/smtp/_test), Zitadel's, and the test of a stored provider.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, SecretStr, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from mailprobe.models.base import RequestModel
from mailprobe.models.fields import (
    DisplayName,
    EmailAddress,
    HostPort,
    Password,
    Scope,
    TokenEndpoint,
    UserName,
    no_controls,
    split_host_port,
)


class NoneAuth(RequestModel):
    """No AUTH, even when a user is set."""


class PlainAuth(RequestModel):
    """AUTH PLAIN or LOGIN (whichever the server offers) with the top-level user."""

    password: Password = SecretStr("")


class ClientCredentials(RequestModel):
    client_id: Annotated[
        str, StringConstraints(min_length=1, max_length=200), AfterValidator(no_controls)
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
