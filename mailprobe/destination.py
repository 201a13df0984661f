"""Which destinations mailprobe may connect to.

An endpoint that connects wherever a caller says is a port scanner and a credential thief
unless it is guarded: every resolved address is checked, and only a checked address is used.

The rule allows, not refuses: an address passes only when it is a globally routable unicast
address, or when it is in MAILPROBE_ALLOWED_NETWORKS. `refusal` is the one function that
decides; the API (SMTP hosts, token endpoints, webhook URLs), the worker's SMTP connection,
its token requests and its webhook deliveries all ask it, through DestinationPolicy.

Python's `ipaddress.is_global` alone is not enough: depending on the Python release it calls
192.0.0.8, 64:ff9b::7f00:1, ::127.0.0.1, 2002:7f00:1::, 3fff::/20 or fec0::/10 global. So
the IANA special-purpose registries (IPv4 and IPv6) and the multicast ranges are written out
below; an IPv6 address outside every listed block must also be in the global unicast range
2000::/3; and an address outside every listed block must also be is_global, in case Python
knows a block the table misses.

Some IPv6 addresses only carry an IPv4 address, which is where the packet really goes:
IPv4-mapped (::ffff:0:0/96), IPv4-compatible (::/96), NAT64 (64:ff9b::/96), 6to4
(2002::/16) and Teredo (2001::/32, its server and its client, whose address is stored
inverted). Each embedded IPv4 address is judged by the same rule, allow list included.
The local-use NAT64 prefix 64:ff9b:1::/48 (RFC 8215) is refused whole: where its IPv4
address sits depends on how the operator divided the prefix.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from mailprobe.errors import DestinationRefused
from mailprobe.settings import Network, Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _last_32_bits(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]


def _mapped(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    return [address.ipv4_mapped] if address.ipv4_mapped is not None else []


def _sixtofour(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    return [address.sixtofour] if address.sixtofour is not None else []


def _teredo(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    # (server, client); ipaddress already undoes the inversion of the client's address.
    return list(address.teredo) if address.teredo is not None else []


Carried = Callable[[ipaddress.IPv6Address], list[ipaddress.IPv4Address]]


@dataclass(frozen=True)
class _Block:
    """A special-purpose block: refused, or (`carries`) judged by the IPv4 it embeds."""

    network: Network
    name: str
    carries: Carried | None = None


def _blocks(entries: list[tuple[str, str, Carried | None]]) -> tuple[_Block, ...]:
    blocks = [_Block(ipaddress.ip_network(cidr), name, carries) for cidr, name, carries in entries]
    # Most specific first, so the first match is the registry's own entry (::1/128 within
    # ::/96, Teredo's 2001::/32 within 2001::/23).
    return tuple(sorted(blocks, key=lambda block: -block.network.prefixlen))


_SPECIAL = _blocks(
    [
        # IPv4 special-purpose registry, entries that are not globally reachable, and more.
        ("0.0.0.0/8", "this network", None),
        ("10.0.0.0/8", "private use", None),
        ("100.64.0.0/10", "shared address space (CGNAT)", None),
        ("127.0.0.0/8", "loopback", None),
        ("169.254.0.0/16", "link-local (cloud metadata)", None),
        ("172.16.0.0/12", "private use", None),
        # Its two anycast addresses (PCP, TURN) are refused with it: no mail server there.
        ("192.0.0.0/24", "IETF protocol assignments", None),
        ("192.0.2.0/24", "documentation", None),
        ("192.88.99.0/24", "6to4 relay anycast (deprecated)", None),
        ("192.168.0.0/16", "private use", None),
        ("198.18.0.0/15", "benchmarking", None),
        ("198.51.100.0/24", "documentation", None),
        ("203.0.113.0/24", "documentation", None),
        ("224.0.0.0/4", "multicast", None),
        ("240.0.0.0/4", "reserved", None),
        ("255.255.255.255/32", "limited broadcast", None),
        # IPv6 special-purpose registry, and the forms that carry an IPv4 address.
        ("::/128", "unspecified", None),
        ("::1/128", "loopback", None),
        ("::ffff:0:0/96", "IPv4-mapped", _mapped),
        ("::/96", "IPv4-compatible (deprecated)", _last_32_bits),
        ("64:ff9b::/96", "NAT64", _last_32_bits),
        ("64:ff9b:1::/48", "local-use NAT64", None),
        ("100::/64", "discard-only", None),
        ("2001::/23", "IETF protocol assignments", None),
        ("2001::/32", "Teredo", _teredo),
        ("2001:db8::/32", "documentation", None),
        ("2002::/16", "6to4", _sixtofour),
        ("3fff::/20", "documentation", None),
        ("5f00::/16", "segment routing (SRv6) SIDs", None),
        ("fc00::/7", "unique local", None),
        ("fe80::/10", "link-local", None),
        ("fec0::/10", "site-local (deprecated)", None),
        ("ff00::/8", "multicast", None),
    ]
)
_GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")


def refusal(address: IPAddress, allowed: Iterable[Network] = ()) -> str | None:
    """Why mailprobe may not connect to `address`, or None when it may.

    It may when the address is in one of the `allowed` networks, or is a globally routable
    unicast address; an address that carries an IPv4 address (see the module's docstring) is
    judged by the IPv4 address it carries.
    """
    allowed = tuple(allowed)
    if any(address in network for network in allowed):
        return None
    block = next((b for b in _SPECIAL if address in b.network), None)
    if block is None:
        if address.version == 6 and address not in _GLOBAL_UNICAST_V6:
            return f"{address} is outside the global unicast range 2000::/3"
        if not address.is_global:
            return f"{address} is not a globally routable address"
        return None
    if block.carries is None:
        return f"{address} is in {block.network}, {block.name}"
    assert isinstance(address, ipaddress.IPv6Address)
    carried = block.carries(address)
    if not carried:  # cannot happen within these blocks; refuse rather than guess
        return f"{address} is in {block.network}, {block.name}"
    for ipv4 in carried:
        why = refusal(ipv4, allowed)
        if why is not None:
            return f"{address} carries {ipv4} ({block.name}), and {why}"
    return None


@dataclass(frozen=True)
class ResolvedAddress:
    family: socket.AddressFamily
    sockaddr: tuple[str, int] | tuple[str, int, int, int]

    @property
    def ip(self) -> str:
        return self.sockaddr[0]


@dataclass(frozen=True)
class DestinationPolicy:
    allowed_networks: tuple[Network, ...]
    allowed_ports: frozenset[int]

    @classmethod
    def from_settings(cls, settings: Settings) -> DestinationPolicy:
        return cls(tuple(settings.allowed_networks), settings.port_set)

    def check_port(self, port: int) -> None:
        if port not in self.allowed_ports:
            raise DestinationRefused(f"port {port} is not in the allowed ports")

    def check_address(self, address: IPAddress) -> None:
        why = refusal(address, self.allowed_networks)
        if why is not None:
            raise DestinationRefused(why)

    def check_all(self, addresses: Iterable[ResolvedAddress]) -> None:
        """Refuse the lot when any address is refused: a name with one public and one
        private address must not be a way in."""
        for resolved in addresses:
            self.check_address(ipaddress.ip_address(resolved.ip.split("%", 1)[0]))


def resolve(host: str, port: int) -> list[ResolvedAddress]:
    """Every TCP address of host, in the resolver's order, without duplicates.

    Raises socket.gaierror as the resolver does.
    """
    if "%" not in host:
        # An address in its usual form needs no resolver (under gevent, a thread pool hop).
        # Unusual forms (decimal, octal, short) are left to getaddrinfo, which reads them.
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            if address.version == 4:
                return [ResolvedAddress(socket.AF_INET, (host, port))]
            return [ResolvedAddress(socket.AF_INET6, (host, port, 0, 0))]
    seen: set[str] = set()
    result: list[ResolvedAddress] = []
    for family, _type, _proto, _canon, sockaddr in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    ):
        if family not in (socket.AF_INET, socket.AF_INET6) or sockaddr[0] in seen:
            continue
        seen.add(str(sockaddr[0]))
        result.append(ResolvedAddress(family, sockaddr))  # type: ignore[arg-type]
    return result
