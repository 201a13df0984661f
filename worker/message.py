"""The test email: a real, well-formed message that says what it is."""

from __future__ import annotations

import email.policy
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid


def build_test_message(
    *,
    sender_address: str,
    sender_name: str,
    receiver_address: str,
    host: str,
    reference: str,
    now: datetime | None = None,
) -> tuple[str, bytes]:
    """The Message-ID and the wire form (CRLF line ends, not yet dot-stuffed) of a test email."""
    sent = now or datetime.now(UTC)
    domain = sender_address.rpartition("@")[2] or "mailprobe.invalid"
    message_id = make_msgid(idstring=reference[:32], domain=domain)
    msg = EmailMessage(policy=email.policy.SMTP)
    local, _, sender_domain = sender_address.rpartition("@")
    msg["From"] = Address(display_name=sender_name, username=local, domain=sender_domain)
    msg["To"] = receiver_address
    msg["Subject"] = f"mailprobe: test of SMTP provider {host}"
    msg["Date"] = format_datetime(sent)
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Mailprobe-Job"] = reference
    msg.set_content(
        "This is a test email sent by mailprobe to check an SMTP provider.\n\n"
        f"SMTP server: {host}\n"
        f"Sent at: {sent.isoformat(timespec='seconds')}\n"
        f"Test job: {reference}\n\n"
        "If it reached you, the provider accepted and delivered it. No action is needed.\n"
    )
    return message_id, msg.as_bytes()


def dot_stuff(message: bytes) -> bytes:
    """DATA's transparency (RFC 5321 4.5.2) and the terminating line."""
    lines = message.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    stuffed = b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)
    return stuffed + b"\r\n.\r\n"
