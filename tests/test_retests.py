"""Stored providers re-tested on a schedule: every few seconds in dry-run mode, a history, a
signed webhook when a re-test differs from the one before (a swapped certificate), a warning
for a certificate about to expire, once, and a run that happens once whatever the schedulers
(several at once, one killed after its claim, none for a while).

Against the real stack: the API, Celery workers (their maintenance threads are the
schedulers), Redis and aiosmtpd with trustme certificates. The test settings allow intervals
from 2 s (MAILPROBE_RETEST_MIN_INTERVAL).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import trustme
from standardwebhooks.webhooks import Webhook as Verifier

from mailprobe import rediskeys
from mailprobe.crypto import SecretBox, generate_key
from mailprobe.history import HistoryStore, banner_signature, changes, expiring
from mailprobe.jobs import JobStore
from mailprobe.models.history import ProviderCheck
from mailprobe.models.providers import ProviderRequest
from mailprobe.models.reports import Certificate, Report, TlsReport
from mailprobe.models.smtp import SmtpTestRequest
from mailprobe.providers import ProviderStore
from mailprobe.schedule import RetestSchedule, next_due, phase_ms
from mailprobe.settings import Settings
from tests.conftest import ApiClient, Service, running_service, secret
from tests.smtp_servers import SmtpServer, free_port, start_smtp_server
from tests.support import RedisServer, run_cli, wait_for
from tests.test_webhooks import Receiver
from worker.retests import RetestRuntime, schedule_due

INTERVAL = 2


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver().start()
    yield started
    started.stop()


def _provider(client: ApiClient, host: str, **overrides: Any) -> str:
    body = {
        "description": "watched relay",
        "senderAddress": "noreply@example.com",
        "senderName": "Example",
        "host": host,
        "retestIntervalSeconds": INTERVAL,
        **overrides,
    }
    created = client.post("/email/smtp", json=body)
    assert created.status_code == 200, created.text
    provider_id: str = created.json()["id"]
    return provider_id


def _history(client: ApiClient, provider_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"/email/{provider_id}/history")
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()["history"]
    return entries


def _at_least(client: ApiClient, provider_id: str, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = wait_for(
        lambda: (h := _history(client, provider_id)) and len(h) >= count and h,
        timeout=12 * INTERVAL * count,
        what=f"{count} re-tests in the history",
    )
    return found


def _unix_ms(timestamp: str) -> int:
    return int(datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1000)


def _tls_context(cert: trustme.LeafCert) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


# --- the schedule through the API ---------------------------------------------------------------


def test_a_provider_is_re_tested_every_few_seconds_in_dry_run_mode(
    service: Service, servers: list[SmtpServer], server_tls: ssl.SSLContext
) -> None:
    client = service.client(service.key(tenant="t-retest"))
    password = secret("retest-pw-55a")
    server = start_smtp_server(implicit_tls=server_tls, credentials={"watch": password})
    servers.append(server)
    provider_id = _provider(
        client,
        server.address,
        tls=True,
        user="watch",
        password=password,
        retestReceiverAddress="postmaster@example.org",
    )
    config = client.get(f"/email/{provider_id}").json()["config"]
    assert config["retestIntervalSeconds"] == INTERVAL
    assert config["retestReceiverAddress"] == "postmaster@example.org"
    assert _unix_ms(config["nextRetestAt"]) <= time.time() * 1000 + INTERVAL * 1000

    history = _at_least(client, provider_id, 3)
    newest, before = history[0], history[1]
    assert newest["outcome"] == "succeeded", newest
    assert newest["tlsVersion"].startswith("TLSv1.")
    assert len(newest["certificateSha256"]) == 64 and newest["certificateNotAfter"]
    assert "PLAIN" in newest["authOffered"]
    assert newest["banner"] and newest["recipient"]["address"] == "postmaster@example.org"
    assert newest["recipient"]["status"] == "accepted"
    # Due times are points of the provider's phase, one interval apart or more.
    gap = _unix_ms(newest["dueAt"]) - _unix_ms(before["dueAt"])
    assert gap > 0 and gap % (INTERVAL * 1000) == 0
    assert len({entry["dueAt"] for entry in history}) == len(history)

    job = client.get(f"/email/smtp/_test/{newest['jobId']}").json()
    assert job["retest"] == {"providerId": provider_id, "dueAt": newest["dueAt"]}
    assert job["request"]["dryRun"] is True
    assert job["result"]["sent"] is False
    assert password not in str(job) and password not in str(history)
    assert server.handler.received == []  # dry runs: nothing was ever sent
    assert server.handler.rset_calls >= 3

    # The operator's view: the schedule, and this provider's re-tests.
    overview = run_cli(service.env, "schedule", "--json")
    assert overview.returncode == 0, overview.stderr
    assert json.loads(overview.stdout)["scheduled"] >= 1
    shown = run_cli(service.env, "schedule")
    assert re.search(r"^providers scheduled:\s+\d+$", shown.stdout, re.M), shown.stdout
    assert "busiest minute (24 h):" in shown.stdout
    one = run_cli(service.env, "schedule", "--provider", provider_id)
    assert one.returncode == 0, one.stderr
    lines = one.stdout.splitlines()
    assert lines[0].startswith(f"provider {provider_id}: next re-test 20")
    assert len(lines) >= 4 and "succeeded" in lines[1] and "RCPT 250" in lines[1]
    assert newest["certificateSha256"][:12] in lines[1]

    # An update that leaves the fields out keeps the schedule; 0 takes it off.
    kept = client.request(
        "PUT",
        f"/email/smtp/{provider_id}",
        json={"senderAddress": "noreply@example.com", "senderName": "Renamed",
              "host": server.address, "tls": True, "user": "watch"},
    )  # fmt: skip
    assert kept.status_code == 200, kept.text
    config = client.get(f"/email/{provider_id}").json()["config"]
    assert (config["senderName"], config["retestIntervalSeconds"]) == ("Renamed", INTERVAL)
    assert config["retestReceiverAddress"] == "postmaster@example.org"
    off = client.request(
        "PUT",
        f"/email/smtp/{provider_id}",
        json={"senderAddress": "noreply@example.com", "senderName": "Renamed",
              "host": server.address, "tls": True, "user": "watch", "retestIntervalSeconds": 0},
    )  # fmt: skip
    assert off.status_code == 200, off.text
    config = client.get(f"/email/{provider_id}").json()["config"]
    assert (config["retestIntervalSeconds"], config["nextRetestAt"]) == (0, None)
    assert service.redis.client().zscore(rediskeys.RETESTS_DUE, provider_id) is None
    assert _history(client, provider_id)  # the history stays readable

    assert client.request("DELETE", f"/email/{provider_id}").status_code == 200
    assert client.get(f"/email/{provider_id}/history").status_code == 404
    assert not service.redis.client().exists(rediskeys.provider_history(provider_id))


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (1, "0 (off) or from 2 to 2592000 seconds"),
        (2592001, "less than or equal to 2592000"),
        (-1, "greater than or equal to 0"),
        (True, "valid integer"),
        (2.5, "valid integer"),
    ],
)
def test_intervals_out_of_bounds_are_400_and_store_nothing(
    service: Service, value: Any, why: str
) -> None:
    client = service.client(service.key(tenant="t-retest-bounds"))
    body = {"senderAddress": "a@example.com", "senderName": "A", "host": "127.0.0.1:2525"}
    answer = client.post("/email/smtp", json={**body, "retestIntervalSeconds": value})
    assert answer.status_code == 400, answer.text
    violation = answer.json()["details"][0]["fieldViolations"][0]
    assert violation["field"] == "retestIntervalSeconds"
    assert why in violation["description"]
    found = client.post("/email/_search", json={}).json()
    assert found["details"]["totalResult"] == 0


def test_history_is_the_tenants_own(service: Service) -> None:
    owner = service.client(service.key(tenant="t-retest-owner"))
    provider_id = _provider(owner, "127.0.0.1:2525", retestIntervalSeconds=0)
    assert owner.get(f"/email/{provider_id}/history").json() == {
        "providerId": provider_id,
        "retestIntervalSeconds": 0,
        "nextRetestAt": None,
        "history": [],
    }
    other = service.client(service.key(tenant="t-retest-other"))
    assert other.get(f"/email/{provider_id}/history").status_code == 404
    no_read = service.client(service.key(tenant="t-retest-owner", permissions=("smtp.test",)))
    assert no_read.get(f"/email/{provider_id}/history").status_code == 403


# --- drift: a certificate swapped between two runs ----------------------------------------------


def test_a_swapped_certificate_fires_one_signed_webhook_with_the_difference(
    service: Service,
    servers: list[SmtpServer],
    receiver: Receiver,
    ca: trustme.CA,
) -> None:
    client = service.client(service.key(tenant="t-retest-drift"))
    hook = client.post(
        "/webhooks",
        json={
            "url": receiver.url,
            "events": ["smtp_provider.changed", "smtp_provider.certificate_expiring"],
        },
    ).json()
    secret(hook["secret"])
    now = datetime.now(UTC)
    first = ca.issue_cert("localhost", "127.0.0.1", not_after=now + timedelta(days=5))
    second = ca.issue_cert("localhost", "127.0.0.1", not_after=now + timedelta(days=300))
    context = _tls_context(first)  # the server's context: swapped in place below
    server = start_smtp_server(implicit_tls=context)
    servers.append(server)
    provider_id = _provider(client, server.address, tls=True)

    before = _at_least(client, provider_id, 2)
    first_sha = before[0]["certificateSha256"]
    assert {entry["certificateSha256"] for entry in before} == {first_sha}
    second.configure_cert(context)  # the next handshakes show the new certificate

    def swapped() -> list[dict[str, Any]] | None:
        entries = _history(client, provider_id)
        new = [e for e in entries if e["certificateSha256"] not in (None, first_sha)]
        return entries if len(new) >= 2 else None  # two runs with it: one change, not two

    after = wait_for(swapped, 12 * INTERVAL * 2, "two re-tests with the new certificate")
    second_sha = after[0]["certificateSha256"]

    # What fired: written with the history entries (mailprobe.history), so all of it is
    # in Redis by now.
    redis = service.redis.client()
    fired = [redis.hgetall(key) for key in redis.scan_iter(rediskeys.event("*"))]
    fired = [event for event in fired if event["tenant"] == "t-retest-drift"]
    assert sorted(event["type"] for event in fired) == [
        "smtp_provider.certificate_expiring",
        "smtp_provider.changed",
    ]

    def delivered() -> dict[str, dict[str, Any]] | None:
        messages = {
            headers["webhook-id"]: Verifier(hook["secret"]).verify(body, headers)
            for headers, body in receiver.received
        }
        return messages if len(messages) == 2 else None

    messages = wait_for(delivered, 20, "both events delivered")
    by_type = {message["type"]: message for message in messages.values()}
    changed = by_type["smtp_provider.changed"]["data"]
    assert changed["providerId"] == provider_id
    assert changed["host"] == server.address
    assert {
        change["field"]: (change["before"], change["after"]) for change in changed["changes"]
    } == {
        "certificateSha256": (first_sha, second_sha),
        "certificateNotAfter": (
            before[0]["certificateNotAfter"],
            after[0]["certificateNotAfter"],
        ),
    }
    assert changed["before"]["certificateSha256"] == first_sha
    assert changed["after"]["certificateSha256"] == second_sha
    assert changed["after"]["jobId"] == changed["jobId"]

    warning = by_type["smtp_provider.certificate_expiring"]["data"]
    assert warning["certificate"]["sha256"] == first_sha
    assert 4 < warning["daysLeft"] <= 5 and warning["warnDays"] == 14
    # Sent once, though every run before the swap saw that certificate.
    assert (
        len([e for e in _history(client, provider_id) if e["certificateSha256"] == first_sha]) >= 2
    )

    log = client.get(f"/webhooks/{hook['id']}/deliveries").json()["deliveries"]
    assert sorted((d["event"], d["outcome"]) for d in log) == [
        ("smtp_provider.certificate_expiring", "delivered"),
        ("smtp_provider.changed", "delivered"),
    ]
    assert server.handler.received == []


# --- once, whatever the schedulers --------------------------------------------------------------


@pytest.fixture(scope="module")
def scheduling(
    service_env: dict[str, str],
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    """A service of its own (its own Redis database), whose workers the test kills."""
    redis_db = dataclasses.replace(redis_server, db=5)
    redis_db.client().flushdb()
    env = {
        **service_env,
        "MAILPROBE_REDIS_URL": redis_db.url,
        "MAILPROBE_PORT": str(free_port()),
        "MAILPROBE_STUCK_AFTER": "1",
    }
    with running_service(env, redis_db, tmp_path_factory.mktemp("scheduling")) as running:
        yield running


def _scheduler(service: Service) -> RetestRuntime:
    """A scheduler in this process, on the service's Redis and keys."""
    client = service.redis.client()
    box = SecretBox(service.env["MAILPROBE_ENCRYPTION_KEYS"].split(","))
    return RetestRuntime(
        settings=Settings(),
        schedule=RetestSchedule(client, 3600),
        providers=ProviderStore(client, box),
        history=HistoryStore(client, 3600),
        box=box,
    )


def _retest_jobs(service: Service, tenant: str) -> list[dict[str, Any]]:
    store = JobStore(service.redis.client(), 3600)
    jobs, _ = store.list_jobs(tenant, status=None, limit=100, cursor=None)
    return [job.model_dump(mode="json") for job in jobs if job.retest is not None]


def test_a_killed_scheduler_misses_no_run_and_doubles_none(
    scheduling: Service, servers: list[SmtpServer]
) -> None:
    tenant = "t-retest-once"
    client = scheduling.client(scheduling.key(tenant=tenant))
    server = start_smtp_server()
    servers.append(server)
    provider_id = _provider(client, server.address)
    _at_least(client, provider_id, 1)

    # Every worker dies: no scheduler runs.
    scheduling.kill_workers()
    redis = scheduling.redis.client()
    due_at = wait_for(
        lambda: (
            (score := redis.zscore(rediskeys.RETESTS_DUE, provider_id))
            and score <= time.time() * 1000
            and score
        ),
        3 * INTERVAL,
        "the next re-test to be due",
    )
    # A scheduler claims it and is killed before it sends the task: a queued job, no task.
    orphans = schedule_due(_scheduler(scheduling), send=lambda job_id: None)
    assert len(orphans) == 1
    missed = redis.zscore(rediskeys.RETESTS_DUE, provider_id) or 0
    assert missed > due_at
    # Due times pass while no scheduler runs.
    wait_for(
        lambda: (redis.zscore(rediskeys.RETESTS_DUE, provider_id) or 0) < time.time() * 1000 - 2500,
        4 * INTERVAL,
        "more than an interval without a scheduler",
    )

    # Two workers again, two schedulers; the sweeper sends the orphan's task.
    restarted = time.time() * 1000
    scheduling.start_worker()
    scheduling.start_worker()
    swept = run_cli(scheduling.env, "jobs", "sweep")
    assert swept.returncode == 0, swept.stderr
    assert client.ended(orphans[0])["status"] == "succeeded"
    _at_least(client, provider_id, 5)

    jobs = _retest_jobs(scheduling, tenant)
    due_times = [job["retest"]["dueAt"] for job in jobs]
    assert len(due_times) == len(set(due_times)), "a due time ran twice"
    orphan = next(job for job in jobs if job["id"] == orphans[0])
    assert _unix_ms(orphan["retest"]["dueAt"]) == int(due_at)
    assert len(orphan["attempts"]) == 1
    # The due times missed while no scheduler ran made one run, not one each: the first of
    # them, and then none until the schedulers were back.
    points = sorted(_unix_ms(due) for due in due_times)
    assert points.count(int(missed)) == 1
    assert not [point for point in points if missed < point <= restarted]
    assert all((b - a) % (INTERVAL * 1000) == 0 for a, b in itertools.pairwise(points))
    history = _history(client, provider_id)
    assert len({entry["jobId"] for entry in history}) == len(history)
    assert orphans[0] in {entry["jobId"] for entry in history}
    assert server.handler.received == []


def test_concurrent_schedulers_claim_each_due_run_once(
    redis_server: RedisServer, service_env: dict[str, str]
) -> None:
    """Eight schedulers at once over 200 due providers: 200 jobs, one per provider."""
    redis = dataclasses.replace(redis_server, db=6).client()
    redis.flushdb()
    box = SecretBox(service_env["MAILPROBE_ENCRYPTION_KEYS"].split(","))
    providers = ProviderStore(redis, box)
    request = ProviderRequest.model_validate(
        {"senderAddress": "a@example.com", "senderName": "A", "host": "127.0.0.1:2525",
         "retestIntervalSeconds": 3600}
    )  # fmt: skip
    ids = [providers.create(f"t-{i % 7}", request).id for i in range(200)]
    later = time.time() + 3600  # every provider is due by then
    runtime = RetestRuntime(
        settings=Settings(),
        schedule=RetestSchedule(redis, 3600),
        providers=providers,
        history=HistoryStore(redis, 3600),
        box=box,
    )
    made: list[str] = []
    start = threading.Barrier(8)

    def scheduler() -> None:
        start.wait()
        while claimed := schedule_due(runtime, made.append, now=later):
            assert claimed

    threads = [threading.Thread(target=scheduler) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(made) == len(set(made)) == 200
    jobs = JobStore(redis, 3600)
    owners = [jobs.load(job_id) for job_id in made]
    assert sorted(
        stored.job.retest.provider_id for stored in owners if stored and stored.job.retest
    ) == sorted(ids)
    assert all(stored and stored.job.request["dryRun"] for stored in owners)
    # Every provider is due next after `later`, one interval on.
    scores = redis.zmscore(rediskeys.RETESTS_DUE, ids)
    assert all(later * 1000 < (score or 0) <= later * 1000 + 3600 * 1000 for score in scores)


def test_a_provider_that_cannot_run_holds_up_no_other(
    redis_server: RedisServer, service_env: dict[str, str]
) -> None:
    """An entry left behind by a deleted key, and a provider whose secret no configured key
    opens: neither stays due for ever, and the healthy provider due after them runs."""
    redis = dataclasses.replace(redis_server, db=7).client()
    redis.flushdb()
    box = SecretBox(service_env["MAILPROBE_ENCRYPTION_KEYS"].split(","))
    body = {
        "senderAddress": "a@example.com",
        "senderName": "A",
        "host": "127.0.0.1:2525",
        "user": "u",
        "password": secret("poison-pw-3d0"),
        "retestIntervalSeconds": 60,
    }
    request = ProviderRequest.model_validate(body)
    other_key = SecretBox([generate_key("elsewhere")])
    locked = ProviderStore(redis, other_key).create("t-poison", request)  # sealed elsewhere
    healthy = ProviderStore(redis, box).create("t-poison", request)
    redis.zadd(rediskeys.RETESTS_DUE, {"01J00000000000000000000000": 1})  # no such provider
    redis.zadd(rediskeys.RETESTS_DUE, {locked.id: 2, healthy.id: 3})
    runtime = RetestRuntime(
        settings=Settings(),
        schedule=RetestSchedule(redis, 3600),
        providers=ProviderStore(redis, box),
        history=HistoryStore(redis, 3600),
        box=box,
    )
    made = schedule_due(runtime, lambda job_id: None, now=1_700_000_000)
    assert len(made) == 1
    stored = JobStore(redis, 3600).load(made[0])
    assert stored is not None and stored.job.retest is not None
    assert stored.job.retest.provider_id == healthy.id
    assert redis.zscore(rediskeys.RETESTS_DUE, "01J00000000000000000000000") is None
    assert (redis.zscore(rediskeys.RETESTS_DUE, locked.id) or 0) > 1_700_000_000_000
    assert schedule_due(runtime, lambda job_id: None, now=1_700_000_000) == []


# --- the rules, as pure functions ---------------------------------------------------------------


def test_due_times_keep_a_providers_phase() -> None:
    interval = 86400
    first = next_due("01J0000000000000000000000A", interval, 1_700_000_000_000)
    assert 1_700_000_000_000 < first <= 1_700_000_000_000 + interval * 1000
    assert first % (interval * 1000) == phase_ms("01J0000000000000000000000A", interval * 1000)
    # From a due time, the next is one interval on; from later, the next point after it.
    assert next_due("01J0000000000000000000000A", interval, first) == first + interval * 1000
    assert next_due("01J0000000000000000000000A", interval, first + 1) == first + interval * 1000
    assert next_due("01J0000000000000000000000A", interval, first - 1) == first


def test_banners_are_compared_without_what_changes_per_connection() -> None:
    gmail = "smtp.gmail.com ESMTP d9443c01a7336-2a0ec9c3b6esm123456 - gsmtp"
    assert banner_signature(gmail) == banner_signature(gmail.replace("a7336-2a0", "b8812-7c4"))
    microsoft = (
        "BN8PR04CA0123.outlook.office365.com Microsoft ESMTP MAIL Service ready at "
        "Mon, 1 Dec 2025 10:00:00 +0000"
    )
    other_node = microsoft.replace("BN8PR04CA0123", "SN6PR11CA0009").replace("Mon, 1", "Tue, 2")
    assert banner_signature(microsoft) == banner_signature(other_node)
    assert banner_signature("mx ESMTP Postfix") != banner_signature("mx ESMTP Exim")


def _check(**fields: Any) -> ProviderCheck:
    base: dict[str, Any] = {
        "job_id": "J",
        "due_at": "2026-01-01T00:00:00.000Z",
        "checked_at": "2026-01-01T00:00:01.000Z",
        "outcome": "succeeded",
        "tls_version": "TLSv1.3",
        "certificate_sha256": "a" * 64,
        "certificate_not_after": "2026-06-01T00:00:00Z",
        "auth_offered": ["LOGIN", "PLAIN"],
        "banner": "mx ESMTP",
    }
    return ProviderCheck.model_validate({**base, **fields})


def test_unknown_fields_are_not_changes_and_are_compared_with_the_last_known() -> None:
    ok = _check()
    refused = _check(
        outcome="failed", category="connect", tls_version=None, certificate_sha256=None,
        certificate_not_after=None, auth_offered=None, banner=None,
    )  # fmt: skip
    assert changes([], ok) == []
    assert [(c.field, c.before, c.after) for c in changes([ok], refused)] == [
        ("outcome", "succeeded", "failed"),
        ("category", None, "connect"),
    ]
    swapped = _check(certificate_sha256="b" * 64)
    assert {c.field for c in changes([refused, ok], swapped)} == {
        "outcome",
        "category",
        "certificateSha256",
    }
    assert changes([ok], _check(job_id="K")) == []


def test_a_certificate_is_warned_about_once() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    certificate = Certificate(
        subject="CN=mx", issuer="CN=ca", not_after="2026-01-10T00:00:00Z", sha256="c" * 64,
        verified=True,
    )  # fmt: skip
    report = Report(host="mx", port=465, tls=TlsReport(mode="implicit", certificate=certificate))
    assert expiring(report, "", 14, now) == (certificate, 9.0)
    assert expiring(report, "c" * 64, 14, now) is None  # warned already
    assert expiring(report, "", 5, now) is None  # outside the window
    assert expiring(Report(host="mx", port=25), "", 14, now) is None


def test_a_test_request_of_a_stored_provider_is_a_dry_run_to_its_receiver(
    redis_server: RedisServer, service_env: dict[str, str]
) -> None:
    redis = dataclasses.replace(redis_server, db=6).client()
    box = SecretBox(service_env["MAILPROBE_ENCRYPTION_KEYS"].split(","))
    stored = ProviderStore(redis, box).create(
        "t-units",
        ProviderRequest.model_validate(
            {"senderAddress": "a@example.com", "senderName": "A", "host": "h.example:587",
             "user": "u", "password": secret("unit-pw-91x")}
        ),
    )  # fmt: skip
    test = stored.test_request(stored.retest_receiver, box, dry_run=True)
    assert isinstance(test, SmtpTestRequest)
    assert (test.receiver_address, test.dry_run, test.id) == ("a@example.com", True, stored.id)
    assert test.auth_password == "unit-pw-91x"
    assert "retestIntervalSeconds" not in test.public()
