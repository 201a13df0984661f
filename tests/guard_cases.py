"""Addresses the destination guard must refuse, and global ones it must let through.

Used by tests/test_guard.py (the deciding function, and the API inside a network namespace).
Each hostile address comes with a piece of the reason the guard must give.
"""

from __future__ import annotations

HOSTILE_ADDRESSES: list[tuple[str, str]] = [
    # IPv4 special-purpose registry
    ("0.0.0.0", "this network"),
    ("0.1.2.3", "this network"),
    ("10.0.0.1", "private use"),
    ("10.255.255.254", "private use"),
    ("100.64.0.1", "CGNAT"),
    ("100.127.255.254", "CGNAT"),
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.0.1", "link-local"),
    ("172.16.0.1", "private use"),
    ("172.31.255.254", "private use"),
    ("192.0.0.1", "IETF protocol assignments"),  # DS-Lite
    ("192.0.0.8", "IETF protocol assignments"),  # the IPv4 dummy address
    ("192.0.0.9", "IETF protocol assignments"),  # PCP anycast: no mail server there
    ("192.0.0.170", "IETF protocol assignments"),  # NAT64 discovery
    ("192.0.2.1", "documentation"),
    ("192.88.99.1", "6to4 relay anycast"),
    ("192.168.1.1", "private use"),
    ("198.18.0.1", "benchmarking"),
    ("198.19.255.254", "benchmarking"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("224.0.0.251", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "limited broadcast"),
    # IPv6 special-purpose registry
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("100::1", "discard-only"),
    ("2001:2::1", "IETF protocol assignments"),  # benchmarking
    ("2001:10::1", "IETF protocol assignments"),  # ORCHID
    ("2001:4:112::1", "IETF protocol assignments"),  # AS112: no mail server there
    ("2001:db8::25", "documentation"),
    ("3fff::1", "documentation"),
    ("5f00::1", "SRv6"),
    ("fc00::1", "unique local"),
    ("fd12:3456::1", "unique local"),
    ("fe80::1", "link-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("4000::1", "outside the global unicast range"),
    ("::ffff:0:7f00:1", "outside the global unicast range"),  # SIIT's IPv4-translated form
    # IPv6 forms that carry an IPv4 address, judged by that address
    ("::ffff:127.0.0.1", "IPv4-mapped"),
    ("::ffff:169.254.169.254", "cloud metadata"),
    ("::ffff:10.0.0.1", "private use"),
    ("::ffff:192.0.0.8", "IETF protocol assignments"),
    ("::127.0.0.1", "IPv4-compatible"),
    ("::169.254.169.254", "cloud metadata"),
    ("::0.0.0.2", "this network"),
    ("64:ff9b::7f00:1", "NAT64"),
    ("64:ff9b::a9fe:a9fe", "cloud metadata"),
    ("64:ff9b::a00:1", "private use"),
    ("64:ff9b::c000:8", "IETF protocol assignments"),
    ("64:ff9b::ffff:ffff", "limited broadcast"),
    ("64:ff9b:1::5db8:d822", "local-use NAT64"),  # refused whole, whatever it carries
    ("64:ff9b:1:7f00:1::", "local-use NAT64"),
    ("2002:7f00:1::", "6to4"),
    ("2002:a9fe:a9fe::", "cloud metadata"),
    ("2002:c0a8:101::1", "private use"),
    # Teredo: server 65.54.227.120, client (stored inverted) 192.0.2.45
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    # Teredo: server 93.184.216.34, client 127.0.0.1
    ("2001:0:5db8:d822::80ff:fffe", "loopback"),
    # Teredo: server 10.0.0.1, client 93.184.216.34
    ("2001:0:a00:1::a247:27dd", "private use"),
]

GLOBAL_ADDRESSES: list[str] = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "52.96.0.1",
    "223.255.255.254",
    # just outside refused blocks
    "100.63.255.255",
    "100.128.0.1",
    "172.32.0.1",
    "192.0.1.1",
    "192.88.98.1",
    "198.17.255.255",
    "198.20.0.1",
    "2001:4860:4860::8888",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80e::200e",
    "2001:200::1",  # just past 2001::/23
    "2001:db9::1",
    "2003::1",  # just past 6to4
    "3fff:1000::1",  # just past 3fff::/20
    # IPv6 forms carrying a global IPv4 address (NAT64 is how IPv6-only networks reach one)
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
    "2001:0:5db8:d822::f7f7:f7f7",  # Teredo: server 93.184.216.34, client 8.8.8.8
]

# Names, for the hosts file of the namespace: each resolves to hostile addresses, or to a
# global and a hostile one (refused as a whole).
HOSTILE_NAMES: dict[str, list[str]] = {
    "dummy.test": ["192.0.0.8"],
    "metadata-nat64.test": ["64:ff9b::a9fe:a9fe"],
    "compat.test": ["::127.0.0.1"],
    "sixtofour.test": ["2002:a9fe:a9fe::"],
    "teredo.test": ["2001:0:5db8:d822::80ff:fffe"],
    "mixed.test": ["8.8.8.8", "127.0.0.1"],
    "mixed6.test": ["2001:4860:4860::8888", "64:ff9b::a00:1"],
}

# Other spellings of loopback that the resolver reads as 127.0.0.1 or 0.0.0.0.
HOSTILE_SPELLINGS: list[str] = ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0"]
