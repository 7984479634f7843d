"""Reload on fake I/O and a virtual clock: what ``vrrp.reload`` plans and what the core then does."""

from __future__ import annotations

import asyncio

import pytest

from pykeepalived.vrrp import packet as pkt
from pykeepalived.vrrp.fsm import State
from pykeepalived.vrrp.reload import plan_reload

from .vrrp_harness import MAC, Node, config

INSTANCE = """
vrrp_instance {name} {{
  state BACKUP
  interface eth0
  virtual_router_id {vrid}
  priority {prio}
  advert_int 1
  garp_master_delay 0
  garp_master_repeat 1
  virtual_ipaddress {{
{vips}
  }}
}}
"""


def conf(*instances: tuple[str, int, int, str]) -> str:
    return "".join(INSTANCE.format(name=n, vrid=v, prio=p, vips=vips) for n, v, p, vips in instances)


VI_1 = ("VI_1", 51, 100, "    10.0.0.5/24\n    10.0.0.6/24")
DOWN = 3 + (256 - 100) / 256


def adverts(node: Node, vrid: int = 51) -> list[tuple[float, int]]:
    return [(s.t, s.what.priority) for s in node.io.of("advert") if s.what.vrid == vrid]


async def master_node() -> Node:
    node = Node(conf(VI_1))
    await node.start()
    await node.run_until(DOWN + 2.5)  # MASTER since DOWN, adverts at DOWN, DOWN+1, DOWN+2
    assert node.rt.fsm.state is State.MASTER
    return node


async def test_a_kept_instance_keeps_its_state_vips_and_advert_rhythm() -> None:
    node = await master_node()
    fsm, log_len = node.rt.fsm, len(node.io.log)
    plan = node.reload(conf(VI_1, ("VI_2", 52, 90, "    10.0.0.9/24")))
    assert (plan.keep, plan.drop, plan.add) == (("VI_1",), (), ("VI_2",))
    vi1 = node.core.instances["VI_1"]
    assert vi1.fsm is fsm and vi1.fsm.state is State.MASTER and vi1.fsm.vips_set
    await node.run_until(DOWN + 5.5)
    # not one advert skipped or doubled: the reload is invisible on the wire
    assert adverts(node) == [(pytest.approx(DOWN + k), 100) for k in range(6)]
    # the kept MASTER touched none of its addresses and sent no GARP (VI_2 clears its own at start)
    after = node.io.log[log_len:]
    assert [(s.kind, str(s.what)) for s in after if s.kind != "advert"] == [("vip-", "10.0.0.9/24")]
    assert node.core.instances["VI_2"].fsm.state is State.BACKUP
    assert node.notifier.states == [("VI_1", "BACKUP"), ("VI_1", "MASTER"), ("VI_2", "BACKUP")]
    await node.stop()


async def test_a_new_priority_is_in_the_next_scheduled_advert() -> None:
    node = await master_node()
    node.reload(conf(("VI_1", 51, 150, VI_1[3])))
    await node.run_until(DOWN + 4.5)
    assert adverts(node) == [(pytest.approx(DOWN + k), 100) for k in range(3)] + \
        [(pytest.approx(DOWN + k), 150) for k in (3, 4)]
    await node.stop()


async def test_changed_vips_of_a_kept_master_are_swapped_with_one_garp_round_for_the_new_one() -> None:
    node = await master_node()
    log_len = len(node.io.log)
    node.reload(conf(("VI_1", 51, 100, "    10.0.0.5/24\n    10.0.0.7/24")))
    await node.run_until(DOWN + 3.5)
    after = [(s.kind, s.what) for s in node.io.log[log_len:] if s.kind != "advert"]
    assert [(k, str(w)) for k, w in after if k != "frame"] == [("vip-", "10.0.0.6/24"), ("vip+", "10.0.0.7/24")]
    assert [w for k, w in after if k == "frame"] == [pkt.build_garp(MAC, "10.0.0.7")]
    assert adverts(node) == [(pytest.approx(DOWN + k), 100) for k in range(4)]
    await node.stop()


async def test_a_changed_identity_replaces_the_instance_priority_zero_first() -> None:
    node = await master_node()
    node.io.now = DOWN + 2.7
    plan = node.reload(conf(("VI_1", 61, 100, VI_1[3])))  # new VRID: another router
    assert (plan.keep, plan.drop, plan.add) == ((), ("VI_1",), ("VI_1",))
    await node.run_until(DOWN + 3)
    assert adverts(node)[-1] == (pytest.approx(DOWN + 2.7), 0)  # the old VRID resigns
    # the old instance releases its VIPs; the new one, starting, clears them too (as at any start)
    assert [str(s.what) for s in node.io.of("vip-", after=DOWN)] == ["10.0.0.5/24", "10.0.0.6/24"] * 2
    assert node.notifier.states[-2:] == [("VI_1", "FAULT"), ("VI_1", "BACKUP")]
    new = node.core.instances["VI_1"]
    assert new.model.virtual_router_id == 61 and new.fsm.state is State.BACKUP
    assert node.core.by_socket[new.sock_key] == {61: [new]}
    await node.stop()


def test_plan_keeps_by_name_and_identity_and_sync_group() -> None:
    old = config(conf(VI_1, ("VI_2", 52, 90, "    10.0.0.9/24")))
    running = {i.name: i for i in old.vrrp.instances}

    def plan(text: str, group_of: dict[str, str] | None = None, models: dict | None = None):  # type: ignore[no-untyped-def]
        return plan_reload(running, config(text), group_of or {}, models or {})

    same = plan(conf(("VI_1", 51, 120, "    10.0.0.8/24"), ("VI_2", 52, 90, "    10.0.0.9/24")))
    assert (same.keep, same.drop, same.add) == (("VI_1", "VI_2"), (), ())  # priority and VIPs change in place
    owner = plan(conf(("VI_1", 51, 255, VI_1[3]), ("VI_2", 52, 90, "    10.0.0.9/24")))
    assert owner.drop == ("VI_1",) and owner.add == ("VI_1",)  # becoming the address owner is a new identity
    gone = plan(conf(VI_1))
    assert (gone.keep, gone.drop, gone.add) == (("VI_1",), ("VI_2",), ())
    grouped = plan(conf(VI_1, ("VI_2", 52, 90, "    10.0.0.9/24"))
                   + "vrrp_sync_group G {\n  group {\n    VI_1\n    VI_2\n  }\n}\n")
    assert grouped.keep == () and set(grouped.add) == {"VI_1", "VI_2"}  # joining a sync group restarts


def big_services(n: int) -> str:
    return "".join(f"virtual_server 10.1.{i // 250}.{i % 250 + 1} 80 {{\n  delay_loop 6\n  lb_algo rr\n  lb_kind NAT\n"
                   f"  protocol TCP\n" + "".join(
                       f"  real_server 192.168.{j}.{i % 250 + 1} 8080 {{\n    weight 1\n"
                       "    TCP_CHECK {\n      connect_timeout 3\n    }\n  }\n" for j in range(8)) + "}\n"
                   for i in range(n))


async def test_a_reload_of_a_large_configuration_does_not_delay_the_next_advert() -> None:
    """The supervisor parsed a large file (1,000 virtual servers, 8,000 real servers) and sends the VRRP
    child its part over the channel; the child takes it while its MASTER advertises.  The longest time the
    event loop was held meanwhile is added to the virtual clock: the advert due 0.5 s later still goes on
    time (the VRRP part holds no virtual server, and it is unpickled off the loop)."""
    import time

    from pykeepalived.daemon import config_feed

    node = await master_node()
    big = config(conf(("VI_1", 51, 150, VI_1[3])) + big_services(1000))
    parent, child_end = config_feed.channel()
    feed = config_feed.ConfigFeed(child_end)
    plans: list[object] = []
    feed.follow(lambda new: plans.append(node.apply(new)))
    longest = 0.0
    try:
        config_feed.send(parent, config_feed.encode(config_feed.part_for("vrrp", big)))
        last = time.perf_counter()
        deadline = last + 10
        while not feed.applied and last < deadline:
            await asyncio.sleep(0)
            now = time.perf_counter()
            longest, last = max(longest, now - last), now
    finally:
        await feed.close()
        parent.close()
    assert feed.applied == 1 and plans[0].keep == ("VI_1",)  # type: ignore[attr-defined]
    assert longest < 0.5, f"the event loop was held {longest:.3f} s"
    node.io.now += longest  # the reload began at DOWN + 2.5 (virtual): time the loop could not run
    await node.run_until(DOWN + 5.5)
    # the next adverts on time, with the new priority from the one after the reload
    assert adverts(node) == [(pytest.approx(DOWN + k), 100) for k in range(3)] + \
        [(pytest.approx(DOWN + k), 150) for k in (3, 4, 5)]
    await node.stop()


async def test_snmp_set_priority_and_preempt_last_until_a_reload_as_keepalived() -> None:
    """keepalived 2.2.7's SET of vrrpInstanceBasePriority / vrrpInstancePreempt changes the running instance
    only: its reload builds the instance from the configuration again (restore_vrrp_state keeps the state and
    counters, not base_priority nor nopreempt), so the configured priority and preemption come back; the
    instance itself is kept (no transition, no advert skipped)."""
    node = await master_node()
    rt = node.rt
    node.core.set_base_priority(node.io.now, rt, 200)
    node.core.set_preempt(rt, False)
    assert (rt.fsm.base_priority, rt.fsm.effective_priority, rt.fsm.params.nopreempt) == (200, 200, True)
    await node.run_until(DOWN + 3.5)
    assert adverts(node)[-1] == (pytest.approx(DOWN + 3), 200)
    node.reload(conf(VI_1))  # the same configuration
    assert node.rt is not rt and node.rt.fsm is rt.fsm and rt.fsm.state is State.MASTER
    assert (rt.fsm.base_priority, rt.fsm.effective_priority, rt.fsm.params.nopreempt) == (100, 100, False)
    await node.run_until(DOWN + 4.5)
    assert adverts(node)[-1] == (pytest.approx(DOWN + 4), 100)
    await node.stop()
