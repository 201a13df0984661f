"""The server's certificate as a report shows it, what its dates mean, and why it was refused.

OpenSSL says "certificate has expired" without saying when, and "Hostname mismatch" without
saying for what the certificate is valid: these words add the dates, names and issuer that
an administrator needs to fix it.
"""

from __future__ import annotations

import hashlib
import ssl
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cryptography import x509

from mailprobe.models.reports import Certificate, ReportWarning

# OpenSSL's X509_V_ERR_* codes that the words below explain.
_NOT_YET_VALID = 9
_EXPIRED = 10
_UNKNOWN_ISSUER = frozenset({2, 18, 19, 20, 21})  # no issuer known, or self-signed
_SELF_SIGNED = 18
_NAME_MISMATCH = frozenset({62, 64})  # host name, IP address

DEPRECATED_TLS = frozenset({"SSLv3", "TLSv1", "TLSv1.1"})


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _days_until(moment: str, now: datetime) -> int:
    delta = datetime.fromisoformat(moment) - now
    return round(delta.total_seconds() / 86400)


def describe(
    sock: ssl.SSLSocket, *, verified: bool, verify_error: str | None
) -> Certificate | None:
    """The peer's certificate on `sock` (after its handshake), or None when it sent none."""
    der = sock.getpeercert(binary_form=True)
    if not der:
        return None
    return Certificate(
        **_fields(der),
        chain_length=_chain_length(sock),
        verified=verified,
        verify_error=verify_error,
    )


@lru_cache(maxsize=256)
def _fields(der: bytes) -> dict[str, Any]:
    """What a certificate says, by its DER bytes: a server sends the same one session after
    session, and parsing it was a tenth of a TLS test's CPU in a profile of a worker."""
    cert = x509.load_der_x509_certificate(der)
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        alt_names = [
            *names.get_values_for_type(x509.DNSName),
            *(str(ip) for ip in names.get_values_for_type(x509.IPAddress)),
        ]
    except x509.ExtensionNotFound:
        alt_names = []
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "subject_alt_names": tuple(alt_names),
        "not_before": _iso(cert.not_valid_before_utc),
        "not_after": _iso(cert.not_valid_after_utc),
        "sha256": hashlib.sha256(der).hexdigest(),
    }


def _chain_length(sock: ssl.SSLSocket) -> int | None:
    """How many certificates the server sent. Public from Python 3.13; the same method of
    the underlying _ssl object before."""
    getter = getattr(sock, "get_unverified_chain", None) or getattr(
        getattr(sock, "_sslobj", None), "get_unverified_chain", None
    )
    chain = getter() if getter is not None else None
    return len(chain) if chain else None


def untrusted(
    exc: ssl.SSLCertVerificationError, cert: Certificate | None, host: str, now: datetime
) -> str:
    """Why the certificate is not trusted, in words that say what to change."""
    reason = str(exc.verify_message or exc.reason or "verification failed")
    code = exc.verify_code
    detail = ""
    if cert is not None:
        if code == _EXPIRED:
            days = _days_until(cert.not_after, now)
            detail = (
                f"it expired on {cert.not_after}, {-days} days ago"
                if days <= 0
                else "a certificate of its chain has expired"
            )
        elif code == _NOT_YET_VALID and cert.not_before:
            days = _days_until(cert.not_before, now)
            detail = f"it is valid only from {cert.not_before}, in {days} days"
        elif code in _NAME_MISMATCH:
            valid_for = ", ".join(cert.subject_alt_names) or f"only its subject {cert.subject}"
            detail = f"it is not valid for {host}; it is valid for {valid_for}"
        elif code == _SELF_SIGNED:
            detail = f"it is self-signed ({cert.subject})"
        elif code in _UNKNOWN_ISSUER:
            detail = (
                f"its issuer ({cert.issuer}) is not a CA mailprobe trusts (the operator adds a "
                "private CA with MAILPROBE_SMTP_CA_FILE)"
            )
    return f"certificate not trusted: {reason}" + (f": {detail}" if detail else "")


def certificate_warnings(
    cert: Certificate, now: datetime, warn_days: int, *, checked: bool
) -> list[ReportWarning]:
    """Warnings about a certificate the session went on with; `checked` is False when the
    operator turned verification off."""
    found: list[ReportWarning] = []
    days = _days_until(cert.not_after, now)
    if datetime.fromisoformat(cert.not_after) <= now:
        found.append(
            ReportWarning(
                code="certificate_expired",
                message=f"the server's certificate expired on {cert.not_after}, {-days} days ago",
            )
        )
    elif days <= warn_days:
        found.append(
            ReportWarning(
                code="certificate_expiring",
                message=f"the server's certificate expires on {cert.not_after}, in {days} days: "
                "renew it before then",
            )
        )
    if not checked:
        found.append(
            ReportWarning(
                code="certificate_not_verified",
                message="certificates are not verified (MAILPROBE_SMTP_VERIFY_CERTIFICATES is "
                "false): this one was not checked",
            )
        )
    return found


def tls_version_warning(version: str | None) -> ReportWarning | None:
    if version not in DEPRECATED_TLS:
        return None
    return ReportWarning(
        code="tls_version",
        message=f"the session used {version}, which is deprecated (RFC 8996): the server "
        "should offer TLS 1.2 or newer",
    )
