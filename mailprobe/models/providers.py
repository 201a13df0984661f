"""Stored SMTP providers: the requests that add, change and search them, and how the API
shows them (Zitadel's shapes: ObjectDetails, lists).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints

from mailprobe.models.base import RequestModel, ResponseModel
from mailprobe.models.fields import OptionalAddress, Password, no_controls
from mailprobe.models.smtp import SmtpSettings

# The longest re-test interval a stored provider may have: 30 days. The shortest is the
# operator's MAILPROBE_RETEST_MIN_INTERVAL.
MAX_RETEST_INTERVAL = 30 * 24 * 3600


class ProviderRequest(SmtpSettings):
    """POST /email/smtp and PUT /email/smtp/{id}: a stored SMTP provider."""

    description: Annotated[str, StringConstraints(max_length=200), AfterValidator(no_controls)] = ""
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


class SearchQuery(RequestModel):
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    limit: Annotated[int, Field(ge=0, le=1000)] = 100
    asc: bool = False


class SearchRequest(RequestModel):
    """POST /email/_search."""

    query: SearchQuery = Field(default_factory=SearchQuery)


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
