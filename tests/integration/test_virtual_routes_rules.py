"""virtual_routes and virtual_rules installed as Debian's keepalived 2.2.7 installs them, compared live.

Node ``a`` of a two-node LAN (plus a veth pair ``ra``/``rb`` for a second nexthop device) runs keepalived
2.2.7 and then pykeepalived's VRRP process with the same config: one instance holding routes with every
option keepalived sends (multipath with weights, realms, onlink and encapsulation; metrics with locks;
tos, realms, pref, expires, ttl-propagate; ip/ip6 encapsulation; tables above 255, types, scopes,
protocols, source routing) and rules with every selector (tos, fwmark/mask, realms, suppressors, iif/oif,
tunnel id, uid range, ip protocol, port ranges, protocol, l3mdev, goto, nop, not …).  For each daemon:

1. MASTER alone: ``ip -d -j route show table all`` and ``ip -d -j rule show`` (both families) are taken;
2. a peer with a higher priority starts on ``b``: ``a`` turns BACKUP and must have removed them all;
3. the peer stops, ``a`` is MASTER again; then ``a`` stops and must have removed them all.

The MASTER dumps of the two daemons must be equal (interface indexes and run-specific values such as the
time left before a route ``expires`` normalised), the BACKUP and stopped ones equal to the node's dump
before either daemon ran, and each route or rule the kernel refused logged by both.  MPLS and ILA
encapsulations need kernel modules (``mpls_iptunnel``, ``ila``): their case runs where the kernel has them
and is skipped, saying so, where it does not; Debian's stock kernel has them (``scripts/run-in-vm -- sh -c
'modprobe mpls_iptunnel; modprobe ila; python -m pytest tests/integration/test_virtual_routes_rules.py'``).

keepalived's request leaves out a nexthop's encapsulation, and the route's encapsulation or nexthops past
128 bytes (``fd71::/64`` here goes without its ``encap ip6``, ``10.76.0.0/24``'s second hop without its
``encap ip``); pykeepalived leaves out the same, so the kernel's tables match.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pykeepalived.lab.measure import Node, node, vrrp_conf, wait_for
from pykeepalived.lab.topology import Lab
from tests.conftest import require_binary
from tests.integration.test_vrrp_failover import lan

__all__ = ["lan"]

ROUTES = """\
10.70.0.0/24 dev eth0
10.71.0.0/24 nexthop via 10.9.0.2 dev eth0 weight 2 nexthop via 10.60.1.2 dev ra weight 3
10.72.0.0/24 via 10.9.0.2 dev eth0 mtu lock 1400 advmss 1300 rtt 300ms rttvar 250ms reordering 5 window 65535 \
cwnd 10 ssthresh 20 rto_min lock 300ms initcwnd 11 initrwnd 12 congctl lock reno features ecn quickack 1 \
fastopen_no_cookie 1 hoplimit 33
10.73.0.0/24 via 10.9.0.2 dev eth0 tos 0x10 realms 3/4 metric 20 table 100
10.74.0.0/24 dev eth0 encap ip id 5 dst 10.9.9.9 src 10.9.0.1 ttl 3 tos 0x10 flags 1 table 1000
10.75.0.0/24 via 10.9.0.2 dev eth0 ttl-propagate enabled onlink quickack 0 fastopen_no_cookie 0
10.76.0.0/24 nexthop via 10.9.0.2 dev eth0 realms 5 nexthop via 10.60.1.2 dev ra encap ip id 7 dst 10.9.9.8 onlink
blackhole 10.77.0.0/24
10.78.0.0/24 dev ra src 10.60.1.1 scope link protocol bird no_track
unreachable 10.79.0.0/24 table 101 metric 5 append
10.80.0.0/24 via 10.9.0.2 or 10.60.1.2
fd70::/64 via fd09::2 dev eth0 pref high expires 300 mtu 1400
fd71::/64 dev eth0 encap ip6 id 5 dst fd99::9 src fd09::1 hoplimit 3 tc 0x10 flags 2
fd72::/64 nexthop via fd09::2 dev eth0 nexthop via fd60::2 dev ra
fd73::/64 from fd09::/64 via fd09::2 dev eth0 metric 7
10.81.0.0/24 via 10.77.7.7 dev eth0
local 10.82.0.1 dev eth0 table 102 scope host
throw 10.83.0.0/24 table 102
default via 10.9.0.2 dev eth0 table 103
default6 via fd09::2 dev eth0 table 103
"""

RULES = """\
from 10.9.0.0/24 tos 0x10 fwmark 0x5/0xff realms 3/4 table 100 preference 100
to 10.2.0.0/24 lookup 1000 sup_pl 0 preference 101
from all sup_group 5 table main preference 102
iif eth0 oif ra goto 105 preference 103
uidrange 100-200 ipproto tcp sport 1000-2000 dport 80-80 blackhole preference 104
tunnel-id 42 prohibit preference 105
l3mdev preference 106
protocol 18 from 10.3.0.0/16 unreachable preference 107
not to 10.4.0.0/16 nop preference 108
from fd09::/64 table 100 preference 109
protocol 3 to 10.5.0.0/16 table 5 preference 110 no_track
tos 3 table 5 preference 112
fwmark 7 table 1000 priority 111
"""

#: lightweight tunnels this kernel may lack (tested when it has them)
LWT_ROUTES = """\
10.90.0.0/24 dev eth0 encap mpls 100/200
10.91.0.0/24 nexthop via 10.9.0.2 dev eth0 encap mpls 300 nexthop via 10.60.1.2 dev ra
fd90:0:0:0:2000::1/128 via fd09::2 dev eth0 encap ila 2001:0:0:1
"""

#: a route or rule each config installs last: its presence says the daemon is done
DONE_MARK = {"common": ("rule", "111"), "lwt": ("route", "10.91.0.0/24")}


def block(name: str, body: str) -> list[str]:
    """A config block of ``body``'s lines (``\\``-continued lines joined)."""
    return [f"{name} {{", *(f"  {line}" for line in body.replace("\\\n", "").splitlines()), "}"]


def _conf(routes: str, rules: str) -> str:
    return vrrp_conf(prio=150, state="BACKUP", instance_extra=block("virtual_routes", routes)
                     + block("virtual_rules", rules))


def add_second_device(lab: Lab) -> None:
    """A second device on ``a`` (a veth pair, both ends up), addressed in both families."""
    for line in ("link add ra type veth peer name rb", "link set ra up", "link set rb up",
                 "addr add 10.60.1.1/24 dev ra", "addr add fd60::1/64 dev ra nodad"):
        lab.run("a", ["ip", *line.split()])
    # an IPv6 gateway must be reachable through an address that is no longer tentative
    wait_for(lambda: "tentative" not in lab.run("a", ["ip", "-6", "addr"]).stdout, 5, "IPv6 addresses settled")


def _normalise(entries: list[dict[str, Any]]) -> list[str]:
    """``ip -j`` entries as sorted JSON texts, run-specific values dropped (an expiring route's time left)."""
    out = []
    for entry in entries:
        e = dict(entry)
        if "expires" in e:
            e["expires"] = "*"
        out.append(json.dumps(e, sort_keys=True))
    return sorted(out)


def dump(lab: Lab, *, addresses: bool = False) -> dict[str, list[str]]:
    """Every route (all tables) and rule of node ``a``, both families; with ``addresses`` its addresses too
    (``ip -j addr``: each address with its interface's name)."""
    out = {}
    for what, argv in (("route4", ["-4", "route", "show", "table", "all"]),
                       ("route6", ["-6", "route", "show", "table", "all"]),
                       ("rule4", ["-4", "rule", "show"]), ("rule6", ["-6", "rule", "show"])):
        text = lab.run("a", ["ip", "-d", "-j", *argv]).stdout
        out[what] = _normalise(json.loads(text or "[]"))
    if addresses:
        links = json.loads(lab.run("a", ["ip", "-j", "addr"]).stdout or "[]")
        out["addr"] = _normalise([{**a, "dev": link["ifname"]} for link in links for a in link.get("addr_info", ())])
    return out


def _present(lab: Lab, mark: tuple[str, str]) -> bool:
    kind, what = mark
    d = dump(lab)
    if kind == "rule":
        return any(json.loads(e).get("priority") == int(what) for e in d["rule4"] + d["rule6"])
    return any(json.loads(e).get("dst") == what for e in d["route4"] + d["route6"])


def _refusals(log: str) -> list[str]:
    """What the kernel refused, in keepalived's words (without the sequence number and port id)."""
    return sorted(re.findall(r"Netlink: error: (.*?), seq=", log))


def run_daemon(lab: Lab, tmp: Path, kind: str, conf: str, mark: tuple[str, str],
               baseline: dict[str, list[str]]) -> tuple[dict[str, list[str]], list[str]]:
    """One daemon through MASTER, BACKUP, MASTER, stop; returns its MASTER dump and what the kernel refused."""
    a = node(lab, tmp, "a", kind, conf).start()
    peer: Node | None = None
    try:
        wait_for(lambda: "Entering MASTER STATE" in a.log(), 15, f"{kind} MASTER")
        wait_for(lambda: _present(lab, mark), 10, f"{kind}'s routes and rules")
        time.sleep(0.3)  # anything after the last one (nothing expected)
        master = dump(lab)
        refused = _refusals(a.log())

        peer = node(lab, tmp, "b", "py", vrrp_conf(prio=200)).start()
        wait_for(lambda: "Entering BACKUP STATE" in a.log().split("Entering MASTER STATE", 1)[1], 15,
                 f"{kind} BACKUP under a higher priority")
        settled(lab, baseline, f"{kind} BACKUP: routes and rules removed")
        peer.stop()
        peer = None
        wait_for(lambda: a.log().count("Entering MASTER STATE") >= 2, 15, f"{kind} MASTER again")
        wait_for(lambda: _present(lab, mark), 10, f"{kind}'s routes and rules again")
        assert dump(lab) == master, f"{kind}: not the same routes and rules on becoming MASTER again"
    finally:
        if peer is not None:
            peer.stop()
        a.stop()
    settled(lab, baseline, f"{kind} stopped: routes and rules removed")
    return master, refused


def settled(lab: Lab, want: dict[str, list[str]], what: str) -> None:
    """Wait until node ``a``'s routes and rules (and addresses, if ``want`` has them) are ``want`` again; on a
    timeout, say what differs."""
    addresses = "addr" in want
    try:
        wait_for(lambda: dump(lab, addresses=addresses) == want, 5, what)
    except AssertionError:
        got = dump(lab, addresses=addresses)
        left = {k: sorted(set(got[k]) - set(want[k])) for k in got if set(got[k]) - set(want[k])}
        gone = {k: sorted(set(want[k]) - set(got[k])) for k in got if set(want[k]) - set(got[k])}
        raise AssertionError(f"{what}: left over {left}, missing {gone}") from None


def _lwt_supported(lab: Lab) -> str | None:
    """None when the kernel takes MPLS and ILA encapsulations, else why not."""
    for argv in (["route", "add", "10.99.0.0/24", "encap", "mpls", "100", "dev", "eth0"],
                 ["-6", "route", "add", "fd99:0:0:0:2000::1/128", "encap", "ila", "1:2:3:4", "via", "fd09::2",
                  "dev", "eth0"]):
        cp = lab.run("a", ["ip", *argv], check=False)
        if cp.returncode != 0:
            return f"this kernel has no {argv[argv.index('encap') + 1]} encapsulation ({cp.stderr.strip()})"
        lab.run("a", ["ip", *(["-6"] if argv[0] == "-6" else []), "route", "del", argv[argv.index("add") + 1]])
    return None


CASES: dict[str, Callable[[], tuple[str, str]]] = {
    "common": lambda: (ROUTES, RULES),
    "lwt": lambda: (LWT_ROUTES, ""),
}


@pytest.mark.root
@pytest.mark.interop
@pytest.mark.parametrize("case", list(CASES))
def test_routes_and_rules_installed_and_removed_as_keepalived_does(lan: tuple[Lab, Path], case: str) -> None:
    require_binary("keepalived")
    lab, tmp = lan
    add_second_device(lab)
    if case == "lwt" and (why := _lwt_supported(lab)) is not None:
        pytest.skip(f"{why}: tests/vm/lwt_routes_cases.py runs this case in the VM")
    routes, rules = CASES[case]()
    conf = _conf(routes, rules)
    baseline = dump(lab)
    ka_master, ka_refused = run_daemon(lab, tmp, "ka", conf, DONE_MARK[case], baseline)
    py_master, py_refused = run_daemon(lab, tmp, "py", conf, DONE_MARK[case], baseline)
    for what in ka_master:
        only_ka = sorted(set(ka_master[what]) - set(py_master[what]))
        only_py = sorted(set(py_master[what]) - set(ka_master[what]))
        assert py_master[what] == ka_master[what], (what, "keepalived only:", only_ka, "pykeepalived only:", only_py)
    assert ka_master != baseline
    assert py_refused == ka_refused
    if case == "common":  # a gateway off every subnet and a TOS with ECN bits: refused by the kernel, logged
        assert ka_refused == ["Invalid argument(22), type=RTM_NEWRULE(32)",
                              "Network is unreachable(101), type=RTM_NEWROUTE(24)"], ka_refused


#: a MASTER's reload: 10.9.0.51's broadcast changes (the same address to keepalived: left alone), 10.9.0.52
#: goes, 10.90/24's MTU changes (the same route: replaced in place), 10.91/24 goes and 10.92/24 comes, rule
#: 2001's table changes (another rule: removed and added)
RELOAD_START = ("10.9.0.51/24 brd 10.9.0.255\n10.9.0.52/24",
                "10.90.0.0/24 via 10.9.0.2 dev eth0 mtu 1400\n10.91.0.0/24 via 10.9.0.2 dev eth0",
                "from 10.9.0.50 table 100 preference 2000\nto 10.93.0.0/24 table 101 preference 2001")
RELOAD_NEW = ("10.9.0.51/24 brd 10.9.0.0\n10.9.0.53/24",
              "10.90.0.0/24 via 10.9.0.2 dev eth0 mtu 1300\n10.92.0.0/24 via 10.9.0.2 dev eth0",
              "from 10.9.0.50 table 100 preference 2000\nto 10.93.0.0/24 table 102 preference 2001")


def _reload_conf(evips: str, routes: str, rules: str) -> str:
    return vrrp_conf(prio=150, vip="10.9.0.50/24 brd 10.9.0.255",
                     instance_extra=block("virtual_ipaddress_excluded", evips) + block("virtual_routes", routes)
                     + block("virtual_rules", rules))


def _reloaded(lab: Lab) -> bool:
    d = dump(lab)
    return (any(json.loads(e).get("priority") == 2001 and json.loads(e).get("table") == "102" for e in d["rule4"])
            and any(json.loads(e).get("dst") == "10.92.0.0/24" for e in d["route4"]))


def _master_reload(lab: Lab, tmp: Path, kind: str) -> tuple[dict[str, list[str]], list[str]]:
    """One daemon MASTER, reloaded: its dump after the reload and the deletions ``ip monitor`` saw."""
    a = node(lab, tmp, "a", kind, _reload_conf(*RELOAD_START)).start()
    monitor = None
    try:
        wait_for(lambda: "Entering MASTER STATE" in a.log(), 15, f"{kind} MASTER")
        wait_for(lambda: _present(lab, ("rule", "2001")), 10, f"{kind}'s routes and rules")
        time.sleep(0.5)
        monitor = lab.popen("a", ["stdbuf", "-oL", "ip", "-o", "monitor", "address", "route"],
                            stdout=subprocess.PIPE, text=True)
        time.sleep(0.3)
        a.reload(_reload_conf(*RELOAD_NEW))
        wait_for(lambda: _reloaded(lab), 10, f"{kind}'s reload")
        time.sleep(0.5)
        reloaded = dump(lab, addresses=True)
    finally:
        if monitor is not None:
            lab.stop(monitor)
        a.stop()
    assert monitor is not None and monitor.stdout is not None
    events = monitor.stdout.read().splitlines()
    deleted = sorted(" ".join(e.split()[:5]) for e in events if e.startswith("Deleted"))
    return reloaded, deleted


@pytest.mark.root
@pytest.mark.interop
def test_a_kept_masters_reload_leaves_equal_addresses_and_replaces_routes_as_keepalived_does(
        lan: tuple[Lab, Path]) -> None:
    require_binary("keepalived")
    lab, _ = lan
    tmp = lan[1]
    baseline = dump(lab, addresses=True)
    ka, ka_deleted = _master_reload(lab, tmp, "ka")
    settled(lab, baseline, "ka stopped")
    py, py_deleted = _master_reload(lab, tmp, "py")
    settled(lab, baseline, "py stopped")
    for what in ka:
        assert py[what] == ka[what], (what, sorted(set(ka[what]) ^ set(py[what])))
    assert py_deleted == ka_deleted
    gone = " ".join(ka_deleted)
    # only what is gone was deleted: not 10.9.0.51 (a new broadcast), not 10.90/24 (replaced in place)
    assert "10.9.0.52/24" in gone and "10.91.0.0/24" in gone
    assert "10.9.0.51/" not in gone and "10.9.0.50/" not in gone and "10.90.0.0/24" not in gone
    assert any('"local": "10.9.0.51"' in e and '"broadcast": "10.9.0.255"' in e for e in ka["addr"])
    assert any('"dst": "10.90.0.0/24"' in e and '"mtu": 1300' in e for e in ka["route4"])
