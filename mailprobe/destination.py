"""Which destinations mailprobe may connect to.

An endpoint that connects wherever a caller says is a port scanner and a credential thief
unless it is guarded: every resolved address is checked, and only a checked address is used.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass

from mailprobe.settings import Network, Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DestinationRefused(Exception):
    """The destination is not allowed by policy; the message says why, without secrets."""


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
        # An IPv4-mapped IPv6 address reaches the IPv4 host: judge that one.
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allowed_networks):
            return
        # is_global is False for loopback, RFC 1918, link-local (cloud metadata), CGNAT,
        # reserved, documentation and unique-local ranges; multicast can be "global".
        if not address.is_global or address.is_multicast:
            raise DestinationRefused(f"address {address} is in a refused range")

    def check_all(self, addresses: Iterable[ResolvedAddress]) -> None:
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
