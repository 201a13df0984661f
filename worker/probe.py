"""probe_smtp: one SMTP session, phase by phase, reported in full.

Plain Python: no Celery, no Flask. It never raises for anything the server or the network
does; every outcome is a Report whose `error` says in which phase, of which category, and
whether trying again could help.
"""

from __future__ import annotations

import base64
import errno
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from mailprobe.destination import DestinationPolicy, ResolvedAddress, resolve
from mailprobe.errors import DestinationRefused
from mailprobe.models.reports import (
    ErrorCategory,
    PhaseName,
    PhaseReport,
    ProbeError,
    RecipientReport,
    Reply,
    Report,
    ReportWarning,
)
from mailprobe.models.smtp import SmtpTestRequest
from mailprobe.settings import Settings
from worker import certificates
from worker.hints import known_reply
from worker.message import (
    END_OF_DATA,
    ProbeMessage,
    SessionSummary,
    build_test_message,
    dot_stuff,
)
from worker.oauth import TokenCache, TokenError
from worker.senderdomain import SenderDomainCheck
from worker.smtp import (
    Deadline,
    SMTPConnection,
    SMTPDisconnected,
    SMTPError,
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

# Go's net/smtp, which Zitadel uses, sends PLAIN credentials without TLS to these names only.
_LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})

# The longest wait for a ServerHello when a silent port is checked for TLS on connect: a TLS
# server answers a ClientHello at once; a silent one should not cost a whole phase again.
_TLS_CHECK_SECONDS = 5.0

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
    allow_cleartext_auth: bool = False
    cert_expiry_warn_days: int = 14

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
            allow_cleartext_auth=settings.allow_cleartext_auth,
            cert_expiry_warn_days=settings.cert_expiry_warn_days,
        )


@lru_cache(maxsize=1)
def _unchecked_context() -> ssl.SSLContext:
    """For a handshake that only looks (is this TLS? which certificate?): it checks nothing,
    and nothing is ever sent over it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class ProbeFailure(Exception):
    def __init__(self, error: ProbeError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass
class _PhaseOutcome:
    """What a phase's block may add to its report besides success."""

    note: str | None = None


class _Uncommitted(Exception):
    """The caller could not record that the end of DATA goes (on_committing raised)."""


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
    on_committing: Callable[[], None] | None = None,
    on_phase: Callable[[PhaseReport], None] | None = None,
) -> Report:
    """Run one SMTP session for `request` and report it.

    `reference` (the job id) goes into the message's headers. `on_accepted` is called with
    the report so far as soon as the server accepts the message (250 after DATA), before
    QUIT: from then on the message must never be sent again. It shares parts with the
    running session's report, so the callback must store it, not keep it.

    `on_committing` is called once the message's content is sent and right before its
    final "." line: from then on the server may accept it at any moment, so the caller
    records that a copy may be delivered (at most once: a session cut between the two is in
    doubt). If it raises, the "." is not sent and the probe raises it.

    `on_phase` is called with each phase as it ends, ok or not, for live progress; it must
    not raise (a failure to show progress is no failure of the session).

    With `request.dry_run` the session stops after RCPT TO with RSET and QUIT: no DATA, no
    message, and `on_accepted` is never called. The report's `recipient` holds the server's
    answer to RCPT TO in every session that got one.
    """
    return _Session(request, options, reference, on_accepted, on_committing, on_phase).run()


class _Session:
    def __init__(
        self,
        request: SmtpTestRequest,
        options: ProbeOptions,
        reference: str,
        on_accepted: Callable[[Report], None] | None,
        on_committing: Callable[[], None] | None,
        on_phase: Callable[[PhaseReport], None] | None,
    ) -> None:
        self.request = request
        self.options = options
        self.reference = reference
        self.on_accepted = on_accepted
        self.on_committing = on_committing
        self.on_phase = on_phase
        self.host, self.port = request.host_name, request.port
        self.deadline = Deadline(options.session_deadline)
        self.transcript = Transcript()
        for secret in request.secrets().values():
            self.transcript.add_secret(secret)
        self.report = Report(host=self.host, port=self.port, dry_run=request.dry_run)
        self.conn: SMTPConnection | None = None
        self.target: ResolvedAddress | None = None  # the address connected to
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
    def phase(self, name: PhaseName, timeout: float) -> Iterator[_PhaseOutcome]:
        started = time.perf_counter()
        self.last_reply = None
        outcome = _PhaseOutcome()
        try:
            self.deadline.start_phase(timeout)
            yield outcome
        except ProbeFailure:
            raise
        except Exception as exc:
            self._record(name, False, started)
            if isinstance(exc, ssl.SSLCertVerificationError):
                self._read_untrusted_certificate(name)
            raise ProbeFailure(self._classify(name, exc)) from None
        self._record(name, True, started, outcome.note)

    def _record(self, name: PhaseName, ok: bool, started: float, note: str | None = None) -> None:
        reply = self.last_reply
        phase = PhaseReport(
            name=name,
            ok=ok,
            duration_ms=round((time.perf_counter() - started) * 1000, 2),
            reply=Reply(code=reply.code, text=self.transcript.scrub(reply.text)) if reply else None,
            note=note,
        )
        self.report.phases.append(phase)
        if self.on_phase is not None:
            self.on_phase(phase)

    def _where(self) -> str:
        """The host, the address connected to (when it is not the host itself) and the port."""
        address = self.report.address
        if address and address != self.host:
            return f"{self.host} ({address}) port {self.port}"
        return f"{self.host} port {self.port}"

    def _classify(self, phase: PhaseName, exc: Exception) -> ProbeError:
        """The error a phase's exception means. `transient`: trying later could help;
        `retryable`: this job may try again, which an AUTH phase never does."""

        def error(
            category: ErrorCategory, message: str, transient: bool, reply: SMTPReply | None = None
        ) -> ProbeError:
            where = self._where()
            if category == "connect" and where not in message:
                message += f" ({where})"
            retryable = transient
            if transient and phase == "auth":
                retryable = False
                message += (
                    "; not tried again: credentials go to a server at most once per job, as "
                    "servers count failed logins and may lock the account"
                )
            known = known_reply(reply) if reply is not None else None
            return ProbeError(
                category=category,
                phase=phase,
                message=self.transcript.scrub(message),
                smtp_code=reply.code if reply else None,
                enhanced_code=reply.enhanced_code if reply else None,
                retryable=retryable,
                transient=transient,
                hint=known.hint if known else None,
                hint_source=known.source if known else None,
            )

        match exc:
            case _Uncommitted():
                text = (
                    f"data: the message was not sent, as its sending could not be recorded ({exc})"
                )
                return error("internal", text, True)
            case _Refusal():
                return error(exc.category, str(exc), False)
            case DestinationRefused():
                return error("policy", f"destination refused: {exc}", False)
            case TokenError():
                return error("auth", f"XOAUTH2 token: {exc}", exc.retryable)
            case socket.gaierror():
                temporary = exc.errno in (socket.EAI_AGAIN, getattr(socket, "EAI_SYSTEM", None))
                return error("dns", f"cannot resolve {self.host}: {exc.strerror}", temporary)
            case SMTPTimeout() | TimeoutError() if phase == "connect":
                return error("timeout", f"connect: no answer from {self._where()}: {exc}", True)
            case SMTPTimeout() | TimeoutError():
                return error("timeout", f"{phase}: {exc or 'timed out'}", True)
            case SMTPReplyError():
                reply = exc.reply
                category = _REPLY_CATEGORY.get(phase, "protocol")
                text = f"{phase}: the server answered {reply.code} {' '.join(reply.lines)}"
                return error(category, text, 400 <= reply.code < 500, reply)
            case SMTPDisconnected():
                return error("connect", f"{phase}: {exc}", True)
            case SMTPProtocolError():
                return error("protocol", f"{phase}: {exc}", False)
            case ssl.SSLCertVerificationError():
                cert = self.report.tls.certificate
                text = certificates.untrusted(exc, cert, self.host, datetime.now(UTC))
                if cert is not None:
                    cert.verify_error = text.removeprefix("certificate not trusted: ")
                return error("tls", text, False)
            case ssl.SSLError() if exc.reason in _NOT_TLS_REASONS:
                return error(
                    "tls",
                    f"TLS handshake failed: the server answered with something that is not TLS "
                    f"({exc.reason})",
                    False,
                )
            case ssl.SSLError():
                return error("tls", f"TLS handshake failed: {exc.reason or exc}", False)
            case ConnectionRefusedError():
                return error("connect", f"connection to {self._where()} refused", True)
            case OSError() if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
                return error("connect", f"cannot reach {self._where()}: {exc.strerror}", True)
            case OSError():
                return error("connect", f"{phase}: {exc.strerror or exc}", True)
        return error("internal", f"{phase}: unexpected {type(exc).__name__}", False)

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
            implicit = self._implicit_tls(conn)
            if implicit:
                self._note_tls("implicit", conn.sock)
            else:
                # Zitadel's behaviour: implicit TLS first, STARTTLS when the server greets
                # in plaintext. A new connection: the refused handshake spoiled this one.
                conn.close()
                conn = self._connect(addresses, note="a new connection, for STARTTLS")

        with self.phase("banner", opts.command_timeout):
            try:
                conn.expect(self._read(conn), 220)
            except SMTPTimeout:
                if self.request.tls or conn.received:
                    raise
                if self._speaks_tls_on_connect():
                    raise _Refusal(
                        "tls",
                        f"port {self.port} of {self.host} speaks TLS on connect (implicit TLS) "
                        "and sends no plaintext greeting: set tls: true",
                    ) from None
                raise SMTPTimeout(
                    "no greeting before the timeout, nor TLS: no answer to a ClientHello either"
                ) from None

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

        built = self._message()
        message_id, message = built.message_id, built.data
        with self.phase("mail_from", opts.command_timeout):
            parameters = self._mail_parameters(features)
            if "SIZE" in features:
                parameters += f" SIZE={len(message)}"
            conn.expect(
                self._command(conn, f"MAIL FROM:<{self.request.sender_address}>{parameters}"),
                250,
            )
        try:
            with self.phase("rcpt_to", opts.command_timeout):
                reply = self._command(conn, f"RCPT TO:<{self.request.receiver_address}>")
                self._note_recipient(reply)
                conn.expect(reply, 250, 251)
        finally:
            if self.request.dry_run and self.report.recipient is not None:
                self._end_dry_run(conn)
        if self.request.dry_run:
            return
        with self.phase("data", opts.data_timeout):
            conn.expect(self._command(conn, "DATA"), 354)
            self.transcript.record("C", f"<message, {len(message)} bytes, {message_id}>")
            # The server takes the message only at the final "." line (RFC 5321 4.1.1.4):
            # everything before it is sent first, and the "." only once the caller has
            # recorded that it goes (a session cut before it leaves no message behind).
            conn.send(dot_stuff(message)[: -len(END_OF_DATA)])
            self._commit()
            self.transcript.record("C", ".")
            conn.send(END_OF_DATA)
            conn.expect(self._read(conn), 250)
        self.report.message_id, self.report.subject = message_id, built.subject
        self.report.sent = True
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

    def _commit(self) -> None:
        """Let the caller record that the end of DATA goes now (see probe_smtp)."""
        if self.on_committing is None:
            return
        try:
            self.on_committing()
        except Exception as exc:
            # Nothing was delivered: the session stops here and the job may try again.
            raise _Uncommitted(f"{type(exc).__name__}: {exc}") from exc

    def _implicit_tls(self, conn: SMTPConnection) -> bool:
        """Implicit TLS on `conn`; False when the server greets in plaintext instead (the
        phase then ends well, with a note: STARTTLS follows)."""
        with self.phase("tls", self.options.command_timeout) as outcome:
            try:
                conn.sock = tls_handshake(
                    conn.sock, self.options.ssl_context, self.host, self.deadline
                )
            except ssl.SSLCertVerificationError:
                raise
            except ssl.SSLError as exc:
                if exc.reason not in _NOT_TLS_REASONS:
                    raise
                outcome.note = (
                    "no TLS on connect: the server greets in plaintext, so STARTTLS follows "
                    "on a new connection (Zitadel's order)"
                )
                return False
        return True

    def _speaks_tls_on_connect(self) -> bool:
        """Whether the port answers a TLS ClientHello, on a new connection: a handshake that
        checks nothing, after which nothing is sent. A TLS alert is TLS speaking too."""
        self.transcript.record(
            "…", "no greeting: is this port TLS on connect? (a ClientHello on a new connection)"
        )
        try:
            self.deadline.start_phase(min(self.options.connect_timeout, _TLS_CHECK_SECONDS))
            sock = self._dial()
            try:
                sock = tls_handshake(sock, _unchecked_context(), self.host, self.deadline)
            finally:
                sock.close()
        except ssl.SSLError as exc:
            return "ALERT" in str(exc.reason or "")
        except (OSError, SMTPTimeout):
            return False
        return True

    def _read_untrusted_certificate(self, phase: PhaseName) -> None:
        """Read the certificate that failed verification, for the report: a new connection
        (with EHLO and STARTTLS first when that is how TLS began) and a handshake that checks
        nothing, after which nothing is sent."""
        self.transcript.record(
            "…", "reading the untrusted certificate for the report (a new connection)"
        )
        mode = "implicit" if phase == "tls" else "starttls"
        try:
            self.deadline.start_phase(self.options.command_timeout)
            sock = self._dial()
            try:
                if mode == "starttls":
                    # Its own transcript: these lines are not the test's conversation.
                    conn = SMTPConnection(sock, self.deadline, Transcript())
                    conn.expect(conn.read_reply(), 220)
                    conn.expect(conn.command(f"EHLO {self.options.helo_name}"), 250)
                    conn.expect(conn.command("STARTTLS"), 220)
                sock = tls_handshake(sock, _unchecked_context(), self.host, self.deadline)
                self._note_tls(mode, sock, trusted=False)
            finally:
                sock.close()
        except (OSError, SMTPError):  # ssl.SSLError is an OSError
            self.transcript.record("…", "the certificate could not be read again")

    def _message(self) -> ProbeMessage:
        tls = self.report.tls
        encryption = {
            "none": "none (tls: false)",
            "implicit": f"implicit TLS, {tls.version}",
            "starttls": f"STARTTLS, {tls.version}",
        }[tls.mode]
        used = self.report.auth.used
        return build_test_message(
            sender_address=self.request.sender_address,
            sender_name=self.request.sender_name,
            receiver_address=self.request.receiver_address,
            tested=SessionSummary(
                host=self.host,
                port=self.port,
                address=self.report.address,
                encryption=encryption,
                login=f"AUTH {used}" if used else "none",
            ),
            reference=self.reference,
        )

    # -- verify without sending (dryRun)

    def _note_recipient(self, reply: SMTPReply) -> None:
        status = "accepted" if reply.code < 400 else "deferred" if reply.code < 500 else "rejected"
        self.report.recipient = RecipientReport(
            address=self.request.receiver_address,
            status=status,
            code=reply.code,
            enhanced_code=reply.enhanced_code,
            text=self.transcript.scrub(reply.text),
        )

    def _end_dry_run(self, conn: SMTPConnection) -> None:
        """No DATA: reset the transaction and say goodbye, whatever the recipient's answer.
        Neither can fail the test: the server has answered what a dry run asks."""
        steps: tuple[tuple[PhaseName, str, int], ...] = (
            ("rset", "RSET", 250),
            ("quit", "QUIT", 221),
        )
        for name, command, code in steps:
            try:
                with self.phase(name, self.options.command_timeout):
                    conn.expect(self._command(conn, command), code)
            except ProbeFailure:
                return

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

    def _connect(
        self, addresses: list[ResolvedAddress], *, note: str | None = None
    ) -> SMTPConnection:
        with self.phase("connect", self.options.connect_timeout) as outcome:
            outcome.note = note
            failure: OSError = OSError("no address to connect to")
            for address in addresses:
                self.target = address
                self.report.address = address.ip
                try:
                    sock = self._dial()
                except SMTPTimeout:
                    raise  # the phase's time is up: no other address is tried
                except OSError as exc:
                    failure = exc
                    continue
                self.conn = SMTPConnection(sock, self.deadline, self.transcript)
                return self.conn
            raise failure

    def _dial(self) -> socket.socket:
        """A TCP connection to the current address, within the current phase's time."""
        assert self.target is not None
        sock = socket.socket(self.target.family, socket.SOCK_STREAM)
        try:
            sock.settimeout(self.deadline.remaining())
            sock.connect(self.target.sockaddr)
        except BaseException:
            sock.close()
            raise
        return sock

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
            cleartext = self.report.tls.mode == "none" and self.host.lower() not in _LOCAL_NAMES
            if cleartext and not self.options.allow_cleartext_auth:
                self._refuse_cleartext(features)
            if "AUTH" not in features:
                hint = "" if self.report.tls.mode != "none" else " (many offer it only over TLS)"
                raise _Refusal(
                    "auth", f"credentials were given but the server offers no AUTH{hint}"
                )
            if cleartext:
                self.report.warnings.append(
                    ReportWarning(
                        code="cleartext_auth",
                        message=f"the credentials went to {self.host} unencrypted (tls: false): "
                        "MAILPROBE_ALLOW_CLEARTEXT_AUTH allowed it",
                    )
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

    def _refuse_cleartext(self, features: dict[str, str]) -> None:
        """Credentials never cross an unencrypted connection, as Go's net/smtp (Zitadel's
        client) refuses, except to the local names it allows too."""
        if "STARTTLS" in features:
            fix = "the server offers STARTTLS: set tls: true"
        else:
            fix = "the server offers no STARTTLS either, so this port cannot protect them"
        raise _Refusal(
            "auth",
            f"credentials are not sent to {self.host} over an unencrypted connection (tls: "
            f"false), as Zitadel's SMTP client would not send them; {fix}",
        )

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

    def _note_tls(self, mode: str, sock: socket.socket, *, trusted: bool = True) -> None:
        """Report the TLS of `sock`. `trusted`: the session goes on over it (its certificate
        passed, or is not checked); else it was read only to report an untrusted one."""
        assert isinstance(sock, ssl.SSLSocket)
        tls = self.report.tls
        tls.mode = mode  # type: ignore[assignment]
        tls.version = sock.version()
        cipher = sock.cipher()
        tls.cipher = cipher[0] if cipher else None
        checked = self.options.verify_certificates
        tls.certificate = certificates.describe(
            sock,
            verified=trusted and checked,
            verify_error=None if not trusted or checked else "not checked: verification is off",
        )
        if not trusted:
            return
        warnings = self.report.warnings
        if mode == "starttls":
            warnings.append(
                ReportWarning(
                    code="starttls_fallback",
                    message=f"port {self.port} does not speak TLS on connect (implicit TLS, "
                    "RFC 8314): the server greeted in plaintext, so the session was encrypted "
                    "with STARTTLS on a second connection",
                )
            )
        old = certificates.tls_version_warning(tls.version)
        if old is not None:
            warnings.append(old)
        if tls.certificate is not None:
            warnings.extend(
                certificates.certificate_warnings(
                    tls.certificate,
                    datetime.now(UTC),
                    self.options.cert_expiry_warn_days,
                    checked=checked,
                )
            )
