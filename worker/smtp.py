"""A small SMTP client connection: replies, commands, timeouts and a redacted transcript.

smtplib reads with one socket timeout per call, so a server that sends a byte a second keeps
it waiting for ever; it also encodes AUTH as ASCII and logs nothing we could show a user.
This connection checks a deadline before every read and write, and records every line it
sends or receives, with secrets replaced.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import time
from dataclasses import dataclass

MAX_LINE = 2048  # RFC 5321 allows 512 octets a reply line; be lenient, but bounded.
MAX_REPLY_LINES = 200
MAX_TRANSCRIPT = 400
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})\b")


class SMTPError(Exception):
    """Base of the connection's failures (ARCHITECTURE.md, Errors)."""


class SMTPTimeout(SMTPError, TimeoutError):
    """A phase's timeout or the session's deadline passed: a TimeoutError like any other, so
    code that handles timeouts handles this one too."""


class SMTPDisconnected(SMTPError):
    """The server closed or reset the connection."""


class SMTPProtocolError(SMTPError):
    """The server said something that is not SMTP."""


class SMTPReplyError(SMTPError):
    """A well-formed reply other than the one the command needed."""

    def __init__(self, reply: SMTPReply) -> None:
        super().__init__(f"{reply.code} {reply.text}")
        self.reply = reply


@dataclass(frozen=True)
class SMTPReply:
    code: int
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def enhanced_code(self) -> str | None:
        match = _ENHANCED.match(self.lines[0]) if self.lines else None
        return ".".join(match.groups()) if match else None


class Transcript:
    """The lines of a session, with every known secret replaced by <redacted>."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._secrets: list[str] = []

    def add_secret(self, secret: str) -> None:
        if secret and secret not in self._secrets:
            self._secrets.append(secret)
            self._secrets.sort(key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "<redacted>")
        return text

    def record(self, side: str, text: str) -> None:
        if len(self.lines) < MAX_TRANSCRIPT:
            self.lines.append(f"{side}: {self.scrub(text)[:MAX_LINE]}")
        elif len(self.lines) == MAX_TRANSCRIPT:
            self.lines.append("…: transcript truncated")


class Deadline:
    """The session's deadline and the current phase's, on the monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.session_end = time.monotonic() + seconds
        self.phase_end = self.session_end

    def start_phase(self, seconds: float) -> None:
        self.phase_end = min(self.session_end, time.monotonic() + seconds)

    def remaining(self) -> float:
        left = self.phase_end - time.monotonic()
        if left <= 0:
            which = "session deadline" if self.phase_end >= self.session_end else "timeout"
            raise SMTPTimeout(f"{which} passed")
        return left


class SMTPConnection:
    def __init__(self, sock: socket.socket, deadline: Deadline, transcript: Transcript) -> None:
        self.sock = sock
        self.deadline = deadline
        self.transcript = transcript
        self._buffer = bytearray()
        self.received = 0  # bytes read so far: a server that said nothing at all is told apart

    # -- reading

    def _recv(self) -> bytes:
        self.sock.settimeout(self.deadline.remaining())
        try:
            data = self.sock.recv(4096)
        except TimeoutError:
            raise SMTPTimeout("no reply before the timeout") from None
        except ssl.SSLError as exc:
            raise SMTPDisconnected(f"TLS error while reading: {exc.reason or exc}") from None
        except OSError as exc:
            raise SMTPDisconnected(f"connection lost: {exc.strerror or exc}") from None
        if not data:
            raise SMTPDisconnected("the server closed the connection")
        self.received += len(data)
        return data

    def _read_line(self) -> str:
        while True:
            end = self._buffer.find(b"\n")
            if end >= 0:
                raw = bytes(self._buffer[: end + 1])
                del self._buffer[: end + 1]
                if len(raw) > MAX_LINE:
                    raise SMTPProtocolError(f"reply line longer than {MAX_LINE} bytes")
                return raw.rstrip(b"\r\n").decode("utf-8", "replace")
            if len(self._buffer) > MAX_LINE:
                raise SMTPProtocolError(f"reply line longer than {MAX_LINE} bytes")
            self._buffer += self._recv()

    def read_reply(self) -> SMTPReply:
        code: int | None = None
        lines: list[str] = []
        while True:
            line = self._read_line()
            self.transcript.record("S", line)
            head, sep = line[:3], line[3:4]
            if not (head.isascii() and head.isdigit()) or sep not in ("", " ", "-"):
                raise SMTPProtocolError(f"not an SMTP reply: {self.transcript.scrub(line)[:100]!r}")
            if code is not None and int(head) != code:
                raise SMTPProtocolError("reply lines with different codes")
            code = int(head)
            lines.append(line[4:])
            if sep != "-":
                return SMTPReply(code, tuple(lines))
            if len(lines) >= MAX_REPLY_LINES:
                raise SMTPProtocolError(f"reply longer than {MAX_REPLY_LINES} lines")

    # -- writing

    def send(self, data: bytes) -> None:
        self.sock.settimeout(self.deadline.remaining())
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise SMTPTimeout("the server did not take our data before the timeout") from None
        except OSError as exc:
            raise SMTPDisconnected(f"connection lost: {exc.strerror or exc}") from None

    def command(self, line: str, *, shown: str | None = None) -> SMTPReply:
        """Send one command line and read its reply; `shown` replaces it in the transcript."""
        self.transcript.record("C", line if shown is None else shown)
        self.send(line.encode("utf-8") + b"\r\n")
        return self.read_reply()

    def expect(self, reply: SMTPReply, *codes: int) -> SMTPReply:
        if reply.code not in codes:
            raise SMTPReplyError(reply)
        return reply

    # -- TLS

    def start_tls(self, context: ssl.SSLContext, server_hostname: str) -> None:
        if self._buffer:
            # Bytes that arrived before the handshake were never protected: a known
            # STARTTLS injection. Refuse rather than treat them as the server's.
            raise SMTPProtocolError("the server sent data after its STARTTLS reply")
        self.sock = tls_handshake(self.sock, context, server_hostname, self.deadline)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


def tls_handshake(
    sock: socket.socket, context: ssl.SSLContext, server_hostname: str, deadline: Deadline
) -> ssl.SSLSocket:
    """Wrap sock in TLS under the deadline. Raises ssl errors, TimeoutError or OSError."""
    tls = context.wrap_socket(sock, server_hostname=server_hostname, do_handshake_on_connect=False)
    tls.settimeout(deadline.remaining())
    tls.do_handshake()
    return tls
