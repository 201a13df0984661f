"""Service routes, the error shape of every failure, and the OpenAPI document's agreement."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import requests
from pydantic import SecretStr

from api.app import create_app
from api.openapi import CONSOLE, openapi_document
from mailprobe.settings import Settings
from tests.conftest import ApiClient, Service, probe_body
from tests.smtp_servers import start_smtp_server
from tests.support import start_process, wait_for


def test_healthz_and_readyz(service: Service) -> None:
    assert requests.get(f"{service.base_url}/healthz", timeout=5).json() == {"status": "alive"}
    ready = requests.get(f"{service.base_url}/readyz", timeout=5)
    assert ready.status_code == 200
    assert ready.json()["redis"] is True
    assert ready.json()["workers"] >= 1


def test_every_route_is_also_served_under_admin_v1(service: Service) -> None:
    server = start_smtp_server()
    try:
        client = service.client()
        # The test route answers as Zitadel does there: when the test has ended.
        response = client.post("/admin/v1/email/smtp/_test", json=probe_body(server.address))
        assert response.status_code == 200
        assert response.json() == {}
        job_id = response.headers["x-mailprobe-job-id"]
        assert client.get(f"/email/smtp/_test/{job_id}").json()["status"] == "succeeded"
        job = client.get(f"/admin/v1/email/smtp/_test/{job_id}")
        assert job.status_code == 200
        assert job.json()["id"] == job_id
        listed = client.get("/admin/v1/email/smtp/_test").json()["jobs"]
        assert job_id in [listed_job["id"] for listed_job in listed]
    finally:
        server.stop()
    assert requests.get(f"{service.base_url}/admin/v1/healthz", timeout=5).status_code == 200


def test_unknown_routes_and_methods_answer_in_the_error_shape(client: ApiClient) -> None:
    missing = client.get("/no/such/route")
    assert missing.status_code == 404
    assert missing.json() == {"code": 5, "message": "no such route", "details": []}
    wrong_method = client.request("DELETE", "/email/smtp/_test")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["code"] == 12
    assert "POST" in wrong_method.headers["Allow"]


def test_openapi_describes_exactly_the_served_routes(service: Service) -> None:
    served = requests.get(f"{service.base_url}/openapi.json", timeout=5).json()
    assert served == openapi_document()
    keys = [SecretStr(k) for k in service.env["MAILPROBE_ENCRYPTION_KEYS"].split(",")]
    app = create_app(Settings(redis_url=service.redis.url, encryption_keys=keys))
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(
            r"<(?:\w+:)?(\w+)>",
            lambda m: (
                "{"
                + (
                    "id"
                    if m.group(1).endswith("_id") and m.group(1) != "job_id"
                    else _camel(m.group(1))
                )
                + "}"
            ),
            rule.rule,
        )
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
            routes.add((method.lower(), path))
    documented = {(m, p) for p, ops in served["paths"].items() for m in ops}
    # Under /admin/v1 every route is served again; only the two test routes, which answer
    # differently there (synchronously, as Zitadel does), are described a second time.
    root = {(m, p) for m, p in routes if not p.startswith("/admin/v1/")}
    assert root == {(m, p) for m, p in documented if not p.startswith("/admin/v1/")}
    # Served once, at their own paths: gRPC-web and the web console.
    grpc_web = ("post", "/zitadel.admin.v1.AdminService/{method}")
    console = {(m, p) for m, p in root if p == CONSOLE or p.startswith(f"{CONSOLE}/")}
    assert {("get", "/ui"), ("get", "/ui/jobs/{jobId}"), ("get", "/ui/static/{filename}")} <= (
        console
    )
    assert {(m, f"/admin/v1{p}") for m, p in root - {grpc_web} - console} == routes - root
    assert {(m, p) for m, p in documented if p.startswith("/admin/v1/")} == {
        ("post", "/admin/v1/email/smtp/_test"),
        ("post", "/admin/v1/email/smtp/{id}/_test"),
    }
    assert [s["url"] for s in served["servers"]] == ["/"]
    schemas = served["components"]["schemas"]
    zitadel_fields = {
        "senderAddress",
        "senderName",
        "tls",
        "host",
        "user",
        "password",
        "receiverAddress",
        "none",
        "plain",
        "xoauth2",
        "id",
    }
    # Zitadel's wire takes Zitadel's fields; the root's test takes dryRun too.
    assert set(schemas["ZitadelTestRequest"]["properties"]) == zitadel_fields
    assert set(schemas["SmtpTestRequest"]["properties"]) == zitadel_fields | {"dryRun"}
    zitadel_body = served["paths"]["/admin/v1/email/smtp/_test"]["post"]["requestBody"]
    assert zitadel_body["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ZitadelTestRequest"
    )
    assert {"id", "status", "attempts", "result"} <= set(schemas["Job"]["properties"])
    # The events a subscription receives, each with its schema.
    assert set(served["webhooks"]) == {
        "smtp_test.completed",
        "smtp_provider.changed",
        "smtp_provider.certificate_expiring",
    }


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def test_docs_page_lists_the_operations(service: Service) -> None:
    page = requests.get(f"{service.base_url}/docs", timeout=5)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "POST /email/smtp/_test" in page.text
    assert "openapi.json" in page.text


def _open_files_limits(pid: int) -> tuple[int, int]:
    """The process's soft and hard limits of open files, from /proc."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError(f"no open-files limit for {pid}")


def test_a_worker_raises_its_open_files_limit(service: Service, tmp_path: Path) -> None:
    """Each SMTP session holds a socket: a worker started with the usual soft limit of 1,024
    open files raises it to the hard limit, for thousands of sessions at once."""
    # The hard limit stays; the soft one drops to 1,024, then the worker starts (exec: same
    # pid). Its queue is its own: it takes no test from the others.
    shell = 'ulimit -Sn 1024 && exec "$0" -m mailprobe worker --concurrency 5 --queues limits.test'
    worker = start_process(["sh", "-c", shell, sys.executable], service.env, tmp_path / "w.log")
    try:
        hard = _open_files_limits(worker.pid)[1]
        assert hard > 1024, "this machine's hard limit leaves nothing to raise"

        def raised() -> bool:
            assert worker.poll() is None, (tmp_path / "w.log").read_text()[-2000:]
            # Once the shell has lowered the soft limit and exec'd the worker: Celery.
            started = b"celery" in Path(f"/proc/{worker.pid}/cmdline").read_bytes()
            return started and _open_files_limits(worker.pid) == (hard, hard)

        wait_for(raised, 60, "the worker to raise its open-files limit")
    finally:
        worker.terminate()
        worker.wait(30)
