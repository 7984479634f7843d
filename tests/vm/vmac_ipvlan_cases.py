"""``use_ipvlan`` against a kernel that has ipvlan (run inside the VM by ``test_ipvs_in_vm.py``; the host's
kernel has none: there the instance stays in FAULT, tests/integration/test_vrrp_vmac.py).

Two nodes of a two-node LAN (namespaces inside the VM), VRRPv3 with 0.5 s adverts, each instance with
``use_ipvlan <its own address>`` (a: ``private``, b: the default ``bridge``):

1. pykeepalived on a (150) and on b (100): both have the ipvlan ``vrrp.51`` (L2 mode, their type, their
   address on it); a's adverts come from a's ipvlan address; the VIP is on a's eth0 (keepalived 2.2.7 moves
   VIPs to a VMAC, not to an ipvlan), the client reaches a;
2. a stops: the VIP moves to b, the client reaches b, a's ipvlan is gone;
3. Debian's keepalived 2.2.7 on a (50, same ``use_ipvlan`` line) stays backup behind pykeepalived, then takes
   over when b stops (b's ipvlan goes) and removes its own at its stop.

Everything happens in the lab's namespaces, removed at the end; processes are stopped by PID.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from pykeepalived.lab.measure import (
    VIP,
    Sniffer,
    error_counters,
    masters_entered,
    node,
    start_servers,
    vrrp_conf,
    wait_for,
)
from pykeepalived.lab.topology import Lab, two_node_lan
from tests.integration.test_vrrp_vmac import who_answers

IPVLAN = "vrrp.51"
ADV = 0.5
#: each node's ipvlan address and type
OWN = {"a": ("10.9.0.21", "private"), "b": ("10.9.0.22", "bridge")}


def conf(n: str, prio: int) -> str:
    addr, kind = OWN[n]
    return vrrp_conf(prio=prio, version=3, advert=ADV, instance_extra=[f"use_ipvlan {addr}/24 {kind}"])


def ipvlan(lab: Lab, n: str) -> str | None:
    """``ipvlan MODE TYPE`` of the node's ipvlan and its IPv4 addresses, or None when it is not there."""
    out = lab.run(n, ["ip", "-d", "-o", "link", "show", IPVLAN], check=False)
    if out.returncode != 0:
        return None
    words = out.stdout.split()
    assert "ipvlan" in words, out.stdout
    i = words.index("ipvlan")
    addrs = lab.run(n, ["ip", "-4", "-o", "addr", "show", "dev", IPVLAN]).stdout.split()
    return " ".join(words[i:i + 4] + [w for w in addrs if "/" in w])


def master_with_ipvlan(lab: Lab, n: str) -> bool:
    """``n`` is master: the VIP is on its eth0 (and only there) and its ipvlan is up."""
    eth0 = lab.run(n, ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout
    return f" {VIP}/24" in eth0 and ipvlan(lab, n) is not None and VIP not in (ipvlan(lab, n) or "")


def test_ipvlan_sends_the_adverts_fails_over_and_goes_at_stop_with_keepalived_as_peer(tmp_path: Path) -> None:
    with two_node_lan() as lab:
        start_servers(lab)
        a = node(lab, tmp_path, "a", "py", conf("a", 150))
        b = node(lab, tmp_path, "b", "py", conf("b", 100))
        ka = node(lab, tmp_path, "a", "ka", conf("a", 50))
        sn = Sniffer(lab, "client")
        try:
            # 1. pykeepalived on both: a master on its ipvlan (startup of Python takes ~10 s under TCG)
            a.start()
            b.start()
            wait_for(lambda: master_with_ipvlan(lab, "a"), 90, "a MASTER", step=0.2)
            wait_for(lambda: ipvlan(lab, "b") is not None and "Entering BACKUP STATE" in b.log(), 90,
                     "b BACKUP with its ipvlan", step=0.2)
            settled = time.monotonic()  # (b may have won the start-up race for a moment)
            time.sleep(3 * ADV)
            assert ipvlan(lab, "a") == "ipvlan mode l2 private 10.9.0.21/24"
            assert ipvlan(lab, "b") == "ipvlan mode l2 bridge 10.9.0.22/24"
            adverts = sn.adverts(since=settled)
            assert adverts and {e.src for e in adverts} == {"10.9.0.21"}, adverts[:3]
            assert who_answers(lab) == "a"
            # 2. a stops: b takes the VIP on its ipvlan; a's ipvlan is gone
            a.signal(signal.SIGTERM)
            wait_for(lambda: master_with_ipvlan(lab, "b"), 20, "b MASTER", step=0.1)
            assert a.stop(timeout=20) == 0
            assert ipvlan(lab, "a") is None
            wait_for(lambda: who_answers(lab) == "b", 10, "the client served by b", step=0.2)
            # 3. keepalived on a with a lower priority: backup behind b, then master when b stops
            ka.start()
            wait_for(lambda: ipvlan(lab, "a") is not None, 20, "keepalived's ipvlan", step=0.2)
            time.sleep(4 * ADV)
            assert masters_entered(ka) == 0 and master_with_ipvlan(lab, "b"), ka.log()
            assert ipvlan(lab, "a") == "ipvlan mode l2 private 10.9.0.21/24"
            assert not error_counters(s := b.stats()), s
            assert s["Advertisements/Received"] > 0
            b.signal(signal.SIGTERM)
            wait_for(lambda: master_with_ipvlan(lab, "a"), 20, "keepalived MASTER", step=0.1)
            assert b.stop(timeout=20) == 0
            assert ipvlan(lab, "b") is None
            wait_for(lambda: who_answers(lab) == "a", 10, "the client served by keepalived's node", step=0.2)
            assert {e.src for e in sn.adverts() if e.prio == 50} == {"10.9.0.21"}  # keepalived's, from its ipvlan
            assert ka.stop(timeout=20) == 0
            assert ipvlan(lab, "a") is None
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- a:\n{a.log()}\n--- b:\n{b.log()}\n--- keepalived:\n{ka.log()}") from e
        finally:
            sn.close()
            for n in (a, b, ka):
                n.stop()
