"""The rules of single fields (host and port, addresses, URLs, names, secrets), shared by
every request model: one definition of what a valid value is.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from functools import lru_cache
from typing import Annotated
from urllib.parse import urlsplit

import email_validator
from pydantic import AfterValidator, Field, SecretStr, StringConstraints

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


def no_controls(value: str) -> str:
    # CR/LF would let a caller inject headers or SMTP commands; the rest are never legitimate.
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise ValueError("control characters (such as CR or LF) are not allowed")
    return value


def _secret_no_controls(value: SecretStr) -> SecretStr:
    if any(ch in "\r\n\0" for ch in value.get_secret_value()):
        raise ValueError("CR, LF and NUL are not allowed")
    return value


def check_url(value: str, schemes: tuple[str, ...]) -> str:
    no_controls(value)  # urlsplit drops tabs and newlines: the stored text would keep them
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
    return check_url(value, ("https",))


EmailAddress = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(_check_address)
]


DisplayName = Annotated[
    str, StringConstraints(min_length=1, max_length=200), AfterValidator(no_controls)
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


UserName = Annotated[str, StringConstraints(max_length=200), AfterValidator(no_controls)]


Password = Annotated[
    SecretStr,
    Field(max_length=200, json_schema_extra={"format": "password"}),
    AfterValidator(_secret_no_controls),
]


OptionalAddress = Annotated[
    str, StringConstraints(max_length=200), AfterValidator(_check_optional_address)
]
