"""The lab builds the seed scenario in namespaces, wires it right, and leaves nothing behind."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time

import pytest

from pykeepalived.daemon.runtime import pid_alive
from pykeepalived.lab import netns
from pykeepalived.lab.topology import Lab, seed_topology, two_node_lan
from pykeepalived.vrrp.io import open_socket
from tests.conftest import require_root


def tcp_reachable(lab: Lab, src: str, dst: str, address: str, port: int = 8080, *,
                  timeout: float = 3.0, attempts: int = 1) -> bool:
    """Listen in ``dst``, connect from ``src``: proves routing and ARP across the bridge.

    ``attempts`` > 1 when a neighbour entry may still be FAILED from an earlier cut (the kernel
    then refuses at once for a moment).
    """
    with open_socket(socket.AF_INET, socket.SOCK_STREAM, 0, lab.ns(dst)) as srv:
        srv.bind((address, port))
        srv.listen(attempts)
        for i in range(attempts):
            with open_socket(socket.AF_INET, socket.SOCK_STREAM, 0, lab.ns(src)) as cli:
                cli.settimeout(timeout)
                try:
                    cli.connect((address, port))
                    return True
                except OSError:
                    if i + 1 < attempts:
                        time.sleep(0.3)
        return False


def addresses(lab: Lab, node: str, ifname: str) -> set[str]:
    out = lab.run(node, ["ip", "-j", "addr", "show", "dev", ifname]).stdout
    return {f"{a['local']}/{a['prefixlen']}" for link in json.loads(out) for a in link["addr_info"]}


def in_netns(name: str, pid: int) -> bool:
    """Wait (bounded) until ``ip netns exec`` has entered the namespace and exec'd the command."""
    deadline = time.monotonic() + 3
    while pid not in netns.netns_pids(name) and time.monotonic() < deadline:
        time.sleep(0.02)
    return pid in netns.netns_pids(name)


def ours(prefix: str) -> list[str]:
    return [n for n in netns.list_netns() if n.startswith(prefix)]


def test_prefix_must_be_specific() -> None:
    for bad in ("", "-", "pk", "pk123", "../x-", "a b-"):
        with pytest.raises(ValueError):
            netns.check_prefix(bad)
    assert netns.check_prefix("pk123-4-") == "pk123-4-"


def test_seed_topology_is_wired_as_design_says_and_removed_on_close() -> None:
    require_root()
    with seed_topology() as lab:
        prefix = lab.prefix
        assert sorted(ours(prefix)) == sorted(lab.ns(n) for n in ("client", "lb1", "lb2", "rs1", "rs2", "sw"))
        assert addresses(lab, "client", "eth0") >= {"10.0.0.100/24"}
        assert addresses(lab, "lb1", "eth0") >= {"10.0.0.3/24"}
        assert addresses(lab, "lb1", "eth1") >= {"192.168.0.2/24"}
        assert addresses(lab, "lb2", "eth0") >= {"10.0.0.4/24"}
        assert addresses(lab, "lb2", "eth1") >= {"192.168.0.3/24"}
        assert addresses(lab, "rs2", "eth0") >= {"192.168.0.13/24"}
        assert "default via 192.168.0.1 dev eth0" in lab.run("rs1", ["ip", "route"]).stdout
        assert lab.run("lb1", ["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.strip() == "1"
        assert lab.run("rs1", ["sysctl", "-n", "net.ipv4.conf.all.rp_filter"]).stdout.strip() == "0"

        assert tcp_reachable(lab, "client", "lb1", "10.0.0.3")
        assert tcp_reachable(lab, "client", "lb2", "10.0.0.4")
        assert tcp_reachable(lab, "rs1", "lb1", "192.168.0.2")
        assert tcp_reachable(lab, "rs2", "lb2", "192.168.0.3")
        # front and back are separate segments: the client has no way to the back network
        assert lab.run("client", ["ip", "route", "get", "192.168.0.12"], check=False).returncode != 0
    assert ours(prefix) == []


def test_pulled_cable_cuts_one_node_only() -> None:
    require_root()
    with seed_topology() as lab:
        lab.set_port("lb1", "eth0", False)
        out = lab.run("lb1", ["ip", "-j", "link", "show", "dev", "eth0"]).stdout
        assert "LOWER_UP" not in json.loads(out)[0]["flags"]
        assert not tcp_reachable(lab, "client", "lb1", "10.0.0.3", timeout=1.0)
        assert tcp_reachable(lab, "client", "lb2", "10.0.0.4")
        lab.set_port("lb1", "eth0", True)
        assert tcp_reachable(lab, "client", "lb1", "10.0.0.3", attempts=5)


def test_processes_started_in_the_lab_are_stopped_by_close() -> None:
    require_root()
    with two_node_lan() as lab:
        proc = lab.popen("a", ["sleep", "30"])
        assert in_netns(lab.ns("a"), proc.pid)
        prefix = lab.prefix
    assert proc.returncode is not None
    assert ours(prefix) == []


def test_cleanup_prefix_removes_a_crashed_runs_leftovers() -> None:
    require_root()
    lab = two_node_lan()
    # a lab that was never closed, with a process still running in it
    proc = subprocess.Popen(netns.exec_argv(lab.ns("b"), ["sleep", "30"]))
    try:
        assert in_netns(lab.ns("b"), proc.pid)
        removed = netns.cleanup_prefix(lab.prefix)
        assert sorted(removed) == sorted(lab.ns(n) for n in ("a", "b", "client", "sw"))
        assert ours(lab.prefix) == []
        proc.wait(5)
    finally:
        netns.stop(proc)
        lab.close()  # idempotent, and tolerant of namespaces already gone


def test_failed_build_leaves_nothing() -> None:
    require_root()
    lab = Lab()
    with pytest.raises(netns.LabError), lab:
        lab.add_node("a")
        lab.add_bridge("lan")
        lab.connect("a", "eth0", "lan", ["10.9.0.1/24"])
        lab.connect("a", "eth0", "lan")  # eth0 exists: ip fails
    assert ours(lab.prefix) == []


def test_stale_prefixes_finds_only_dead_runs() -> None:
    require_root()
    dead = subprocess.Popen(["true"])
    dead.wait()
    deadline = time.monotonic() + 2
    while pid_alive(dead.pid) and time.monotonic() < deadline:  # reaped at once, but be safe
        time.sleep(0.05)
    stale = f"pk{dead.pid}-"
    live = netns.default_prefix()
    netns.add_netns(f"{stale}x")
    netns.add_netns(f"{live}stale-check")
    try:
        found = netns.stale_prefixes()
        assert stale in found
        assert live not in found
    finally:
        netns.cleanup_prefix(stale)
        netns.cleanup_prefix(f"{live}stale-")


def test_lab_up_then_down_from_another_process() -> None:
    """``pykeepalived lab up`` detaches (namespaces outlive the process); ``lab down`` sweeps them."""
    require_root()
    lab = seed_topology(real_servers=3, sorry_server=True)
    try:
        assert addresses(lab, "rs3", "eth0") >= {"192.168.0.14/24"}
        assert addresses(lab, "sorry", "eth0") >= {"192.168.0.200/24"}
        assert f"lb2 ({lab.ns('lb2')}) eth1 192.168.0.3/24 -> back" in lab.describe()
        lab.detach()
        lab.close()  # a detached lab's close is a no-op
        assert lab.ns("rs3") in ours(lab.prefix)
        down = subprocess.run([sys.executable, "-c", "import sys; from pykeepalived.lab.netns import "
                               "cleanup_prefix; print(len(cleanup_prefix(sys.argv[1])))", lab.prefix],
                              capture_output=True, text=True, timeout=30)
        assert down.stdout.strip() == "8", down.stderr  # client, lb1, lb2, rs1-3, sorry, sw
    finally:
        netns.cleanup_prefix(lab.prefix)
    assert ours(lab.prefix) == []
