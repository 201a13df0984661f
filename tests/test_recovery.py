"""Faults of our own side: a worker killed mid-job, Redis restarting. No accepted job is lost,
and no message the server accepted is sent again.

These tests run their own service on their own Redis (with AOF, as in production), with a
visibility timeout of 3 s so that a task whose worker lost it comes back within seconds.
The tests of a killed worker run a service of their own whose visibility timeout is 60 s:
another worker must take the job over long before its task could come back that way,
through mailprobe.liveness. They print the takeover time.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from aiosmtpd.controller import Controller

from mailprobe import liveness, rediskeys
from mailprobe.jobs import lease_holder
from tests.bench.delay_sink import DelaySink
from tests.conftest import Service, probe_body, running_service
from tests.smtp_servers import RawServer, RecordingHandler, free_port
from tests.support import RedisServer, run_cli, start_process, start_redis, wait_for


@pytest.fixture(scope="module")
def recovery_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = start_redis(tmp_path_factory.mktemp("redis-aof"), aof=True)
    yield server
    if server.process.poll() is None:
        server.process.terminate()
        server.process.wait(timeout=10)


@pytest.fixture(scope="module")
def recovery(
    service_env: dict[str, str],
    recovery_redis: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    env = {
        **service_env,
        "MAILPROBE_REDIS_URL": recovery_redis.url,
        "MAILPROBE_PORT": str(free_port()),
        "MAILPROBE_VISIBILITY_TIMEOUT": "3",
        "MAILPROBE_RESTORE_INTERVAL": "0.5",
    }
    with running_service(env, recovery_redis, tmp_path_factory.mktemp("recovery")) as running:
        yield running


TAKEOVER_VISIBILITY_TIMEOUT = 60


@pytest.fixture(scope="module")
def takeover(
    service_env: dict[str, str],
    recovery_redis: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    """A service whose killed workers' tasks come back only after a minute."""
    redis_db = dataclasses.replace(recovery_redis, db=1)
    env = {
        **service_env,
        "MAILPROBE_REDIS_URL": redis_db.url,
        "MAILPROBE_PORT": str(free_port()),
        "MAILPROBE_VISIBILITY_TIMEOUT": str(TAKEOVER_VISIBILITY_TIMEOUT),
    }
    with running_service(env, redis_db, tmp_path_factory.mktemp("takeover")) as running:
        yield running


class CountingSmtp:
    """A plain SMTP server that counts the messages it accepted (250 after DATA), and can
    hang its first session at RCPT or at QUIT, or at the "." that ends DATA (the message
    received whole, its reply held), so the test can kill the worker there."""

    def __init__(self, hang_at: str) -> None:
        self.hang_at = hang_at
        self.accepted = 0
        self.received = 0  # messages whose final "." came, replied to or not
        self.data_sessions = 0  # sessions that sent DATA
        self.hanging = threading.Event()
        self.release = threading.Event()
        self.server = RawServer(self.serve)

    def _hang(self) -> None:
        self.hanging.set()
        self.release.wait(60)

    def serve(self, conn: socket.socket) -> None:
        first = not self.hanging.is_set()
        conn.sendall(b"220 counting.test ESMTP\r\n")
        reader = conn.makefile("rb")
        in_data = False
        for raw in reader:
            line = raw.rstrip(b"\r\n")
            if in_data:
                if line == b".":
                    in_data = False
                    self.received += 1
                    if first and self.hang_at == ".":
                        return self._hang()
                    self.accepted += 1
                    conn.sendall(b"250 2.0.0 queued\r\n")
                continue
            verb = line[:4].upper()
            if first and verb == self.hang_at.encode():
                return self._hang()
            if verb == b"DATA":
                self.data_sessions += 1
                in_data = True
                conn.sendall(b"354 go ahead\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return None
            else:
                conn.sendall(b"250 ok\r\n")
        return None

    def stop(self) -> None:
        self.release.set()
        self.server.stop()


def _worker_name(client: redis.Redis, worker: subprocess.Popen[bytes]) -> str:
    """The name the worker beats under (mailprobe-<pid>@<host>), once it beats."""

    def beating() -> str | None:
        prefix = f"mailprobe-{worker.pid}@"
        names = [
            n for n in map(str, client.zrange(rediskeys.WORKERS, 0, -1)) if n.startswith(prefix)
        ]
        return names[0] if names and liveness.is_alive(client, names[0]) else None

    name: str = wait_for(beating, 60, f"worker {worker.pid} to beat")
    return name


def _standby(service: Service) -> list[subprocess.Popen[bytes]]:
    """Two living workers, both beating: when one is killed, the other takes over."""
    alive = [w for w in service.workers if w.poll() is None]
    for _ in range(2 - len(alive)):
        alive.append(service.start_worker())
    for worker in alive:
        _worker_name(service.redis.client(), worker)
    return alive


def _kill_lease_holder(service: Service, job_id: str) -> float:
    """SIGKILL the worker running the job (the one that holds its lease); when, in unix s."""
    client = service.redis.client()
    token = str(wait_for(lambda: client.get(rediskeys.job_lease(job_id)), 10, "the lease"))
    pid = int(lease_holder(token).split("@")[0].removeprefix("mailprobe-"))
    worker = next(w for w in service.workers if w.pid == pid)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    return time.time()


def _report_takeover(capsys: pytest.CaptureFixture[str], what: str, seconds: float) -> None:
    with capsys.disabled():
        print(f"\n  takeover of a SIGKILLed worker's job, {what}: {seconds:.2f} s after the kill")


def _unix(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def test_worker_killed_after_the_server_accepted_the_message(
    takeover: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    client = takeover.client(takeover.key(tenant="t-recovery"))
    _standby(takeover)
    smtp = CountingSmtp(hang_at="QUIT")
    try:
        job = client.submit(probe_body(smtp.server.address)).json()
        wait_for(smtp.hanging.is_set, 20, "the session to reach QUIT")
        assert smtp.accepted == 1
        killed = _kill_lease_holder(takeover, job["id"])
        # Before the task could come back by the visibility timeout: by liveness only.
        ended = client.ended(job["id"], timeout=TAKEOVER_VISIBILITY_TIMEOUT / 2)
    finally:
        smtp.stop()
    _report_takeover(capsys, "accepted message", _unix(ended["finishedAt"]) - killed)
    assert ended["status"] == "succeeded", ended
    assert smtp.accepted == 1, "the accepted message must not be sent again"
    assert ended["result"]["messageId"]
    assert any("not sent again" in line for line in ended["result"]["transcript"])
    assert [a["outcome"] for a in ended["attempts"]] == ["succeeded"]


def test_worker_killed_before_acceptance_runs_the_job_again(
    takeover: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    client = takeover.client(takeover.key(tenant="t-recovery"))
    _standby(takeover)
    smtp = CountingSmtp(hang_at="RCPT")
    try:
        job = client.submit(probe_body(smtp.server.address)).json()
        wait_for(smtp.hanging.is_set, 20, "the session to reach RCPT")
        killed = _kill_lease_holder(takeover, job["id"])
        ended = client.ended(job["id"], timeout=TAKEOVER_VISIBILITY_TIMEOUT / 2)
    finally:
        smtp.stop()
    _report_takeover(
        capsys, "session cut at RCPT", _unix(ended["attempts"][1]["startedAt"]) - killed
    )
    assert ended["status"] == "succeeded", ended
    assert smtp.accepted == 1
    outcomes = [(a["number"], a["outcome"]) for a in ended["attempts"]]
    assert outcomes == [(1, "failed"), (2, "succeeded")]
    assert "worker running this attempt stopped" in ended["attempts"][0]["error"]["message"]


@pytest.mark.parametrize("batch", [False, True], ids=["task", "chunk"])
def test_worker_killed_waiting_for_the_reply_to_the_final_dot_does_not_send_again(
    takeover: Service, capsys: pytest.CaptureFixture[str], batch: bool
) -> None:
    """The server received the whole message, and the worker waits for its 250 when it is
    SIGKILLed: whether the server took it is unknown, so the job ends failed, in doubt, and
    the message is not sent a second time (at most once), by a task or by a chunk."""
    client = takeover.client(takeover.key(tenant="t-recovery"))
    _standby(takeover)
    smtp = CountingSmtp(hang_at=".")
    try:
        body = probe_body(smtp.server.address)
        if batch:
            response = client.post("/email/smtp/_tests", json={"tests": [body]})
            assert response.status_code == 202, response.text
            job_id = response.json()["items"][0]["job"]["id"]
        else:
            job_id = client.submit(body).json()["id"]
        wait_for(smtp.hanging.is_set, 20, "the session to send the final dot")
        killed = _kill_lease_holder(takeover, job_id)
        ended = client.ended(job_id, timeout=TAKEOVER_VISIBILITY_TIMEOUT / 2)
    finally:
        smtp.stop()
    _report_takeover(capsys, "in doubt after the final dot", _unix(ended["finishedAt"]) - killed)
    assert ended["status"] == "failed", ended
    assert (smtp.received, smtp.data_sessions, smtp.accepted) == (1, 1, 0), "sent once only"
    assert [a["outcome"] for a in ended["attempts"]] == ["failed"]
    error = ended["result"]["error"]
    assert (error["category"], error["phase"], error["retryable"]) == ("internal", "data", False)
    assert "not sent again" in error["message"]
    assert "may have accepted it" in error["message"]
    assert ended["attempts"][0]["error"] == error


def test_a_killed_worker_is_known_dead_within_seconds(takeover: Service) -> None:
    client = takeover.redis.client()
    worker = _standby(takeover)[-1]
    name = _worker_name(client, worker)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    # Its presence connection closed with it: known dead before its heartbeat could be stale.
    wait_for(
        lambda: not liveness.is_alive(client, name),
        liveness.STALE_SECONDS / 2,
        "the killed worker to be known dead",
    )


def test_a_stalled_worker_is_not_taken_for_dead(takeover: Service) -> None:
    """A worker that stops beating for a while (stopped, swapped out, starved of CPU) but
    keeps its connection is alive until its beat is STALE_SECONDS old: taking its jobs over
    would send their messages twice."""
    client = takeover.redis.client()
    worker = _standby(takeover)[-1]
    name = _worker_name(client, worker)
    os.killpg(worker.pid, signal.SIGSTOP)
    try:

        def silent_for() -> float:
            return time.time() - float(client.zscore(rediskeys.WORKERS, name) or 0)

        wait_for(lambda: silent_for() > 3 * liveness.GRACE_SECONDS, 10, "beats to stop")
        assert liveness.is_alive(client, name)
        assert name in liveness.dead_and_alive(client)[1]
    finally:
        os.killpg(worker.pid, signal.SIGCONT)


def test_redis_restart_loses_no_accepted_job(
    recovery: Service, recovery_redis: RedisServer, tmp_path: Path
) -> None:
    client = recovery.client(recovery.key(tenant="t-redis-restart"))
    sink = DelaySink(delay=0.3).start()  # sessions of ~2 s: in flight across the restart
    try:
        ids = []
        for _ in range(20):
            response = client.submit(probe_body(sink.address))
            assert response.status_code == 202
            ids.append(response.json()["id"])

        wait_for(lambda: sink.in_flight > 0, 10, "sessions in flight")
        recovery_redis.process.terminate()  # a clean shutdown: the AOF is complete
        recovery_redis.process.wait(timeout=10)
        down = client.submit(probe_body(sink.address))
        assert down.status_code == 503
        assert down.json()["code"] == 14
        assert int(down.headers["Retry-After"]) > 0
        assert client.get(f"/email/smtp/_test/{ids[0]}").status_code == 503
        ready = requests.get(f"{recovery.base_url}/readyz", timeout=10)
        assert ready.status_code == 503

        restarted = start_redis(_redis_dir(recovery_redis), recovery_redis.port, aof=True)
        recovery_redis.process = restarted.process

        # The API recovers by itself, and the workers reconnect.
        wait_for(
            lambda: client.submit(probe_body(sink.address)).status_code == 202,
            30,
            "the API to accept jobs again",
        )
        for job_id in ids:
            assert client.ended(job_id)["status"] == "succeeded"
        assert sink.duplicates == 0
        wait_for(lambda: sink.accepted >= len(ids), 30, "every message to arrive")
    finally:
        sink.stop()


def _redis_dir(server: RedisServer) -> Path:
    """The directory a test-owned redis-server was started in (its --dir argument)."""
    args = server.process.args
    assert isinstance(args, list)
    return Path(str(args[args.index("--dir") + 1]))


def test_a_job_whose_task_was_lost_is_swept_back(
    recovery: Service, recovery_redis: RedisServer
) -> None:
    """A job with no task (as if Redis lost the queue): `mailprobe jobs stuck` shows it, and
    `mailprobe jobs sweep` (which workers also run every 30 s) sends its task again."""
    from mailprobe.apikeys import ApiKeyStore
    from mailprobe.crypto import SecretBox
    from mailprobe.jobs import new_job
    from mailprobe.models.smtp import SmtpTestRequest
    from mailprobe.submission import NewJob, Submissions

    smtp = CountingSmtp(hang_at="none")
    env = {**recovery.env, "MAILPROBE_STUCK_AFTER": "1"}
    try:
        redis_client = recovery_redis.client()
        key = recovery.key(tenant="t-recovery")
        principal = ApiKeyStore(redis_client).authenticate(key)
        assert principal is not None
        box = SecretBox(recovery.env["MAILPROBE_ENCRYPTION_KEYS"].split(","))
        request = SmtpTestRequest.model_validate(probe_body(smtp.server.address))
        job, sealed = new_job(request, box)
        Submissions(redis_client, 3600).submit(  # stored, never enqueued: no message published
            key_digest=principal.digest,
            tenant="t-recovery",
            permission="smtp.test",
            jobs=[NewJob(job, sealed)],
            publish=[],
            rate=None,
        )

        def listed() -> bool:
            stuck = run_cli(env, "jobs", "stuck")
            return job.id in stuck.stdout and "queued" in stuck.stdout

        wait_for(listed, 20, "the job to be listed as stuck")
        swept = run_cli(env, "jobs", "sweep")
        assert swept.returncode == 0, swept.stderr
        assert "re-queued 1 stuck job(s)" in swept.stdout
        client = recovery.client(key)
        assert client.ended(job.id)["status"] == "succeeded"
        assert smtp.accepted == 1
        assert job.id not in run_cli(env, "jobs", "stuck").stdout
    finally:
        smtp.stop()


def test_worker_stopped_with_sigterm_ends_its_sessions_and_leaves_the_rest(
    recovery: Service,
) -> None:
    """SIGTERM (a deploy, a scale-down) is a warm shutdown: the worker takes no new test, ends
    every session it has begun, and the tests it had not begun wait in the queue for the next
    worker. Nothing is lost, nothing is sent twice."""
    client = recovery.client(recovery.key(tenant="t-recovery"))
    sink = DelaySink(0.3).start()  # a session takes at least 7 x 0.3 s
    try:
        # 30 tests to one host, which takes 10 sessions at once (the default): 10 in flight,
        # the others waiting for a slot (countdown tasks held by the worker) or queued.
        ids = [client.submit(probe_body(sink.address)).json()["id"] for _ in range(30)]
        wait_for(lambda: sink.in_flight >= 8, 30, "sessions in flight")
        begun, accepted_before = sink.in_flight, sink.accepted
        workers = [w for w in recovery.workers if w.poll() is None]
        for worker in workers:
            os.killpg(worker.pid, signal.SIGTERM)
        for worker in workers:
            worker.wait(60)
        # Had the sessions been cut, the sink would not have their messages.
        assert sink.accepted - accepted_before >= begun
        assert sink.accepted < 30, "the stopping worker must not take new tests"
        recovery.start_worker()
        ended = [client.ended(job_id) for job_id in ids]
    finally:
        sink.stop()
    assert [job["status"] for job in ended] == ["succeeded"] * 30
    assert sink.accepted == 30
    assert sink.duplicates == 0


class HeldSmtp:
    """A plain SMTP server whose sessions wait before their greeting until released; after
    that, sessions go through at once. It counts the messages it accepted."""

    def __init__(self) -> None:
        self.accepted = 0
        self.release = threading.Event()
        self.server = RawServer(self.serve)

    def serve(self, conn: socket.socket) -> None:
        self.release.wait(60)
        conn.sendall(b"220 held.test ESMTP\r\n")
        in_data = False
        for raw in conn.makefile("rb"):
            line = raw.rstrip(b"\r\n")
            if in_data:
                if line == b".":
                    in_data = False
                    self.accepted += 1
                    conn.sendall(b"250 2.0.0 queued\r\n")
            elif line[:4].upper() == b"DATA":
                in_data = True
                conn.sendall(b"354 go ahead\r\n")
            elif line[:4].upper() == b"QUIT":
                conn.sendall(b"221 bye\r\n")
                return
            else:
                conn.sendall(b"250 ok\r\n")

    def stop(self) -> None:
        self.release.set()
        self.server.stop()


def _unacked_job_ids(client: redis.Redis) -> set[str]:
    """The jobs whose tasks kombu lists as delivered to a worker and not yet acknowledged."""
    ids = set()
    for entry in client.hvals("unacked"):
        message = json.loads(entry)[0]
        args = json.loads(base64.b64decode(message["body"]))[0]
        ids.add(str(args[0]))
    return ids


def test_a_killed_workers_reserved_task_comes_back(recovery: Service) -> None:
    """A worker reserves one task beyond its pool (prefetch), so that a freed slot starts its
    next test at once. That task is delivered but not started: when the worker is SIGKILLed
    it is still unacknowledged in Redis, and comes back to another worker (kombu's restore,
    after the visibility timeout); it is not lost, and no message is sent twice."""
    client = recovery.client(recovery.key(tenant="t-recovery"))
    redis_client = recovery.redis.client()
    smtp = HeldSmtp()
    try:
        for worker in [w for w in recovery.workers if w.poll() is None]:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(60)
        log = recovery.logs[0].with_name("worker-reserving.log")
        recovery.logs.append(log)
        # Timeouts longer than the test, so that its sessions wait until they are released.
        env = {
            **recovery.env,
            "MAILPROBE_SMTP_COMMAND_TIMEOUT": "60",
            "MAILPROBE_SMTP_SESSION_DEADLINE": "120",
        }
        small = start_process(
            [sys.executable, "-m", "mailprobe", "worker", "--concurrency", "2"], env, log
        )
        recovery.workers.append(small)
        ids = [client.submit(probe_body(smtp.server.address)).json()["id"] for _ in range(4)]

        def reserved() -> set[str]:
            """Delivered to the worker and not started (no lease, no attempt), once two
            sessions hold its pool."""
            if smtp.server.connections < 2:
                return set()
            return {
                job_id
                for job_id in _unacked_job_ids(redis_client) & set(ids)
                if not redis_client.exists(rediskeys.job_lease(job_id))
                and client.get(f"/email/smtp/_test/{job_id}").json()["attempts"] == []
            }

        waiting: set[str] = wait_for(reserved, 60, "a task reserved beyond the pool")
        assert len(waiting) == 1
        # Two running, one reserved; the fourth still in the queue.
        assert len(_unacked_job_ids(redis_client) & set(ids)) == 3
        os.killpg(small.pid, signal.SIGKILL)
        small.wait()
        smtp.release.set()
        recovery.start_worker()
        ended = {job_id: client.ended(job_id) for job_id in ids}
    finally:
        smtp.stop()
    assert [job["status"] for job in ended.values()] == ["succeeded"] * 4
    (job_id,) = waiting
    assert len(ended[job_id]["attempts"]) == 1  # it had not started in the killed worker
    assert smtp.accepted == 4
    assert _unacked_job_ids(redis_client) & set(ids) == set()


class HoldingHandler(RecordingHandler):
    """aiosmtpd's recording handler that holds, until released, the first session of each
    recipient named "quit-…" after the server accepted its message (at QUIT), and of each
    named "rcpt-…" at RCPT (before any message), so that a test can kill the worker there."""

    def __init__(self) -> None:
        super().__init__()
        self.held = 0  # sessions held now
        self.release = threading.Event()
        self._seen: set[str] = set()

    def by_job(self) -> Counter[str]:
        """Messages accepted, by the job they are for (worker/message.py's header)."""
        with self.lock:
            return Counter(str(r.message["X-Mailprobe-Job"]) for r in self.received)

    def _first(self, address: str) -> bool:
        with self.lock:
            first = address not in self._seen
            self._seen.add(address)
            return first

    async def _hold(self) -> None:
        with self.lock:
            self.held += 1
        while not self.release.is_set():  # the server's own wait, not the test's
            await asyncio.sleep(0.05)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address.startswith("rcpt-") and self._first(address):
            await self._hold()
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        address = envelope.rcpt_tos[0]
        session.hold_at_quit = address.startswith("quit-") and self._first(address)
        return reply

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        if getattr(session, "hold_at_quit", False):
            await self._hold()
        return "221 Bye"


def test_a_chunk_whose_worker_dies_sends_only_what_was_not_accepted(
    takeover: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    """A batch of six runs as one chunk (one task, its sessions at once). The worker is
    SIGKILLed when the server has accepted the messages of the first three (their sessions
    held at QUIT) and the other three are held at RCPT: the other worker takes the chunk's
    jobs over; the first three end as accepted, without a second message, and the last three
    run again and send theirs, once."""
    client = takeover.client(takeover.key(tenant="t-recovery-chunk"))
    _standby(takeover)
    handler = HoldingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        address = f"127.0.0.1:{controller.port}"
        receivers = [f"quit-{i}@example.org" for i in range(3)]
        receivers += [f"rcpt-{i}@example.org" for i in range(3)]
        tests = [probe_body(address, receiverAddress=receiver) for receiver in receivers]
        response = client.post("/email/smtp/_tests", json={"tests": tests})
        assert response.status_code == 202, response.text
        ids = [item["job"]["id"] for item in response.json()["items"]]

        wait_for(lambda: handler.held == 6, 20, "three sessions at QUIT and three at RCPT")
        accepted = handler.by_job()
        assert accepted == Counter(ids[:3])
        redis_client = takeover.redis.client()
        holders = {lease_holder(str(redis_client.get(rediskeys.job_lease(i)))) for i in ids}
        assert len(holders) == 1, "one chunk: every session of the batch on one worker"
        killed = _kill_lease_holder(takeover, ids[0])
        handler.release.set()
        ended = [client.ended(job_id, timeout=TAKEOVER_VISIBILITY_TIMEOUT / 2) for job_id in ids]
    finally:
        handler.release.set()
        controller.stop()
    _report_takeover(capsys, "a chunk", max(_unix(job["finishedAt"]) for job in ended) - killed)
    assert [job["status"] for job in ended] == ["succeeded"] * 6, ended
    assert handler.by_job() == Counter(ids), "each job's message exactly once"
    for job in ended[:3]:
        assert [a["outcome"] for a in job["attempts"]] == ["succeeded"]
        assert any("not sent again" in line for line in job["result"]["transcript"])
    for job in ended[3:]:
        outcomes = [(a["number"], a["outcome"]) for a in job["attempts"]]
        assert outcomes == [(1, "failed"), (2, "succeeded")]
        assert "worker running this attempt stopped" in job["attempts"][0]["error"]["message"]
