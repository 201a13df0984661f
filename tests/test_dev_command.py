"""`mailprobe dev`, as a newcomer runs it: its own Redis, a worker, the API, the demo sink."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import redis
import requests
from selenium.webdriver.chrome.webdriver import WebDriver

from mailprobe.crypto import generate_key
from tests.browser import Console
from tests.conftest import ROOT, secret
from tests.dns_server import LoopbackDns
from tests.smtp_servers import free_port
from tests.support import run_cli, wait_for


def test_dev_starts_everything_and_a_first_test_reaches_the_demo_sink(
    tmp_path: Path, chromium: tuple[WebDriver, Path], dns_server: LoopbackDns
) -> None:
    redis_port, api_port = free_port(), free_port()
    # Something else (a local MTA, smtp4dev) listens on the demo sink's port 2525: dev takes
    # another one and says which.
    busy = socket.socket()
    with contextlib.suppress(OSError):  # already taken by something else: all the same
        busy.bind(("127.0.0.1", 2525))
        busy.listen()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPROBE_")}
    env.update(
        MAILPROBE_REDIS_URL=f"redis://127.0.0.1:{redis_port}/0",  # nothing answers there yet
        MAILPROBE_PORT=str(api_port),
        MAILPROBE_GRPC_PORT=str(free_port()),
        MAILPROBE_DNS_RESOLVERS=dns_server.resolver,  # the sender domain's lookups stay local
        PYTHONUNBUFFERED="1",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "mailprobe", "dev"],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output: list[str] = []
    threading.Thread(
        target=lambda: output.extend(iter(process.stdout.readline, "")),  # type: ignore[union-attr]
        daemon=True,
    ).start()
    try:
        wait_for(lambda: any("Press Ctrl-C" in line for line in output), 90, "the dev banner")
        text = "".join(output)
        assert "started a local redis-server" in text
        key = secret(re.search(r"(mpk_[\w-]+)", text).group(1))  # type: ignore[union-attr]
        sink = re.search(r"Demo SMTP sink: (127\.0\.0\.1:\d+)", text).group(1)  # type: ignore[union-attr]
        assert sink != "127.0.0.1:2525"
        assert f'"host":"{sink}"' in text  # the curl example uses it
        base_url = f"http://127.0.0.1:{api_port}"
        assert f"running at {base_url}" in text

        # The console, as a newcomer uses it: the printed URL, the printed key, the demo sink.
        assert f"Open the console: {base_url}/ui\n" in text
        assert f"test host {sink}, no TLS, authentication None" in text
        console = Console(chromium[0], base_url)
        console.reset()
        console.open("/ui")
        console.type("API key", key)
        console.click("Use this key")
        console.type("Sender address", "me@example.com")
        console.type("Sender name", "Me")
        console.type("Host and port", sink)
        console.type("Send the test message to", "you@example.com")
        console.click("Test")
        console.wait_for_text("The server accepted the test message.")
        console.screenshot(tmp_path / "console.png")

        response = requests.post(
            f"{base_url}/email/smtp/_test",
            headers={"Authorization": f"Bearer {key}", "Prefer": "wait=20"},
            json={
                "senderAddress": "me@example.com",
                "senderName": "Me",
                "host": sink,
                "receiverAddress": "you@example.com",
            },
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "succeeded"
        wait_for(
            lambda: any("[demo sink] message from me@example.com" in line for line in output),
            10,
            "the sink to print the message",
        )
        # The development encryption key is kept, readable by its owner only.
        key_file = tmp_path / ".mailprobe-dev" / "encryption-keys"
        assert key_file.stat().st_mode & 0o077 == 0
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)
        busy.close()
    # Everything it started has stopped with it, its Redis included.
    try:
        redis.Redis(port=redis_port, socket_connect_timeout=1).ping()
        still_up = True
    except redis.ConnectionError:
        still_up = False
    assert not still_up
    if process.poll() is None:  # pragma: no cover - only on failure
        os.killpg(process.pid, signal.SIGKILL)


def test_serve_on_a_busy_port_says_so_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPROBE_")}
        env.update(
            MAILPROBE_PORT=str(port),
            MAILPROBE_ENCRYPTION_KEYS=secret(generate_key("busy")),
        )
        run = run_cli(env, "serve")
    assert run.returncode == 1
    assert run.stderr.strip() == (
        f"Error: 127.0.0.1:{port} is in use by another program: set MAILPROBE_PORT"
    )
