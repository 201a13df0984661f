"""The sender domain's readiness: will mail from this sender through this provider be accepted?

A setting can pass every SMTP phase and still land in spam or be rejected, because the
sender address's domain does not authorise the provider. After the session, within what is
left of its deadline (and never longer than MAILPROBE_DNS_TIMEOUT), this reads the domain's
SPF and DMARC records through the resolvers of MAILPROBE_DNS_RESOLVERS and says, in plain
words, what a receiver will likely do. A DNS failure is reported in the section and fails
nothing else. Plain Python, as worker/probe.py is.

The libraries, and why (the candidates were pyspf, checkdmarc, emailsec and pydmarc):

- checkdmarc (maintained, released monthly) reads the records: it finds the SPF record,
  checks its syntax against RFC 7208's grammar, follows every include and redirect to count
  the DNS lookups the whole record needs (what the limit of 10 is about; an evaluator counts
  only those of the path one address takes), and keeps the tree of includes, in which a
  provider's SPF domain is looked for. It finds the DMARC record (at the domain, else up the
  tree, RFC 9989) and checks its tags. It cannot evaluate an address against a record.
- pyspf evaluates the address mailprobe connected to against the record, as receivers do
  (RFC 7208's check_host(), its test suite passed; the SPF library of Debian, spf-engine and
  authheaders). Its DNS goes through dnspython, here through the same budgeted resolver.
- emailsec is alpha, async (aiodns) and needs Python 3.12 for its current releases; pydmarc
  parses DMARC only, without its discovery.

checkdmarc keeps DNS answers for 30 minutes, whatever their TTL and whichever resolvers asked:
a user who fixes a record and tests again would see the old one. That cache is turned off
below; so is nothing else of the libraries.
"""

from __future__ import annotations

import contextvars
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import checkdmarc.dmarc
import checkdmarc.spf
import checkdmarc.utils
import dns.exception
import dns.name
import dns.nameserver
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import spf

from mailprobe.models.sender_domain import (
    DmarcReport,
    SenderDomainReport,
    SpfAuthorization,
    SpfProvider,
    SpfReport,
)
from mailprobe.settings import Settings
from worker.spf_providers import Provider, provider_for_host

log = logging.getLogger("mailprobe.worker")

DNS_LOOKUP_LIMIT = 10  # RFC 7208 4.6.4

# checkdmarc caches an answer only in an ExpiringDict; anything else turns its cache off.
checkdmarc.utils.DNS_CACHE = {}


class _OutOfTime(dns.exception.Timeout):
    """The check's time is up: no more lookups."""


class _Budget:
    """The seconds the lookups may still take, on the monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        left = self.end - time.monotonic()
        if left <= 0:
            raise _OutOfTime()  # type: ignore[no-untyped-call]
        return left


class _BudgetResolver(dns.resolver.Resolver):
    """The configured resolvers; each lookup gets no more than what is left of the budget,
    and every failure to get an answer is noted: the libraries turn some into "no record"."""

    def __init__(
        self, nameservers: list[str | dns.nameserver.Nameserver], budget: _Budget, where: str
    ) -> None:
        super().__init__(configure=False)
        self.nameservers = nameservers
        self.use_search_by_default = False
        self.timeout = 1.0  # per try of one server: a lost UDP packet is asked again
        self.budget = budget
        self.where = where
        self.failures: list[str] = []

    def resolve(
        self,
        qname: dns.name.Name | str,
        rdtype: dns.rdatatype.RdataType | str = dns.rdatatype.A,
        rdclass: dns.rdataclass.RdataClass | str = dns.rdataclass.IN,
        tcp: bool = False,
        source: str | None = None,
        raise_on_no_answer: bool = True,
        source_port: int = 0,
        lifetime: float | None = None,
        search: bool | None = None,
    ) -> dns.resolver.Answer:
        kind = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))
        if kind == "SPF":
            # The SPF record type (99) was retired by RFC 7208 and some servers never answer
            # it: checkdmarc asks only to warn about it. Not asked.
            raise dns.resolver.NoAnswer()  # type: ignore[no-untyped-call]
        try:
            left = self.budget.remaining()
            limit = left if lifetime is None else min(lifetime, left)
            return super().resolve(
                qname, rdtype, rdclass, tcp, source, raise_on_no_answer, source_port, limit, search
            )
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            raise
        except dns.exception.Timeout:
            self.failures.append(
                f"no answer from {self.where} for {qname} {kind} within {self.budget.seconds:.1f} s"
            )
            raise
        except dns.exception.DNSException as exc:
            self.failures.append(f"{self.where} could not answer for {qname} {kind}: {exc}")
            raise


# pyspf looks names up through its module's DNSLookup: it is pointed at the resolver of the
# check running in this thread or greenlet (each has its own context).
_CURRENT: contextvars.ContextVar[_BudgetResolver | None] = contextvars.ContextVar(
    "mailprobe_spf_resolver", default=None
)


def _pyspf_lookup(name: str, qtype: str, strict: Any = True, timeout: float = 20) -> list[Any]:
    """pyspf's DNS lookup (its dnspython one, asking our resolver): ((name, type), data)."""
    resolver = _CURRENT.get() or dns.resolver.get_default_resolver()
    found: list[Any] = []
    try:
        for rdata in resolver.resolve(name, qtype, lifetime=timeout):
            if qtype in ("A", "AAAA"):
                found.append(((name, qtype), rdata.address))
            elif qtype == "MX":
                found.append(((name, qtype), (rdata.preference, rdata.exchange)))
            elif qtype == "PTR":
                found.append(((name, qtype), rdata.target.to_text(True)))
            elif qtype in ("TXT", "SPF"):
                found.append(((name, qtype), rdata.strings))
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        pass
    except dns.exception.DNSException as exc:
        raise spf.TempError(f"DNS {exc}") from None
    return found


spf.DNSLookup = _pyspf_lookup


@contextmanager
def _pyspf_resolver(resolver: _BudgetResolver) -> Iterator[None]:
    token = _CURRENT.set(resolver)
    try:
        yield
    finally:
        _CURRENT.reset(token)


@dataclass(frozen=True)
class SenderDomainCheck:
    """The check, as a worker (or `mailprobe test --local`) runs it after each session."""

    nameservers: tuple[tuple[str, int], ...]  # empty: the system's resolvers
    cap: float

    @classmethod
    def from_settings(cls, settings: Settings) -> SenderDomainCheck:
        return cls(tuple(settings.dns_nameservers), settings.dns_timeout)

    def run(
        self, sender_address: str, host: str, address: str | None, seconds_left: float
    ) -> SenderDomainReport:
        """Check the domain of `sender_address` for mail sent through `host`, which
        mailprobe reached at `address` (None when it did not connect), in at most
        `seconds_left` (what the session's deadline leaves) and the cap. Never raises."""
        domain = sender_address.rpartition("@")[2].lower().rstrip(".")
        started = time.perf_counter()
        seconds = min(self.cap, seconds_left)
        if seconds <= 0.05:
            report = SenderDomainReport(
                domain=domain,
                status="skipped",
                message="not checked: the session's deadline left no time for the DNS lookups",
            )
        else:
            resolver = _BudgetResolver(self._nameservers(), _Budget(seconds), self.describe())
            try:
                report = _check(domain, sender_address, host, address, resolver)
            except Exception:
                log.exception("the sender-domain check of %s failed", domain)
                report = SenderDomainReport(
                    domain=domain, status="error", message="mailprobe could not check it"
                )
        report.duration_ms = round((time.perf_counter() - started) * 1000, 2)
        return report

    def _nameservers(self) -> list[str | dns.nameserver.Nameserver]:
        if not self.nameservers:
            return list(dns.resolver.get_default_resolver().nameservers)
        return [dns.nameserver.Do53Nameserver(ip, port) for ip, port in self.nameservers]

    def describe(self) -> str:
        if not self.nameservers:
            return "the system's resolvers"
        return ", ".join(f"{ip}:{port}" if port != 53 else ip for ip, port in self.nameservers)


def _check(
    domain: str, sender: str, host: str, address: str | None, resolver: _BudgetResolver
) -> SenderDomainReport:
    provider = provider_for_host(host)
    spf_report, includes = _read_spf(domain, resolver)
    if not resolver.failures:
        spf_report.authorization = _authorization(
            spf_report, includes, provider, sender, host, address, resolver
        )
    dmarc_report = _read_dmarc(domain, resolver)
    if resolver.failures:
        # What was read may be wrong (the libraries take a failed lookup for "no record"):
        # the section says only what failed.
        message = f"DNS failure: {resolver.failures[0]}"
        return SenderDomainReport(domain=domain, status="dns_error", message=message)
    return SenderDomainReport(
        domain=domain,
        status="checked",
        spf=spf_report,
        dmarc=dmarc_report,
        warnings=_warnings(domain, host, spf_report, dmarc_report),
    )


def _read_spf(domain: str, resolver: _BudgetResolver) -> tuple[SpfReport, set[str]]:
    """The record, its errors, its lookup count and the domains it includes (at any depth)."""
    report = SpfReport(dns_lookup_limit=DNS_LOOKUP_LIMIT)
    try:
        found = checkdmarc.spf.query_spf_record(domain, resolver=resolver)
    except checkdmarc.spf.SPFRecordNotFound:
        return report, set()
    except checkdmarc.spf.SPFError as exc:  # two records, say
        report.errors.append(_error_text(exc))
        return report, set()
    report.record = found["record"]
    try:
        parsed = checkdmarc.spf.parse_spf_record(
            report.record, domain, resolver=resolver, ignore_too_many_lookups=True
        )
    except checkdmarc.spf.SPFError as exc:
        report.errors.append(_error_text(exc))
        return report, set()
    report.dns_lookups = parsed["dns_lookups"]
    if "error" in parsed:
        report.errors.append(_error_text(parsed["error"]))
    return report, set(_included(parsed.get("parsed")))


def _included(parsed: dict[str, Any] | None) -> Iterator[str]:
    if not parsed:
        return
    for mechanism in parsed.get("mechanisms", []):
        if mechanism.get("mechanism") == "include" and mechanism.get("action") == "pass":
            yield str(mechanism["value"]).lower().rstrip(".")
            yield from _included(mechanism.get("parsed"))
    redirect = parsed.get("redirect")
    if isinstance(redirect, dict):
        yield str(redirect.get("domain", "")).lower().rstrip(".")
        yield from _included(redirect.get("parsed"))


def _authorization(
    spf_report: SpfReport,
    includes: set[str],
    provider: Provider | None,
    sender: str,
    host: str,
    address: str | None,
    resolver: _BudgetResolver,
) -> SpfAuthorization:
    if provider is not None:
        listed = provider.spf_domain in includes
        entry = SpfProvider(
            name=provider.name, spf_domain=provider.spf_domain, source=provider.source
        )
        if spf_report.record is None:
            explanation = "there is no SPF record"
        elif listed:
            explanation = f"the record includes {provider.spf_domain}"
        else:
            explanation = f"the record does not include {provider.spf_domain}"
        if listed and spf_report.errors:
            explanation += ", but receivers fail the record with a permanent error"
        return SpfAuthorization(
            method="provider_include",
            authorized=listed and not spf_report.errors,
            provider=entry,
            explanation=explanation,
        )
    if address is None:
        return SpfAuthorization(
            method="evaluation",
            authorized=None,
            explanation=f"not evaluated: mailprobe did not connect to {host}",
        )
    with _pyspf_resolver(resolver):
        query = spf.query(i=address, s=sender, h=host, timeout=resolver.budget.remaining())
        # The record checkdmarc read: asking for it again would cost a lookup.
        result, _code, text = query.check(spf=spf_report.record or None)
    authorized = {"pass": True, "temperror": None}.get(result, False)
    return SpfAuthorization(
        method="evaluation",
        authorized=authorized,
        address=address,
        result=result,
        explanation=f"SPF {result} for {address}" + (f": {text}" if text else ""),
    )


def _read_dmarc(domain: str, resolver: _BudgetResolver) -> DmarcReport:
    report = DmarcReport()
    try:
        found = checkdmarc.dmarc.query_dmarc_record(domain, resolver=resolver)
    except checkdmarc.dmarc.DMARCRecordNotFound:
        return report
    except checkdmarc.dmarc.DMARCError as exc:  # two records, one in the wrong place
        report.errors.append(_error_text(exc))
        return report
    report.record, report.domain = found["record"], found["location"]
    try:
        tags = checkdmarc.dmarc.parse_dmarc_record(report.record, report.domain, resolver=resolver)[
            "tags"
        ]
    except checkdmarc.dmarc.DMARCError as exc:
        report.errors.append(_error_text(exc))
        return report
    report.p = tags["p"]["value"]
    report.sp = tags["sp"]["value"]
    report.adkim = tags["adkim"]["value"]
    report.aspf = tags["aspf"]["value"]
    report.pct = _pct(report.record)
    return report


def _pct(record: str) -> int:
    """pct= (RFC 7489; RFC 9989, which checkdmarc follows, dropped it, but receivers that
    still apply it are many); 100 when absent."""
    for part in record.split(";"):
        tag, _, value = part.partition("=")
        if tag.strip().lower() == "pct" and value.strip().isdigit():
            return min(int(value.strip()), 100)
    return 100


def _error_text(error: object) -> str:
    text = str(error.args[0]) if isinstance(error, Exception) and error.args else str(error)
    return text.strip()


def _warnings(domain: str, host: str, spf_report: SpfReport, dmarc: DmarcReport) -> list[str]:
    """What a receiver will likely do with mail from this sender through this provider."""
    found: list[str] = []
    auth = spf_report.authorization
    who = auth.provider.name if auth is not None and auth.provider is not None else host
    if spf_report.record is None and not spf_report.errors:
        found.append(
            f"{domain} publishes no SPF record: receivers cannot tell that {who} may send its "
            "mail, and many filter such mail as spam."
        )
    elif spf_report.dns_lookups is not None and spf_report.dns_lookups > DNS_LOOKUP_LIMIT:
        found.append(
            f"The SPF record of {domain} needs {spf_report.dns_lookups} DNS lookups, more than "
            f"the limit of {DNS_LOOKUP_LIMIT}: receivers stop reading it with an error, so it "
            "authorises no one."
        )
    elif spf_report.errors:
        found.append(
            f"The SPF record of {domain} is malformed ({spf_report.errors[0]}): receivers fail "
            "it with an error, so it authorises no one."
        )
    elif auth is not None and auth.authorized is False:
        if auth.provider is not None:
            why = f"it does not include {auth.provider.spf_domain}"
        else:
            why = f"SPF {auth.result} for {auth.address}"
            if host != auth.address:
                why += f", the address of {host}"
        found.append(
            f"The SPF record of {domain} does not authorise {who} ({why}): receivers may "
            "filter or reject its mail."
        )
    policy = _effective_policy(domain, dmarc)
    if (auth is None or auth.authorized is not True) and policy in ("reject", "quarantine"):
        mail = f"mail from {domain} sent through {who}"
        fate = f"reject {mail}" if policy == "reject" else f"put {mail} in the spam folder"
        found.append(
            f"{domain} has the DMARC policy {policy} and SPF does not authorise {who}: "
            f"receivers will likely {fate}, unless {who} signs it with DKIM for {domain}."
        )
    if dmarc.errors:
        found.append(
            f"The DMARC record of {domain} is malformed ({dmarc.errors[0]}): receivers ignore it."
        )
    elif dmarc.record is None:
        found.append(
            f"{domain} publishes no DMARC record: Gmail and Yahoo require one of senders of "
            "5,000 messages a day or more, and may filter their mail without it."
        )
    return found


def _effective_policy(domain: str, dmarc: DmarcReport) -> str | None:
    """The policy receivers apply to mail from `domain`: sp= when the record is a parent's."""
    if dmarc.record is None or dmarc.errors:
        return None
    if dmarc.domain != domain and dmarc.sp is not None:
        return dmarc.sp
    return dmarc.p
