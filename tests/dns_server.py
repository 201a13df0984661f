"""A real DNS server on loopback (dnslib), serving test zones; and one that never answers.

The sender-domain tests resolve through these, as a worker resolves through the servers of
MAILPROBE_DNS_RESOLVERS: real UDP (and TCP) packets, nothing mocked.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from dnslib import QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

# Provider SPF domains as the tests serve them: stand-ins for the real records (the
# addresses are documentation ranges), so that includes resolve without the Internet.
PROVIDER_RECORDS = {
    "spf.protection.outlook.com": "v=spf1 ip4:198.51.100.0/24 -all",
    "_spf.google.com": "v=spf1 ip4:203.0.113.0/24 ~all",
    "sendgrid.net": "v=spf1 ip4:192.0.2.128/25 -all",
}

# The cases, one sender domain each, under example.net (reserved for documentation by RFC
# 2606; the API's address check refuses the special-use .test).
TOO_MANY = [f"i{n}.many.example.net" for n in range(1, 12)]
ZONES: dict[str, str] = {
    **PROVIDER_RECORDS,
    # Microsoft 365 authorised through a nested include; DMARC reject, strict SPF alignment.
    "m365.example.net": "v=spf1 include:_spf.m365.example.net -all",
    "_spf.m365.example.net": "v=spf1 ip4:192.0.2.10 include:spf.protection.outlook.com -all",
    "_dmarc.m365.example.net": "v=DMARC1; p=reject; sp=quarantine; aspf=s; pct=50",
    # The address mailprobe connects to in the tests (loopback) is authorised.
    "loopback.example.net": "v=spf1 ip4:192.0.2.1 ip4:127.0.0.0/8 -all",
    "_dmarc.loopback.example.net": "v=DMARC1; p=reject",
    # No SPF at all (a TXT record of another kind), DMARC quarantine.
    "nospf.example.net": "google-site-verification=abc",
    "_dmarc.nospf.example.net": "v=DMARC1; p=quarantine",
    # Malformed: a mechanism that does not exist and an address out of range.
    "malformed.example.net": "v=spf1 ipv4:192.0.2.1 ip4:192.0.2.300 -all",
    "_dmarc.malformed.example.net": "v=DMARC1; p=none",
    # Eleven includes: one more DNS lookup than the limit.
    "many.example.net": "v=spf1 " + " ".join(f"include:{name}" for name in TOO_MANY) + " -all",
    **{name: f"v=spf1 ip4:192.0.2.{n} -all" for n, name in enumerate(TOO_MANY, start=20)},
    "_dmarc.many.example.net": "v=DMARC1; p=none",
    # DMARC reject, and an SPF record that authorises neither SendGrid nor loopback.
    "reject.example.net": "v=spf1 include:_spf.google.com ip4:192.0.2.1 -all",
    "_dmarc.reject.example.net": "v=DMARC1; p=reject",
    # A subdomain without DMARC of its own: its parent's (m365.example.net) sp= applies.
    "mail.m365.example.net": "v=spf1 ip4:192.0.2.1 -all",
}


@dataclass
class Zones(BaseResolver):  # type: ignore[misc]
    """TXT records by name (A records for `a:` mechanisms); NXDOMAIN for any other name.

    The records can change while the server runs (a test that edits a record)."""

    txt: dict[str, str] = field(default_factory=lambda: dict(ZONES))
    a: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    asked: list[str] = field(default_factory=list)  # "name TYPE" of every query, in order

    def set_txt(self, name: str, value: str) -> None:
        with self.lock:
            self.txt[name] = value

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        with self.lock:
            self.asked.append(f"{name} {qtype}")
            text, address = self.txt.get(name), self.a.get(name)
        if text is None and address is None and not self._has_children(name):
            reply.header.rcode = RCODE.NXDOMAIN
        elif qtype == "TXT" and text is not None:
            # A character-string holds 255 bytes at most: long records come in several.
            chunks = [text[i : i + 255] for i in range(0, len(text), 255)]
            reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=TXT(chunks), ttl=60))
        elif qtype == "A" and address is not None:
            reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=60))
        return reply

    def _has_children(self, name: str) -> bool:
        with self.lock:
            return any(other.endswith("." + name) for other in (*self.txt, *self.a))


class _Quiet(DNSLogger):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(log="-request,-reply,-truncated,-data", prefix=False)


@dataclass
class LoopbackDns:
    zones: Zones
    port: int

    @property
    def resolver(self) -> str:
        """As MAILPROBE_DNS_RESOLVERS takes it."""
        return f"127.0.0.1:{self.port}"


@contextlib.contextmanager
def running_dns(zones: Zones | None = None) -> Iterator[LoopbackDns]:
    """A DNS server on a free loopback port, UDP and TCP, until the block ends."""
    zones = zones or Zones()
    for _ in range(50):  # a free TCP port whose UDP twin is free too
        tcp = DNSServer(zones, address="127.0.0.1", port=0, tcp=True, logger=_Quiet())
        port = tcp.server.server_address[1]
        try:
            udp = DNSServer(zones, address="127.0.0.1", port=port, logger=_Quiet())
            break
        except OSError:
            tcp.server.server_close()
    else:
        raise RuntimeError("no free port for both UDP and TCP")
    udp.start_thread()
    tcp.start_thread()
    try:
        yield LoopbackDns(zones, port)
    finally:
        udp.stop()
        tcp.stop()
        udp.server.server_close()
        tcp.server.server_close()


@contextlib.contextmanager
def silent_dns() -> Iterator[str]:
    """A loopback UDP port that takes queries and never answers: a resolver that is down
    without saying so. Yields it as MAILPROBE_DNS_RESOLVERS takes it."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"
