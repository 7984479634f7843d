"""Debian's keepalived 2.2.7 and pykeepalived as IPv6 VRRPv3 peers (VIP ``fd09::50/64``), both roles.

keepalived 2.2.7 makes an instance IPv6 from its first VIP (``native_ipv6`` is only needed for an
instance without IPv6 VIPs; it merely warns that the first IPv6 VIP "should be link local"), and
forces version 3.  Multicast (ff02::12 from the link-local addresses) and unicast
(``unicast_src_ip``/``unicast_peer`` with the global addresses):

1. keepalived (priority 150, node a) is master, pykeepalived (100, node b) backup;
2. keepalived stops cleanly: pykeepalived takes over one skew after the priority-0 advert, and
   sends its unsolicited NAs like keepalived's (Override + Router flags, hop limit 255) and its
   adverts with the same hop limit (255 to ff02::12; unicast: the interface's default, 64, as
   keepalived 2.2.7 sends without ``unicast_ttl``);
3. keepalived returns with priority 50: it stays backup while pykeepalived is master;
4. pykeepalived's host crashes: keepalived takes over within 3 × advert + skew of the last advert.

Neither side counts a single invalid packet (keepalived's SIGUSR2 stats, and ours).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from pykeepalived.lab.measure import (
    SLACK,
    VIP6,
    Node,
    Sniffer,
    down_bound,
    elect,
    error_counters,
    link_local,
    masters_entered,
    node_ip6,
    skew,
    takeover,
    vip_holders,
    vrrp_conf,
)
from pykeepalived.lab.topology import Lab
from tests.conftest import require_binary
from tests.integration.test_vrrp_failover import lan

__all__ = ["lan"]  # the fixture, re-exported for pytest

ADV = 0.1


def conf(unicast: bool, me: str, peer: str, prio: int) -> str:
    return vrrp_conf(prio=prio, version=3, advert=ADV, vip=f"{VIP6}/64",
                     peers=[node_ip6(peer)] if unicast else (), src=node_ip6(me) if unicast else None)


@pytest.mark.interop
@pytest.mark.parametrize("unicast", [False, True], ids=["multicast", "unicast"])
def test_keepalived_and_pykeepalived_ipv6_elect_and_fail_over_both_ways(lan: tuple[Lab, Path],
                                                                         unicast: bool) -> None:
    require_binary("keepalived")
    lab, tmp = lan
    # the advert source: the unicast_src_ip, else the interface's link-local address
    src_a = node_ip6("a") if unicast else link_local(lab, "a")
    src_b = node_ip6("b") if unicast else link_local(lab, "b")
    nodes = []
    for name, host, kind, prio in (("a-ka1", "a", "ka", 150), ("b-py", "b", "py", 100), ("a-ka2", "a", "ka", 50)):
        n = Node(lab, host, kind, conf(unicast, host, "b" if host == "a" else "a", prio), tmp / name)
        n.dir.mkdir()
        nodes.append(n)
    ka, py, ka2 = nodes
    sn_a, sn_b, sn_c = Sniffer(lab, "a"), Sniffer(lab, "b"), Sniffer(lab, "client")
    try:
        # 1. keepalived master, pykeepalived backup
        ka.start()
        elect(lab, "a", "b", 3 * down_bound(3, ADV, 150) + 2, vip=VIP6)
        py.start()
        time.sleep(1.0)
        assert vip_holders(lab, vip=VIP6) == ["a"] and masters_entered(py) == 0, py.log()
        assert "Entering BACKUP STATE" in py.log(), py.log()
        assert not error_counters(k1 := ka.stats()), k1
        assert (p1 := py.stats())["Advertisements/Received"] > 0 and not error_counters(p1), p1
        ka_hops = {e.ttl for e in sn_b.adverts(src_a)}
        assert ka_hops == ({64} if unicast else {255}), ka_hops  # unicast: the interface's default
        ka_nas = sn_c.garps(VIP6)
        assert ka_nas, "keepalived sent no unsolicited NA"
        # 2. keepalived stops: priority 0, pykeepalived takes over after its skew
        t_term = ka.signal(signal.SIGTERM)
        tk = takeover(sn_b, src_a, src_b, t_term, 3)
        assert tk.last_old.prio == 0
        bound = skew(3, ADV, 100)
        assert bound - 0.005 <= tk.seconds <= bound + SLACK, (tk.seconds, bound)
        assert ka.stop() == 0
        elect(lab, "b", "a", 3, vip=VIP6)
        py_nas = sn_c.garps(VIP6, since=t_term)
        assert py_nas, "pykeepalived sent no unsolicited NA"
        assert {(e.flags, e.ttl) for e in py_nas} == {(ka_nas[0].flags, ka_nas[0].ttl)}, (py_nas, ka_nas)
        py_hops = {e.ttl for e in sn_a.adverts(src_b, since=tk.first_new.t)}
        assert py_hops == ka_hops, (py_hops, ka_hops)
        # 3. keepalived returns with a lower priority: it must stay backup
        ka2.start()
        time.sleep(2 * down_bound(3, ADV, 50) + 0.5)
        assert vip_holders(lab, vip=VIP6) == ["b"]
        assert masters_entered(ka2) == 0 and masters_entered(py) == 1, (ka2.log(), py.log())
        py_stats = py.stats()
        assert not error_counters(py_stats), py_stats
        # 4. pykeepalived's host crashes: keepalived takes over
        t_kill = py.signal(signal.SIGKILL)
        lab.set_port("b", "eth0", False)
        tk = takeover(sn_a, src_b, src_a, t_kill, 3 * down_bound(3, ADV, 50))
        bound = down_bound(3, ADV, 50)
        assert bound - 0.005 <= tk.seconds <= bound + SLACK, (tk.seconds, bound)
        k2 = ka2.stats()
        assert not error_counters(k2), k2
        assert k2["Advertisements/Received"] > 0 and k2["Became master"] == 1
        py.reap()
    finally:
        for sn in (sn_a, sn_b, sn_c):
            sn.close()
        for n in nodes:
            n.stop()
