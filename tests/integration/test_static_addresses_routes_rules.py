"""static_ipaddress, static_routes and static_rules set, changed and removed as Debian's keepalived 2.2.7 does,
compared live.

Node ``a`` of the two-node LAN, with a second device (``ra``), runs keepalived 2.2.7 and then pykeepalived
with the same config: static addresses (one with a label and a scope, a /32 on the second device, a
broadcast, IPv6 ones), routes (through the LAN's gateway, with a metric, a source, another table) and rules
(both families), beside one VRRP instance.  ``ip -j addr``, ``ip -d -j route show table all`` and ``ip -d -j
rule show`` of both families, normalised, must be equal under both daemons:

1. after start (the instance MASTER);
2. after a reload that removes one of each (an address, a route, a rule), adds one of each, and changes some
   in ways keepalived treats differently: a route of the same destination and gateway with a new MTU (replaced
   in place) or a new source that the reload itself adds (the replacement refused, so the route is removed
   and added again after the addresses), a rule's table (another rule: removed and added), an address's
   broadcast (not what keepalived compares: the old address stays as it was);
3. after stop: everything removed (the node as before either daemon ran).

And when the VRRP process dies (``-R``: the daemon then exits too), both leave the static entries in place
(keepalived's parent removes nothing); the next daemon started takes them over and removes them at its stop.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from pykeepalived.lab.measure import node, vrrp_conf, wait_for
from pykeepalived.lab.topology import Lab
from tests.conftest import require_binary
from tests.integration.test_virtual_routes_rules import add_second_device, block, dump, lan, settled

__all__ = ["lan"]

ADDRESSES = """\
10.20.0.1/24 dev eth0 label eth0:st scope link
10.20.1.1/32 dev ra
10.20.2.1/24 dev eth0 brd +
fd20::1/64 dev eth0
fd21::1/128 dev ra
"""
ROUTES = """\
10.30.0.0/24 via 10.9.0.2 dev eth0
10.31.0.0/24 via 10.9.0.2 dev eth0 mtu 1400
10.32.0.0/24 dev ra src 10.20.1.1
10.34.0.0/24 via 10.9.0.2 dev eth0 metric 7 table 100
fd30::/64 via fd09::2 dev eth0
"""
RULES = """\
from 10.20.0.0/24 table 100 preference 1000
to 10.21.0.0/24 table 101 preference 1001
from fd20::/64 table 100 preference 1002
"""
#: 10.20.1.1, 10.32/24 and rule 1001 gone; 10.20.4.1 (labelled), 10.20.5.1, 10.33/24 and rule 1003 new;
#: 10.20.2.1's broadcast, 10.30/24's source (the new 10.20.5.1), 10.31/24's MTU and rule 1002's table changed
RELOADED_ADDRESSES = """\
10.20.0.1/24 dev eth0 label eth0:st scope link
10.20.2.1/24 dev eth0 brd -
fd20::1/64 dev eth0
fd21::1/128 dev ra
10.20.4.1/24 dev eth0 label eth0:new
10.20.5.1/32 dev ra
"""
RELOADED_ROUTES = """\
10.30.0.0/24 via 10.9.0.2 dev eth0 src 10.20.5.1
10.31.0.0/24 via 10.9.0.2 dev eth0 mtu 1300
10.34.0.0/24 via 10.9.0.2 dev eth0 metric 7 table 100
fd30::/64 via fd09::2 dev eth0
10.33.0.0/24 via 10.9.0.2 dev eth0
"""
RELOADED_RULES = """\
from 10.20.0.0/24 table 100 preference 1000
from fd20::/64 table 103 preference 1002
from 10.20.4.0/24 table 102 preference 1003
"""


def statics(addresses: str, routes: str, rules: str) -> str:
    return "\n".join([*block("static_ipaddress", addresses), *block("static_routes", routes),
                      *block("static_rules", rules)]) + "\n"


START = statics(ADDRESSES, ROUTES, RULES)
RELOADED = statics(RELOADED_ADDRESSES, RELOADED_ROUTES, RELOADED_RULES)
INSTANCE = vrrp_conf(prio=150)


def _rule_set(lab: Lab, preference: int) -> bool:
    """Whether rule ``preference`` is there: each config's rules go in last, its last one at the very end."""
    d = dump(lab)
    return any(json.loads(e).get("priority") == preference for e in d["rule4"] + d["rule6"])


def _settle(lab: Lab, what: str) -> dict[str, list[str]]:
    """Node ``a``'s dump once it has stopped changing (nothing is expected after the marks waited for)."""
    last: dict[str, list[str]] = {}

    def same() -> bool:
        nonlocal last
        now = dump(lab, addresses=True)
        was, last = last, now
        return now == was

    wait_for(same, 5, what, step=0.3)
    return last


def _compare(ka: dict[str, list[str]], py: dict[str, list[str]], when: str) -> None:
    for what in ka:
        only_ka = sorted(set(ka[what]) - set(py[what]))
        only_py = sorted(set(py[what]) - set(ka[what]))
        assert py[what] == ka[what], (when, what, "keepalived only:", only_ka, "pykeepalived only:", only_py)


def run_daemon(lab: Lab, tmp: Path, kind: str, baseline: dict[str, list[str]]) -> list[dict[str, list[str]]]:
    """One daemon through start, reload and stop; returns its dumps after start and after the reload."""
    a = node(lab, tmp, "a", kind, START + INSTANCE).start()
    try:
        wait_for(lambda: "Entering MASTER STATE" in a.log(), 15, f"{kind} MASTER")
        wait_for(lambda: _rule_set(lab, 1002), 10, f"{kind}'s static entries")
        started = _settle(lab, f"{kind} settled after start")
        a.reload(RELOADED + INSTANCE)
        wait_for(lambda: _rule_set(lab, 1003) and not _rule_set(lab, 1001), 10, f"{kind}'s reload")
        reloaded = _settle(lab, f"{kind} settled after the reload")
    finally:
        a.stop()
    settled(lab, baseline, f"{kind} stopped: static entries removed")
    return [started, reloaded]


@pytest.mark.root
@pytest.mark.interop
def test_static_entries_set_reloaded_and_removed_as_keepalived_does(lan: tuple[Lab, Path]) -> None:
    require_binary("keepalived")
    lab, tmp = lan
    add_second_device(lab)
    baseline = dump(lab, addresses=True)
    ka = run_daemon(lab, tmp, "ka", baseline)
    py = run_daemon(lab, tmp, "py", baseline)
    for when, ka_dump, py_dump in zip(("after start", "after the reload"), ka, py, strict=True):
        assert ka_dump != baseline
        _compare(ka_dump, py_dump, when)
    reloaded = ka[1]["addr"]
    # what the comparison covers: the label and scope kept, the broadcast not changed by the reload
    assert any('"label": "eth0:st"' in e and '"scope": "link"' in e for e in reloaded)
    assert any('"local": "10.20.2.1"' in e and '"broadcast": "10.20.2.255"' in e for e in reloaded)
    assert any('"prefsrc": "10.20.5.1"' in e for e in ka[1]["route4"])  # the replacement refused, then added


@pytest.mark.root
@pytest.mark.interop
def test_static_entries_outlive_a_dead_vrrp_process_as_with_keepalived(lan: tuple[Lab, Path]) -> None:
    """keepalived's parent removes nothing when its VRRP child dies (with ``-R`` it then exits): the static
    entries stay; pykeepalived's daemon, which releases a dead child's VIPs, leaves them too.  The daemon
    started next finds them there, takes them as its own and removes them when it stops."""
    require_binary("keepalived")
    lab, tmp = lan
    add_second_device(lab)
    baseline = dump(lab, addresses=True)
    left: dict[str, dict[str, list[str]]] = {}
    for kind in ("ka", "pyd"):
        a = node(lab, tmp, "a", kind, START).start()
        try:
            wait_for(lambda: _rule_set(lab, 1002), 15, f"{kind}'s static entries")
            started = _settle(lab, f"{kind} settled after start")
            a.signal(signal.SIGKILL)
            assert a.reap(10) is not None, f"{kind} did not exit after its VRRP child died (-R)"
        finally:
            a.stop()
        time.sleep(0.5)  # anything the parent might still do (nothing expected)
        left[kind] = dump(lab, addresses=True)
        assert left[kind] == started, f"{kind}: the dead VRRP process's static entries changed"
        # one entry taken away by hand: its return says the next daemon has set its entries (rules last)
        lab.run("a", ["ip", "-6", "rule", "del", "preference", "1002"])
        again = node(lab, tmp, "a", kind, START).start()
        try:
            wait_for(lambda: _rule_set(lab, 1002), 15, f"{kind} started again")
            assert _settle(lab, f"{kind} settled after starting again") == started
        finally:
            again.stop()
        settled(lab, baseline, f"{kind} started again and stopped: static entries removed")
    _compare(left["ka"], left["pyd"], "after the VRRP process died")
