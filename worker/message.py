"""The test email: a real, well-formed message that says what it is.

Written line by line rather than with email.message.EmailMessage: that class's header
registry and content manager took a quarter of a worker's CPU in a profile, for a message
whose only non-ASCII parts can be the sender's name, which email.utils encodes (RFC 2047),
and addresses with UTF-8 before the @-sign, which go as they are (RFC 6532: the session
uses SMTPUTF8).
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime, formataddr, make_msgid

BODY = (
    "This is a test email sent by mailprobe to check an SMTP provider.\n"
    "\n"
    "SMTP server: {host}\n"
    "Sent at: {sent}\n"
    "Test job: {reference}\n"
    "\n"
    "If it reached you, the provider accepted and delivered it. No action is needed.\n"
)


def build_test_message(
    *,
    sender_address: str,
    sender_name: str,
    receiver_address: str,
    host: str,
    reference: str,
    now: datetime | None = None,
) -> tuple[str, bytes]:
    """The Message-ID and the wire form (CRLF line ends, not yet dot-stuffed) of a test email.

    The addresses are validated upstream (their domains in ASCII), the host a checked
    host:port and the reference a job id. The sender's name is encoded when it is not ASCII;
    an address that is not ASCII is written in UTF-8, for an SMTPUTF8 session.
    """
    sent = now or datetime.now(UTC)
    domain = sender_address.rpartition("@")[2] or "mailprobe.invalid"
    message_id = make_msgid(idstring=reference[:32], domain=domain)
    headers = [
        f"From: {_mailbox(sender_name, sender_address)}",
        f"To: {receiver_address}",
        f"Subject: mailprobe: test of SMTP provider {host}",
        f"Date: {format_datetime(sent)}",
        f"Message-ID: {message_id}",
        "Auto-Submitted: auto-generated",
        f"X-Mailprobe-Job: {reference}",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "Content-Transfer-Encoding: 7bit",
    ]
    body = BODY.format(host=host, sent=sent.isoformat(timespec="seconds"), reference=reference)
    text = "\r\n".join(headers) + "\r\n\r\n" + body.replace("\n", "\r\n")
    return message_id, text.encode("utf-8")


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


def dot_stuff(message: bytes) -> bytes:
    """DATA's transparency (RFC 5321 4.5.2) and the terminating line."""
    lines = message.split(b"\r\n")
    if lines and lines[-1] == b"":
        lines.pop()
    stuffed = b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)
    return stuffed + b"\r\n.\r\n"
