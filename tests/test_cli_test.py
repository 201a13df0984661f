"""`mailprobe test` (in this process, and through the running API) and `mailprobe status`, as
a user runs them: against aiosmtpd, under a pseudo-terminal and without one."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import trustme

from cli.console import EXIT_CODES
from tests.conftest import ROOT, Service, secret
from tests.dns_server import LoopbackDns
from tests.smtp_servers import SmtpServer, start_smtp_server
from tests.support import run_cli

ANSI = "\x1b["


@pytest.fixture(scope="module")
def cli_env(
    ca: trustme.CA, dns_server: LoopbackDns, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """A user's environment: no service settings, the test CA trusted, the test DNS."""
    ca_file = tmp_path_factory.mktemp("cli-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPROBE_")}
    env["MAILPROBE_SMTP_CA_FILE"] = str(ca_file)
    env["MAILPROBE_DNS_RESOLVERS"] = dns_server.resolver
    return env


def _test_args(server: SmtpServer, *extra: str) -> list[str]:
    return [
        "test",
        "--local",
        "--host",
        server.address,
        "--from",
        "me@example.com",
        "--to",
        "you@example.org",
        *extra,
    ]


def test_local_plain_session_prints_each_phase_and_the_verdict(
    cli_env: dict[str, str], servers: list[SmtpServer]
) -> None:
    server = start_smtp_server()
    servers.append(server)
    done = run_cli(cli_env, *_test_args(server))
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert ANSI not in out
    names = re.findall(r"^  (\w+)\s+ok\s", out, re.MULTILINE)
    assert names == ["resolve", "connect", "banner", "ehlo", "mail_from", "rcpt_to", "data", "quit"]
    assert re.search(r"^  banner\s+ok\s+[\d.]+ ms  220 ", out, re.MULTILINE)
    assert "verdict:     OK: the server accepted the message" in out
    assert len(server.handler.received) == 1


def test_local_shows_the_sender_domain_and_its_warnings(
    cli_env: dict[str, str], servers: list[SmtpServer]
) -> None:
    server = start_smtp_server()
    servers.append(server)
    args = _test_args(server)
    args[args.index("--from") + 1] = "me@reject.example.net"
    done = run_cli(cli_env, *args)
    assert done.returncode == 0, done.stdout + done.stderr  # warnings fail nothing
    lines = done.stdout.splitlines()
    assert "sender:      reject.example.net: 2 warnings" in lines
    assert "DMARC:       v=DMARC1; p=reject" in lines
    spf = next(line for line in lines if line.startswith("SPF:"))
    assert "(1 of 10 DNS lookups); does not authorise 127.0.0.1: SPF fail" in spf
    warnings = [line for line in lines if line.startswith("warning:")]
    assert len(warnings) == 2
    assert "will likely reject mail from reject.example.net" in warnings[1]
    assert lines.index(warnings[1]) < lines.index(next(x for x in lines if x.startswith("verdict")))


def test_local_starttls_with_auth_shows_the_certificate(
    cli_env: dict[str, str], servers: list[SmtpServer], server_tls: ssl.SSLContext
) -> None:
    password = secret("cli-password-Vx2")
    server = start_smtp_server(starttls=server_tls, credentials={"alice": password})
    servers.append(server)
    env = {**cli_env, "SMTP_PASSWORD": password}
    done = run_cli(
        env, *_test_args(server, "--tls", "--user", "alice", "--password-env", "SMTP_PASSWORD")
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.search(r"^  starttls\s+ok\s", out, re.MULTILINE)
    assert re.search(r"^  auth\s+ok\s+[\d.]+ ms  235 ", out, re.MULTILINE)
    assert re.search(r"^TLS:\s+starttls, TLSv1\.[23], ", out, re.MULTILINE)
    assert re.search(r"^certificate: .* \(verified\)$", out, re.MULTILINE)
    assert re.search(r"^valid for:\s+localhost, 127\.0\.0\.1$", out, re.MULTILINE)
    assert re.search(r"^chain:\s+1 sent by the server$", out, re.MULTILINE)
    assert re.search(r"^sha256:\s+[0-9a-f]{64}$", out, re.MULTILINE)
    # The implicit-TLS try is no failure: it ends well and says that STARTTLS follows.
    assert re.search(r"^  tls\s+ok\s+[\d.]+ ms  no TLS on connect: .*STARTTLS", out, re.MULTILINE)
    assert re.search(r"^warning:\s+port \d+ does not speak TLS on connect", out, re.MULTILINE)
    assert re.search(r"^subject:\s+mailprobe test \w{8}: ", out, re.MULTILINE)
    assert password not in out + done.stderr
    assert server.auth_attempts and server.auth_attempts[0][1] == "alice"


def test_local_wrong_password_exits_with_the_auth_code(
    cli_env: dict[str, str], servers: list[SmtpServer], server_tls: ssl.SSLContext
) -> None:
    server = start_smtp_server(starttls=server_tls, credentials={"alice": "the-right-one"})
    servers.append(server)
    wrong = secret("cli-wrong-password-Qm4")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mailprobe",
            *_test_args(server, "--tls", "--user", "alice", "--password-stdin"),
        ],
        input=wrong + "\n",
        env=cli_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == EXIT_CODES["auth"] == 7, done.stdout + done.stderr
    assert re.search(r"^  auth\s+FAILED\s+[\d.]+ ms  535 ", done.stdout, re.MULTILINE)
    assert "verdict:     FAILED: auth in auth: " in done.stdout
    assert "(exit 7)" in done.stdout
    assert "\nhint:        The server refused the user or the password." in done.stdout
    assert "\nsource:      https://www.rfc-editor.org/rfc/rfc4954#section-6\n" in done.stdout
    assert wrong not in done.stdout + done.stderr


def test_local_refused_recipient_exits_with_its_code_and_json_prints_the_job(
    cli_env: dict[str, str], servers: list[SmtpServer]
) -> None:
    server = start_smtp_server(rcpt_replies=["550 5.1.1 no such user", "550 5.1.1 no such user"])
    servers.append(server)
    done = run_cli(cli_env, *_test_args(server))
    assert done.returncode == EXIT_CODES["recipient_rejected"] == 9
    assert re.search(
        r"^  rcpt_to\s+FAILED\s+[\d.]+ ms  550 5\.1\.1 no such user", done.stdout, re.M
    )

    as_json = run_cli(cli_env, *_test_args(server, "--json"))
    assert as_json.returncode == 9
    job = json.loads(as_json.stdout)
    assert job["status"] == "failed"
    assert job["result"]["error"]["category"] == "recipient_rejected"
    assert job["result"]["error"]["smtpCode"] == 550
    assert [a["outcome"] for a in job["attempts"]] == ["failed"]
    assert "password" not in job["request"]


def test_options_a_user_gets_wrong_are_usage_errors(cli_env: dict[str, str]) -> None:
    both = run_cli(cli_env, "test", "--host", "h:25", "--from", "a@b.c", "--to", "d@e.f")
    assert both.returncode == 2
    assert "--local, or --api URL" in both.stderr
    bad = run_cli(cli_env, "test", "--local", "--host", "nohost", "--from", "a@b.c", "--to", "x")
    assert bad.returncode == 2
    assert "host" in bad.stderr and "receiverAddress" in bad.stderr


def _under_pty(argv: list[str], env: dict[str, str], timeout: float = 30) -> tuple[int, str]:
    """Run argv with a pseudo-terminal as its stdout; its exit code and all it wrote."""
    leader, follower = pty.openpty()
    process = subprocess.Popen(
        argv,
        env={**env, "TERM": "xterm-256color", "COLUMNS": "120"},
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    output = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other end closed: the process has exited
                break
            if not chunk:
                break
            output += chunk
        elif process.poll() is not None:
            break
    os.close(leader)
    return process.wait(timeout=10), output.decode(errors="replace")


def test_on_a_terminal_the_display_is_live(
    cli_env: dict[str, str], servers: list[SmtpServer]
) -> None:
    server = start_smtp_server()
    servers.append(server)
    code, out = _under_pty([sys.executable, "-m", "mailprobe", *_test_args(server)], cli_env)
    assert code == 0, out
    assert ANSI in out  # styles and cursor movement: the display redraws in place
    assert "waiting for the server" in out  # the spinner while a reply is awaited
    assert "✓" in out
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out)
    for name in ("resolve", "connect", "banner", "ehlo", "mail_from", "rcpt_to", "data", "quit"):
        assert name in plain
    assert "OK: the server accepted the message" in plain


def test_through_the_api_it_follows_the_job(service: Service, servers: list[SmtpServer]) -> None:
    server = start_smtp_server()
    servers.append(server)
    env = {**service.env, "MAILPROBE_API_KEY": service.key(tenant="t-cli")}
    args = ["test", "--api", service.base_url, "--host", server.address]
    args += ["--from", "me@example.com", "--to", "you@example.org"]
    done = run_cli(env, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "through " + service.base_url in done.stdout
    names = re.findall(r"^  (\w+)\s+ok\s", done.stdout, re.MULTILINE)
    assert names == ["resolve", "connect", "banner", "ehlo", "mail_from", "rcpt_to", "data", "quit"]
    assert "verdict:     OK" in done.stdout

    as_json = run_cli(env, *args, "--json")
    assert as_json.returncode == 0
    job: dict[str, Any] = json.loads(as_json.stdout)
    assert job["status"] == "succeeded"
    assert (
        service.client(env["MAILPROBE_API_KEY"]).get(f"/email/smtp/_test/{job['id']}").json() == job
    )

    refused = run_cli(
        env,
        "test",
        "--api",
        service.base_url,
        "--host",
        "10.9.8.7:25",
        "--from",
        "me@example.com",
        "--to",
        "you@example.org",
    )
    assert refused.returncode == EXIT_CODES["policy"], refused.stderr
    assert "destination refused by policy" in refused.stderr

    no_key = run_cli({**service.env}, *args)
    assert no_key.returncode == 2
    assert "MAILPROBE_API_KEY" in no_key.stderr


def test_status_shows_the_deployment(service: Service, servers: list[SmtpServer]) -> None:
    server = start_smtp_server()
    servers.append(server)
    client = service.client()
    job = client.run(
        {
            "senderAddress": "a@example.com",
            "senderName": "A",
            "host": server.address,
            "receiverAddress": "b@example.org",
        }
    )
    assert job["status"] == "succeeded"
    done = run_cli(service.env, "status")
    assert done.returncode == 0, done.stderr
    assert re.search(r"^workers alive: +1: mailprobe-\d+@", done.stdout, re.MULTILINE)
    assert re.search(r"^queues: +mailprobe\.smtp \d+, mailprobe\.webhooks \d+$", done.stdout, re.M)
    match = re.search(r"^last minute: +(\d+) succeeded", done.stdout, re.MULTILINE)
    assert match and int(match.group(1)) >= 1
    as_json = run_cli(service.env, "status", "--json")
    figures = json.loads(as_json.stdout)
    assert figures["lastMinute"]["succeeded"]["none"] >= 1
    assert len(figures["workers"]) == 1
    assert set(figures["queues"]) == {"mailprobe.smtp", "mailprobe.webhooks"}


def test_the_readme_documents_every_exit_code() -> None:
    readme = (Path(ROOT) / "README.md").read_text()
    for category, code in EXIT_CODES.items():
        assert re.search(rf"^\| {code} \| `{category}` \|", readme, re.MULTILINE), category
