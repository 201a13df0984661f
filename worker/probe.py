"""probe_smtp: one SMTP session, phase by phase, reported in full.

Plain Python: no Celery, no Flask. It never raises for anything the server or the network
does; every outcome is a Report whose `error` says in which phase, of which category, and
whether trying again could help.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC

from cryptography import x509

from mailprobe.destination import (
    DestinationPolicy,
    DestinationRefused,
    ResolvedAddress,
    resolve,
)
from mailprobe.models import (
    Certificate,
    ErrorCategory,
    PhaseName,
    PhaseReport,
    ProbeError,
    Reply,
    Report,
    SmtpTestRequest,
)
from mailprobe.settings import Settings
from worker.message import build_test_message, dot_stuff
from worker.oauth import TokenCache, TokenError
from worker.senderdomain import SenderDomainCheck
from worker.smtp import (
    Deadline,
    SMTPConnection,
    SMTPDisconnected,
    SMTPProtocolError,
    SMTPReply,
    SMTPReplyError,
    SMTPTimeout,
    Transcript,
    tls_handshake,
)

# What OpenSSL says when the peer answers a ClientHello with something that is not TLS,
# such as an SMTP banner: the server wants plaintext and, perhaps, STARTTLS.
_NOT_TLS_REASONS = frozenset(
    {
        "WRONG_VERSION_NUMBER",
        "RECORD_LAYER_FAILURE",
        "UNKNOWN_PROTOCOL",
        "HTTP_REQUEST",
        "PACKET_LENGTH_TOO_LONG",
        "RECORD_TOO_LARGE",
    }
)

# A rejected reply's category, by the phase that got it.
_REPLY_CATEGORY: dict[str, ErrorCategory] = {
    "banner": "connect",
    "ehlo": "protocol",
    "starttls": "tls",
    "auth": "auth",
    "mail_from": "sender_rejected",
    "rcpt_to": "recipient_rejected",
    "data": "data_rejected",
    "quit": "protocol",
}


@dataclass(frozen=True)
class ProbeOptions:
    ssl_context: ssl.SSLContext
    policy: DestinationPolicy
    helo_name: str
    connect_timeout: float
    command_timeout: float
    data_timeout: float
    session_deadline: float
    verify_certificates: bool = True
    tokens: TokenCache | None = None
    # The sender domain's SPF and DMARC, read after the session (None: not checked).
    sender_domain: SenderDomainCheck | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> ProbeOptions:
        context = ssl.create_default_context()
        if settings.smtp_ca_file is not None:
            context.load_verify_locations(cafile=str(settings.smtp_ca_file))
        if not settings.smtp_verify_certificates:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        policy = DestinationPolicy.from_settings(settings)
        return cls(
            ssl_context=context,
            policy=policy,
            helo_name=settings.smtp_helo_name,
            connect_timeout=settings.smtp_connect_timeout,
            command_timeout=settings.smtp_command_timeout,
            data_timeout=settings.smtp_data_timeout,
            session_deadline=settings.smtp_session_deadline,
            verify_certificates=settings.smtp_verify_certificates,
            tokens=TokenCache(policy, context),
            sender_domain=(
                SenderDomainCheck.from_settings(settings) if settings.sender_domain_check else None
            ),
        )


class ProbeFailure(Exception):
    def __init__(self, error: ProbeError, *, plaintext_server: bool = False) -> None:
        super().__init__(error.message)
        self.error = error
        self.plaintext_server = plaintext_server


class _Refusal(Exception):
    """A failure the probe itself decides on (nothing to offer, nothing to parse)."""

    def __init__(self, category: ErrorCategory, message: str) -> None:
        super().__init__(message)
        self.category = category


def probe_smtp(
    request: SmtpTestRequest,
    options: ProbeOptions,
    *,
    reference: str,
    on_accepted: Callable[[Report], None] | None = None,
    on_phase: Callable[[PhaseReport], None] | None = None,
) -> Report:
    """Run one SMTP session for `request` and report it.

    `reference` (the job id) goes into the message's headers. `on_accepted` is called with
    the report so far as soon as the server accepts the message (250 after DATA), before
    QUIT: from then on the message must never be sent again. It shares parts with the
    running session's report, so the callback must store it, not keep it.

    `on_phase` is called with each phase as it ends, ok or not, for live progress; it must
    not raise (a failure to show progress is no failure of the session).
    """
    return _Session(request, options, reference, on_accepted, on_phase).run()


class _Session:
    def __init__(
        self,
        request: SmtpTestRequest,
        options: ProbeOptions,
        reference: str,
        on_accepted: Callable[[Report], None] | None,
        on_phase: Callable[[PhaseReport], None] | None,
    ) -> None:
        self.request = request
        self.options = options
        self.reference = reference
        self.on_accepted = on_accepted
        self.on_phase = on_phase
        self.host, self.port = request.host_name, request.port
        self.deadline = Deadline(options.session_deadline)
        self.transcript = Transcript()
        for secret in request.secrets().values():
            self.transcript.add_secret(secret)
        self.report = Report(host=self.host, port=self.port)
        self.conn: SMTPConnection | None = None
        self.last_reply: SMTPReply | None = None

    def run(self) -> Report:
        try:
            self._converse()
            self.report.ok = True
        except ProbeFailure as failure:
            self.report.error = failure.error
        finally:
            if self.conn is not None:
                self.conn.close()
            self.report.transcript = self.transcript.lines
        self._check_sender_domain()
        return self.report

    def _check_sender_domain(self) -> None:
        """The sender domain's readiness (worker/senderdomain.py): after the session, in
        what is left of its deadline; whatever it finds, the session's outcome stands."""
        check = self.options.sender_domain
        if check is None:
            return
        connected = self.report.address if self.conn is not None else None
        self.report.sender_domain = check.run(
            self.request.sender_address,
            self.host,
            connected,
            self.deadline.session_end - time.monotonic(),
        )

    # -- phases

    @contextmanager
    def phase(self, name: PhaseName, timeout: float) -> Iterator[None]:
        started = time.perf_counter()
        self.last_reply = None
        try:
            self.deadline.start_phase(timeout)
            yield
        except ProbeFailure:
            raise
        except Exception as exc:
            self._record(name, False, started)
            error, plaintext = self._classify(name, exc)
            raise ProbeFailure(error, plaintext_server=plaintext) from None
        self._record(name, True, started)

    def _record(self, name: PhaseName, ok: bool, started: float) -> None:
        reply = self.last_reply
        phase = PhaseReport(
            name=name,
            ok=ok,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            reply=Reply(code=reply.code, text=self.transcript.scrub(reply.text)) if reply else None,
        )
        self.report.phases.append(phase)
        if self.on_phase is not None:
            self.on_phase(phase)

    def _classify(self, phase: PhaseName, exc: Exception) -> tuple[ProbeError, bool]:
        def error(
            category: ErrorCategory, message: str, retryable: bool, reply: SMTPReply | None = None
        ) -> ProbeError:
            return ProbeError(
                category=category,
                phase=phase,
                message=self.transcript.scrub(message),
                smtp_code=reply.code if reply else None,
                enhanced_code=reply.enhanced_code if reply else None,
                retryable=retryable,
            )

        match exc:
            case _Refusal():
                return error(exc.category, str(exc), False), False
            case DestinationRefused():
                return error("policy", f"destination refused: {exc}", False), False
            case TokenError():
                return error("auth", f"XOAUTH2 token: {exc}", exc.retryable), False
            case socket.gaierror():
                temporary = exc.errno in (socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", None))
                return error("dns", f"cannot resolve {self.host}: {exc.strerror}", temporary), False
            case SMTPTimeout() | TimeoutError():
                hint = ""
                if phase == "banner" and not self.request.tls:
                    hint = " (a server that expects TLS on connect says nothing: try tls: true)"
                return error("timeout", f"{phase}: {exc or 'timed out'}{hint}", True), False
            case SMTPReplyError():
                reply = exc.reply
                category = _REPLY_CATEGORY.get(phase, "protocol")
                text = f"{phase}: the server answered {reply.code} {' '.join(reply.lines)}"
                return error(category, text, 400 <= reply.code < 500, reply), False
            case SMTPDisconnected():
                return error("connect", f"{phase}: {exc}", True), False
            case SMTPProtocolError():
                return error("protocol", f"{phase}: {exc}", False), False
            case ssl.SSLCertVerificationError():
                reason = exc.verify_message or exc.reason or "verification failed"
                return error("tls", f"certificate not trusted: {reason}", False), False
            case ssl.SSLError():
                plaintext = exc.reason in _NOT_TLS_REASONS
                text = f"TLS handshake failed: {exc.reason or exc}"
                if plaintext:
                    text = "the server does not speak TLS on connect (it greeted in plaintext)"
                return error("tls", text, False), plaintext
            case ConnectionRefusedError():
                return error("connect", f"connection to {self.report.address} refused", True), False
            case OSError() if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                return error("connect", f"{phase}: {exc.strerror}", True), False
            case OSError():
                return error("connect", f"{phase}: {exc.strerror or exc}", True), False
        return error("internal", f"{phase}: unexpected {type(exc).__name__}", False), False

    # -- the conversation

    def _converse(self) -> None:
        opts = self.options
        with self.phase("resolve", opts.connect_timeout):
            opts.policy.check_port(self.port)
            addresses = resolve(self.host, self.port)
            if not addresses:
                raise _Refusal("dns", f"{self.host} has no address")
            opts.policy.check_all(addresses)

        conn = self._connect(addresses)
        implicit = False
        if self.request.tls:
            try:
                with self.phase("tls", opts.command_timeout):
                    conn.sock = tls_handshake(conn.sock, opts.ssl_context, self.host, self.deadline)
                implicit = True
                self._note_tls("implicit", conn.sock)
            except ProbeFailure as failure:
                if not failure.plaintext_server:
                    raise
                # Zitadel's behaviour: implicit TLS first, STARTTLS when the server greets
                # in plaintext. A new connection: the failed handshake spoiled this one.
                conn.close()
                conn = self._connect(addresses)

        with self.phase("banner", opts.command_timeout):
            conn.expect(self._read(conn), 220)

        features = self._ehlo(conn)
        if self.request.tls and not implicit:
            with self.phase("starttls", opts.command_timeout):
                if "STARTTLS" not in features:
                    raise _Refusal("tls", "TLS is required but the server does not offer STARTTLS")
                conn.expect(self._command(conn, "STARTTLS"), 220)
                conn.start_tls(opts.ssl_context, self.host)
            self._note_tls("starttls", conn.sock)
            features = self._ehlo(conn)

        if self.request.auth_mode != "none":
            self._authenticate(conn, features)

        message_id, message = build_test_message(
            sender_address=self.request.sender_address,
            sender_name=self.request.sender_name,
            receiver_address=self.request.receiver_address,
            host=self.request.host,
            reference=self.reference,
        )
        with self.phase("mail_from", opts.command_timeout):
            parameters = self._mail_parameters(features)
            if "SIZE" in features:
                parameters += f" SIZE={len(message)}"
            conn.expect(
                self._command(conn, f"MAIL FROM:<{self.request.sender_address}>{parameters}"),
                250,
            )
        with self.phase("rcpt_to", opts.command_timeout):
            conn.expect(self._command(conn, f"RCPT TO:<{self.request.receiver_address}>"), 250, 251)
        with self.phase("data", opts.data_timeout):
            conn.expect(self._command(conn, "DATA"), 354)
            self.transcript.record("C", f"<message, {len(message)} bytes, {message_id}>")
            self.transcript.record("C", ".")
            conn.send(dot_stuff(message))
            conn.expect(self._read(conn), 250)
        self.report.message_id = message_id
        if self.on_accepted is not None:
            # A shallow copy: the callback stores it at once, before the session goes on.
            partial = self.report.model_copy(
                update={"ok": True, "transcript": list(self.transcript.lines)}
            )
            self.on_accepted(partial)

        # The message is accepted: a failed QUIT is recorded but fails nothing.
        try:
            with self.phase("quit", opts.command_timeout):
                conn.expect(self._command(conn, "QUIT"), 221)
        except ProbeFailure:
            pass

    def _mail_parameters(self, features: dict[str, str]) -> str:
        """SMTPUTF8 (RFC 6531) when an address needs it; refused, before MAIL FROM, when the
        server does not offer it: it would refuse or mangle the address."""
        if not self.request.needs_smtputf8:
            return ""
        if "SMTPUTF8" not in features:
            address = next(
                a
                for a in (self.request.sender_address, self.request.receiver_address)
                if not a.isascii()
            )
            raise _Refusal(
                "protocol",
                f"{address} has UTF-8 characters before its @-sign, which needs the SMTPUTF8 "
                "extension (RFC 6531), and the server does not offer SMTPUTF8",
            )
        self.report.smtp_utf8 = True
        # The headers carry the UTF-8 addresses: 8-bit data, which the server's 8BITMIME
        # (which RFC 6531 requires beside SMTPUTF8) takes.
        return " SMTPUTF8 BODY=8BITMIME" if "8BITMIME" in features else " SMTPUTF8"

    def _read(self, conn: SMTPConnection) -> SMTPReply:
        self.last_reply = conn.read_reply()
        return self.last_reply

    def _command(self, conn: SMTPConnection, line: str, *, shown: str | None = None) -> SMTPReply:
        self.last_reply = conn.command(line, shown=shown)
        return self.last_reply

    def _connect(self, addresses: list[ResolvedAddress]) -> SMTPConnection:
        with self.phase("connect", self.options.connect_timeout):
            failure: OSError = OSError("no address to connect to")
            for address in addresses:
                sock = socket.socket(address.family, socket.SOCK_STREAM)
                self.report.address = address.ip
                try:
                    sock.settimeout(self.deadline.remaining())
                    sock.connect(address.sockaddr)
                except OSError as exc:
                    sock.close()
                    failure = exc
                    continue
                self.conn = SMTPConnection(sock, self.deadline, self.transcript)
                return self.conn
            raise failure

    def _ehlo(self, conn: SMTPConnection) -> dict[str, str]:
        """EHLO (HELO for a server that knows no ESMTP); the extensions by keyword."""
        with self.phase("ehlo", self.options.command_timeout):
            reply = self._command(conn, f"EHLO {self.options.helo_name}")
            if reply.code in (500, 502, 504, 550):
                conn.expect(self._command(conn, f"HELO {self.options.helo_name}"), 250)
                self.report.extensions = []
                return {}
            conn.expect(reply, 250)
        self.report.extensions = list(reply.lines[1:])
        features: dict[str, str] = {}
        for line in reply.lines[1:]:
            keyword, _, params = line.replace("=", " ", 1).partition(" ")
            if keyword.upper() == "AUTH" and "AUTH" in features:
                params = f"{features['AUTH']} {params}"
            features[keyword.upper()] = params.strip()
        return features

    def _authenticate(self, conn: SMTPConnection, features: dict[str, str]) -> None:
        offered = sorted(dict.fromkeys(features.get("AUTH", "").upper().split()))
        self.report.auth.offered = offered
        with self.phase("auth", self.options.command_timeout):
            if "AUTH" not in features:
                hint = "" if self.report.tls.mode != "none" else " (many offer it only over TLS)"
                raise _Refusal(
                    "auth", f"credentials were given but the server offers no AUTH{hint}"
                )
            if self.request.auth_mode == "xoauth2":
                reply = self._auth_xoauth2(conn, offered)
            elif "PLAIN" in offered:
                reply = self._auth_plain(conn)
            elif "LOGIN" in offered:
                reply = self._auth_login(conn)
            else:
                raise _Refusal(
                    "auth", f"no mechanism in common: the server offers {' '.join(offered)}"
                )
            conn.expect(reply, 235)

    def _auth_plain(self, conn: SMTPConnection) -> SMTPReply:
        self.report.auth.used = "PLAIN"
        token = self._secret_b64(f"\0{self.request.user}\0{self.request.auth_password}")
        return self._command(conn, f"AUTH PLAIN {token}", shown="AUTH PLAIN <redacted>")

    def _auth_login(self, conn: SMTPConnection) -> SMTPReply:
        self.report.auth.used = "LOGIN"
        conn.expect(self._command(conn, "AUTH LOGIN"), 334)
        user = self._secret_b64(self.request.user)
        conn.expect(self._command(conn, user, shown="<redacted>"), 334)
        password = self._secret_b64(self.request.auth_password)
        return self._command(conn, password, shown="<redacted>")

    def _auth_xoauth2(self, conn: SMTPConnection, offered: list[str]) -> SMTPReply:
        self.report.auth.used = "XOAUTH2"
        if "XOAUTH2" not in offered:
            raise _Refusal("auth", f"XOAUTH2 is not offered: the server offers {' '.join(offered)}")
        assert self.request.xoauth2 is not None and self.options.tokens is not None
        self.transcript.record("C", "<fetching an OAuth2 token>")
        token = self.options.tokens.token(self.request.xoauth2, self.deadline.remaining())
        self.transcript.add_secret(token)
        payload = self._secret_b64(f"user={self.request.user}\x01auth=Bearer {token}\x01\x01")
        reply = self._command(conn, f"AUTH XOAUTH2 {payload}", shown="AUTH XOAUTH2 <redacted>")
        if reply.code == 334:
            # RFC 7628: the server's 334 carries an error document; an empty line ends it.
            reply = self._command(conn, "")
        return reply

    def _secret_b64(self, text: str) -> str:
        """base64 of text, which the transcript then treats as a secret."""
        encoded = base64.b64encode(text.encode("utf-8")).decode("ascii")
        self.transcript.add_secret(encoded)
        return encoded

    def _note_tls(self, mode: str, sock: socket.socket) -> None:
        assert isinstance(sock, ssl.SSLSocket)
        tls = self.report.tls
        tls.mode = mode  # type: ignore[assignment]
        tls.version = sock.version()
        cipher = sock.cipher()
        tls.cipher = cipher[0] if cipher else None
        der = sock.getpeercert(binary_form=True)
        if der:
            cert = x509.load_der_x509_certificate(der)
            tls.certificate = Certificate(
                subject=cert.subject.rfc4514_string(),
                issuer=cert.issuer.rfc4514_string(),
                not_after=cert.not_valid_after_utc.astimezone(UTC)
                .isoformat()
                .replace("+00:00", "Z"),
                sha256=hashlib.sha256(der).hexdigest(),
                verified=self.options.verify_certificates,
            )
