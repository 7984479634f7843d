"""Addresses deleted by another program (``ip addr del``, a network manager flushing an interface), as keepalived
2.2.7's netlink reflector handles them (core/keepalived_netlink.c):

* a MASTER's VIP deleted: the instance leaves MASTER with a priority-0 advert, waits only its skew time and, as no
  one else advertised, is MASTER again with every VIP set and announced; the backup (lower priority, longer skew)
  stays BACKUP, and the VIP is back within a fraction of a second;
* a ``no_track`` VIP deleted: left alone;
* a static address deleted: set again, logged "Restoring deleted static address ...";
* a MASTER's virtual route deleted: as its VIP (out of MASTER and back, the route set again); a static route
  deleted: set again, logged "Restoring deleted static route ...".

Each case runs with pykeepalived ("py") and with keepalived 2.2.7 ("ka") as the node under test, and both must
behave the same.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from pykeepalived.lab.measure import (
    VIP,
    elect,
    has_vip,
    masters_entered,
    node,
    node_ip,
    vip_holders,
    vrrp_conf,
    wait_for,
)
from pykeepalived.lab.topology import Lab
from tests.integration.test_vrrp_failover import lan

__all__ = ["lan"]

#: an eVIP with no_track, and a static address, beside the instance's VIP
UNTRACKED = "10.9.0.61"
STATIC = "10.9.0.71"


#: a virtual route and a static route, through the client
VROUTE = "10.41.0.0/24"
SROUTE = "10.40.0.0/24"


def conf(prio: int) -> str:
    gw = node_ip("client")
    return vrrp_conf(prio=prio, version=3, advert=0.1,
                     instance_extra=["virtual_ipaddress_excluded {", f"  {UNTRACKED}/24 no_track", "}",
                                     "virtual_routes {", f"  {VROUTE} via {gw} dev eth0", "}"],
                     blocks=f"static_ipaddress {{\n  {STATIC}/32 dev eth0\n}}\n"
                            f"static_routes {{\n  {SROUTE} via {gw} dev eth0\n}}\n")


def has_route(lab: Lab, n: str, dest: str) -> bool:
    return dest in lab.run(n, ["ip", "-4", "route", "show", dest]).stdout


def delete(lab: Lab, n: str, address: str) -> None:
    lab.run(n, ["ip", "addr", "del", address, "dev", "eth0"])


@pytest.mark.parametrize("kind", ["py", "ka"])
def test_a_entry_deleted_from_the_master_comes_back_and_the_backup_stays_backup(lan: tuple[Lab, Path],
                                                                              kind: str) -> None:
    lab, tmp = lan
    a = node(lab, tmp, "a", kind, conf(150)).start()
    b = node(lab, tmp, "b", "py", conf(100)).start()
    try:
        elect(lab, "a", "b", 10)
        assert has_vip(lab, "a", UNTRACKED)
        time.sleep(0.5)
        entered, entered_b = masters_entered(a), masters_entered(b)
        deleted = time.monotonic()
        delete(lab, "a", f"{VIP}/24")
        wait_for(lambda: not has_vip(lab, "a"), 2, "the VIP gone")  # (it may already be back)
        wait_for(lambda: has_vip(lab, "a"), 3, "the VIP back on a")
        back = time.monotonic() - deleted
        assert back < 1.0, back
        time.sleep(1.0)
        assert vip_holders(lab) == ["a"]
        assert masters_entered(a) == entered + 1, a.log()[-2000:]  # left MASTER and came back once
        assert masters_entered(b) == entered_b, b.log()[-2000:]
        # a no_track eVIP deleted: nothing happens
        delete(lab, "a", f"{UNTRACKED}/24")
        time.sleep(1.0)
        assert not has_vip(lab, "a", UNTRACKED) and masters_entered(a) == entered + 1
        # a static address deleted: restored
        delete(lab, "a", f"{STATIC}/32")
        wait_for(lambda: has_vip(lab, "a", STATIC), 3, "the static address restored")
        wait_for(lambda: f"Restoring deleted static address {STATIC} dev eth0 scope global set" in a.log(), 2,
                 "keepalived's log line")
        # a static route deleted: restored
        assert has_route(lab, "a", SROUTE)
        lab.run("a", ["ip", "route", "del", SROUTE])
        wait_for(lambda: has_route(lab, "a", SROUTE), 3, "the static route restored")
        # (keepalived prints the route through its format_iproute: "prepend 10.40.0.0/24 via inet ... proto 18";
        # pykeepalived prints the configuration line)
        wait_for(lambda: re.search(rf"Restoring deleted static route .*{re.escape(SROUTE)}", a.log()), 2,
                 "the log line")
        # the master's virtual route deleted: out of MASTER and back, the route with it
        assert has_route(lab, "a", VROUTE)
        lab.run("a", ["ip", "route", "del", VROUTE])
        wait_for(lambda: masters_entered(a) == entered + 2, 3, "a MASTER again")
        wait_for(lambda: has_route(lab, "a", VROUTE) and has_vip(lab, "a"), 3, "the virtual route back")
        time.sleep(0.5)
        assert vip_holders(lab) == ["a"] and masters_entered(b) == entered_b
    finally:
        for n in (a, b):
            n.stop()
