"""A kept MASTER's VIPs, eVIPs, virtual_routes and virtual_rules on reload: the pure plan
(``vrrp.reload.address_changes``, the statics' :func:`~pykeepalived.vrrp.reload.reload_changes`) and what
the VRRP process does with it on fake I/O, as keepalived 2.2.7's ``clear_diff_vrrp`` (rules, routes, then
addresses out; ``restore_vrrp_state``: addresses, every route, rules in)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pykeepalived.vrrp import packet as pkt
from pykeepalived.vrrp.addresses import VipSpec
from pykeepalived.vrrp.fsm import State
from pykeepalived.vrrp.instances import build_runtime
from pykeepalived.vrrp.reload import address_changes

from .test_statics import changes, dests, prefs
from .vrrp_harness import MAC, SRC, Node, config

DOWN = 3 + (256 - 100) / 256


def instance(vips: str, evips: str, routes: str, rules: str) -> str:
    return f"""
vrrp_instance VI_1 {{
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  garp_master_delay 0
  garp_master_repeat 1
  virtual_ipaddress {{
{vips}
  }}
  virtual_ipaddress_excluded {{
{evips}
  }}
  virtual_routes {{
{routes}
  }}
  virtual_rules {{
{rules}
  }}
}}
"""


VIPS = "10.0.0.5/24 brd 10.0.0.255\n10.0.0.6/24 label eth0:six\n10.0.0.7/24"
EVIPS = "fd00::5/64 dev eth1\nfd00::6/64 dev eth1"
ROUTES = ("10.40.0.0/24 via 10.0.0.1 dev eth0\n10.41.0.0/24 via 10.0.0.1 dev eth0 mtu 1400\n"
          "10.42.0.0/24 via 10.0.0.1 dev eth0")
RULES = "from 10.0.0.5 table 100 preference 1000\nto 10.50.0.0/24 table 101 preference 1001"
START = instance(VIPS, EVIPS, ROUTES, RULES)
#: 10.0.0.5's broadcast changed (the same address to keepalived), 10.0.0.6's label changed (another one),
#: 10.0.0.7 gone, 10.0.0.8 new; eVIP fd00::6 gone; 10.41/24's MTU changed (same key: replaced), 10.42/24
#: gone, 10.43/24 new; rule 1000 rewritten in another order (equal), rule 1001's table changed (another)
RELOADED = instance("10.0.0.5/24 brd -\n10.0.0.6/24 label eth0:6\n10.0.0.8/24", "fd00::5/64 dev eth1",
                    "10.40.0.0/24 via 10.0.0.1 dev eth0\n10.41.0.0/24 via 10.0.0.1 dev eth0 mtu 1300\n"
                    "10.43.0.0/24 via 10.0.0.1 dev eth0",
                    "table 100 preference 1000 from 10.0.0.5\nto 10.50.0.0/24 table 102 preference 1001")


def addrs(vips: Any) -> list[str]:
    return [str(v.address) for v in vips]


def test_the_plan_compares_as_keepalived_and_has_the_statics_shape() -> None:
    old_cfg, new_cfg = config(START), config(RELOADED)
    old = build_runtime(old_cfg.vrrp.instances[0], old_cfg.global_defs, SRC)
    new = build_runtime(new_cfg.vrrp.instances[0], new_cfg.global_defs, SRC)
    plan = address_changes(old.vips + old.evips, new.vips + new.evips, old.model, new.model)
    assert prefs(plan.remove_rules) == [1001]
    assert [(o.dest, n.dest if n else None) for o, n in plan.remove_routes] == [
        ("10.40.0.0/24", "10.40.0.0/24"), ("10.41.0.0/24", "10.41.0.0/24"), ("10.42.0.0/24", None)]
    old_41, new_41 = plan.remove_routes[1]
    assert new_41 is not None and new_41.options != old_41.options  # the MTU: replaced, not removed
    assert addrs(plan.remove_addresses) == ["10.0.0.6/24", "10.0.0.7/24", "fd00::6/64"]
    kept = {str(o.address) if isinstance(o, VipSpec) else o.preference: n for o, n in plan.kept}
    assert set(kept) == {"10.0.0.5/24", "fd00::5/64", 1000}
    assert isinstance(kept["10.0.0.5/24"], VipSpec) and kept["10.0.0.5/24"].broadcast == "10.0.0.0"
    # every configured one is to be added (the executor skips those set), every route again (forced)
    assert addrs(plan.add_addresses) == ["10.0.0.5/24", "10.0.0.6/24", "10.0.0.8/24", "fd00::5/64"]
    assert dests(plan.add_routes) == ["10.40.0.0/24", "10.41.0.0/24", "10.43.0.0/24"] and plan.force_routes
    assert prefs(plan.add_rules) == [1000, 1001] and plan.reload and not plan.force_addresses


async def master(text: str) -> Node:
    node = Node(text)
    await node.start()
    await node.run_until(DOWN + 0.5)
    assert node.rt.fsm.state is State.MASTER
    return node


async def test_a_kept_master_leaves_equal_ones_alone_replaces_routes_and_swaps_the_rest_in_keepalived_order(
        caplog: pytest.LogCaptureFixture) -> None:
    node = await master(START)
    mark = len(node.io.log)
    with caplog.at_level(logging.INFO, "pykeepalived.vrrp"):
        node.reload(RELOADED)
        await node.run_until(DOWN + 1.5)
    assert changes(node, mark) == [
        ("routes-", ([], [1001])),  # rules no longer configured
        ("routes~", (["10.40.0.0/24"], [])), ("routes~", (["10.41.0.0/24"], [])),  # same key: route replace
        ("routes-", (["10.42.0.0/24"], [])),
        ("vip-", "10.0.0.6/24"), ("vip-", "10.0.0.7/24"), ("vip-", "fd00::6/64"),  # not 10.0.0.5 nor fd00::5
        ("vip+", "10.0.0.6/24"), ("vip+", "10.0.0.8/24"),
        ("routes+", (["10.40.0.0/24", "10.41.0.0/24", "10.43.0.0/24"], [1001])),  # every route, new rules
    ]
    replaced = [s.what[0][0] for s in node.io.log[mark:] if s.kind == "routes~"]
    assert replaced == list(node.rt.model.virtual_routes[:2])  # by their new lines
    assert [s.what for s in node.io.log[mark:] if s.kind == "frame"] == [
        pkt.build_garp(MAC, "10.0.0.6"), pkt.build_garp(MAC, "10.0.0.8")]  # one round, for the added ones
    messages = [r.getMessage() for r in caplog.records]
    assert "(VI_1) ip address 10.0.0.7/24 dev eth0, no longer exist" in messages
    assert "(VI_1) reload: 3 VIP(s) removed, 2 added" in messages
    # the same again: nothing removed or added, the routes replaced by themselves (and added, found there)
    mark = len(node.io.log)
    node.reload(RELOADED)
    await node.run_until(DOWN + 2.5)
    assert changes(node, mark) == [
        *[("routes~", ([r], [])) for r in ("10.40.0.0/24", "10.41.0.0/24", "10.43.0.0/24")],
        ("routes+", (["10.40.0.0/24", "10.41.0.0/24", "10.43.0.0/24"], [])),
    ]
    # the new lines carry the set flags: a stop removes every one, the kept addresses by their new lines
    mark = len(node.io.log)
    await node.stop()
    assert changes(node, mark) == [
        ("routes-", (["10.40.0.0/24", "10.41.0.0/24", "10.43.0.0/24"], [1000, 1001])),
        ("vip-", "10.0.0.5/24"), ("vip-", "10.0.0.6/24"), ("vip-", "10.0.0.8/24"), ("vip-", "fd00::5/64"),
    ]


async def test_a_kept_backup_touches_nothing() -> None:
    node = Node(START)
    await node.start()
    mark = len(node.io.log)
    node.reload(RELOADED)
    await node.run_until(1)
    assert node.rt.fsm.state is State.BACKUP and changes(node, mark) == []


async def test_what_the_kernel_refused_is_not_removed_and_is_added_again_on_reload() -> None:
    node = Node(START)
    node.io.refuse |= {(node.rt.vips[1].address, True), (node.rt.vips[2].address, True),
                       (node.cfg.vrrp.instances[0].virtual_rules[1], True)}
    await node.start()
    await node.run_until(DOWN + 0.5)
    node.io.refuse.clear()
    mark = len(node.io.log)
    node.reload(START.replace("10.0.0.7/24\n", ""))  # 10.0.0.7 (never set) no longer configured
    await node.run_until(DOWN + 1.5)
    assert changes(node, mark) == [
        *[("routes~", ([r], [])) for r in ("10.40.0.0/24", "10.41.0.0/24", "10.42.0.0/24")],
        ("vip+", "10.0.0.6/24"),  # tried again
        ("routes+", (["10.40.0.0/24", "10.41.0.0/24", "10.42.0.0/24"], [1001])),  # rule 1001 too
    ]
    await node.stop()
