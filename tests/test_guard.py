"""The destination guard: the one function that decides, and the whole service black-box.

The function is tested on a table of hostile and global addresses (tests/guard_cases.py),
without sending anything. The service is tested inside a network namespace with only `lo`
(tests/guard_netns.py), so that a hole in the guard could not send a packet anywhere.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from mailprobe.destination import DestinationPolicy, refusal
from mailprobe.errors import DestinationRefused
from mailprobe.settings import parse_ports
from tests.guard_cases import (
    GLOBAL_ADDRESSES,
    HOSTILE_ADDRESSES,
    HOSTILE_NAMES,
    HOSTILE_SPELLINGS,
)
from tests.support import ROOT

NO_ALLOW_LIST = DestinationPolicy((), parse_ports(["25"]))


@pytest.mark.parametrize(
    ("address", "reason"), HOSTILE_ADDRESSES, ids=[a for a, _ in HOSTILE_ADDRESSES]
)
def test_hostile_addresses_are_refused_and_say_why(address: str, reason: str) -> None:
    why = refusal(ipaddress.ip_address(address))
    assert why is not None and reason in why, why
    with pytest.raises(DestinationRefused, match=reason):
        NO_ALLOW_LIST.check_address(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", GLOBAL_ADDRESSES)
def test_global_unicast_addresses_pass(address: str) -> None:
    assert refusal(ipaddress.ip_address(address)) is None
    NO_ALLOW_LIST.check_address(ipaddress.ip_address(address))


def test_the_tables_are_as_large_as_promised() -> None:
    assert len(HOSTILE_ADDRESSES) >= 40 and len(GLOBAL_ADDRESSES) >= 10


def test_allowed_networks_let_through_what_they_name_and_what_carries_it() -> None:
    loopback = (ipaddress.ip_network("127.0.0.0/8"),)
    policy = DestinationPolicy(loopback, parse_ports(["25", "2500-2502"]))
    for address in ("127.0.0.1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "8.8.8.8"):
        policy.check_address(ipaddress.ip_address(address))
    for address in ("10.0.0.1", "::1", "2002:a9fe:a9fe::"):
        with pytest.raises(DestinationRefused):
            policy.check_address(ipaddress.ip_address(address))
    policy.check_port(2501)
    with pytest.raises(DestinationRefused):
        policy.check_port(2503)


# --- black-box, in a network namespace ---------------------------------------------------------


def _hosts_file() -> str:
    lines = ["127.0.0.1 localhost", "::1 localhost"]
    lines += [
        f"{address} {name}" for name, addresses in HOSTILE_NAMES.items() for address in addresses
    ]
    return "\n".join(lines) + "\n"


def _namespaces_unavailable() -> str | None:
    if sys.platform != "linux":
        return "network namespaces are Linux's"
    if os.geteuid() != 0:
        return "making a network namespace (ip netns add) needs root"
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    return None


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30, check=False)


@contextmanager
def network_namespace(hosts: str) -> Iterator[str]:
    """A namespace with only `lo`, up, and its own hosts file; gone afterwards."""
    name = f"mp-guard-{os.getpid()}"
    etc = Path("/etc/netns") / name
    made = _ip("netns", "add", name)
    if made.returncode != 0:
        pytest.skip(f"cannot make a network namespace: {made.stderr.strip()}")
    try:
        etc.mkdir(parents=True)
        (etc / "hosts").write_text(hosts)
        up = _ip("netns", "exec", name, "ip", "link", "set", "lo", "up")
        assert up.returncode == 0, up.stderr
        yield name
    finally:
        _ip("netns", "delete", name)
        shutil.rmtree(etc, ignore_errors=True)
        with_others = Path("/etc/netns")
        if with_others.is_dir() and not any(with_others.iterdir()):
            with_others.rmdir()


def _host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


@pytest.fixture(scope="module")
def in_namespace() -> dict[str, Any]:
    """The answers of the service run inside a namespace (tests/guard_netns.py)."""
    unavailable = _namespaces_unavailable()
    if unavailable:
        pytest.skip(unavailable)
    addresses = [address for address, _ in HOSTILE_ADDRESSES]
    cases = {
        "smtp_hosts": [_host_port(a, 25) for a in addresses]
        + [f"{spelling}:25" for spelling in HOSTILE_SPELLINGS]
        + [f"{name}:25" for name in HOSTILE_NAMES],
        "urls": [f"http://{_host_port(a, 80)}/hook" for a in addresses]
        + [f"http://{name}/hook" for name in HOSTILE_NAMES],
    }
    with network_namespace(_hosts_file()) as name:
        ran = subprocess.run(
            ["ip", "netns", "exec", name, sys.executable, "-m", "tests.guard_netns", name],
            input=json.dumps(cases),
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
    assert ran.returncode == 0, ran.stderr[-3000:]
    result: dict[str, Any] = json.loads(ran.stdout)
    result["cases"] = cases
    return result


def test_the_namespace_has_only_loopback(in_namespace: dict[str, Any]) -> None:
    assert in_namespace["interfaces"] == ["lo"]


def test_every_hostile_destination_is_403_policy_through_the_api(
    in_namespace: dict[str, Any],
) -> None:
    answers = in_namespace["api"]
    cases = in_namespace["cases"]
    # Each SMTP host as a test and as a provider; each URL as a webhook and a token endpoint.
    assert len(answers) == 2 * len(cases["smtp_hosts"]) + 2 * len(cases["urls"])
    wrong = [
        a
        for a in answers
        if (a["status"], a["body"]["code"]) != (403, 7)
        or a["body"]["details"][0]["metadata"] != {"category": "policy"}
    ]
    assert wrong == []


def test_the_worker_resolves_again_and_refuses(in_namespace: dict[str, Any]) -> None:
    """Names that pointed at an allowed address when the API checked them, and at loopback
    when the worker used them: the worker's own check refuses each."""
    worker = in_namespace["worker"]
    # The names passed the API's check (they pointed at the allowed 127.0.0.2 then).
    assert worker["subscribed"] == 201
    assert worker["submitted"] == {"token": 202, "rebind": 202}
    jobs = worker["jobs"]
    rebind = jobs["rebind"]
    assert [a["outcome"] for a in rebind["attempts"]] == ["retrying", "failed"]
    error = rebind["result"]["error"]
    assert (error["category"], error["phase"]) == ("policy", "resolve")
    assert "127.0.0.1" in error["message"] and "loopback" in error["message"]

    token = jobs["token"]["result"]["error"]
    assert (token["category"], token["phase"]) == ("policy", "auth")
    assert "loopback" in token["message"]

    deliveries = worker["deliveries"]
    assert {d["jobId"] for d in deliveries} == {rebind["id"], jobs["token"]["id"]}
    assert all(d["status"] is None for d in deliveries)
    assert all(d["error"].startswith("destination refused") for d in deliveries)


def test_nothing_reached_a_listener(in_namespace: dict[str, Any]) -> None:
    assert in_namespace["connections"] == {}
