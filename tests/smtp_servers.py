"""Real SMTP servers for the tests: aiosmtpd in various configurations, and raw misbehavers."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


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


@dataclass
class SmtpServer:
    controller: Controller
    handler: RecordingHandler
    auth_attempts: list[tuple[str, str]]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.controller.port}"

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
) -> SmtpServer:
    """An aiosmtpd server on 127.0.0.1; with credentials, AUTH is offered and checked; with
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
    controller = Controller(
        handler, hostname="127.0.0.1", port=free_port(), server_hostname="localhost", **kwargs
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
