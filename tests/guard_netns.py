"""The destination guard, black-box, inside a network namespace with only `lo`.

    ip netns exec NAME python -m tests.guard_netns NAME < cases.json

tests/test_guard.py makes the namespace and its hosts file (/etc/netns/NAME/hosts, which
`ip netns exec` mounts over /etc/hosts) and runs this module in it: a hole in the guard
cannot send a packet anywhere. Here run a Redis, the API and a worker, as in the suite, with
the production destination policy, except that 127.0.0.2/31 is allowed for this module's own
SMTP servers. Listeners on 127.0.0.1 and ::1 count every connection that reaches them.

1. Through the API: every hostile SMTP host, token endpoint and webhook URL of the cases.
2. Through the worker: names that resolve to an allowed address when the API checks them and
   to loopback when the worker connects (the hosts file is rewritten in between, by the SMTP
   servers themselves, so the order is certain): the SMTP host of a retried attempt, an
   XOAUTH2 token endpoint and a webhook delivery.

Prints one JSON document with the answers, the jobs, the deliveries and the connections.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mailprobe.crypto import generate_key
from tests.smtp_servers import free_port
from tests.support import ApiClient, running_service, start_redis, wait_for

LISTENED_PORTS = (25, 80, 443, 465, 587, 2525)
ALLOWED = "127.0.0.2/31"
REBIND_SERVER, TOKEN_SERVER = "127.0.0.2", "127.0.0.3"
BODY = {"senderAddress": "probe@example.com", "senderName": "Guard", "tls": False}


class HostsFile:
    """/etc/hosts of the namespace: the names this module moves, written in place."""

    def __init__(self, namespace: str) -> None:
        # Never write the machine's own /etc/hosts: only the namespace's copy, mounted here.
        if not os.path.samefile("/etc/hosts", f"/etc/netns/{namespace}/hosts"):
            raise SystemExit("/etc/hosts is not the namespace's hosts file: not in the netns?")
        self.base = Path("/etc/hosts").read_text()
        self.moved: dict[str, str] = {}
        self.lock = threading.Lock()

    def point(self, names: list[str], address: str) -> None:
        with self.lock:
            if all(self.moved.get(name) == address for name in names):
                return  # unchanged: a rewrite races with the service's readers
            self.moved.update(dict.fromkeys(names, address))
            lines = [f"{address} {name}" for name, address in self.moved.items()]
            Path("/etc/hosts").write_text(self.base + "\n".join(lines) + "\n")


class Listeners:
    """Every local address the hostile cases point at, on every port they use."""

    def __init__(self) -> None:
        self.connections: dict[str, int] = {}
        self.sockets: list[socket.socket] = []
        for host, family in (("127.0.0.1", socket.AF_INET), ("::1", socket.AF_INET6)):
            for port in LISTENED_PORTS:
                sock = socket.create_server((host, port), family=family)
                self.sockets.append(sock)
                threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def _accept(self, sock: socket.socket) -> None:
        where = "[{}]:{}".format(*sock.getsockname()[:2])
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            self.connections[where] = self.connections.get(where, 0) + 1
            conn.close()


def _smtp_server(host: str, serve: Any) -> socket.socket:
    sock = socket.create_server((host, 25))

    def accept() -> None:
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            with contextlib.suppress(OSError), conn:
                serve(conn)

    threading.Thread(target=accept, daemon=True).start()
    return sock


def _lines(conn: socket.socket) -> Iterator[bytes]:
    reader = conn.makefile("rb")
    for raw in reader:
        yield raw.rstrip(b"\r\n")


def through_the_api(client: ApiClient, cases: dict[str, Any]) -> list[dict[str, Any]]:
    answers = []

    def record(kind: str, target: str, path: str, body: dict[str, Any]) -> None:
        response = client.post(path, json=body)
        answers.append(
            {
                "kind": kind,
                "target": target,
                "status": response.status_code,
                "body": response.json(),
            }
        )

    for host in cases["smtp_hosts"]:
        record(
            "smtp host",
            host,
            "/email/smtp/_test",
            {**BODY, "host": host, "receiverAddress": "a@b.example"},
        )
        record("provider host", host, "/email/smtp", {**BODY, "host": host})
    for url in cases["urls"]:
        record("webhook url", url, "/webhooks", {"url": url})
        auth = {
            "tokenEndpoint": url.replace("http://", "https://", 1),
            "clientCredentials": {"clientId": "c", "clientSecret": "guard-client-secret"},
        }
        record(
            "token endpoint",
            url,
            "/email/smtp/_test",
            {
                **BODY,
                # A name that does not resolve: let through, so the check reaches the endpoint.
                "host": "smtp.invalid:25",
                "receiverAddress": "a@b.example",
                "xoauth2": auth,
            },
        )
    return answers


def through_the_worker(client: ApiClient, hosts: HostsFile) -> dict[str, Any]:
    hosts.point(["rebind.test", "hook.test", "token.test"], REBIND_SERVER)  # allowed

    def refuse_then_rebind(conn: socket.socket) -> None:
        # The first attempt meets a busy server; before it says so, the server's name moves to
        # loopback: the retry must resolve it again, and refuse.
        hosts.point(["rebind.test"], "127.0.0.1")
        conn.sendall(b"421 4.3.2 busy, try again\r\n")

    def offer_xoauth2(conn: socket.socket) -> None:
        conn.sendall(b"220 token.test ESMTP\r\n")
        for line in _lines(conn):
            if line.upper().startswith(b"EHLO"):
                hosts.point(["token.test"], "127.0.0.1")  # after the API's check, before the fetch
                conn.sendall(b"250-token.test\r\n250 AUTH XOAUTH2\r\n")
            elif line.upper().startswith(b"QUIT"):
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"502 no\r\n")

    servers = [
        _smtp_server(REBIND_SERVER, refuse_then_rebind),
        _smtp_server(TOKEN_SERVER, offer_xoauth2),
    ]
    hook = client.post("/webhooks", json={"url": "http://hook.test:2525/hook"})
    hosts.point(["hook.test"], "127.0.0.1")  # checked at subscription: now every delivery
    auth = {
        "tokenEndpoint": "https://token.test/token",
        "clientCredentials": {"clientId": "c", "clientSecret": "guard-client-secret"},
    }
    submitted = {
        "token": client.submit(
            {
                **BODY,
                "host": f"{TOKEN_SERVER}:25",
                "user": "u",
                "receiverAddress": "a@b.example",
                "xoauth2": auth,
            }
        ),
        "rebind": client.submit(
            {**BODY, "host": "rebind.test:25", "receiverAddress": "a@b.example"}
        ),
    }
    result: dict[str, Any] = {
        "subscribed": hook.status_code,
        "submitted": {kind: answer.status_code for kind, answer in submitted.items()},
    }
    if hook.status_code != 201 or any(a.status_code != 202 for a in submitted.values()):
        return result  # the test reports what went wrong
    jobs = {kind: client.ended(answer.json()["id"], 60) for kind, answer in submitted.items()}
    hook_id = hook.json()["id"]

    def deliveries() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = client.get(f"/webhooks/{hook_id}/deliveries").json()[
            "deliveries"
        ]
        return found if {d["jobId"] for d in found} >= {j["id"] for j in jobs.values()} else []

    result.update(jobs=jobs, deliveries=wait_for(deliveries, 30, "a delivery for each job"))
    for sock in servers:
        sock.close()
    return result


def main() -> None:
    namespace = sys.argv[1]
    cases = json.load(sys.stdin)
    hosts = HostsFile(namespace)
    listeners = Listeners()
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        redis = start_redis(root)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILPROBE_")}
        env.update(
            MAILPROBE_REDIS_URL=redis.url,
            MAILPROBE_PORT=str(free_port()),
            MAILPROBE_ENCRYPTION_KEYS=generate_key("k1"),
            MAILPROBE_ALLOWED_NETWORKS=ALLOWED,
            MAILPROBE_SMTP_CONNECT_TIMEOUT="2",
            MAILPROBE_SMTP_COMMAND_TIMEOUT="2",
            MAILPROBE_SMTP_SESSION_DEADLINE="6",
            MAILPROBE_MAX_ATTEMPTS="2",
            MAILPROBE_RETRY_BASE_DELAY="0.2",
            MAILPROBE_RETRY_MAX_DELAY="0.4",
            # The XOAUTH2 server here speaks plaintext on 127.0.0.3: what this run tests is
            # the token endpoint's check, which comes after the refusal of cleartext AUTH.
            MAILPROBE_ALLOW_CLEARTEXT_AUTH="true",
            # One attempt per delivery within this run: a second failed one would disable the
            # subscription before the other job's delivery.
            MAILPROBE_WEBHOOK_RETRY_SCHEDULE="60",
            PYTHONUNBUFFERED="1",
        )
        try:
            with running_service(env, redis, root / "logs") as service:
                client = service.client()
                result = {
                    "interfaces": [name for _, name in socket.if_nameindex()],
                    "api": through_the_api(client, cases),
                    "worker": through_the_worker(client, hosts),
                    "connections": listeners.connections,
                }
        finally:
            redis.process.terminate()
            redis.process.wait(10)
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
