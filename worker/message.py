"""The test email: a real, well-formed message that says what it is.

Written line by line rather than with email.message.EmailMessage: that class's header
registry and content manager took a quarter of a worker's CPU in a profile, for a message
whose only non-ASCII parts can be the sender's name, which email.utils encodes (RFC 2047),
and addresses with UTF-8 before the @-sign, which go as they are (RFC 6532: the session
uses SMTPUTF8).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, formataddr, make_msgid

BODY = (
    "This is a test email sent by mailprobe to check an SMTP provider.\n"
    "\n"
    "What was tested:\n"
    "  SMTP server: {server}\n"
    "  Encryption:  {encryption}\n"
    "  Login:       {login}\n"
    "\n"
    "Sent at: {sent}\n"
    "Test job: {reference} (reference {short} in the Subject)\n"
    "\n"
    "If it reached you, the provider accepted and delivered it. No action is needed.\n"
)


@dataclass(frozen=True)
class SessionSummary:
    """What the session tested, as the message tells its reader: never a secret."""

    host: str
    port: int
    address: str | None
    encryption: str  # e.g. "STARTTLS, TLSv1.3", or "none (tls: false)"
    login: str  # e.g. "AUTH PLAIN", or "none"


@dataclass(frozen=True)
class ProbeMessage:
    message_id: str
    subject: str
    data: bytes  # CRLF line ends, not yet dot-stuffed


def short_reference(reference: str) -> str:
    """The part of a job id a person can find in a mailbox: its last 8 characters (a ULID's
    random part; its first characters are the time, shared by a burst of jobs)."""
    return reference[-8:].upper()


def build_test_message(
    *,
    sender_address: str,
    sender_name: str,
    receiver_address: str,
    tested: SessionSummary,
    reference: str,
    now: datetime | None = None,
) -> ProbeMessage:
    """The test email: a Subject with a short reference and the time, and a body that says
    what was tested.

    The addresses are validated upstream (their domains in ASCII), the host a checked host
    name or address and the reference a job id. The sender's name is encoded when it is not
    ASCII; an address that is not ASCII is written in UTF-8, for an SMTPUTF8 session.
    """
    sent = (now or datetime.now(UTC)).astimezone(UTC)
    domain = sender_address.rpartition("@")[2] or "mailprobe.invalid"
    message_id = make_msgid(idstring=reference[:32], domain=domain)
    short = short_reference(reference)
    server = f"[{tested.host}]" if ":" in tested.host else tested.host
    subject = f"mailprobe test {short}: {server}:{tested.port}, {sent:%Y-%m-%d %H:%M} UTC"
    headers = [
        f"From: {_mailbox(sender_name, sender_address)}",
        f"To: {receiver_address}",
        f"Subject: {subject}",
        f"Date: {format_datetime(sent)}",
        f"Message-ID: {message_id}",
        "Auto-Submitted: auto-generated",
        f"X-Mailprobe-Job: {reference}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "Content-Transfer-Encoding: 7bit",
    ]
    where = f"{tested.host}, port {tested.port}"
    if tested.address and tested.address != tested.host:
        where += f" (address {tested.address})"
    body = BODY.format(
        server=where,
        encryption=tested.encryption,
        login=tested.login,
        sent=sent.isoformat(timespec="seconds").replace("+00:00", "Z"),
        reference=reference,
        short=short,
    )
    text = "\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n")
    return ProbeMessage(message_id, subject, text.encode("utf-8"))


def _mailbox(name: str, address: str) -> str:
    """`name <address>`, the name quoted or RFC 2047-encoded as it needs."""
    if address.isascii():
        return formataddr((name, address), charset="utf-8")
    # formataddr insists on an ASCII address, which RFC 6532 no longer requires: let it
    # encode the name beside a stand-in, then put the address in its place.
    stand_in = "x@x"
    return formataddr((name, stand_in), charset="utf-8").removesuffix(f"<{stand_in}>") + (
        f"<{address}>"
    )


END_OF_DATA = b".\r\n"  # the line that ends DATA, after the content's last CRLF


def dot_stuff(message: bytes) -> bytes:
    """DATA's transparency (RFC 5321 4.5.2) and the terminating line."""
    lines = message.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    stuffed = b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)
    return stuffed + b"\r\n" + END_OF_DATA
