"""/metrics through the real stack: a deployment of its own (Redis, a worker, two API servers,
the second with two gunicorn workers), so every counter must move by exactly what the test
did; and the Grafana dashboard's queries against a real scrape."""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import trustme
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT, ApiClient, Service, probe_body, running_service, secret
from tests.smtp_servers import free_port, start_smtp_server
from tests.support import RedisServer, start_process, start_redis, wait_for
from tests.test_webhooks import Receiver

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

# What every API server reports alike: the deployment's totals, from Redis.
DEPLOYMENT_SERIES = (
    "mailprobe_jobs_finished_total",
    "mailprobe_smtp_phase_duration_seconds",
    "mailprobe_webhook_deliveries_total",
)


def scrape(base_url: str) -> tuple[Samples, dict[str, set[str]]]:
    """Every sample by (name, labels), and each sample name's label names."""
    response = requests.get(f"{base_url}/metrics", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    samples: Samples = {}
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
            labels.setdefault(sample.name, set()).update(sample.labels)
    return samples, labels


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def changed(before: Samples, after: Samples, prefix: str) -> dict[Any, float]:
    return {
        key: after[key] - before.get(key, 0.0)
        for key in after
        if key[0].startswith(prefix) and after[key] != before.get(key, 0.0)
    }


@pytest.fixture(scope="module")
def deployment(
    service_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Service, str]]:
    """A deployment of its own and the URL of a second API server (two gunicorn workers)."""
    directory = tmp_path_factory.mktemp("metrics")
    redis_server: RedisServer = start_redis(directory)
    env = {**service_env, "MAILPROBE_REDIS_URL": redis_server.url}
    env["MAILPROBE_PORT"] = str(free_port())
    try:
        with running_service(env, redis_server, directory / "logs") as service:
            port = free_port()
            second = start_process(
                [sys.executable, "-m", "mailprobe", "serve", "--workers", "2"],
                {**env, "MAILPROBE_PORT": str(port)},
                directory / "logs" / "api-2.log",
            )
            service.logs.append(directory / "logs" / "api-2.log")
            url = f"http://127.0.0.1:{port}"

            def answers() -> bool:
                try:
                    return requests.get(f"{url}/healthz", timeout=1).status_code == 200
                except requests.RequestException:
                    return False

            try:
                wait_for(answers, 60, "the second API server")
                yield service, url
            finally:
                second.terminate()
                second.wait(timeout=15)
    finally:
        redis_server.process.terminate()
        redis_server.process.wait(timeout=10)


def test_counters_move_by_exactly_what_happened_and_agree_on_every_server(
    deployment: tuple[Service, str], server_tls: Any, ca: trustme.CA
) -> None:
    service, second_url = deployment
    tenant, key = "t-metrics-tenant", ""
    key = service.key(tenant=tenant)
    client = ApiClient(service.base_url, key)
    password = secret("metrics-wrong-password-Kd9")
    plain = start_smtp_server()
    guarded = start_smtp_server(starttls=server_tls, credentials={"alice": "the-right-one"})
    receiver = Receiver().start()
    try:
        webhook = client.post("/webhooks", json={"url": receiver.url}).json()
        before, _ = scrape(service.base_url)
        before_second, _ = scrape(second_url)

        ok = client.run(probe_body(plain.address))
        denied = client.run(probe_body(guarded.address, tls=True, user="alice", password=password))
        refused = client.submit(probe_body("10.20.30.40:25"))
        for _ in range(20):
            assert requests.get(f"{second_url}/healthz", timeout=5).status_code == 200
        wait_for(
            lambda: (
                len(client.get(f"/webhooks/{webhook['id']}/deliveries").json()["deliveries"]) == 2
            ),
            30,
            "two webhook deliveries recorded",
        )
        after, labels = scrape(service.base_url)
        after_second, _ = scrape(second_url)
    finally:
        plain.stop()
        guarded.stop()
        receiver.stop()

    assert ok["status"] == "succeeded"
    assert denied["status"] == "failed" and denied["result"]["error"]["category"] == "auth"
    assert refused.status_code == 403

    # Jobs: one success, one auth failure; the refused destination never became a job.
    assert changed(before, after, "mailprobe_jobs_finished") == {
        ("mailprobe_jobs_finished_total", (("category", "none"), ("outcome", "succeeded"))): 1,
        ("mailprobe_jobs_finished_total", (("category", "auth"), ("outcome", "failed"))): 1,
    }
    assert changed(before, after, "mailprobe_webhook_deliveries") == {
        ("mailprobe_webhook_deliveries_total", (("outcome", "delivered"),)): 2
    }

    # Phases: one observation per phase of both sessions, their durations summed.
    phases = [p for job in (ok, denied) for p in job["result"]["phases"]]
    counts = Counter(p["name"] for p in phases)
    for name in set(counts) | {"starttls", "quit", "resolve"}:
        count = "mailprobe_smtp_phase_duration_seconds_count"
        moved = value(after, count, phase=name) - value(before, count, phase=name)
        assert moved == counts[name], name
        total = "mailprobe_smtp_phase_duration_seconds_sum"
        seconds = value(after, total, phase=name) - value(before, total, phase=name)
        expected = sum(p["durationMs"] for p in phases if p["name"] == name) / 1000
        assert seconds == pytest.approx(expected, abs=1e-4), name

    # Histograms are cumulative, and their +Inf bucket is their count.
    for histogram in (
        "mailprobe_smtp_phase_duration_seconds",
        "mailprobe_http_request_duration_seconds",
    ):
        series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
        for (name, label_items), number in after.items():
            if name == f"{histogram}_bucket":
                rest = tuple(item for item in label_items if item[0] != "le")
                series.setdefault(rest, []).append((float(dict(label_items)["le"]), number))
        assert series, histogram
        for rest, buckets in series.items():
            ordered = [number for _, number in sorted(buckets)]
            assert ordered == sorted(ordered), (histogram, rest)
            assert ordered[-1] == value(after, f"{histogram}_count", **dict(rest))

    # The deployment's totals are the same from either API server.
    for key_ in after:
        if key_[0].startswith(DEPLOYMENT_SERIES):
            assert after_second.get(key_) == after[key_], key_

    # HTTP series: per API server, added up across its gunicorn workers.
    http = "mailprobe_http_requests_total"
    assert (
        value(after, http, route="POST /email/smtp/_test", code="202")
        - value(before, http, route="POST /email/smtp/_test", code="202")
        == 2
    )
    assert (
        value(after, http, route="POST /email/smtp/_test", code="403")
        - value(before, http, route="POST /email/smtp/_test", code="403")
        == 1
    )
    assert (
        value(after_second, http, route="GET /healthz", code="200")
        - value(before_second, http, route="GET /healthz", code="200")
        == 20
    )
    assert value(after, http, route="GET /healthz", code="200") == value(
        before, http, route="GET /healthz", code="200"
    )

    # Gauges read at scrape time.
    assert value(after, "mailprobe_queue_depth", queue="mailprobe.smtp") == 0
    assert ("mailprobe_queue_depth", (("queue", "mailprobe.webhooks"),)) in after
    assert value(after, "mailprobe_sessions_in_flight") == 0
    assert value(after, "mailprobe_workers_alive") == 1
    assert "mailprobe_jobs_unfinished" in labels

    # Bounded labels only: no tenant, host, address or secret anywhere.
    forbidden = [tenant, "127.0.0.1", plain.address, guarded.address, "10.20.30.40", key, password]
    for (_, label_items), _number in after.items():
        for _label, text in label_items:
            assert not any(word in text for word in forbidden), text


def test_every_dashboard_panel_queries_series_that_exist(
    deployment: tuple[Service, str],
) -> None:
    samples, labels = scrape(deployment[0].base_url)
    names = {name for name, _ in samples}
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "mailprobe.json").read_text())
    panels = list(_panels(dashboard["panels"]))
    assert len(panels) >= 8
    for panel in panels:
        exprs = [target["expr"] for target in panel.get("targets", [])]
        assert exprs, panel["title"]
        for expr in exprs:
            used = set(re.findall(r"\bmailprobe_[a-z0-9_]+\b", expr))
            assert used, (panel["title"], expr)
            assert used <= names, (panel["title"], used - names)
            known = set().union(*(labels[name] for name in used)) | {"le"}
            for group in re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr):
                grouped = {label.strip() for label in group.split(",") if label.strip()}
                assert grouped <= known, (panel["title"], grouped - known)
            for matcher in re.findall(r"\{([^}]*)\}", expr):
                for label in re.findall(r"(\w+)\s*=~?", matcher):
                    assert label in known, (panel["title"], label)


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        if panel.get("type") == "row":
            yield from _panels(panel.get("panels", []))
        else:
            yield panel


def test_the_readme_shows_the_dashboard() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "deploy/grafana/mailprobe.json" in readme
    assert Path(ROOT / "deploy" / "grafana" / "mailprobe.json").is_file()
