"""Pure functions, tested without any server."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mailprobe import liveness
from mailprobe.crypto import (
    SEALED_RECORDS,
    SecretBox,
    generate_key,
    job_context,
    open_secrets,
    provider_context,
    seal_secrets,
    webhook_context,
)
from mailprobe.errors import (
    DecryptionError,
    DestinationRefused,
    KeyringError,
    MailprobeError,
    RateLimited,
    StaleSecret,
)
from mailprobe.ids import new_id
from mailprobe.models.fields import split_host_port
from mailprobe.models.reports import PhaseReport
from mailprobe.models.smtp import SmtpTestRequest
from mailprobe.settings import Settings
from worker.message import SessionSummary, build_test_message, dot_stuff
from worker.oauth import TokenError
from worker.smtp import SMTPError, SMTPReply, SMTPTimeout, Transcript
from worker.tasks import backoff


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("smtp.example.com:587", ("smtp.example.com", 587)),
        ("10.0.0.1:25", ("10.0.0.1", 25)),
        ("[2001:db8::1]:465", ("2001:db8::1", 465)),
        ("mx_1.example.com.:2525", ("mx_1.example.com.", 2525)),
    ],
)
def test_split_host_port(value: str, expected: tuple[str, int]) -> None:
    assert split_host_port(value) == expected


def test_dot_stuffing_and_terminator() -> None:
    assert dot_stuff(b"a\r\n.b\r\n..c\r\n") == b"a\r\n..b\r\n...c\r\n.\r\n"
    assert dot_stuff(b"no newline") == b"no newline\r\n.\r\n"


def test_test_message_headers() -> None:
    built = build_test_message(
        sender_address="a@example.com",
        sender_name="Ünï Cödé",
        receiver_address="b@example.org",
        tested=SessionSummary(
            "smtp.example.com", 587, "203.0.113.5", "STARTTLS, TLSv1.3", "AUTH PLAIN"
        ),
        reference="01ARZ3NDEKTSV4RRFFQ69G5FAV",
        now=datetime(2026, 11, 30, 5, 40, 12, tzinfo=UTC),
    )
    raw = built.data
    head, body = raw.decode().split("\r\n\r\n", 1)
    head.encode("ascii")  # headers are pure ASCII on the wire
    assert f"Message-ID: {built.message_id}" in head
    assert "=?utf-8?" in head.lower()
    assert "\r\n" in raw.decode() and "\n" not in raw.decode().replace("\r\n", "")
    # A Subject a person finds among thousands: a short reference and the time.
    assert built.subject == "mailprobe test Q69G5FAV: smtp.example.com:587, 2026-11-30 05:40 UTC"
    assert f"Subject: {built.subject}\r\n" in head
    # The body says what was tested.
    assert "SMTP server: smtp.example.com, port 587 (address 203.0.113.5)\r\n" in body
    assert "Encryption:  STARTTLS, TLSv1.3\r\n" in body
    assert "Login:       AUTH PLAIN\r\n" in body
    assert "Sent at: 2026-11-30T05:40:12Z" in body
    assert "Test job: 01ARZ3NDEKTSV4RRFFQ69G5FAV (reference Q69G5FAV in the Subject)" in body


def test_an_ipv6_host_is_bracketed_in_the_subject() -> None:
    built = build_test_message(
        sender_address="a@example.com",
        sender_name="A",
        receiver_address="b@example.org",
        tested=SessionSummary("2001:db8::1", 465, "2001:db8::1", "implicit TLS, TLSv1.3", "none"),
        reference="01ARZ3NDEKTSV4RRFFQ69G5FAV",
    )
    assert ": [2001:db8::1]:465, " in built.subject
    assert "SMTP server: 2001:db8::1, port 465\r\n" in built.data.decode()


def test_secret_box_rotation_and_binding() -> None:
    old, new = generate_key("old"), generate_key("new")
    sealed_old = SecretBox([old]).encrypt("hunter2", "job:1")
    box = SecretBox([new, old])
    assert box.decrypt(sealed_old, "job:1") == "hunter2"
    sealed_new = box.encrypt("hunter2", "job:1")
    assert box.key_id_of(sealed_new) == "new" and "hunter2" not in sealed_new
    with pytest.raises(DecryptionError):
        box.decrypt(sealed_new, "job:2")  # bound to its record
    with pytest.raises(DecryptionError):
        SecretBox([old]).decrypt(sealed_new, "job:1")  # key no longer configured


@pytest.mark.parametrize("entries", [[], ["nocolon"], ["k:short"], ["bad id!:" + "A" * 43]])
def test_secret_box_rejects_bad_keyrings(entries: list[str]) -> None:
    with pytest.raises(KeyringError):
        SecretBox(entries)


def test_ids_sort_by_time() -> None:
    ids = [new_id(now_ms=ms) for ms in (1, 2, 1_700_000_000_000)]
    assert ids == sorted(ids) and len(set(ids)) == 3 and all(len(i) == 26 for i in ids)


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    settings = Settings(retry_base_delay=2, retry_max_delay=10)
    for attempt, (low, high) in {1: (1, 2), 2: (2, 4), 3: (4, 8), 6: (5, 10)}.items():
        delays = [backoff(attempt, settings) for _ in range(200)]
        assert all(low <= d <= high for d in delays)
        assert len(set(delays)) > 1


def test_transcript_redacts_every_known_secret() -> None:
    transcript = Transcript()
    transcript.add_secret("pw")
    transcript.add_secret("cHc=")
    transcript.record("S", "535 bad credentials pw cHc=")
    assert transcript.lines == ["S: 535 bad credentials <redacted> <redacted>"]


def test_enhanced_status_code() -> None:
    assert SMTPReply(550, ("5.1.1 no such user",)).enhanced_code == "5.1.1"
    assert SMTPReply(550, ("no such user",)).enhanced_code is None


RUN_ID, OTHER_RUN_ID = "a" * 40, "b" * 40


@pytest.mark.parametrize(
    ("beat_age", "server", "subscribed", "dead"),
    [
        (None, RUN_ID, True, True),  # never beat, or forgotten
        (0.2, RUN_ID, True, False),
        (10.0, RUN_ID, True, False),  # stalled, but its connection stands
        (16.0, RUN_ID, True, True),  # stale: its host is gone or cut off
        (0.2, RUN_ID, False, False),  # its connection broke a moment ago: it will be back
        (1.5, RUN_ID, False, True),  # its process ended
        (5.0, OTHER_RUN_ID, False, False),  # Redis restarted or failed over since it subscribed
        (16.0, OTHER_RUN_ID, False, True),
    ],
)
def test_when_a_worker_is_dead(
    beat_age: float | None, server: str, subscribed: bool, dead: bool
) -> None:
    now = 1_000_000.0
    last = None if beat_age is None else now - beat_age
    signs = liveness.Signs(last, server, subscribed, current_server=RUN_ID)
    assert liveness.is_dead(signs, now) is dead


def test_requests_take_either_field_name_and_reports_answer_in_camel_case() -> None:
    # pydantic's validate_by_name, validate_by_alias and serialize_by_alias (2.11 and later).
    snake = {"sender_address": "a@example.com", "sender_name": "A", "receiver_address": "b@x.org"}
    camel = {"senderAddress": "a@example.com", "senderName": "A", "receiverAddress": "b@x.org"}
    by_name, by_alias = (
        SmtpTestRequest.model_validate({**fields, "host": "smtp.example.com:587"})
        for fields in (snake, camel)
    )
    assert by_name == by_alias and by_name.receiver_address == "b@x.org"
    phase = PhaseReport(name="connect", ok=True, duration_ms=1.5)
    assert phase.model_dump() == {
        "name": "connect",
        "ok": True,
        "durationMs": 1.5,
        "reply": None,
        "note": None,
    }
    assert PhaseReport.model_validate_json(phase.model_dump_json()) == phase


def test_each_layer_has_one_hierarchy_of_errors() -> None:
    # The core's: one base, whatever store or check raised it.
    for error in (KeyringError, DecryptionError, DestinationRefused, RateLimited, StaleSecret):
        assert issubclass(error, MailprobeError)
    assert issubclass(KeyringError, ValueError)  # a bad setting, as pydantic's are
    # The worker's: a timeout of the SMTP client is a TimeoutError like any other, and the
    # token endpoint's failure is the HTTP client's, with its `retryable`.
    assert issubclass(SMTPTimeout, SMTPError)
    assert issubclass(SMTPTimeout, TimeoutError)
    assert str(SMTPTimeout("no reply before the timeout")) == "no reply before the timeout"
    assert TokenError("the token endpoint: timed out", retryable=True).retryable


def test_a_secret_sealed_for_one_kind_of_record_does_not_open_as_another() -> None:
    box = SecretBox([generate_key("k1")])
    contexts = [context_of("01J0000000000000000000000A") for context_of in SEALED_RECORDS.values()]
    assert len(set(contexts)) == len(SEALED_RECORDS) == 3
    sealed = seal_secrets(box, {"password": "hunter2"}, provider_context("1"))
    assert open_secrets(box, sealed, provider_context("1")) == {"password": "hunter2"}
    for other in (webhook_context("1"), job_context("1"), provider_context("2")):
        with pytest.raises(DecryptionError):
            open_secrets(box, sealed, other)


def test_a_batch_is_queued_in_chunks_and_single_tests_one_task_each() -> None:
    from api.operations import _tasks
    from mailprobe.queues import RUN_SMTP_TEST, RUN_SMTP_TESTS

    ids = [new_id() for _ in range(120)]
    settings = Settings(batch_chunk_size=50)
    chunks = _tasks(ids, True, settings)
    assert [(name, len(args[0])) for name, args in chunks] == [(RUN_SMTP_TESTS, 50)] * 2 + [
        (RUN_SMTP_TESTS, 20)
    ]
    assert [job for _, args in chunks for job in args[0]] == ids
    assert _tasks(ids[:2], False, settings) == [
        (RUN_SMTP_TEST, [ids[0], 1]),
        (RUN_SMTP_TEST, [ids[1], 1]),
    ]
