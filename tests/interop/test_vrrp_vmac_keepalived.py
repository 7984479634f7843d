"""VMAC against Debian's keepalived 2.2.7 using VMAC too, in both roles, IPv4 and IPv6.

keepalived (node a) and pykeepalived (node b) each run ``use_vmac`` (VRRPv3, 0.1 s adverts, multicast).
The client's neighbour entry for the VIP is learnt once (the virtual MAC 00:00:5e:00:01:33, IPv6
00:00:5e:00:02:33) and then
pinned: every change of master below must keep the client served through that same entry.

1. keepalived (150) master, pykeepalived (100) backup: the VIP on keepalived's VMAC, a serves;
2. keepalived stops: pykeepalived takes over, b serves through the same MAC;
3. keepalived returns with 50: it stays backup;
4. pykeepalived stops: keepalived takes over, a serves through the same MAC.

Neither side counts an invalid packet; both remove their VMAC when they stop.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from pykeepalived.lab.measure import (
    VIP,
    VIP6,
    Node,
    error_counters,
    masters_entered,
    start_servers,
    vrrp_conf,
    wait_for,
)
from pykeepalived.lab.topology import Lab
from tests.conftest import require_binary
from tests.integration.test_vrrp_failover import lan
from tests.integration.test_vrrp_vmac import (
    VMAC,
    VMAC_MAC,
    client_neigh,
    know_client,
    link_mac,
    vmac_master,
    who_answers,
)

__all__ = ["lan"]

ADV = 0.1


#: family -> (VIP as configured, VIP, the VMAC's MAC)
FAMILIES = {
    "ipv4": (f"{VIP}/24", VIP, VMAC_MAC),
    "ipv6": (f"{VIP6}/64", VIP6, "00:00:5e:00:02:33"),
}


@pytest.mark.interop
@pytest.mark.parametrize("family", list(FAMILIES))
def test_keepalived_and_pykeepalived_with_vmac_fail_over_both_ways(lan: tuple[Lab, Path], family: str) -> None:
    vip_conf, vip, mac = FAMILIES[family]

    def conf(prio: int) -> str:
        return vrrp_conf(prio=prio, version=3, advert=ADV, vip=vip_conf, instance_extra=["use_vmac"])

    require_binary("keepalived")
    lab, tmp = lan
    start_servers(lab)
    know_client(lab)
    nodes = []
    for name, node_name, kind, prio in (("a-ka1", "a", "ka", 150), ("b-py", "b", "py", 100), ("a-ka2", "a", "ka", 50)):
        (tmp / name).mkdir()
        nodes.append(Node(lab, node_name, kind, conf(prio), tmp / name))
    ka, py, ka2 = nodes
    try:
        # 1. keepalived master on its VMAC, pykeepalived backup on its own
        ka.start()
        wait_for(lambda: vmac_master(lab, "a", vip), 10, "keepalived master on its VMAC")
        py.start()
        wait_for(lambda: link_mac(lab, "b", VMAC) == mac, 5, "pykeepalived's VMAC")
        time.sleep(1.0)
        assert not vmac_master(lab, "b", vip) and masters_entered(py) == 0, py.log()
        assert who_answers(lab, vip) == "a"
        assert mac in client_neigh(lab, vip), client_neigh(lab, vip)
        lab.run("client", ["ip", "neigh", "replace", vip, "lladdr", mac, "dev", "eth0", "nud", "permanent"])
        # 2. keepalived stops: pykeepalived takes over behind the same MAC
        ka.signal(signal.SIGTERM)
        wait_for(lambda: vmac_master(lab, "b", vip), 5, "pykeepalived master on its VMAC")
        assert ka.stop() == 0
        assert link_mac(lab, "a", VMAC) is None
        assert who_answers(lab, vip) == "b"
        # 3. keepalived returns with a lower priority: stays backup
        ka2.start()
        wait_for(lambda: link_mac(lab, "a", VMAC) == mac, 10, "keepalived's VMAC again")
        time.sleep(1.0)
        assert vmac_master(lab, "b", vip) and not vmac_master(lab, "a", vip)
        assert masters_entered(ka2) == 0, ka2.log()
        assert not error_counters(s := py.stats()), s
        assert s["Advertisements/Received"] > 0
        # 4. pykeepalived stops: keepalived takes over behind the same MAC
        py.signal(signal.SIGTERM)
        wait_for(lambda: vmac_master(lab, "a", vip), 5, "keepalived master again")
        assert py.stop() == 0
        assert link_mac(lab, "b", VMAC) is None
        assert who_answers(lab, vip) == "a"
        assert f"lladdr {mac} PERMANENT" in client_neigh(lab, vip)
        k2 = ka2.stats()
        assert not error_counters(k2), k2
        assert k2["Advertisements/Received"] > 0 and k2["Became master"] == 1
    finally:
        for n in (ka, ka2, py):
            n.stop()
