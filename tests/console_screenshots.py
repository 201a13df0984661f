"""The README's pictures of the console, taken with the same real parts as the tests (Redis,
the API, a worker, aiosmtpd servers, Debian's Chromium):

    .venv/bin/python -m tests.console_screenshots      # writes docs/console-*.png

A test of a STARTTLS server with a password, on a desktop; an onboarding batch with two
failures, on a 375 px wide phone.
"""

from __future__ import annotations

import csv
import os
import ssl
import tempfile
from pathlib import Path

import trustme

from mailprobe.crypto import generate_key
from tests.browser import Console, start_chromium
from tests.conftest import TEST_SETTINGS, probe_body
from tests.smtp_servers import free_port, start_smtp_server
from tests.support import ROOT, running_service, start_redis

DOCS = ROOT / "docs"


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="mailprobe-shots-"))
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(work / "ca.pem"))
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(server_tls)
    redis = start_redis(work)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPROBE_")}
    env.update(TEST_SETTINGS)
    env.update(
        MAILPROBE_REDIS_URL=redis.url,
        MAILPROBE_ENCRYPTION_KEYS=generate_key("shots"),
        MAILPROBE_SMTP_CA_FILE=str(work / "ca.pem"),
        MAILPROBE_PORT=str(free_port()),
        MAILPROBE_SENDER_DOMAIN_CHECK="false",  # no DNS query off loopback
    )
    tls_server = start_smtp_server(
        starttls=server_tls, credentials={"noreply@acme.example": "a-password"}
    )
    plain_server = start_smtp_server()
    driver = start_chromium(work)
    try:
        with running_service(env, redis, work / "logs") as service:
            console = Console(driver, service.base_url)
            console.reset()
            console.sign_in(service.key(tenant="acme"))
            console.type("Sender address", "noreply@acme.example")
            console.type("Sender name", "ACME")
            console.type("Host and port", f"localhost:{tls_server.controller.port}")
            console.type("Send the test message to", "ops@acme.example")
            console.choose("Require TLS (implicit TLS first, then STARTTLS)")
            console.choose("Password (PLAIN or LOGIN)")
            console.type("User", "noreply@acme.example")
            console.type("Password", "a-password")
            console.click("Test")
            console.wait_for_text("The server accepted the test message.")
            DOCS.mkdir(exist_ok=True)
            console.screenshot(DOCS / "console-test.png")

            rows = [probe_body(plain_server.address, senderName=f"Tenant {i}") for i in range(20)]
            rows[4]["host"] = f"127.0.0.1:{free_port()}"  # nothing listens there
            rows[13]["host"] = "smtp.tenant-13.example"  # no port: refused before queueing
            upload = work / "tenants.csv"
            columns = ["senderAddress", "senderName", "host", "tls", "receiverAddress"]
            with upload.open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(columns)
                writer.writerows([[row.get(c, "false") for c in columns] for row in rows])
            console.phone()
            console.click("Onboarding batch")
            console.control("…or upload a CSV or JSON file").send_keys(str(upload))
            console.wait(lambda: console.control("Tests (CSV or JSON)").get_attribute("value"))
            console.click("Run the batch")
            console.wait_for_text("All 20 done", timeout=60)
            console.screenshot(DOCS / "console-batch-phone.png", css=".batch-progress")
    finally:
        driver.quit()
        tls_server.stop()
        plain_server.stop()
        redis.process.terminate()
    print(f"wrote {DOCS / 'console-test.png'} and {DOCS / 'console-batch-phone.png'}")


if __name__ == "__main__":
    main()
