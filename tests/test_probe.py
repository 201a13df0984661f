"""probe_smtp called directly, without Celery or Redis: every phase's failure, TLS on connect,
credentials and cleartext, certificates, the STARTTLS fallback, well-known replies and the
test message. The servers are real (aiosmtpd, trustme certificates, scripted sockets) on
loopback.

Settings: 1 s to connect and per command, 4 s per session, one attempt.
"""

from __future__ import annotations

import socket
import ssl
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme

from mailprobe.models.reports import Report
from mailprobe.models.smtp import SmtpTestRequest
from mailprobe.settings import Settings
from tests.conftest import probe_body, secret
from tests.smtp_servers import ScriptedServer, SmtpServer, start_smtp_server
from worker.hints import KNOWN_REPLIES
from worker.probe import ProbeOptions, probe_smtp

REFERENCE = "01KB4Z8W3T6Q7RJ5N2XYZABCDE"
SESSION_DEADLINE = 4.0


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("probe-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


def _options(ca_file: Path, **settings: Any) -> ProbeOptions:
    values: dict[str, Any] = {
        "allowed_networks": ["127.0.0.0/8", "::1/128"],
        "allowed_ports": ["1-65535"],
        "smtp_ca_file": ca_file,
        "smtp_connect_timeout": 1,
        "smtp_command_timeout": 1,
        "smtp_data_timeout": 2,
        "smtp_session_deadline": SESSION_DEADLINE,
        "smtp_helo_name": "probe.test.invalid",
    }
    return ProbeOptions.from_settings(Settings(**{**values, **settings}))


@pytest.fixture(scope="module")
def options(ca_file: Path) -> ProbeOptions:
    return _options(ca_file)


def _probe(options: ProbeOptions, host: str, **fields: Any) -> Report:
    request = SmtpTestRequest.model_validate(probe_body(host, **fields))
    return probe_smtp(request, options, reference=REFERENCE)


def _scripted(servers: list[Any], **replies: str) -> ScriptedServer:
    server = ScriptedServer(replies)
    servers.append(server)
    return server


def _smtp(servers: list[Any], **kwargs: Any) -> SmtpServer:
    server = start_smtp_server(**kwargs)
    servers.append(server)
    return server


def _context(
    issuer: trustme.CA,
    *names: str,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf = issuer.issue_cert(*names, not_before=not_before, not_after=not_after)
    leaf.configure_cert(context)
    return context


def _closed_port() -> int:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port: int = unused.getsockname()[1]
    return port


# --- each phase's failure: category, retryable (and transient), message ----------------------

LOGIN = {"user": "mailer", "password": "not-the-point"}

PHASE_FAILURES = [
    # (id, scripted replies, request fields, phase, category, retryable, transient, in message)
    ("banner 421", {"BANNER": "421 4.3.2 busy"}, {}, "banner", "connect", True, True, "421"),
    ("banner silent", {"BANNER": ""}, {}, "banner", "timeout", True, True, "nor TLS"),
    ("ehlo 554", {"EHLO": "554 5.7.1 no"}, {}, "ehlo", "protocol", False, False, "554"),
    ("no STARTTLS", {}, {"tls": True}, "starttls", "tls", False, False, "does not offer"),
    (
        "STARTTLS 454",
        {"EHLO": "250-scripted.test\r\n250 STARTTLS", "STARTTLS": "454 4.7.0 TLS not available"},
        {"tls": True},
        "starttls",
        "tls",
        True,
        True,
        "454",
    ),
    ("auth 535", {"AUTH": "535 5.7.8 no"}, LOGIN, "auth", "auth", False, False, "535"),
    (
        "auth 454",
        {"AUTH": "454 4.7.0 Temporary authentication failure"},
        LOGIN,
        "auth",
        "auth",
        False,
        True,
        "at most once per job",
    ),
    ("auth silent", {"AUTH": ""}, LOGIN, "auth", "timeout", False, True, "at most once per job"),
    ("no AUTH offered", {"EHLO": "250 scripted.test"}, LOGIN, "auth", "auth", False, False, "AUTH"),
    ("mail 550", {"MAIL": "550 5.1.8 no"}, {}, "mail_from", "sender_rejected", False, False, "550"),
    (
        "rcpt 450",
        {"RCPT": "450 4.2.0 grey"},
        {},
        "rcpt_to",
        "recipient_rejected",
        True,
        True,
        "450",
    ),
    ("data 554", {"DATA": "554 5.6.0 no"}, {}, "data", "data_rejected", False, False, "554"),
    (
        "data end 552",
        {"DATA_END": "552 5.3.4 big"},
        {},
        "data",
        "data_rejected",
        False,
        False,
        "552",
    ),
    ("data end silent", {"DATA_END": ""}, {}, "data", "timeout", True, True, "data:"),
]


@pytest.mark.parametrize(
    ("replies", "fields", "phase", "category", "retryable", "transient", "words"),
    [case[1:] for case in PHASE_FAILURES],
    ids=[case[0] for case in PHASE_FAILURES],
)
def test_each_phase_failure_is_classified(
    options: ProbeOptions,
    servers: list[Any],
    replies: dict[str, str],
    fields: dict[str, Any],
    phase: str,
    category: str,
    retryable: bool,
    transient: bool,
    words: str,
) -> None:
    server = _scripted(servers, **replies)
    started = time.monotonic()
    report = _probe(options, server.address, **fields)
    assert time.monotonic() - started < SESSION_DEADLINE + 1
    assert report.ok is False
    error = report.error
    assert error is not None
    assert (error.phase, error.category, error.retryable, error.transient) == (
        phase,
        category,
        retryable,
        transient,
    ), error
    assert words in error.message
    assert error.message.startswith(f"{phase}:") or category in ("tls", "auth")
    assert [p.name for p in report.phases if not p.ok] == [phase]
    assert error.attempt is None  # the job's lifecycle says which attempt, not the probe


def test_a_refused_connection_names_host_address_and_port(options: ProbeOptions) -> None:
    port = _closed_port()
    report = _probe(options, f"localhost:{port}")
    error = report.error
    assert error is not None
    assert (error.phase, error.category, error.retryable) == ("connect", "connect", True)
    assert error.message == f"connection to localhost ({report.address}) port {port} refused"
    by_address = _probe(options, f"127.0.0.1:{port}").error
    assert by_address is not None
    assert by_address.message == f"connection to 127.0.0.1 port {port} refused"


def test_a_name_that_does_not_resolve_is_dns(options: ProbeOptions) -> None:
    error = _probe(options, "no-such-host.invalid:25").error
    assert error is not None
    assert (error.phase, error.category) == ("resolve", "dns")
    assert "no-such-host.invalid" in error.message
    assert error.retryable == error.transient


def test_a_port_the_policy_refuses_is_policy(ca_file: Path) -> None:
    error = _probe(_options(ca_file, allowed_ports=["25"]), "127.0.0.1:2").error
    assert error is not None
    assert (error.phase, error.category, error.retryable) == ("resolve", "policy", False)


def test_a_failed_quit_fails_nothing(options: ProbeOptions, servers: list[Any]) -> None:
    server = _scripted(servers, QUIT="500 5.5.1 what")
    report = _probe(options, server.address)
    assert report.ok is True and report.error is None
    assert [(p.name, p.ok) for p in report.phases][-1] == ("quit", False)


# --- §1: a TLS port with tls: false ------------------------------------------------------------


def test_tls_on_connect_with_tls_false_fails_at_once_as_tls(
    options: ProbeOptions, servers: list[Any], server_tls: ssl.SSLContext
) -> None:
    server = _smtp(servers, implicit_tls=server_tls)
    port = server.controller.port
    started = time.monotonic()
    report = _probe(options, server.address, tls=False)
    assert time.monotonic() - started < SESSION_DEADLINE
    error = report.error
    assert error is not None
    assert (error.phase, error.category, error.retryable, error.transient) == (
        "banner",
        "tls",
        False,
        False,
    )
    assert error.message == (
        f"port {port} of 127.0.0.1 speaks TLS on connect (implicit TLS) and sends no plaintext "
        "greeting: set tls: true"
    )
    assert report.tls.mode == "none"  # nothing was sent over that handshake


# --- §2: credentials never in cleartext ------------------------------------------------------


def test_cleartext_auth_to_a_host_not_local_is_refused_before_auth(
    options: ProbeOptions, servers: list[Any]
) -> None:
    password = secret("cleartext-never-sent-1")
    server = _smtp(servers, hostname="127.0.0.2", credentials={"alice": password})
    report = _probe(options, server.address, user="alice", password=password)
    error = report.error
    assert error is not None
    assert (error.phase, error.category, error.retryable) == ("auth", "auth", False)
    assert "not sent to 127.0.0.2 over an unencrypted connection" in error.message
    assert "offers no STARTTLS" in error.message
    assert server.auth_lines == []
    assert not any("AUTH" in line for line in report.transcript if line.startswith("C:"))
    assert server.handler.received == []


def test_cleartext_refusal_says_set_tls_when_the_server_offers_starttls(
    options: ProbeOptions, servers: list[Any], server_tls: ssl.SSLContext
) -> None:
    password = secret("cleartext-never-sent-2")
    server = _smtp(
        servers, hostname="127.0.0.2", starttls=server_tls, credentials={"alice": password}
    )
    report = _probe(options, server.address, user="alice", password=password, tls=False)
    assert report.error is not None
    assert report.error.message.endswith("the server offers STARTTLS: set tls: true")
    assert server.auth_lines == []


def test_xoauth2_is_refused_in_cleartext_before_a_token_is_fetched(
    options: ProbeOptions, servers: list[Any]
) -> None:
    server = _smtp(servers, hostname="127.0.0.2", credentials={"alice": "x"})
    xoauth2 = {
        "tokenEndpoint": f"https://127.0.0.1:{_closed_port()}/token",
        "clientCredentials": {"clientId": "c", "clientSecret": secret("cleartext-client-3")},
    }
    report = _probe(options, server.address, user="alice", xoauth2=xoauth2)
    assert report.error is not None
    assert "unencrypted" in report.error.message
    assert server.auth_lines == []
    assert not any("OAuth2 token" in line for line in report.transcript)


def test_the_operator_may_allow_cleartext_auth_with_a_warning(
    ca_file: Path, servers: list[Any]
) -> None:
    password = secret("cleartext-allowed-4")
    server = _smtp(servers, hostname="127.0.0.2", credentials={"alice": password})
    report = _probe(
        _options(ca_file, allow_cleartext_auth=True),
        server.address,
        user="alice",
        password=password,
    )
    assert report.ok is True, report.error
    assert len(server.auth_lines) == 1
    assert [w.code for w in report.warnings] == ["cleartext_auth"]


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1"])
def test_the_local_names_go_sends_to_take_cleartext_auth(
    options: ProbeOptions, servers: list[Any], name: str
) -> None:
    password = secret("cleartext-local-5")
    server = _smtp(servers, credentials={"alice": password})
    report = _probe(options, f"{name}:{server.controller.port}", user="alice", password=password)
    assert report.ok is True, report.error
    assert server.auth_attempts == [("PLAIN", "alice")]
    assert report.warnings == []


# --- §3: certificates ---------------------------------------------------------------------


def _cert_error(
    options: ProbeOptions, servers: list[Any], context: ssl.SSLContext, **fields: Any
) -> tuple[Report, str]:
    server = _smtp(servers, implicit_tls=context)
    report = _probe(options, f"localhost:{server.controller.port}", tls=True, **fields)
    assert report.error is not None
    assert (report.error.phase, report.error.category, report.error.retryable) == (
        "tls",
        "tls",
        False,
    )
    assert server.handler.received == []
    return report, report.error.message


def test_a_trusted_certificate_is_reported_in_full(
    options: ProbeOptions, servers: list[Any], ca: trustme.CA
) -> None:
    server = _smtp(servers, implicit_tls=_context(ca, "localhost", "mx.example.test"))
    report = _probe(options, f"localhost:{server.controller.port}", tls=True)
    assert report.ok is True, report.error
    tls = report.tls
    assert tls.mode == "implicit" and tls.version in ("TLSv1.2", "TLSv1.3") and tls.cipher
    cert = tls.certificate
    assert cert is not None
    assert cert.subject and "trustme" in cert.issuer
    assert cert.subject_alt_names == ["localhost", "mx.example.test"]
    assert cert.not_before == "2000-01-01T00:00:00Z" and cert.not_after == "3000-01-01T00:00:00Z"
    assert len(cert.sha256) == 64 and cert.chain_length == 1
    assert (cert.verified, cert.verify_error) == (True, None)
    assert report.warnings == []


def test_a_certificate_expiring_in_3_days_is_a_warning(
    options: ProbeOptions, servers: list[Any], ca: trustme.CA
) -> None:
    not_after = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    server = _smtp(servers, implicit_tls=_context(ca, "localhost", not_after=not_after))
    report = _probe(options, f"localhost:{server.controller.port}", tls=True)
    assert report.ok is True, report.error
    assert [w.code for w in report.warnings] == ["certificate_expiring"]
    date = not_after.isoformat().replace("+00:00", "Z")
    assert report.warnings[0].message.startswith(
        f"the server's certificate expires on {date}, in 3 days"
    )


def test_an_expired_certificate_is_named_with_its_date(
    options: ProbeOptions, servers: list[Any], ca: trustme.CA
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    context = _context(
        ca, "localhost", not_before=now - timedelta(days=400), not_after=now - timedelta(days=30)
    )
    report, message = _cert_error(options, servers, context)
    date = (now - timedelta(days=30)).isoformat().replace("+00:00", "Z")
    assert message == (
        f"certificate not trusted: certificate has expired: it expired on {date}, 30 days ago"
    )
    cert = report.tls.certificate
    assert cert is not None and cert.not_after == date and cert.verified is False
    assert cert.verify_error == message.removeprefix("certificate not trusted: ")
    assert report.tls.mode == "implicit" and report.tls.version and report.tls.cipher


def test_a_certificate_not_yet_valid_says_from_when(
    options: ProbeOptions, servers: list[Any], ca: trustme.CA
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    context = _context(
        ca, "localhost", not_before=now + timedelta(days=10), not_after=now + timedelta(days=100)
    )
    _, message = _cert_error(options, servers, context)
    date = (now + timedelta(days=10)).isoformat().replace("+00:00", "Z")
    assert message.endswith(f"it is valid only from {date}, in 10 days")
    assert "not yet valid" in message


def test_a_certificate_for_another_name_says_for_which(
    options: ProbeOptions, servers: list[Any], ca: trustme.CA
) -> None:
    report, message = _cert_error(options, servers, _context(ca, "mx.other.test"))
    assert message.endswith("it is not valid for localhost; it is valid for mx.other.test")
    assert report.tls.certificate is not None
    assert report.tls.certificate.subject_alt_names == ["mx.other.test"]


def test_a_certificate_from_an_unknown_ca_names_its_issuer(
    options: ProbeOptions, servers: list[Any]
) -> None:
    stranger = trustme.CA()
    report, message = _cert_error(options, servers, _context(stranger, "localhost"))
    cert = report.tls.certificate
    assert cert is not None
    assert f"its issuer ({cert.issuer}) is not a CA mailprobe trusts" in message
    assert "MAILPROBE_SMTP_CA_FILE" in message


def test_an_untrusted_starttls_certificate_is_read_and_nothing_follows(
    options: ProbeOptions, servers: list[Any], ca: trustme.CA
) -> None:
    now = datetime.now(UTC)
    context = _context(ca, "localhost", not_after=now - timedelta(days=1))
    password = secret("starttls-expired-never-sent")
    server = _smtp(servers, starttls=context, credentials={"alice": password})
    report = _probe(
        options, f"localhost:{server.controller.port}", tls=True, user="alice", password=password
    )
    error = report.error
    assert error is not None
    assert (error.phase, error.category) == ("starttls", "tls")
    assert "expired on" in error.message
    assert report.tls.mode == "starttls"
    assert report.tls.certificate is not None and report.tls.certificate.verified is False
    assert server.auth_lines == [] and server.handler.received == []


def test_unverified_certificates_are_a_warning(ca_file: Path, servers: list[Any]) -> None:
    server = _smtp(servers, implicit_tls=_context(trustme.CA(), "localhost"))
    options = _options(ca_file, smtp_verify_certificates=False)
    report = _probe(options, f"localhost:{server.controller.port}", tls=True)
    assert report.ok is True, report.error
    cert = report.tls.certificate
    assert cert is not None and cert.verified is False and cert.verify_error
    assert [w.code for w in report.warnings] == ["certificate_not_verified"]


# --- §3: the STARTTLS fallback is no failure --------------------------------------------------


def test_the_starttls_fallback_is_reported_as_what_it_is(
    options: ProbeOptions, servers: list[Any], server_tls: ssl.SSLContext
) -> None:
    server = _smtp(servers, starttls=server_tls)
    report = _probe(options, f"localhost:{server.controller.port}", tls=True)
    assert report.ok is True, report.error
    assert all(phase.ok for phase in report.phases)
    tls_phase, reconnect = report.phases[2], report.phases[3]
    assert tls_phase.name == "tls" and tls_phase.note is not None
    assert "greets in plaintext" in tls_phase.note and "STARTTLS" in tls_phase.note
    assert reconnect.name == "connect" and reconnect.note == "a new connection, for STARTTLS"
    assert report.tls.mode == "starttls"
    assert [w.code for w in report.warnings] == ["starttls_fallback"]


# --- §3: well-known replies explained --------------------------------------------------------

# One scripted reply per entry of the table: (the reply, where the server gives it).
HINT_CASES: list[tuple[str, str]] = [
    (
        "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for "
        "the Tenant.",
        "AUTH",
    ),
    ("535 5.7.3 Authentication unsuccessful [AM0PR01CA0001.eurprd01.prod.outlook.com]", "AUTH"),
    ("550 5.7.30 Basic authentication is not supported for Client Submission.", "AUTH"),
    (
        "421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to "
        "support TLS 1.2. Visit https://aka.ms/smtp_auth_tls.",
        "AUTH",
    ),
    (
        "534-5.7.9 Application-specific password required. For more information, go to\r\n"
        "534 5.7.9  https://support.google.com/mail/?p=InvalidSecondFactor x1gsmtp",
        "AUTH",
    ),
    (
        "534-5.7.14 <https://accounts.google.com/signin/continue>\r\n534 5.7.14 Please log in",
        "AUTH",
    ),
    (
        "535-5.7.8 Username and Password not accepted. For more information, go to\r\n"
        "535 5.7.8  https://support.google.com/mail/?p=BadCredentials x1gsmtp",
        "AUTH",
    ),
    ("530 5.7.0 Must issue a STARTTLS command first. x1gsmtp", "MAIL"),
    ("530 5.7.0 Authentication required", "MAIL"),
    ("538 5.7.11 Encryption required for requested authentication mechanism", "AUTH"),
    ("534 5.7.9 Authentication mechanism is too weak", "AUTH"),
    ("454 4.7.0 Temporary authentication failure", "AUTH"),
    ("535 5.7.8 Authentication credentials invalid", "AUTH"),
    ("554 5.7.1 <inbox@example.org>: Relay access denied", "RCPT"),
]


@pytest.mark.parametrize(("reply", "step"), HINT_CASES, ids=[r[:14] for r, _ in HINT_CASES])
def test_a_well_known_reply_gets_its_hint(
    options: ProbeOptions, servers: list[Any], reply: str, step: str
) -> None:
    entry = next(e for e in KNOWN_REPLIES if e.matches(_reply_of(reply)))
    server = _scripted(servers, **{step: reply})
    fields = LOGIN if step == "AUTH" else {}
    report = _probe(options, server.address, **fields)
    error = report.error
    assert error is not None and error.smtp_code == entry.code
    assert (error.hint, error.hint_source) == (entry.hint, entry.source)
    assert entry.source.startswith("https://")


def test_every_known_reply_is_tested_and_an_unknown_one_has_no_hint(
    options: ProbeOptions, servers: list[Any]
) -> None:
    tested = {next(e for e in KNOWN_REPLIES if e.matches(_reply_of(r))) for r, _ in HINT_CASES}
    assert tested == set(KNOWN_REPLIES)
    server = _scripted(servers, MAIL="550 5.7.1 go away")
    error = _probe(options, server.address).error
    assert error is not None and error.hint is None and error.hint_source is None


def _reply_of(text: str) -> Any:
    from worker.smtp import SMTPReply

    lines = text.split("\r\n")
    return SMTPReply(int(lines[0][:3]), tuple(line[4:] for line in lines))


# --- §3: a test message a person can find --------------------------------------------------


def test_the_message_has_a_findable_subject_and_says_what_was_tested(
    options: ProbeOptions, servers: list[Any], server_tls: ssl.SSLContext
) -> None:
    password = secret("message-body-never-has-it")
    server = _smtp(servers, starttls=server_tls, credentials={"alice": password})
    before = datetime.now(UTC).replace(second=0, microsecond=0)
    report = _probe(
        options, f"localhost:{server.controller.port}", tls=True, user="alice", password=password
    )
    assert report.ok is True, report.error
    [received] = server.handler.received
    subject = str(received.message["Subject"])
    assert subject == report.subject
    port = server.controller.port
    assert subject.startswith(f"mailprobe test {REFERENCE[-8:]}: localhost:{port}, ")
    sent = datetime.strptime(subject.rsplit(", ", 1)[1], "%Y-%m-%d %H:%M UTC").replace(tzinfo=UTC)
    assert before <= sent <= datetime.now(UTC)
    body = received.message.get_content()
    assert f"SMTP server: localhost, port {port} (address {report.address})" in body
    assert f"Encryption:  STARTTLS, {report.tls.version}" in body
    assert "Login:       AUTH PLAIN" in body
    assert REFERENCE in body and received.message["X-Mailprobe-Job"] == REFERENCE
    assert password not in received.content.decode()
    assert "alice" not in body
