"""VMAC (``use_vmac``): the VIP lives on a macvlan with the VRRP virtual MAC, in namespaces.

* the VMAC ``vrrp.51`` (00:00:5e:00:01:33, macvlan mode private) exists on both nodes with keepalived's
  sysctls (vmac: arp_ignore=1, accept_local=1, rp_filter=0; base: arp_ignore=1, arp_filter=1);
* the client's ARP entry for the VIP is the virtual MAC; the master's GARPs and adverts carry it;
* the client's entry is then made PERMANENT: after the master stops, the new master serves the same
  client through the same entry (the MAC never needed to change);
* on stop, the VMAC goes and the base interface's sysctls are back as they were.

The nodes know the client's MAC beforehand (:func:`know_client`): a node that has to resolve the client
asks from eth0 with the VIP as sender address (arp_announce 0, which keepalived leaves alone too), and
that request would teach the client eth0's MAC for the VIP, with keepalived as with us.
"""

from __future__ import annotations

import re
import shutil
import signal
import sys
import time
from pathlib import Path

import pytest

from pykeepalived.lab.measure import (
    PORT,
    VIP,
    Sniffer,
    node,
    start_servers,
    vrrp_conf,
    wait_for,
)
from pykeepalived.lab.topology import Lab
from tests.integration.test_vrrp_failover import lan

__all__ = ["lan"]

VMAC = "vrrp.51"
VMAC_MAC = "00:00:5e:00:01:33"
ADV = 0.1

CONNECT = """
import socket, sys
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1) as s:
        s.settimeout(1)
        print(s.recv(16).decode() or "?")
except OSError as e:
    print("fail", e)
"""


def who_answers(lab: Lab, vip: str = VIP) -> str:
    """The node whose server answers the client on ``vip`` (or ``fail ...``)."""
    return lab.run("client", [sys.executable, "-c", CONNECT, vip, str(PORT)]).stdout.strip()


def client_neigh(lab: Lab, vip: str = VIP) -> str:
    """``ip neigh`` of the client for ``vip``: ``lladdr STATE`` words."""
    return lab.run("client", ["ip", "neigh", "show", vip, "dev", "eth0"]).stdout.strip()


def sysctl(lab: Lab, node_name: str, ifname: str, key: str) -> int:
    return int(lab.run(node_name, ["cat", f"/proc/sys/net/ipv4/conf/{ifname}/{key}"]).stdout)


def link_mac(lab: Lab, node_name: str, ifname: str) -> str | None:
    out = lab.run(node_name, ["ip", "-o", "-d", "link", "show", ifname], check=False)
    if out.returncode != 0:
        return None
    words = out.stdout.split()
    assert "macvlan" in words and words[words.index("mode", words.index("macvlan")) + 1] == "private", out.stdout
    return words[words.index("link/ether") + 1]


def know_client(lab: Lab, nodes: tuple[str, ...] = ("a", "b")) -> None:
    """Each node's neighbour entry for the client, fixed (see the module docstring)."""
    mac = lab.run("client", ["cat", "/sys/class/net/eth0/address"]).stdout.strip()
    for n in nodes:
        for addr in ("10.9.0.100", "fd09::100"):
            lab.run(n, ["ip", "neigh", "replace", addr, "lladdr", mac, "dev", "eth0", "nud", "permanent"])


def vmac_master(lab: Lab, n: str, vip: str = VIP) -> bool:
    out = lab.run(n, ["ip", "-o", "addr", "show", "dev", VMAC], check=False).stdout
    return f" {vip}/" in out


def test_vip_on_vmac_answers_arp_with_virtual_mac_and_survives_failover(lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    start_servers(lab)
    know_client(lab)
    before = {k: sysctl(lab, "a", "eth0", k) for k in ("arp_ignore", "arp_filter")}
    a = node(lab, tmp, "a", "py", vrrp_conf(prio=150, version=3, advert=ADV, instance_extra=["use_vmac"]))
    b = node(lab, tmp, "b", "py", vrrp_conf(prio=100, version=3, advert=ADV, instance_extra=["use_vmac"]))
    sn = Sniffer(lab, "client")
    try:
        a.start()
        wait_for(lambda: vmac_master(lab, "a"), 5, "a master on its VMAC")
        b.start()
        wait_for(lambda: link_mac(lab, "b", VMAC) is not None, 5, "b's VMAC")
        time.sleep(0.5)
        for n in ("a", "b"):
            assert link_mac(lab, n, VMAC) == VMAC_MAC
            assert sysctl(lab, n, VMAC, "arp_ignore") == 1
            assert sysctl(lab, n, VMAC, "accept_local") == 1
            assert sysctl(lab, n, VMAC, "rp_filter") == 0
            assert sysctl(lab, n, "eth0", "arp_ignore") == 1
            assert sysctl(lab, n, "eth0", "arp_filter") == 1
        assert not vmac_master(lab, "b")
        # the client resolves the VIP to the virtual MAC, and a serves it
        assert who_answers(lab) == "a"
        assert VMAC_MAC in client_neigh(lab), client_neigh(lab)
        garps = sn.garps(VIP)
        assert garps and {g.mac for g in garps} == {VMAC_MAC}, garps
        adverts = sn.adverts()
        assert adverts and {e.mac for e in adverts} == {VMAC_MAC}, adverts[:3]
        # pin the entry: whatever happens next, the client keeps sending to the virtual MAC
        lab.run("client", ["ip", "neigh", "replace", VIP, "lladdr", VMAC_MAC, "dev", "eth0", "nud", "permanent"])
        a.signal(signal.SIGTERM)
        wait_for(lambda: vmac_master(lab, "b"), 5, "b master on its VMAC")
        assert a.stop() == 0
        assert who_answers(lab) == "b"
        assert f"lladdr {VMAC_MAC} PERMANENT" in client_neigh(lab)
        # stopped: a's VMAC is gone and eth0's sysctls are back
        assert link_mac(lab, "a", VMAC) is None
        assert {k: sysctl(lab, "a", "eth0", k) for k in ("arp_ignore", "arp_filter")} == before
        assert b.stop() == 0
        assert link_mac(lab, "b", VMAC) is None
    finally:
        sn.close()
        for n in (a, b):
            n.stop()


def test_vmac_xmit_base_sends_adverts_from_the_base_interface(lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    know_client(lab, ("a",))
    a = node(lab, tmp, "a", "py", vrrp_conf(prio=150, version=3, advert=ADV,
                                            instance_extra=["use_vmac", "vmac_xmit_base"]))
    sn = Sniffer(lab, "client")
    try:
        a.start()
        wait_for(lambda: vmac_master(lab, "a"), 5, "a master on its VMAC")
        time.sleep(0.3)
        base_mac = lab.run("a", ["cat", "/sys/class/net/eth0/address"]).stdout.strip()
        assert {e.mac for e in sn.adverts()} == {base_mac}
        assert {g.mac for g in sn.garps(VIP)} == {VMAC_MAC}
        lab.run("client", ["ip", "neigh", "flush", "dev", "eth0"])
        lab.run("client", [sys.executable, "-c", CONNECT, VIP, "9"], check=False)
        assert VMAC_MAC in client_neigh(lab)
    finally:
        sn.close()
        a.stop()


def test_reload_adds_and_removes_the_vmac(lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    plain = vrrp_conf(prio=150, version=3, advert=ADV)
    a = node(lab, tmp, "a", "py", plain)
    try:
        a.start()
        wait_for(lambda: f" {VIP}/" in lab.run("a", ["ip", "-o", "addr", "show", "dev", "eth0"]).stdout, 5,
                 "a master on eth0")
        a.reload(vrrp_conf(prio=150, version=3, advert=ADV, instance_extra=["use_vmac"]))
        wait_for(lambda: vmac_master(lab, "a"), 5, "the VIP on the VMAC after the reload")
        assert f" {VIP}/" not in lab.run("a", ["ip", "-o", "addr", "show", "dev", "eth0"]).stdout
        a.reload(plain)
        wait_for(lambda: link_mac(lab, "a", VMAC) is None, 5, "the VMAC gone after the second reload")
        wait_for(lambda: f" {VIP}/" in lab.run("a", ["ip", "-o", "addr", "show", "dev", "eth0"]).stdout, 5,
                 "the VIP back on eth0")
        assert a.stop() == 0
    finally:
        a.stop()


def test_release_after_a_crash_removes_the_vmac_and_the_table(lan: tuple[Lab, Path]) -> None:
    from pykeepalived.config import load_config_text
    from pykeepalived.vrrp.release import release_vips

    lab, tmp = lan
    text = vrrp_conf(prio=150, version=3, advert=ADV, instance_extra=["use_vmac", "no_accept"])
    a = node(lab, tmp, "a", "py", text)
    try:
        a.start()
        wait_for(lambda: vmac_master(lab, "a"), 5, "a master on its VMAC")
        a.signal(signal.SIGKILL)
        a.reap()
        assert link_mac(lab, "a", VMAC) == VMAC_MAC
        assert "table ip keepalived" in lab.run("a", ["nft", "list", "ruleset"]).stdout
        cfg = load_config_text(text, name="k.conf", interfaces=frozenset({"lo", "eth0"})).config
        assert cfg is not None
        release_vips(cfg, netns=lab.ns("a"))
        assert link_mac(lab, "a", VMAC) is None
        assert lab.run("a", ["nft", "list", "ruleset"]).stdout.strip() == ""
    finally:
        a.stop()


def test_a_vmac_left_by_a_crash_is_adopted_and_a_wrong_one_updated(lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    # a macvlan of that name with the wrong MAC and mode, as another program (or an old run) may leave
    lab.run("a", ["ip", "link", "add", VMAC, "link", "eth0", "address", "02:00:00:00:00:01", "type", "macvlan",
                  "mode", "bridge"])
    a = node(lab, tmp, "a", "py", vrrp_conf(prio=150, version=3, advert=ADV, instance_extra=["use_vmac"]))
    try:
        a.start()
        wait_for(lambda: vmac_master(lab, "a"), 10, "a master on its VMAC")
        assert link_mac(lab, "a", VMAC) == VMAC_MAC  # link_mac also checks mode private
        assert "Update old VMAC interface vrrp.51 due to wrong MAC/mode" in a.log()
        a.signal(signal.SIGKILL)
        a.reap()
        masters = a.log().count("Entering MASTER STATE")
        a.start()
        wait_for(lambda: "adopting VMAC interface vrrp.51" in a.log(), 10, "the VMAC adopted")
        # the killed process's VIP is still on the VMAC: wait for the new process's own MASTER (before it, it may
        # not have its SIGTERM handler yet and the stop below would kill it: -15, a CI flake)
        wait_for(lambda: a.log().count("Entering MASTER STATE") > masters, 10, "the new process master")
        wait_for(lambda: vmac_master(lab, "a"), 10, "a master on its VMAC again")
        assert a.stop() == 0
        assert link_mac(lab, "a", VMAC) is None
    finally:
        a.stop()


def test_without_ipvlan_in_the_kernel_use_ipvlan_stays_in_fault_as_keepalived_does(lan: tuple[Lab, Path]) -> None:
    """This machine's kernel has no ipvlan (the VM's has: tests/vm/vmac_ipvlan_cases.py): the instance logs
    keepalived's line and stays in FAULT, the process runs on and stops cleanly; keepalived 2.2.7 (when
    installed) logs the same line in the same place."""
    lab, tmp = lan
    if lab.run("a", ["ip", "link", "add", "pkipvl0", "link", "eth0", "type", "ipvlan"], check=False).returncode == 0:
        lab.run("a", ["ip", "link", "del", "pkipvl0"])
        pytest.skip("this kernel has ipvlan")
    conf = vrrp_conf(prio=150, version=3, advert=ADV, instance_extra=["use_ipvlan 10.9.0.21/24"])
    line = "(VI_1): Unable to create ipvlan interface vrrp.51"
    kinds = ["py"] + (["ka"] if shutil.which("keepalived") else [])
    for kind in kinds:
        n = node(lab, tmp, "a", kind, conf)
        try:
            n.start()
            wait_for(lambda n=n: re.search(r"(?i)entering FAULT state", n.log()), 15, f"{kind} in FAULT")
            time.sleep(5 * ADV)
            log = n.log()
            assert line in log and "Traceback" not in log and "MASTER" not in log, log
            assert n.proc is not None and n.proc.poll() is None, log
            assert f" {VIP}/" not in lab.run("a", ["ip", "-o", "addr"]).stdout
            assert n.stop() == 0
        finally:
            n.stop()
