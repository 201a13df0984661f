"""Real SMTP servers for the tests: aiosmtpd in various configurations, and raw misbehavers."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    mail_options: list[str] = field(default_factory=list)  # MAIL FROM's parameters
    content: bytes = b""  # the message as it came, for what a parser would smooth over


@dataclass
class RecordingHandler:
    """Accepts mail and keeps it; RCPT replies can be scripted per call, and a recipient
    whose local part is "reject" is unknown (550 5.1.1). Counts RSET commands."""

    rcpt_replies: list[str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    rcpt_calls: int = 0
    rset_calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self.lock:
            self.rcpt_calls += 1
            scripted = self.rcpt_replies.pop(0) if self.rcpt_replies else None
        if scripted and not scripted.startswith("250"):
            return scripted
        if address.lower().startswith("reject@"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_RSET(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            self.rset_calls += 1
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        received = Received(
            envelope.mail_from,
            list(envelope.rcpt_tos),
            message,
            list(envelope.mail_options),
            bytes(envelope.original_content),
        )
        with self.lock:
            self.received.append(received)
        return "250 2.0.0 Ok: queued"


class SlowHandler(RecordingHandler):
    """Waits DELAY seconds before each reply to MAIL, RCPT and DATA: a session takes over a
    second, long enough to watch its phases arrive."""

    DELAY = 0.4

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        await asyncio.sleep(self.DELAY)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        await asyncio.sleep(self.DELAY)
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(self.DELAY)
        return await super().handle_DATA(server, session, envelope)


class _RecordingSMTP(SMTP):
    """aiosmtpd's SMTP, keeping every AUTH command line it receives, whatever comes of it."""

    auth_lines: list[str]

    async def smtp_AUTH(self, arg: str) -> None:
        self.auth_lines.append(f"AUTH {arg}")
        await super().smtp_AUTH(arg)


class _RecordingController(Controller):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.auth_lines: list[str] = []

    def factory(self) -> SMTP:
        server = _RecordingSMTP(self.handler, **self.SMTP_kwargs)
        server.auth_lines = self.auth_lines
        return server


@dataclass
class SmtpServer:
    controller: _RecordingController
    handler: RecordingHandler
    auth_attempts: list[tuple[str, str]]

    @property
    def address(self) -> str:
        return f"{self.controller.hostname}:{self.controller.port}"

    @property
    def auth_lines(self) -> list[str]:
        """Every AUTH command that reached the server (credentials in them as sent)."""
        return self.controller.auth_lines

    def stop(self) -> None:
        self.controller.stop()


def start_smtp_server(
    *,
    starttls: ssl.SSLContext | None = None,
    implicit_tls: ssl.SSLContext | None = None,
    credentials: dict[str, str] | None = None,
    rcpt_replies: list[str] | None = None,
    exclude_mechanisms: list[str] | None = None,
    smtputf8: bool = False,
    hostname: str = "127.0.0.1",
) -> SmtpServer:
    """An aiosmtpd server on 127.0.0.1 (or another loopback `hostname`); with credentials,
    AUTH is offered and checked (over plaintext too, unless STARTTLS is required); with
    smtputf8, SMTPUTF8 is offered (without it, aiosmtpd refuses 8-bit commands)."""
    handler = RecordingHandler(rcpt_replies=list(rcpt_replies or []))
    attempts: list[tuple[str, str]] = []
    kwargs: dict[str, Any] = {"enable_SMTPUTF8": smtputf8}
    if credentials is not None:

        def authenticator(
            server: Any, session: Any, envelope: Any, mechanism: str, data: Any
        ) -> AuthResult:
            if not isinstance(data, LoginPassword):
                return AuthResult(success=False, handled=False)
            login, password = data.login.decode(), data.password.decode()
            attempts.append((mechanism, login))
            return AuthResult(success=credentials.get(login) == password, handled=False)

        kwargs.update(
            authenticator=authenticator,
            auth_require_tls=starttls is not None,
            auth_exclude_mechanism=exclude_mechanisms or [],
        )
    if starttls is not None:
        kwargs.update(tls_context=starttls, require_starttls=True)
    if implicit_tls is not None:
        kwargs.update(ssl_context=implicit_tls)
    controller = _RecordingController(
        handler, hostname=hostname, port=free_port(), server_hostname="localhost", **kwargs
    )
    controller.start()
    return SmtpServer(controller, handler, attempts)


class RawServer:
    """A TCP server whose every connection is handled by `serve(conn)` in a thread.

    For servers that misbehave in ways no SMTP library would: silence, garbage, hang-ups.
    """

    def __init__(self, serve: Callable[[socket.socket], None]) -> None:
        self._serve = serve
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.connections = 0
        self._stop = threading.Event()
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            self._held.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self._serve(conn)

    def stop(self) -> None:
        self._stop.set()
        self.sock.close()
        for conn in self._held:
            with contextlib.suppress(OSError):
                conn.close()
        self._thread.join(timeout=2)


class ScriptedServer(RawServer):
    """An SMTP server that answers each command as scripted and records every line it gets.

    `replies` maps a step to its reply, CRLF-separated lines for a multi-line one: BANNER,
    EHLO (HELO too), STARTTLS, AUTH, MAIL, RCPT, DATA, DATA_END (after
    the message) and QUIT. An empty reply says nothing and holds the connection; a step not
    scripted gets a reply that moves the session on.
    """

    DEFAULTS = {
        "BANNER": "220 scripted.test ESMTP",
        "EHLO": "250-scripted.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME",
        "STARTTLS": "454 4.7.0 TLS not available",
        "AUTH": "235 2.7.0 Authentication successful",
        "MAIL": "250 2.1.0 ok",
        "RCPT": "250 2.1.5 ok",
        "DATA": "354 go ahead",
        "DATA_END": "250 2.0.0 queued",
        "QUIT": "221 2.0.0 bye",
    }

    def __init__(self, replies: dict[str, str] | None = None) -> None:
        self.replies = {**self.DEFAULTS, **(replies or {})}
        self.lines: list[str] = []
        super().__init__(self._converse)

    def _say(self, conn: socket.socket, step: str) -> bool:
        """Send the step's reply; False when it is scripted to say nothing."""
        reply = self.replies[step]
        if not reply:
            time.sleep(30)  # held until the client gives up (stop() closes it)
            return False
        conn.sendall(reply.encode() + b"\r\n")
        return True

    def _converse(self, conn: socket.socket) -> None:
        if not self._say(conn, "BANNER"):
            return
        reader = conn.makefile("rb")
        in_data = False
        for raw in reader:
            line = raw.rstrip(b"\r\n").decode("utf-8", "replace")
            if in_data:
                if line == ".":
                    in_data = False
                    if not self._say(conn, "DATA_END"):
                        return
                continue
            self.lines.append(line)
            verb = line.split(" ", 1)[0].upper()
            if verb in ("EHLO", "HELO"):
                step = "EHLO"
            elif verb in self.replies and verb not in ("BANNER", "EHLO", "DATA_END"):
                step = verb
            else:
                conn.sendall(b"502 5.5.2 not scripted\r\n")
                continue
            if not self._say(conn, step):
                return
            if step == "DATA" and self.replies["DATA"].startswith("354"):
                in_data = True
            if step == "QUIT":
                return
