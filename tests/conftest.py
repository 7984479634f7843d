"""Shared fixtures: the test data under tests/data, and the rules for root/namespace tests.

Everything the tests read lives in the repository (tests/data): a missing file is a failing test,
never a skip.  Tests that need root or network namespaces skip only when CI (CI=true) is unset and
the machine cannot run them.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
#: keepalived 2.2.7's own sample configurations (doc/samples), unchanged
SAMPLES = DATA / "keepalived-samples"
#: what a real keepalived 2.2.7 did on Debian 12: packets, logs, notify/FIFO output, dumps, ``-t`` results
CAPTURES = DATA / "keepalived-2.2.7-captures"
IN_CI = bool(os.environ.get("CI"))


def data_path(*parts: str) -> Path:
    """Path of a file or directory under tests/data; a missing one fails the test (never skips)."""
    p = DATA.joinpath(*parts)
    if not p.exists():
        pytest.fail(f"{p} is missing: tests/data is part of the repository", pytrace=False)
    return p


def sample_names() -> list[str]:
    """keepalived's sample configurations (``keepalived.conf*`` in tests/data/keepalived-samples), sorted."""
    return sorted(p.name for p in data_path("keepalived-samples").iterdir() if p.name.startswith("keepalived.conf"))


@pytest.fixture
def samples_dir() -> Path:
    return data_path("keepalived-samples")


@pytest.fixture
def captures_dir() -> Path:
    return data_path("keepalived-2.2.7-captures")


def require_root() -> None:
    """Skip (outside CI) unless we are root and can create network namespaces."""
    ok = os.geteuid() == 0 and shutil.which("ip") is not None
    if not ok:
        if IN_CI:
            pytest.fail("this test needs root and iproute2, which CI must provide")
        pytest.skip("needs root and network namespaces")


def require_binary(name: str) -> str:
    """Path of an external program; skip (outside CI) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        if IN_CI:
            pytest.fail(f"{name} is not installed; .ci/run must install it")
        pytest.skip(f"{name} not installed")
    return path


# -- nothing a lab sends may reach the root namespace's interfaces -----------------------------------

#: address ranges and protocols the labs use inside their namespaces (VRRP is IP protocol 112; ARP for
#: these ranges matches ``net`` too); loopback is excluded, tests talk to 127.0.0.1 on purpose
LAB_TRAFFIC = ("net 10.0.0.0/8 or net 192.168.0.0/16 or net 172.16.0.0/12 or ip proto 112 or ip6 proto 112 "
               "or net fd09::/16 or net fd99::/16 or net fd01::/16")


def _root_namespace_peers() -> list[str]:
    """Addresses the root namespace legitimately talks to: its gateways and resolvers, and its own addresses
    when they lie in a lab range (a CI machine on 10/8 or a container on 172.17/16; elsewhere a test in the
    root namespace talking to a lab address from the host's own one is exactly the leak to catch)."""
    found: set[str] = set()
    for argv in (["ip", "-4", "route", "show"], ["ip", "-6", "route", "show"]):
        out = subprocess.run(argv, capture_output=True, text=True, check=False).stdout
        found.update(re.findall(r"via ([0-9a-fA-F.:]+)", out))
    out = subprocess.run(["ip", "-o", "addr", "show"], capture_output=True, text=True, check=False).stdout
    lab_nets = [ipaddress.ip_network(n) for n in ("10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12")]
    for a in re.findall(r"inet ([0-9.]+)/", out):
        if any(ipaddress.ip_address(a) in n for n in lab_nets):
            found.add(a)
    try:
        found.update(re.findall(r"^\s*nameserver\s+(\S+)", Path("/etc/resolv.conf").read_text(), re.M))
    except OSError:
        pass
    out = []
    for a in found:
        try:
            ip = ipaddress.ip_address(a.split("%")[0])
        except ValueError:
            continue
        if not ip.is_loopback and not ip.is_link_local:
            out.append(str(ip))
    return sorted(out)


def leak_filter() -> str:
    """tcpdump's filter for lab packets in the root namespace, without this machine's own traffic."""
    own = " or ".join(f"host {a}" for a in _root_namespace_peers())
    return f"not net 127.0.0.0/8 and not host ::1 and ({LAB_TRAFFIC})" + (f" and not ({own})" if own else "")


@pytest.fixture(scope="session", autouse=True)
def no_lab_packet_in_the_root_namespace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """As root with tcpdump: capture the root namespace's interfaces for the whole session and fail the run
    if a single lab packet (10/8, 192.168/16, 172.16/12, VRRP, ARP for those, the lab's IPv6) showed up.

    Every lab lives in namespaces it creates; a packet here means a test sent on the host's network.
    ``PYKEEPALIVED_NO_LEAK_CAPTURE=1`` turns it off (a developer's machine with such traffic of its own).
    """
    tcpdump = shutil.which("tcpdump")
    if os.geteuid() != 0 or os.environ.get("PYKEEPALIVED_NO_LEAK_CAPTURE"):
        yield
        return
    if tcpdump is None:
        if IN_CI:
            pytest.fail("tcpdump is not installed; .ci/run must install it (the root namespace is watched for leaks)")
        yield
        return
    pcap = tmp_path_factory.mktemp("leak-capture") / "root-namespace.pcap"
    flt = leak_filter()
    err = pcap.with_suffix(".err")
    with open(err, "wb") as errf:
        proc = subprocess.Popen([tcpdump, "-i", "any", "-n", "-U", "--immediate-mode", "-s", "256", "-w", str(pcap),
                                 flt],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf)
    deadline = time.monotonic() + 10
    while b"listening on" not in err.read_bytes() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if proc.poll() is not None or b"listening on" not in err.read_bytes():
        proc.kill()
        proc.wait()
        pytest.fail(f"tcpdump could not capture the root namespace ({flt}): {err.read_text(errors='replace')}")
    yield
    time.sleep(0.5)  # the last packets written (immediate mode, -U)
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    seen = subprocess.run([tcpdump, "-n", "-r", str(pcap)], capture_output=True, text=True, check=False).stdout
    if seen.strip():
        lines = seen.splitlines()
        pytest.fail(f"{len(lines)} lab packet(s) seen on the root namespace's interfaces (capture {pcap}, filter "
                    f"{flt!r}):\n" + "\n".join(lines[:20]), pytrace=False)


@pytest.fixture(autouse=True)
def _a_frozen_set_stays_in_its_test() -> Iterator[None]:
    """A test that settles memory as a child does (``gcpause.settle_memory``) makes the test process one that
    keeps a frozen set; the next test starts as a plain process again."""
    from pykeepalived import gcpause

    yield
    if gcpause.keeps_frozen:
        gcpause.keeps_frozen = False
        import gc

        gc.unfreeze()
