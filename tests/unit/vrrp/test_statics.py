"""static_ipaddress, static_routes and static_rules: the pure plan (``vrrp.reload.static_changes``) and what
the VRRP process does with it at start, on reload and at stop, on fake I/O (as keepalived 2.2.7's VRRP
process: ``start_vrrp``, ``clear_diff_static_*``, ``stop_vrrp``)."""

from __future__ import annotations

import ipaddress
from typing import Any

from pykeepalived.vrrp.addresses import VipSpec
from pykeepalived.vrrp.fsm import State
from pykeepalived.vrrp.reload import EntryChanges, address_key, static_changes

from .vrrp_harness import Node, config

INSTANCE = """
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  garp_master_delay 0
  garp_master_repeat 1
  virtual_ipaddress {
    10.0.0.5/24
  }
}
"""
DOWN = 3 + (256 - 100) / 256


def statics(addresses: str = "", routes: str = "", rules: str = "") -> str:
    return (f"static_ipaddress {{\n{addresses}\n}}\nstatic_routes {{\n{routes}\n}}\n"
            f"static_rules {{\n{rules}\n}}\n")


ADDRESSES = ("10.20.0.1/24 dev eth0 label eth0:st scope link\n10.20.1.1/32 dev eth0\n10.20.2.1/24 brd +\n"
             "fd20::1/64 dev eth1")
ROUTES = ("10.30.0.0/24 via 10.0.0.2 dev eth0\n10.31.0.0/24 via 10.0.0.2 dev eth0 mtu 1400\n"
          "10.32.0.0/24 dev eth0 src 10.20.1.1")
RULES = "from 10.20.0.0/24 table 100 preference 1000\nto 10.21.0.0/24 table 101 preference 1001"
START = statics(ADDRESSES, ROUTES, RULES)
#: one of each removed (10.20.1.1, 10.32/24, rule 1001) and added (10.20.4.1, 10.33/24, rule 1003); the
#: broadcast of 10.20.2.1 and the MTU of 10.31/24 changed; rule 1000 rewritten in another order
RELOADED = statics("10.20.0.1/24 dev eth0 label eth0:st scope link\n10.20.2.1/24 brd -\nfd20::1/64 dev eth1\n"
                   "10.20.4.1/24 dev eth0 label eth0:new",
                   "10.30.0.0/24 via 10.0.0.2 dev eth0\n10.31.0.0/24 via 10.0.0.2 dev eth0 mtu 1300\n"
                   "10.33.0.0/24 via 10.0.0.2 dev eth0",
                   "table 100 from 10.20.0.0/24 preference 1000\nfrom 10.20.4.0/24 table 102 preference 1003")


def addrs(vips: Any) -> list[str]:
    return [str(v.address) for v in vips]


def dests(routes: Any) -> list[str]:
    return [r.dest for r in routes]


def prefs(rules: Any) -> list[int]:
    return [r.preference for r in rules]


# -- the plan ----------------------------------------------------------------------------------------------

def test_start_clears_an_earlier_runs_rules_then_adds_addresses_routes_rules() -> None:
    cfg = config(START)
    plan = static_changes(None, cfg)
    assert prefs(plan.remove_rules) == [1000, 1001] and plan.force_rules
    assert plan.remove_routes == () and plan.remove_addresses == ()
    assert addrs(plan.add_addresses) == ["10.20.0.1/24", "10.20.1.1/32", "10.20.2.1/24", "fd20::1/64"]
    assert dests(plan.add_routes) == ["10.30.0.0/24", "10.31.0.0/24", "10.32.0.0/24"]
    assert prefs(plan.add_rules) == [1000, 1001]
    first = plan.add_addresses[0]
    assert (first.dev, first.label, first.scope) == ("eth0", "eth0:st", "link")
    assert plan.add_addresses[2].dev == "eth0"  # no dev: the default interface (eth0), as keepalived
    # -V: the addresses too are removed first, whoever set them
    dont_release = static_changes(None, cfg, dont_release=True)
    assert addrs(dont_release.remove_addresses) == addrs(plan.add_addresses) and dont_release.force_addresses


def test_stop_removes_every_one_and_with_dont_release_the_addresses_whoever_set_them() -> None:
    cfg = config(START)
    plan = static_changes(cfg, None)
    assert prefs(plan.remove_rules) == [1000, 1001] and not plan.force_rules
    assert [(old.dest, new) for old, new in plan.remove_routes] == [
        ("10.30.0.0/24", None), ("10.31.0.0/24", None), ("10.32.0.0/24", None)]
    assert len(plan.remove_addresses) == 4 and not plan.force_addresses
    assert not (plan.add_addresses or plan.add_routes or plan.add_rules)
    assert static_changes(cfg, None, dont_release=True).force_addresses  # -V keeps VIPs, not these
    assert not static_changes(config(INSTANCE), None)  # nothing configured, nothing to do


def test_reload_removes_what_is_gone_replaces_routes_of_the_same_key_and_carries_equal_ones_over() -> None:
    old, new = config(START), config(RELOADED)
    plan = static_changes(old, new)
    assert prefs(plan.remove_rules) == [1001]
    assert [(o.dest, n.dest if n else None) for o, n in plan.remove_routes] == [
        ("10.30.0.0/24", "10.30.0.0/24"), ("10.31.0.0/24", "10.31.0.0/24"), ("10.32.0.0/24", None)]
    assert plan.remove_routes[1][1] is not None and plan.remove_routes[1][1].options != plan.remove_routes[1][0].options
    assert addrs(plan.remove_addresses) == ["10.20.1.1/32"]
    # 10.20.2.1's broadcast is not what keepalived compares: the old address stays, as keepalived leaves it
    kept = {str(o.address) if isinstance(o, VipSpec) else o.preference: n for o, n in plan.kept}
    assert set(kept) == {"10.20.0.1/24", "10.20.2.1/24", "fd20::1/64", 1000}
    assert isinstance(kept["10.20.2.1/24"], VipSpec) and kept["10.20.2.1/24"].broadcast == "10.20.2.0"
    # every configured one is to be added: the executor skips those set already
    assert addrs(plan.add_addresses) == ["10.20.0.1/24", "10.20.2.1/24", "fd20::1/64", "10.20.4.1/24"]
    assert prefs(plan.add_rules) == [1000, 1003] and plan.reload


def test_a_changed_label_scope_or_device_is_another_address() -> None:
    base = VipSpec.of("10.20.0.1/24", "eth0", label="eth0:a", scope="link")
    assert address_key(base) == address_key(VipSpec.of("10.20.0.1/24", "eth0", label="eth0:a", scope=253,
                                                       broadcast="+", preferred_lft=0))
    for other in (VipSpec.of("10.20.0.1/24", "eth0", label="eth0:b", scope="link"),
                  VipSpec.of("10.20.0.1/24", "eth0", label="eth0:a"),
                  VipSpec.of("10.20.0.1/24", "eth1", label="eth0:a", scope="link"),
                  VipSpec.of("10.20.0.1/25", "eth0", label="eth0:a", scope="link")):
        assert address_key(other) != address_key(base)


def test_a_reload_that_changes_nothing_plans_no_removal() -> None:
    plan = static_changes(config(START), config(START))
    assert not (plan.remove_rules or plan.remove_addresses)
    assert all(old == new for old, new in plan.remove_routes)  # replaced by themselves, as keepalived does
    assert EntryChanges() == static_changes(None, None) and not EntryChanges()


# -- the VRRP process on fake I/O ------------------------------------------------------------------------

def changes(node: Node, after: int = 0) -> list[tuple[str, Any]]:
    """The address, route and rule changes since log entry ``after``: ("vip+", "10.0.0.5/24"),
    ("routes+", (dests, prefs)), ("routes~", (dests, prefs)) ..."""
    out: list[tuple[str, Any]] = []
    for s in node.io.log[after:]:
        if s.kind.startswith("vip"):
            out.append((s.kind, str(s.what)))
        elif s.kind.startswith("routes"):
            routes, rules = s.what
            out.append((s.kind, (dests(routes), prefs(rules))))
    return out


async def test_statics_are_set_at_start_before_any_instance_and_removed_at_stop_after_them() -> None:
    node = Node(START + INSTANCE)
    await node.start()
    assert changes(node) == [
        ("routes-", ([], [1000, 1001])),  # an earlier run's rules
        ("vip+", "10.20.0.1/24"), ("vip+", "10.20.1.1/32"), ("vip+", "10.20.2.1/24"), ("vip+", "fd20::1/64"),
        ("routes+", (["10.30.0.0/24", "10.31.0.0/24", "10.32.0.0/24"], [1000, 1001])),
        ("vip-", "10.0.0.5/24"),  # the instance starting (BACKUP: clears its VIP)
    ]
    await node.run_until(DOWN + 0.5)
    assert node.rt.fsm.state is State.MASTER
    mark = len(node.io.log)
    await node.stop()
    assert changes(node, mark) == [
        ("vip-", "10.0.0.5/24"),
        ("routes-", ([], [1000, 1001])), ("routes-", (["10.30.0.0/24"], [])), ("routes-", (["10.31.0.0/24"], [])),
        ("routes-", (["10.32.0.0/24"], [])),
        ("vip-", "10.20.0.1/24"), ("vip-", "10.20.1.1/32"), ("vip-", "10.20.2.1/24"), ("vip-", "fd20::1/64"),
    ]


async def test_with_dont_release_the_vips_stay_but_the_statics_go() -> None:
    node = Node(START + INSTANCE, dont_release_vrrp=True)
    await node.start()
    assert changes(node)[1:5] == [("vip-", "10.20.0.1/24"), ("vip-", "10.20.1.1/32"), ("vip-", "10.20.2.1/24"),
                                  ("vip-", "fd20::1/64")]  # -V: leftovers of any addresses removed first
    await node.run_until(DOWN + 0.5)
    mark = len(node.io.log)
    await node.stop()
    assert [c for c in changes(node, mark) if c[0] == "vip-"] == [
        ("vip-", "10.20.0.1/24"), ("vip-", "10.20.1.1/32"), ("vip-", "10.20.2.1/24"), ("vip-", "fd20::1/64")]


async def test_a_reload_takes_out_what_is_gone_first_and_adds_what_is_new_last() -> None:
    node = Node(START + INSTANCE)
    await node.start()
    await node.run_until(DOWN + 0.5)
    mark = len(node.io.log)
    node.reload(RELOADED + INSTANCE.replace("10.0.0.5/24", "10.0.0.6/24"))
    await node.run_until(DOWN + 1.5)
    assert changes(node, mark) == [
        ("routes-", ([], [1001])),
        ("routes~", (["10.30.0.0/24"], [])), ("routes~", (["10.31.0.0/24"], [])),  # replaced by their new line
        ("routes-", (["10.32.0.0/24"], [])),
        ("vip-", "10.20.1.1/32"),
        ("vip-", "10.0.0.5/24"), ("vip+", "10.0.0.6/24"),  # the kept MASTER's own change, in between
        ("vip+", "10.20.4.1/24"),
        ("routes+", (["10.33.0.0/24"], [1003])),
    ]
    mark = len(node.io.log)
    node.reload(RELOADED + INSTANCE.replace("10.0.0.5/24", "10.0.0.6/24"))  # the same again: only replacements
    await node.run_until(DOWN + 2.5)
    assert changes(node, mark) == [("routes~", ([r], [])) for r in ("10.30.0.0/24", "10.31.0.0/24", "10.33.0.0/24")]
    mark = len(node.io.log)
    await node.stop()
    assert changes(node, mark) == [
        ("vip-", "10.0.0.6/24"),
        ("routes-", ([], [1000, 1003])), ("routes-", (["10.30.0.0/24"], [])), ("routes-", (["10.31.0.0/24"], [])),
        ("routes-", (["10.33.0.0/24"], [])),
        ("vip-", "10.20.0.1/24"), ("vip-", "10.20.2.1/24"), ("vip-", "fd20::1/64"), ("vip-", "10.20.4.1/24"),
    ]


async def test_what_the_kernel_refused_is_not_removed_and_is_tried_again_on_reload() -> None:
    node = Node(START)
    cfg = node.cfg
    refused_route, refused_rule = cfg.vrrp.static_routes[2], cfg.vrrp.static_rules[1]
    node.io.refuse |= {(ipaddress.ip_interface("10.20.1.1/32"), True), (refused_route, True), (refused_rule, True)}
    await node.start()
    node.io.refuse.clear()
    mark = len(node.io.log)
    node.reload(START)
    await node.run_until(1)
    assert changes(node, mark) == [
        ("routes~", (["10.30.0.0/24"], [])), ("routes~", (["10.31.0.0/24"], [])),  # not 10.32/24: never set
        ("vip+", "10.20.1.1/32"),
        ("routes+", (["10.32.0.0/24"], [1001])),
    ]


async def test_a_refused_replacement_removes_the_old_route_and_adds_the_new_one_with_the_additions() -> None:
    """The new line's source is an address the reload adds: the kernel refuses to replace the route before
    it is there (EINVAL), so the old route goes and the new one comes after the addresses."""
    node = Node(START)
    await node.start()
    new = config(statics(ADDRESSES + "\n10.20.5.1/32 dev eth0", ROUTES.replace(
        "10.30.0.0/24 via 10.0.0.2 dev eth0", "10.30.0.0/24 via 10.0.0.2 dev eth0 src 10.20.5.1"), RULES))
    node.io.refuse.add((new.vrrp.static_routes[0], "replace"))
    mark = len(node.io.log)
    node.apply(new)
    await node.run_until(1)
    assert changes(node, mark) == [
        ("routes~", (["10.30.0.0/24"], [])), ("routes-", (["10.30.0.0/24"], [])),
        ("routes~", (["10.31.0.0/24"], [])), ("routes~", (["10.32.0.0/24"], [])),
        ("vip+", "10.20.5.1/32"),
        ("routes+", (["10.30.0.0/24"], [])),
    ]
    assert new.vrrp.static_routes[0].src == "10.20.5.1"
    assert [s.what[0][0] for s in node.io.log[mark:] if s.kind == "routes+"] == [new.vrrp.static_routes[0]]
