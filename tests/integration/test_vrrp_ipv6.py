"""IPv6 VRRP (VRRPv3): two pykeepalived processes on a ``two_node_lan`` sharing ``fd09::50/64``.

What RFC 5798 and keepalived 2.2.7 put on the wire for IPv6 is checked on a capture in the client:
adverts to ff02::12 from the master's link-local address with hop limit 255, and unsolicited
neighbour advertisements for the VIP (to ff02::1, hop limit 255, Override flag, Router flag since
the lab's load balancers forward) from the new master's MAC.  The VIP is added without DAD
(``nodad``), so it answers at once after a takeover.  Takeover times are read off the capture as
in ``test_vrrp_failover``; the client reaches ``[fd09::50]`` through whoever holds it.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from pykeepalived.lab.measure import (
    SLACK,
    VIP6,
    Prober,
    Sniffer,
    down_bound,
    elect,
    error_counters,
    has_vip,
    link_local,
    node,
    skew,
    start_servers,
    takeover,
    vip_holders,
    vrrp_conf,
    wait_for,
)
from pykeepalived.lab.topology import Lab
from tests.integration.test_vrrp_failover import lan

__all__ = ["lan"]  # the fixture, re-exported for pytest

ADV = 0.1
VIP6_CIDR = f"{VIP6}/64"


def conf6(prio: int, evip: str | None = None) -> str:
    extra = ["virtual_ipaddress_excluded {", f"  {evip}", "}"] if evip else []
    return vrrp_conf(prio=prio, version=3, advert=ADV, vip=VIP6_CIDR, instance_extra=extra)


def mac_of(lab: Lab, name: str, dev: str = "eth0") -> str:
    words = lab.run(name, ["ip", "-o", "link", "show", "dev", dev]).stdout.split()
    return words[words.index("link/ether") + 1]


def vip_line(lab: Lab, name: str, cidr: str = VIP6_CIDR) -> str:
    out = lab.run(name, ["ip", "-6", "-o", "addr", "show", "dev", "eth0"]).stdout
    return next((line for line in out.splitlines() if f" {cidr} " in line), "")


def test_ipv6_election_unsolicited_na_and_crash_takeover_within_bound(lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    start_servers(lab)
    ll_a, ll_b = link_local(lab, "a"), link_local(lab, "b")
    mac_a, mac_b = mac_of(lab, "a"), mac_of(lab, "b")
    a = node(lab, tmp, "a", "py", conf6(150)).start()
    b = node(lab, tmp, "b", "py", conf6(100)).start()
    sn = Sniffer(lab, "b")
    client_sn = Sniffer(lab, "client")
    try:
        elect(lab, "a", "b", 10, vip=VIP6)
        time.sleep(0.5)
        assert vip_holders(lab, vip=VIP6) == ["a"]
        assert "nodad" in vip_line(lab, "a"), vip_line(lab, "a")
        adverts = client_sn.adverts(ll_a)
        assert adverts and all(e.ttl == 255 and e.vrid == 51 and e.prio == 150 for e in adverts), adverts[:3]
        assert not client_sn.adverts(ll_b, since=adverts[-1].t - 0.3), "b still advertising"
        nas = [e for e in client_sn.garps(VIP6) if e.mac == mac_a]  # (b may have won the start-up race)
        assert nas, client_sn.garps(VIP6)
        assert all(e.flags & 0x20 and e.flags & 0x80 for e in nas), nas  # Override, Router
        prober = Prober(lab, duration=2.0, vip=VIP6).start()
        time.sleep(0.4)
        t_kill = a.signal(signal.SIGKILL)
        lab.set_port("a", "eth0", False)
        tk = takeover(sn, ll_a, ll_b, t_kill, 5)
        bound = down_bound(3, ADV, 100)
        assert bound - 0.005 <= tk.seconds <= bound + SLACK, (tk.seconds, bound)
        wait_for(lambda: has_vip(lab, "b", VIP6), 2, "VIP on b")
        results = prober.finish()
        assert any(ok and who == "a" for t, ok, who in results if t < t_kill), results[:5]
        back = prober.first_ok_from("b", t_kill)
        assert back is not None, results[-5:]
        assert back - t_kill <= bound + 0.3, (back - t_kill, bound)
        nas_b = [e for e in client_sn.garps(VIP6, since=t_kill) if e.mac == mac_b]
        assert nas_b and nas_b[0].t <= back + 0.01, nas_b
        assert "nodad" in vip_line(lab, "b")
        assert not error_counters(st := b.stats()), st
        assert st["Advertisements/Received"] > 0
        print(f"\nIPv6 crash takeover {tk.seconds * 1000:.1f} ms (bound {bound * 1000:.1f} ms), "
              f"client back after {(back - t_kill) * 1000:.0f} ms")
    finally:
        sn.close()
        client_sn.close()
        a.reap()
        b.stop()


def test_ipv6_clean_stop_sends_priority_zero_and_backup_takes_over_after_skew(lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    ll_a, ll_b = link_local(lab, "a"), link_local(lab, "b")
    a = node(lab, tmp, "a", "py", conf6(150, evip="fd09::51")).start()
    b = node(lab, tmp, "b", "py", conf6(100, evip="fd09::51")).start()
    sn = Sniffer(lab, "b")
    try:
        elect(lab, "a", "b", 10, vip=VIP6)
        time.sleep(0.3)
        # a bare IPv6 (e)VIP is a /128, deprecated (preferred_lft 0) and without DAD, as keepalived adds it
        evip = vip_line(lab, "a", "fd09::51/128")
        assert "nodad" in evip and "deprecated" in evip, evip
        t_term = a.signal(signal.SIGTERM)
        tk = takeover(sn, ll_a, ll_b, t_term, 5)
        assert tk.last_old.prio == 0, tk
        sk = skew(3, ADV, 100)
        assert sk - 0.005 <= tk.seconds <= sk + SLACK, (tk.seconds, sk)
        assert a.stop() == 0
        assert not has_vip(lab, "a", VIP6) and not has_vip(lab, "a", "fd09::51")
        wait_for(lambda: vip_holders(lab, vip=VIP6) == ["b"], 2, "b alone holding the VIP")
        st = b.stats()
        assert st["Priority Zero/Received"] == 1 and not error_counters(st), st
        print(f"\nIPv6 clean-stop takeover {tk.seconds * 1000:.1f} ms (skew {sk * 1000:.1f} ms)")
    finally:
        sn.close()
        a.stop()
        b.stop()
