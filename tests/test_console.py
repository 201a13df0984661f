"""The web console at /ui, in a real headless Chromium against the real API, worker and SMTP
servers: what a person sees and does. Each test leaves a screenshot in its temp folder."""

from __future__ import annotations

import csv
import http.server
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
import trustme
from aiosmtpd.controller import Controller
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from api.console import CONTENT_SECURITY_POLICY
from tests.browser import PHONE_WIDTH, Console
from tests.conftest import Service, probe_body
from tests.smtp_servers import RawServer, SlowHandler, free_port, start_smtp_server
from tests.support import secret, wait_for

ALL_PHASES = ["resolve", "connect", "banner", "ehlo", "mail_from", "rcpt_to", "data", "quit"]


@pytest.fixture
def console(
    chromium: tuple[WebDriver, Path], service: Service, tmp_path: Path
) -> Iterator[Console]:
    page = Console(chromium[0], service.base_url)
    page.reset()
    yield page
    page.screenshot(tmp_path / "console.png")
    # Nothing the console did was refused by its own Content-Security-Policy.
    assert page.policy_violations() == []


def fill_test(console: Console, host: str, receiver: str = "inbox@example.org") -> None:
    console.type("Sender address", "probe@example.com")
    console.type("Sender name", "Mailprobe Console")
    console.type("Host and port", host)
    console.type("Send the test message to", receiver)


def phases_shown(console: Console) -> list[str]:
    rows = console.driver.find_elements(By.CSS_SELECTOR, ".job tr[data-phase]")
    return [str(row.get_attribute("data-phase")) for row in rows]


def job_status(console: Console) -> str:
    return str(console.driver.find_element(By.CSS_SELECTOR, ".job .job-head .badge").text)


def first_cell(console: Console) -> str | None:
    """The first cell of the page's first table row; None while no row is drawn."""
    rows = console.rows("main")
    return rows[0][0] if rows and rows[0] else None


def verdict(console: Console) -> str:
    return console.text(".job .verdict")


def first_cells(console: Console) -> list[str]:
    """The first cell of the page's first table row, or nothing while no row is drawn."""
    return [row[0] for row in console.rows("main")[:1] if row]


def test_a_first_test_shows_each_phase_as_it_ends_then_succeeded(
    console: Console, service: Service, tmp_path: Path
) -> None:
    controller = Controller(SlowHandler(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        console.sign_in(service.key(tenant="t-console-first"))
        assert console.unlabelled_controls() == []
        fill_test(console, f"127.0.0.1:{controller.port}")
        console.control("Send the test message to").send_keys(Keys.ENTER)  # the keyboard

        # The phases arrive while the job runs (the server waits before MAIL, RCPT and DATA).
        console.wait(
            lambda: "mail_from" in phases_shown(console) and job_status(console) == "running",
            what="phases shown while the job runs",
        )
        assert "Running" in verdict(console)
        console.screenshot(tmp_path / "running.png")
        console.wait(lambda: job_status(console) == "succeeded", what="the job to succeed")
    finally:
        controller.stop()
    assert "The server accepted the test message." in verdict(console)
    assert phases_shown(console) == ALL_PHASES
    # The waterfall: a bar per phase, the slow ones (0.4 s each) the widest.
    bars = console.driver.find_elements(By.CSS_SELECTOR, ".job .waterfall svg rect.bar")
    assert len(bars) == len(ALL_PHASES)
    widths = {
        phase: float(bar.get_attribute("width") or 0)
        for phase, bar in zip(ALL_PHASES, bars, strict=True)
    }
    assert min(widths[p] for p in ("mail_from", "rcpt_to", "data")) > 5 * widths["banner"]
    assert "No TLS: this session was not encrypted." in console.text(".job .tls-card")
    assert "Transcript (" in console.text(".job")
    link = console.driver.find_element(By.CSS_SELECTOR, ".job .job-meta a")
    assert str(link.get_attribute("href")).endswith(f"/ui/jobs/{link.text}")
    # The Subject to look for in the receiver's mailbox: the job's short reference.
    assert f"Its test message: mailprobe test {link.text[-8:]}: " in console.text(".job .job-meta")


def test_a_dry_run_shows_the_recipients_answer_and_that_nothing_was_sent(
    console: Console, service: Service
) -> None:
    server = start_smtp_server()
    try:
        console.sign_in(service.key(tenant="t-console-dry-run"))
        fill_test(console, server.address)
        console.choose("Verify without sending (dry run)")
        console.click("Test")
        console.wait(lambda: job_status(console) == "succeeded", what="the dry run to succeed")
        words = verdict(console)
        assert "The server accepted the recipient; no message was sent (dry run)." in words
        assert "RCPT TO inbox@example.org: 250 2.1.5 OK" in words
        assert console.text(".job .job-head h2").startswith("Dry run of ")
        assert phases_shown(console) == [*ALL_PHASES[:6], "rset", "quit"]
        server_card = console.text(".job section[aria-label='Server']")
        assert "inbox@example.org: 250 2.1.5 OK (accepted)" in server_card
        assert "not sent (dry run)" in server_card

        console.type("Send the test message to", "reject@example.org")
        console.click("Test")
        console.wait(
            lambda: job_status(console) == "failed" and "reject@" in console.text(".job"),
            what="the unknown recipient's dry run to fail",
        )
        words = verdict(console)
        assert "The server refused the recipient address (550 5.1.1)." in words
        assert "no message is sent" in words
        assert "(rejected)" in console.text(".job section[aria-label='Server']")
    finally:
        server.stop()
    assert server.handler.received == []


def test_a_providers_re_tests_show_in_its_history(console: Console, service: Service) -> None:
    key = service.key(tenant="t-console-history")
    server = start_smtp_server()
    try:
        created = service.client(key).post(
            "/email/smtp",
            json={"description": "Watched", "senderAddress": "noreply@example.com",
                  "senderName": "W", "host": server.address, "retestIntervalSeconds": 2},
        )  # fmt: skip
        provider_id = created.json()["id"]
        wait_for(
            lambda: (
                len(service.client(key).get(f"/email/{provider_id}/history").json()["history"]) >= 2
            ),
            30,
            "two re-tests",
        )
        console.sign_in(key)
        console.click("Providers")
        console.wait(lambda: console.rows("main")[:1], what="the provider")
        assert console.rows("main")[0][6].startswith("every 2 s; next ")
        console.click("History")
        console.wait_for_text("Re-tests of Watched")
    finally:
        server.stop()
    assert "Re-tested every 2 s without sending (a dry run to noreply@example.com)" in (
        console.text(".provider-history")
    )
    entries = console.rows(".provider-history")
    assert len(entries) >= 2
    assert [entry[1] for entry in entries[:2]] == ["succeeded", "succeeded"]
    assert entries[0][3] == "250 2.1.5 OK"
    assert "Python SMTP" in entries[0][7]  # aiosmtpd's banner
    assert console.unlabelled_controls() == []
    console.click("job")
    console.wait(lambda: job_status(console) == "succeeded", what="the re-test's job")
    assert console.text(".job .job-head h2").startswith("Dry run of ")
    assert server.handler.received == []


def test_a_wrong_password_is_refused_in_plain_words(console: Console, service: Service) -> None:
    server = start_smtp_server(credentials={"mailer@example.com": secret("the-right-password")})
    try:
        console.sign_in(service.key(tenant="t-console-auth"))
        fill_test(console, server.address)
        console.choose("Password (PLAIN or LOGIN)")
        console.type("User", "mailer@example.com")
        console.type("Password", secret("a-wrong-password"))
        console.click("Test")
        console.wait(lambda: job_status(console) == "failed", what="the job to fail")
    finally:
        server.stop()
    words = verdict(console)
    assert "The server refused the password (535 5.7.8)." in words
    assert "Category: auth, while logging in." in words
    assert server.auth_attempts == [("PLAIN", "mailer@example.com")]
    assert "a-wrong-password" not in console.text(".job")
    assert phases_shown(console)[-1] == "auth"


def test_a_starttls_test_shows_its_fallback_certificate_warnings_and_hint(
    console: Console, service: Service, ca: trustme.CA
) -> None:
    expiring = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    soon = datetime.now(UTC) + timedelta(days=3)
    ca.issue_cert("localhost", "127.0.0.1", not_after=soon).configure_cert(expiring)
    server = start_smtp_server(starttls=expiring, credentials={"mailer@example.com": "right"})
    try:
        console.sign_in(service.key(tenant="t-console-tls"))
        fill_test(console, server.address)
        console.choose("Require TLS (implicit TLS first, then STARTTLS)")
        console.choose("Password (PLAIN or LOGIN)")
        console.type("User", "mailer@example.com")
        console.type("Password", secret("a-wrong-tls-password"))
        console.click("Test")
        console.wait(lambda: job_status(console) == "failed", what="the job to fail")
    finally:
        server.stop()
    words = verdict(console)
    assert "The server refused the password (535 5.7.8)." in words
    # The well-known reply explained, with its source.
    assert "Likely cause and fix: The server refused the user or the password." in words
    source = console.driver.find_element(By.CSS_SELECTOR, ".job .verdict .hint-text a")
    assert source.get_attribute("href") == "https://www.rfc-editor.org/rfc/rfc4954#section-6"
    # Warnings: the fallback to STARTTLS and the certificate that expires in 3 days.
    warnings = console.text(".job .warnings")
    assert warnings.startswith("2 warnings")
    assert "STARTTLS on a second connection" in warnings
    assert "expires on" in warnings and "in 3 days" in warnings
    # The implicit-TLS try is no failed phase: it ends well, and says that STARTTLS follows.
    tls_row = console.driver.find_element(By.CSS_SELECTOR, '.job tr[data-phase="tls"]')
    cells = [str(cell.text) for cell in tls_row.find_elements(By.TAG_NAME, "td")]
    assert cells[1] == "✓ ok" and "STARTTLS follows" in cells[3]
    card = console.text(".job .tls-card")
    assert "STARTTLS (upgraded after the greeting)" in card
    assert "Valid for\nlocalhost, 127.0.0.1" in card
    assert "(in 3 days)" in card and "1 certificate sent by the server" in card
    assert "yes: trusted chain" in card


def test_a_batch_of_50_reaches_50_with_its_failures_and_a_csv(
    console: Console, service: Service, chromium: tuple[WebDriver, Path], tmp_path: Path
) -> None:
    server = start_smtp_server()
    closed = f"127.0.0.1:{free_port()}"  # nothing listens: connection refused
    rows = [probe_body(server.address, senderName=f"Tenant {i}") for i in range(50)]
    for index in (7, 31):
        rows[index]["host"] = closed
    rows[12]["host"] = "no-port.example"  # refused by the API, with its reason
    rows[40]["senderAddress"] = "not-an-address"
    upload = tmp_path / "onboarding.csv"
    columns = ["senderAddress", "senderName", "host", "tls", "receiverAddress"]
    with upload.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows([[row.get(c, "false") for c in columns] for row in rows])
    try:
        console.sign_in(service.key(tenant="t-console-batch"))
        console.click("Onboarding batch")
        console.wait_for_heading("Onboarding batch")
        assert console.unlabelled_controls() == []
        console.control("…or upload a CSV or JSON file").send_keys(str(upload))
        console.wait(lambda: console.control("Tests (CSV or JSON)").get_attribute("value"))
        console.click("Run the batch")
        console.wait_for_text("Submitted 50 tests: 48 accepted, 2 not accepted.")
        console.wait_for_text("All 50 done", timeout=60)
    finally:
        server.stop()
    progress = console.driver.find_element(By.CSS_SELECTOR, "main progress")
    assert (progress.get_attribute("value"), progress.get_attribute("max")) == ("50", "50")

    def counts(label: str) -> dict[str, str]:
        items = console.driver.find_elements(By.CSS_SELECTOR, f"ul[aria-label='{label}'] li")
        return {item.text.rsplit(" ", 1)[0]: item.text.rsplit(" ", 1)[1] for item in items}

    assert counts("Tests by status") == {"succeeded": "46", "failed": "2", "rejected": "2"}
    assert counts("Failures by category") == {"connect": "2", "invalid": "2"}
    failures = console.rows(".batch-progress")
    assert [(row[0], row[3], row[4]) for row in failures] == [
        ("8", "failed", "connect"),
        ("13", "rejected", "invalid"),
        ("32", "failed", "connect"),
        ("41", "rejected", "invalid"),
    ]
    assert "Nothing accepted the connection at that address and port" in failures[0][5]
    assert "host: a port is required" in failures[1][5]
    assert "senderAddress: not a valid email address" in failures[3][5]
    assert len(server.handler.received) == 46

    downloads = chromium[1]
    before = set(downloads.glob("mailprobe-batch-*.csv"))
    console.click("Download the results (CSV)")
    found = wait_for(lambda: set(downloads.glob("mailprobe-batch-*.csv")) - before, 10, "the CSV")
    results = list(csv.DictReader(found.pop().open(newline="")))
    assert [row["row"] for row in results] == [str(i) for i in range(1, 51)]
    assert {row["status"] for row in results} == {"succeeded", "failed", "rejected"}
    assert sum(row["status"] == "succeeded" for row in results) == 46
    assert results[7]["category"] == "connect" and results[7]["jobId"]
    assert results[12]["status"] == "rejected" and "port" in results[12]["reason"]

    console.phone()  # the same page on a 375 px wide screen
    assert console.js("return window.innerWidth") == PHONE_WIDTH
    assert not console.overflows()
    console.screenshot(tmp_path / "batch-phone.png")


def test_jobs_list_pages_and_filters_and_a_job_page_loads_from_its_url(
    console: Console, service: Service
) -> None:
    key = service.key(tenant="t-console-jobs")
    client = service.client(key)
    server = start_smtp_server()
    try:
        tests = [probe_body(server.address) for _ in range(26)]
        tests.append(probe_body(f"127.0.0.1:{free_port()}"))  # fails: nothing listens
        items = client.post("/email/smtp/_tests", json={"tests": tests}).json()["items"]
        jobs = [client.ended(item["job"]["id"]) for item in items]
    finally:
        server.stop()
    failed_id = jobs[-1]["id"]
    assert jobs[-1]["status"] == "failed"

    console.sign_in(key)
    console.click("Jobs")
    console.wait(lambda: len(console.rows("main")) == 25, what="a page of 25 jobs")
    first_page = [row[5] for row in console.rows("main")]
    assert first_page == sorted(first_page, reverse=True)  # newest first
    console.click("Older →")
    console.wait(lambda: len(console.rows("main")) == 2, what="the second page")
    assert "cursor=" in console.driver.current_url
    second_page = [row[5] for row in console.rows("main")]
    assert sorted(first_page + second_page) == sorted(job["id"] for job in jobs)

    console.click("← Newest")
    console.wait(lambda: len(console.rows("main")) == 25, what="the first page again")
    console.select("Status", "failed")
    console.wait(lambda: [row[5] for row in console.rows("main")] == [failed_id], what="failed")
    assert console.driver.current_url.endswith("/ui/jobs?status=failed")
    console.click(jobs[-1]["request"]["host"])
    console.wait(lambda: job_status(console) == "failed", what="the job page")
    assert console.driver.current_url.endswith(f"/ui/jobs/{failed_id}")
    assert "Nothing accepted the connection at that address and port" in verdict(console)
    console.driver.back()  # the browser's history works
    console.wait(lambda: console.heading() == "Jobs" and len(console.rows("main")) == 1)

    # A job's address, opened afresh (a bookmark, a link in a chat).
    succeeded = jobs[0]["id"]
    console.open(f"/ui/jobs/{succeeded}")
    console.wait(lambda: job_status(console) == "succeeded", what="the job from its URL")
    assert phases_shown(console) == ALL_PHASES
    console.open("/ui/jobs/01HZZZZZZZZZZZZZZZZZZZZZZZ")
    console.wait(lambda: "Job not found." in verdict(console), what="a missing job")


def test_field_errors_appear_beside_their_fields(console: Console, service: Service) -> None:
    console.open("/ui")
    console.type("API key", "mpk_not-a-key-anyone-made")
    console.click("Use this key")
    console.wait(lambda: "refused" in console.field_error("API key"), what="the key's refusal")
    console.sign_in(service.key(tenant="t-console-fields"))

    console.type("Sender address", "not-an-address")
    console.type("Host and port", "smtp.example.com")
    console.click("Test")
    console.wait(lambda: console.field_error("Host and port"), what="the host's error")
    assert "a port is required" in console.field_error("Host and port")
    assert "not a valid email address" in console.field_error("Sender address")
    assert console.field_error("Sender name")
    assert console.field_error("Send the test message to")
    assert "see the messages beside the fields" in console.text("main form .form-error")
    host = console.control("Host and port")
    assert host.get_attribute("aria-invalid") == "true"
    error_id = host.find_element(By.XPATH, "ancestor::*[@data-field][1]//p[@class='field-error']")
    assert error_id.get_attribute("id") in (host.get_attribute("aria-describedby") or "").split()
    assert console.driver.switch_to.active_element == console.control("Sender address")

    # Corrected fields lose their errors; a refused destination is said beside the host.
    fill_test(console, "10.0.0.1:25")
    console.click("Test")
    console.wait(lambda: "refused by policy" in console.field_error("Host and port"))
    assert console.field_error("Sender address") == ""

    # A nested field of the XOAUTH2 choice.
    fill_test(console, "smtp.example.com:587")
    console.choose("XOAUTH2 (OAuth2 client credentials)")
    console.type("Mailbox (user)", "mailer@example.com")
    console.type("Token endpoint", "http://login.example.com/token")
    console.type("Client id", "client")
    console.type("Client secret", "s3cret")
    console.click("Test")
    console.wait(lambda: "https://" in console.field_error("Token endpoint"))
    assert console.field_error("Host and port") == ""
    assert console.text(".result") == ""  # nothing was queued


HOSTILE = '<script>window.mailprobePwned=1</script> <img src=x onerror="window.mailprobePwned=2">'


def hostile_smtp(conn: socket.socket) -> None:
    """A server that speaks SMTP with markup in its replies, as an attacker's would."""
    reader = conn.makefile("rb")
    conn.sendall(f"220 {HOSTILE}\r\n".encode())
    for raw in reader:
        command = raw.strip().upper()
        if command.startswith((b"EHLO", b"HELO")):
            conn.sendall(f"250-{HOSTILE}\r\n250 8BITMIME\r\n".encode())
        elif command.startswith((b"MAIL", b"RCPT")):
            conn.sendall(b"250 <b>ok</b>\r\n")
        elif command == b"DATA":
            conn.sendall(b"354 go ahead\r\n")
            for line in reader:
                if line == b".\r\n":
                    break
            conn.sendall(b'250 queued <svg onload="window.mailprobePwned=3">\r\n')
        elif command == b"QUIT":
            conn.sendall(b"221 bye\r\n")
            return
        else:
            conn.sendall(b"500 what\r\n")


def test_a_hostile_banner_renders_as_text_and_runs_no_script(
    console: Console, service: Service
) -> None:
    server = RawServer(hostile_smtp)
    try:
        console.sign_in(service.key(tenant="t-console-hostile"))
        fill_test(console, server.address)
        console.click("Test")
        console.wait(lambda: job_status(console) == "succeeded", what="the job to end")
    finally:
        server.stop()
    phases = console.rows(".job")
    assert phases[2][0] == "banner"
    assert phases[2][3] == f"220 {HOSTILE}"  # the markup, as text, on the screen
    console.driver.find_element(By.CSS_SELECTOR, ".job .transcript summary").click()
    assert f"S: 220 {HOSTILE}" in console.text(".job .transcript")
    assert console.js("return window.mailprobePwned") is None
    assert console.js("return document.querySelectorAll('main img, main script').length") == 0
    assert console.js("return document.querySelectorAll('main svg [onload]').length") == 0
    # The page refuses HTML from strings outright (Trusted Types with no policy).
    assert (
        console.js(
            "try { document.createElement('div').innerHTML = '<b>x</b>'; return 'parsed' }"
            " catch (error) { return error.name }"
        )
        == "TypeError"
    )

    for path in ("/ui", "/ui/jobs/01HZZZZZZZZZZZZZZZZZZZZZZZ", "/ui/static/js/main.js"):
        response = requests.get(service.base_url + path, timeout=5)
        assert response.status_code == 200
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert requests.get(service.base_url + "/ui/static/nothing.js", timeout=5).status_code == 404
    assert requests.get(service.base_url + "/ui/static/../app.py", timeout=5).status_code == 404


class _Receiver(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, object]] = []

    def do_POST(self) -> None:  # the name http.server calls
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_providers_and_webhooks_add_list_test_and_deliver(
    console: Console, service: Service
) -> None:
    receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    server = start_smtp_server(credentials={"relay@example.com": secret("relay-password")})
    try:
        console.sign_in(service.key(tenant="t-console-stored"))

        console.click("Webhooks")
        console.wait_for_text("No webhook yet.")
        assert console.control("A test ended (smtp_test.completed)").is_selected()
        console.type("URL", "ftp://hooks.example.com/")
        console.click("Add the webhook")
        console.wait(lambda: "http" in console.field_error("URL"), what="the URL's error")
        hook_url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        console.type("URL", hook_url)
        console.type("Description", "Console test hook")
        console.click("Add the webhook")
        console.wait_for_text("shown this once")
        shown = console.text(".secret code")
        assert shown.startswith("whsec_")
        secret(shown)
        # The list is drawn after the secret is shown: no row yet is "not yet", not an error.
        console.wait(lambda: first_cells(console) == [hook_url], what="the listed webhook")

        console.click("Providers")
        console.wait_for_text("No provider is stored yet")
        assert console.unlabelled_controls() == []
        console.type("Description", "Console relay")
        console.type("Sender address", "noreply@example.com")
        console.type("Sender name", "Relay")
        console.type("Host and port", server.address)
        console.choose("Password (PLAIN or LOGIN)")
        console.type("User", "relay@example.com")
        console.type("Password", "relay-password")
        console.select("Re-test on a schedule", "Every day")
        console.click("Add the provider")
        console.wait_for_text("Provider added:")
        console.wait(lambda: first_cells(console) == ["Console relay"], what="the provider")
        provider = console.rows("main")[0]
        assert provider[1:6] == [server.address, "Relay <noreply@example.com>", "not required",
                                 "password", "inactive"]  # fmt: skip
        assert provider[6].startswith("every day; next ")
        # The form was reset: its secret is gone from the page.
        assert console.driver.find_element(By.NAME, "plain.password").get_attribute("value") == ""

        console.click("Test…")
        assert console.control("Provider id").get_attribute("value") == provider[7]
        console.type("Send the test message to", "ops@example.org")
        console.click("Test this provider")
        console.wait(lambda: job_status(console) == "succeeded", what="the stored provider's test")
        assert server.auth_attempts == [("PLAIN", "relay@example.com")]
        wait_for(lambda: _Receiver.received, 15, "the webhook delivery")
    finally:
        server.stop()
        receiver.shutdown()
    job_id = _Receiver.received[-1]["data"]["id"]  # type: ignore[index]

    console.click("Webhooks")
    console.click(hook_url)
    console.wait_for_heading("Webhook")

    def delivered() -> bool:
        console.click("Refresh")
        return any(
            (row[1], row[5], row[7]) == (job_id, "delivered", "smtp_test.completed")
            for row in console.rows("main")
        )

    console.wait(delivered, poll=0.3, what="the delivery in the log")
    assert console.unlabelled_controls() == []


PARSERS = r'''
const done = arguments[arguments.length - 1];
const load = (name) => import(`/ui/static/js/${name}.js`);
const modules = [load("events"), load("csv"), load("pages/batch")];
Promise.all(modules).then(async ([events, csv, batch]) => {
  // An event stream cut at awkward places: inside a CRLF, inside a JSON value.
  const chunks = [": keep-alive\r", "\n\nid: 1-0\r", "\nevent: phase\ndata: {\"a\":",
                  "1}\n\nevent: job\ndata: x\ndata: y\n\n", "data: never ended"];
  const body = new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
      controller.close();
    },
  });
  const seen = [];
  for await (const event of events.eventStream(body)) seen.push(event);
  let refused = null;
  try {
    batch.parseTests("senderAddress,colour\na@b.c,red");
  } catch (error) {
    refused = error.message;
  }
  done({
    seen,
    rows: csv.parseCsv('a,b\r\n"x, ""y""",\n"two\nlines",z\n'),
    written: csv.toCsv(["h"], [["=1+1"], ["a,b"], ['say "hi"']]),
    tests: batch.parseTests("sender_address,Host,TLS,password\nme@x.org, h:25 ,yes, pw \n,,,\n"),
    json: batch.parseTests('{"tests": [{"host": "h:25"}]}'),
    refused,
  });
}).catch((error) => done({ error: String(error) }));
'''


def test_the_stream_csv_and_batch_parsers_in_the_browser(console: Console) -> None:
    console.open("/ui")  # the console's origin: its modules load without a key
    found = console.driver.execute_async_script(PARSERS)
    assert "error" not in found, found
    # Comments skipped, the id kept for later events, multi-line data joined, and an event
    # the stream never finished is not delivered.
    assert found["seen"] == [
        {"id": "1-0", "event": "phase", "data": '{"a":1}'},
        {"id": "1-0", "event": "job", "data": "x\ny"},
    ]
    assert found["rows"] == [["a", "b"], ['x, "y"', ""], ["two\nlines", "z"]]
    # A value a spreadsheet would run as a formula is written as text.
    assert found["written"] == 'h\r\n\'=1+1\r\n"a,b"\r\n"say ""hi"""\r\n'
    assert found["tests"] == [
        {"senderAddress": "me@x.org", "host": "h:25", "tls": True, "password": " pw "}
    ]
    assert found["json"] == [{"host": "h:25"}]
    assert found["refused"] == (
        'Unknown column "colour": the columns are senderAddress, senderName, host, tls, '
        "user, password, receiverAddress, dryRun."
    )


def test_the_sender_domain_card_says_what_receivers_will_do(
    console: Console, service: Service, tmp_path: Path
) -> None:
    key = service.key(tenant="t-console-sender")
    client = service.client(key)
    server = start_smtp_server()
    try:
        rejected = client.run(probe_body(server.address, senderAddress="ops@reject.example.net"))
        ready = client.run(probe_body(server.address, senderAddress="ops@loopback.example.net"))
    finally:
        server.stop()
    console.sign_in(key)
    console.open(f"/ui/jobs/{rejected['id']}")
    console.wait(lambda: job_status(console) == "succeeded", what="the job page")
    card = console.text(".job .sender-card")
    assert "Sender domain reject.example.net" in card
    warnings = console.driver.find_elements(By.CSS_SELECTOR, ".job .sender-card .warnings li")
    assert [w.text for w in warnings] == rejected["result"]["senderDomain"]["warnings"]
    assert "v=spf1 include:_spf.google.com ip4:192.0.2.1 -all" in card
    assert "no: SPF fail for 127.0.0.1" in card
    assert "p=reject, sp=reject, pct=100" in card
    console.screenshot(tmp_path / "sender-warnings.png", ".job .sender-card")

    console.open(f"/ui/jobs/{ready['id']}")
    console.wait(lambda: job_status(console) == "succeeded", what="the second job page")
    card = console.text(".job .sender-card")
    assert "No warning for mail from this sender through this provider." in card
    assert "yes: SPF pass for 127.0.0.1" in card
    assert console.driver.find_elements(By.CSS_SELECTOR, ".job .sender-card .warnings") == []
