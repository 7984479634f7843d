"""Debian's keepalived 2.2.7 and pykeepalived as VRRP peers, in both roles.

For each wire variant (VRRPv2 with PASS authentication, VRRPv3; multicast and unicast):

1. keepalived (priority 150, node a) is master, pykeepalived (100, node b) backup;
2. keepalived stops cleanly: pykeepalived takes over one skew after the priority-0 advert;
3. keepalived returns with priority 50: it stays backup (no flapping) while pykeepalived is master;
4. pykeepalived's host crashes: keepalived takes over within 3 × advert + skew of the last advert.

Neither side may count a single invalid packet (keepalived's SIGUSR2 stats, and ours).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from pykeepalived.lab.measure import (
    SLACK,
    Node,
    Sniffer,
    down_bound,
    elect,
    error_counters,
    masters_entered,
    node_ip,
    skew,
    takeover,
    vip_holders,
    vrrp_conf,
)
from pykeepalived.lab.topology import Lab
from tests.conftest import require_binary
from tests.integration.test_vrrp_failover import lan

__all__ = ["lan"]  # the fixture, re-exported for pytest

VARIANTS = {
    "v2-pass-multicast": {"version": 2, "advert": 1.0, "auth": "secret12345", "unicast": False},
    "v2-pass-unicast": {"version": 2, "advert": 1.0, "auth": "secret12345", "unicast": True},
    "v3-multicast": {"version": 3, "advert": 0.1, "auth": None, "unicast": False},
    "v3-unicast": {"version": 3, "advert": 0.1, "auth": None, "unicast": True},
}


def conf(variant: dict[str, object], me: str, peer: str, prio: int) -> str:
    unicast = bool(variant["unicast"])
    return vrrp_conf(prio=prio, version=int(variant["version"]), advert=float(variant["advert"]),  # type: ignore[call-overload]
                     auth=variant["auth"],  # type: ignore[arg-type]
                     peers=[node_ip(peer)] if unicast else (), src=node_ip(me) if unicast else None)


@pytest.mark.interop
@pytest.mark.parametrize("name", list(VARIANTS))
def test_keepalived_and_pykeepalived_elect_and_fail_over_both_ways(lan: tuple[Lab, Path], name: str) -> None:
    require_binary("keepalived")
    lab, tmp = lan
    v = VARIANTS[name]
    version, advert = int(v["version"]), float(v["advert"])  # type: ignore[call-overload]
    ka = Node(lab, "a", "ka", conf(v, "a", "b", 150), tmp / "a-ka1")
    ka.dir.mkdir()
    py = Node(lab, "b", "py", conf(v, "b", "a", 100), tmp / "b-py")
    py.dir.mkdir()
    ka2 = Node(lab, "a", "ka", conf(v, "a", "b", 50), tmp / "a-ka2")
    ka2.dir.mkdir()
    sn_b = Sniffer(lab, "b")
    sn_a = Sniffer(lab, "a")
    try:
        # 1. keepalived master, pykeepalived backup
        ka.start()
        elect(lab, "a", "b", 3 * down_bound(version, advert, 150) + 2)
        py.start()
        time.sleep(max(1.0, 2 * down_bound(version, advert, 100)))
        assert vip_holders(lab) == ["a"] and masters_entered(py) == 0, py.log()
        assert not error_counters(k1 := ka.stats()), k1
        # 2. keepalived stops: priority 0, pykeepalived takes over after its skew
        t_term = ka.signal(signal.SIGTERM)
        tk = takeover(sn_b, node_ip("a"), node_ip("b"), t_term, 3)
        assert tk.last_old.prio == 0
        bound = skew(version, advert, 100)
        assert bound - 0.005 <= tk.seconds <= bound + SLACK, (tk.seconds, bound)
        assert ka.stop() == 0
        elect(lab, "b", "a", 3)
        # 3. keepalived returns with a lower priority: it must stay backup
        ka2.start()
        time.sleep(2 * down_bound(version, advert, 50))
        assert vip_holders(lab) == ["b"]
        assert masters_entered(ka2) == 0 and masters_entered(py) == 1, (ka2.log(), py.log())
        py_stats = py.stats()
        assert not error_counters(py_stats), py_stats
        assert py_stats["Advertisements/Received"] > 0
        # 4. pykeepalived's host crashes: keepalived takes over
        t_kill = py.signal(signal.SIGKILL)
        lab.set_port("b", "eth0", False)
        tk = takeover(sn_a, node_ip("b"), node_ip("a"), t_kill, 3 * down_bound(version, advert, 50))
        bound = down_bound(version, advert, 50)
        assert bound - 0.005 <= tk.seconds <= bound + SLACK, (tk.seconds, bound)
        k2 = ka2.stats()
        assert not error_counters(k2), k2
        assert k2["Advertisements/Received"] > 0 and k2["Became master"] == 1
        py.reap()
    finally:
        sn_a.close()
        sn_b.close()
        for n in (ka, ka2, py):
            n.stop()

