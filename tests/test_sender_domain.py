"""The sender domain's readiness: SPF and DMARC read through a real DNS server on loopback
(tests/dns_server.py), one zone per case; and the probe that runs the check after a session."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from mailprobe.models.sender_domain import SenderDomainReport
from mailprobe.models.smtp import SmtpTestRequest
from mailprobe.settings import Settings
from tests.conftest import ApiClient, Service, probe_body, running_service
from tests.dns_server import LoopbackDns, silent_dns
from tests.smtp_servers import free_port, start_smtp_server
from tests.support import RedisServer
from worker.probe import ProbeOptions, probe_smtp
from worker.senderdomain import SenderDomainCheck
from worker.spf_providers import PROVIDERS, provider_for_host


@pytest.fixture
def check(dns_server: LoopbackDns) -> SenderDomainCheck:
    return SenderDomainCheck((("127.0.0.1", dns_server.port),), cap=5.0)


def run(
    check: SenderDomainCheck, sender: str, host: str, address: str | None = "127.0.0.1"
) -> SenderDomainReport:
    report = check.run(sender, host, address, seconds_left=30.0)
    assert isinstance(report, SenderDomainReport)
    return report


def test_a_well_known_provider_included_at_any_depth_and_dmarc_pass_without_warning(
    check: SenderDomainCheck,
) -> None:
    report = run(check, "noreply@m365.example.net", "smtp.office365.com", "198.18.0.1")
    assert report.status == "checked" and report.warnings == []
    assert report.spf is not None and report.spf.record == (
        "v=spf1 include:_spf.m365.example.net -all"
    )
    assert report.spf.errors == [] and report.spf.dns_lookups == 2
    auth = report.spf.authorization
    assert auth is not None and auth.method == "provider_include" and auth.authorized is True
    assert auth.provider is not None and auth.provider.name == "Microsoft 365"
    assert auth.provider.spf_domain == "spf.protection.outlook.com"
    assert auth.provider.source.startswith("https://learn.microsoft.com/")
    dmarc = report.dmarc
    assert dmarc is not None and dmarc.domain == "m365.example.net"
    assert (dmarc.p, dmarc.sp, dmarc.adkim, dmarc.aspf, dmarc.pct) == (
        "reject",
        "quarantine",
        "r",
        "s",
        50,
    )


def test_any_other_host_is_judged_by_evaluating_the_connected_address(
    check: SenderDomainCheck,
) -> None:
    report = run(check, "ops@loopback.example.net", "mail.loopback.example.net")
    assert report.status == "checked" and report.warnings == []
    assert report.spf is not None and report.spf.dns_lookups == 0
    auth = report.spf.authorization
    assert auth is not None and auth.method == "evaluation"
    assert (auth.authorized, auth.address, auth.result) == (True, "127.0.0.1", "pass")
    assert report.dmarc is not None and report.dmarc.p == "reject"


def test_no_spf_record_is_a_warning(check: SenderDomainCheck) -> None:
    report = run(check, "hello@nospf.example.net", "smtp.sendgrid.net", "198.18.0.1")
    assert report.spf is not None and report.spf.record is None
    assert report.spf.authorization is not None
    assert report.spf.authorization.authorized is False
    assert report.warnings[0] == (
        "nospf.example.net publishes no SPF record: receivers cannot tell that SendGrid may "
        "send its mail, and many filter such mail as spam."
    )
    assert "DMARC policy quarantine" in report.warnings[1]
    assert (
        "put mail from nospf.example.net sent through SendGrid in the spam folder"
        in (report.warnings[1])
    )


def test_a_malformed_record_gives_its_syntax_error(check: SenderDomainCheck) -> None:
    report = run(check, "a@malformed.example.net", "localhost")
    assert report.spf is not None
    assert report.spf.record == "v=spf1 ipv4:192.0.2.1 ip4:192.0.2.300 -all"
    assert report.spf.errors and "ipv4 is not a valid SPF mechanism" in report.spf.errors[0]
    auth = report.spf.authorization
    assert auth is not None and (auth.result, auth.authorized) == ("permerror", False)
    assert len(report.warnings) == 1  # DMARC p=none: nothing more to say
    assert report.warnings[0].startswith("The SPF record of malformed.example.net is malformed")


def test_more_than_ten_lookups_is_counted_and_a_warning(check: SenderDomainCheck) -> None:
    report = run(check, "a@many.example.net", "localhost")
    assert report.spf is not None
    assert (report.spf.dns_lookups, report.spf.dns_lookup_limit) == (11, 10)
    assert report.warnings == [
        "The SPF record of many.example.net needs 11 DNS lookups, more than the limit of 10: "
        "receivers stop reading it with an error, so it authorises no one."
    ]


@pytest.mark.parametrize(
    ("host", "address", "who"),
    [("smtp.sendgrid.net", "198.18.0.1", "SendGrid"), ("localhost", "127.0.0.1", "localhost")],
)
def test_dmarc_reject_without_authorisation_warns_of_rejection(
    check: SenderDomainCheck, host: str, address: str, who: str
) -> None:
    report = run(check, "billing@reject.example.net", host, address)
    assert report.status == "checked"
    assert report.spf is not None and report.spf.authorization is not None
    assert report.spf.authorization.authorized is False
    assert report.warnings[-1] == (
        f"reject.example.net has the DMARC policy reject and SPF does not authorise {who}: "
        f"receivers will likely reject mail from reject.example.net sent through {who}, "
        f"unless {who} signs it with DKIM for reject.example.net."
    )
    if host == "localhost":
        assert report.spf.authorization.result == "fail"
        assert "SPF fail for 127.0.0.1, the address of localhost" in report.warnings[0]
    else:
        assert "it does not include sendgrid.net" in report.warnings[0]


def test_a_subdomain_gets_its_parents_dmarc_and_subdomain_policy(
    check: SenderDomainCheck,
) -> None:
    report = run(check, "a@mail.m365.example.net", "localhost")
    assert report.dmarc is not None and report.dmarc.domain == "m365.example.net"
    assert "has the DMARC policy quarantine" in report.warnings[-1]


def test_a_resolver_that_does_not_answer_is_a_reported_dns_failure() -> None:
    with silent_dns() as where:
        ip, _, port = where.partition(":")
        check = SenderDomainCheck(((ip, int(port)),), cap=1.0)
        report = check.run("a@m365.example.net", "smtp.office365.com", "198.18.0.1", 30.0)
    assert report.status == "dns_error"
    assert report.message == (
        f"DNS failure: no answer from {where} for m365.example.net TXT within 1.0 s"
    )
    assert report.spf is None and report.dmarc is None and report.warnings == []
    # Bounded by its budget, not by a resolver's patience (a generous margin for the CPU).
    assert report.duration_ms < 4000


def test_the_time_left_bounds_the_check_and_none_left_skips_it(
    check: SenderDomainCheck, dns_server: LoopbackDns
) -> None:
    before = len(dns_server.zones.asked)
    report = check.run("a@loopback.example.net", "localhost", "127.0.0.1", seconds_left=0.0)
    assert report.status == "skipped"
    assert report.message == "not checked: the session's deadline left no time for the DNS lookups"
    assert len(dns_server.zones.asked) == before  # not one query


def test_a_changed_record_is_read_again_at_once(
    check: SenderDomainCheck, dns_server: LoopbackDns
) -> None:
    dns_server.zones.set_txt("changing.example.net", "v=spf1 ip4:192.0.2.1 -all")
    dns_server.zones.set_txt("_dmarc.changing.example.net", "v=DMARC1; p=none")
    first = run(check, "a@changing.example.net", "localhost")
    assert first.spf is not None and first.spf.authorization is not None
    assert first.spf.authorization.result == "fail"
    dns_server.zones.set_txt("changing.example.net", "v=spf1 ip4:127.0.0.1 -all")
    second = run(check, "a@changing.example.net", "localhost")
    assert second.spf is not None and second.spf.record == "v=spf1 ip4:127.0.0.1 -all"
    assert second.spf.authorization is not None and second.spf.authorization.authorized


def test_the_provider_table_matches_host_names_and_cites_its_sources() -> None:
    assert provider_for_host("SMTP.Office365.com.") is not None
    ses = provider_for_host("email-smtp.eu-west-1.amazonaws.com")
    assert ses is not None and ses.spf_domain == "amazonses.com"
    assert provider_for_host("contoso-com.mail.protection.outlook.com") is not None
    assert provider_for_host("smtp.example.com") is None
    assert provider_for_host("smtp.gmail.com.evil.example") is None
    names = {p.name for p in PROVIDERS}
    assert {"Microsoft 365", "Google Workspace", "Amazon SES", "SendGrid", "Mailgun"} <= names
    assert "Postmark" in names
    assert all(p.source.startswith("https://") for p in PROVIDERS)


def test_resolvers_are_addresses_with_an_optional_port() -> None:
    settings = Settings(dns_resolvers="127.0.0.1:5353, ::1, [::1]:5300")
    assert settings.dns_nameservers == [("127.0.0.1", 5353), ("::1", 53), ("::1", 5300)]
    for bad in ("resolver.example", "127.0.0.1:0", "[::1"):
        with pytest.raises(ValueError, match="dns_resolvers"):
            Settings(dns_resolvers=bad)


@pytest.fixture
def smtp_server() -> Iterator[str]:
    server = start_smtp_server()
    yield server.address
    server.stop()


def _options(check: SenderDomainCheck) -> ProbeOptions:
    base = ProbeOptions.from_settings(
        Settings(allowed_networks="127.0.0.0/8", allowed_ports="1-65535")
    )
    return dataclasses.replace(base, sender_domain=check)


def test_the_probe_reports_the_sender_domain_after_the_session(
    check: SenderDomainCheck, smtp_server: str
) -> None:
    request = SmtpTestRequest.model_validate(
        probe_body(smtp_server, senderAddress="probe@loopback.example.net")
    )
    report = probe_smtp(request, _options(check), reference="ref-1")
    assert report.ok
    assert report.sender_domain is not None and report.sender_domain.status == "checked"
    assert report.sender_domain.spf is not None
    assert report.sender_domain.spf.authorization is not None
    assert report.sender_domain.spf.authorization.address == report.address == "127.0.0.1"
    shown = report.model_dump(mode="json", by_alias=True)["senderDomain"]
    assert shown["spf"]["authorization"]["authorized"] is True


def test_a_dns_failure_never_fails_the_smtp_test(smtp_server: str) -> None:
    request = SmtpTestRequest.model_validate(
        probe_body(smtp_server, senderAddress="probe@m365.example.net")
    )
    with silent_dns() as where:
        ip, _, port = where.partition(":")
        report = probe_smtp(
            request, _options(SenderDomainCheck(((ip, int(port)),), 0.5)), reference="ref-2"
        )
    assert report.ok and report.error is None
    assert report.sender_domain is not None and report.sender_domain.status == "dns_error"


def test_turned_off_the_check_makes_no_query_and_reports_nothing(smtp_server: str) -> None:
    settings = Settings(
        allowed_networks="127.0.0.0/8", allowed_ports="1-65535", sender_domain_check=False
    )
    options = ProbeOptions.from_settings(settings)
    assert options.sender_domain is None
    request = SmtpTestRequest.model_validate(probe_body(smtp_server))
    report = probe_smtp(request, options, reference="ref-3")
    assert report.ok and report.sender_domain is None


# -- through the real stack: the API, a worker, Redis, an SMTP server and the DNS server


def test_the_jobs_result_carries_the_section(client: ApiClient, smtp_server: str) -> None:
    ready = client.run(probe_body(smtp_server, senderAddress="probe@loopback.example.net"))
    assert ready["status"] == "succeeded"
    section = ready["result"]["senderDomain"]
    assert section["domain"] == "loopback.example.net" and section["status"] == "checked"
    assert section["spf"]["authorization"] == {
        "method": "evaluation",
        "authorized": True,
        "provider": None,
        "address": "127.0.0.1",
        "result": "pass",
        "explanation": "SPF pass for 127.0.0.1: sender SPF authorized",
    }
    assert section["dmarc"]["p"] == "reject" and section["warnings"] == []

    # The same server, a sender whose domain rejects what SPF does not authorise: the
    # message is accepted all the same, and the report says what receivers will do.
    rejected = client.run(probe_body(smtp_server, senderAddress="probe@reject.example.net"))
    assert rejected["status"] == "succeeded"
    warnings = rejected["result"]["senderDomain"]["warnings"]
    assert any("will likely reject mail from reject.example.net" in w for w in warnings)


@pytest.fixture(scope="module")
def deaf_dns_service(
    service_env: dict[str, str],
    redis_server: RedisServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Service]:
    """A service whose resolver never answers (its own Redis database, so that only its
    worker takes its jobs)."""
    redis = dataclasses.replace(redis_server, db=6)
    redis.client().flushdb()
    with silent_dns() as where:
        env = {
            **service_env,
            "MAILPROBE_REDIS_URL": redis.url,
            "MAILPROBE_PORT": str(free_port()),
            "MAILPROBE_DNS_RESOLVERS": where,
            "MAILPROBE_DNS_TIMEOUT": "0.5",
        }
        with running_service(env, redis, tmp_path_factory.mktemp("deaf-dns")) as running:
            yield running
    redis.client().flushdb()


def test_a_resolver_that_does_not_answer_never_fails_the_test(
    deaf_dns_service: Service, smtp_server: str
) -> None:
    job = deaf_dns_service.client().run(
        probe_body(smtp_server, senderAddress="probe@m365.example.net")
    )
    assert job["status"] == "succeeded" and len(job["attempts"]) == 1
    section = job["result"]["senderDomain"]
    assert section["status"] == "dns_error"
    assert section["message"].startswith("DNS failure: no answer from 127.0.0.1:")
    assert section["spf"] is None and section["warnings"] == []
