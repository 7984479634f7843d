"""A MASTER's VIP deleted by another program (``fsm.EntryDeleted``, keepalived's ``set_vrrp_backup``): out of MASTER
with a priority-0 advert and its VIPs removed, back after its skew time only, unless a router advertises meanwhile;
a sync group's MASTER members all resign, each with its own quick return."""

from __future__ import annotations

from pykeepalived.vrrp.fsm import AddVips, EntryDeleted, Log, RemoveVips, SendAdvert, State, TimerFired
from pykeepalived.vrrp.sync_group import SyncGroup

from .test_fsm import LOWER_IP, adv, at, master, started


def test_the_master_resigns_with_priority_0_and_comes_back_after_its_skew_time() -> None:
    inst, t = master(priority=150)
    now = t + 0.3
    out = inst.handle(now, EntryDeleted())
    assert inst.state is State.BACKUP
    assert Log("(VI_1) Entering BACKUP STATE") in out and SendAdvert(0) in out
    assert any(isinstance(a, RemoveVips) for a in out) and not inst.vips_set
    assert inst.stats.pri_zero_sent == 1
    # v2 (the default): skew (256 - 150) / 256 s, not the full down timer of 3 adverts + skew
    assert at(inst) == round(now * 1e6) + (256 - 150) * 1_000_000 // 256
    out = inst.handle(inst.next_deadline() or 0, TimerFired())
    assert inst.state is State.MASTER and inst.vips_set
    assert any(isinstance(a, AddVips) for a in out)


def test_a_router_advertising_meanwhile_keeps_it_backup() -> None:
    inst, t = master(priority=150)
    inst.handle(t, EntryDeleted())
    inst.handle(t + 0.1, adv(LOWER_IP, 200))
    assert inst.state is State.BACKUP and inst.master_address == LOWER_IP
    assert at(inst) == round((t + 0.1) * 1e6) + inst.ms_down_timer and inst.ms_down_timer > 3_000_000


def test_outside_master_it_is_ignored() -> None:
    inst = started(priority=150)
    assert inst.state is State.BACKUP
    assert inst.handle(0.5, EntryDeleted()) == []


def test_every_master_member_of_a_sync_group_resigns_and_comes_back_after_its_own_skew() -> None:
    a, ta = master(priority=150, name="A")
    b, tb = master(priority=100, name="B", vrid=52)
    group = SyncGroup("G", [a, b])
    t = max(ta, tb)
    out = group.handle(t + 0.1, "A", EntryDeleted())
    sent = [(name, act) for name, act in out if isinstance(act, SendAdvert)]
    assert ("A", SendAdvert(0)) in sent and ("B", SendAdvert(0)) in sent
    assert a.state is b.state is State.BACKUP and group.state is State.BACKUP
    assert at(a) == round((t + 0.1) * 1e6) + (256 - 150) * 1_000_000 // 256
    assert at(b) == round((t + 0.1) * 1e6) + (256 - 100) * 1_000_000 // 256
    # keepalived's vrrp_sync_can_goto_master: the group goes back once every member wants to, after B's skew
    group.handle(a.next_deadline() or 0, "A", TimerFired())
    group.handle(b.next_deadline() or 0, "B", TimerFired())
    assert a.state is b.state is State.MASTER


# -- the VRRP process on fake I/O (VrrpCore.address_holders / address_deleted) -------------------------------

CONF = """
static_ipaddress {
  10.20.0.1/24 dev eth0
  10.20.1.1/24 dev eth0 no_track
}
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
    10.0.0.6/24 no_track
  }
  virtual_ipaddress_excluded {
    10.0.1.5/24 dev eth1
  }
}
"""


async def test_the_core_finds_who_holds_a_deleted_address_and_acts_as_keepalived() -> None:
    import ipaddress

    from .vrrp_harness import Node

    ip = ipaddress.ip_address
    node = Node(CONF)
    await node.start()
    # BACKUP: its VIPs are not held; the tracked static one is
    assert node.core.address_holders(ip("10.0.0.5")) == ([], [])
    assert [str(v.address) for v in node.core.address_holders(ip("10.20.0.1"))[1]] == ["10.20.0.1/24"]
    assert node.core.address_holders(ip("10.20.1.1")) == ([], [])  # no_track
    await node.run_until(3 + (256 - 100) / 256 + 0.1)
    assert node.rt.fsm.state is State.MASTER
    assert node.core.address_holders(ip("10.0.0.5"), "eth0")[0] == ["VI_1"]
    assert node.core.address_holders(ip("10.0.1.5"), "eth1")[0] == ["VI_1"]  # an eVIP, on its own device
    assert node.core.address_holders(ip("10.0.1.5"), "eth0") == ([], [])  # not there
    assert node.core.address_holders(ip("10.0.0.6")) == ([], [])  # no_track
    # the static one deleted: set again, and nothing else moves
    mark = len(node.io.log)
    assert not node.core.address_deleted(node.io.now, ip("10.20.0.1"), "eth0")
    await node.settle()
    assert [(s.kind, str(s.what)) for s in node.io.log[mark:] if s.kind.startswith("vip")] == [
        ("vip+", "10.20.0.1/24")]
    # the eVIP deleted: out of MASTER with priority 0, its VIPs removed, back after the skew with them set
    mark, now = len(node.io.log), node.io.now
    assert node.core.address_deleted(now, ip("10.0.1.5"), "eth1")
    assert node.rt.fsm.state is State.BACKUP
    await node.run_until(now + (256 - 100) / 256 + 0.01)
    assert node.rt.fsm.state is State.MASTER
    assert (now, 0) in node.io.adverts()
    assert [(s.kind, str(s.what)) for s in node.io.log[mark:] if s.kind.startswith("vip")] == [
        ("vip-", "10.0.0.5/24"), ("vip-", "10.0.0.6/24"), ("vip-", "10.0.1.5/24"),
        ("vip+", "10.0.0.5/24"), ("vip+", "10.0.0.6/24"), ("vip+", "10.0.1.5/24")]
    await node.stop()


ROUTES = """
static_routes {
  10.30.0.0/24 via 10.0.0.2 dev eth0
  10.31.0.0/24 via 10.0.0.2 dev eth0 no_track
}
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
  virtual_routes {
    10.40.0.0/24 via 10.0.0.2 dev eth0 metric 5
    10.41.0.0/24 via 10.0.0.2 table 100
  }
}
"""


async def test_the_core_finds_whose_deleted_route_it_was_as_keepalived_route_is_ours() -> None:
    import ipaddress
    import socket

    from pykeepalived.vrrp.addresses import RouteGone

    from .vrrp_harness import Node

    def gone(dst: str, metric: int = 0, table: int = 254, tos: int = 0) -> RouteGone:
        net = ipaddress.ip_network(dst)
        return RouteGone(socket.AF_INET, net.network_address, net.prefixlen, tos, metric, table, 2)

    node = Node(ROUTES)
    await node.start()
    statics = node.core.route_holders(gone("10.30.0.0/24"), "eth0")[1]
    assert [r.dest for r in statics] == ["10.30.0.0/24"]
    assert node.core.route_holders(gone("10.31.0.0/24"), "eth0") == ([], [])  # no_track
    assert node.core.route_holders(gone("10.40.0.0/24", metric=5), "eth0") == ([], [])  # BACKUP: not set
    await node.run_until(3 + (256 - 100) / 256 + 0.1)
    assert node.rt.fsm.state is State.MASTER
    assert node.core.route_holders(gone("10.40.0.0/24", metric=5), "eth0")[0] == ["VI_1"]
    assert node.core.route_holders(gone("10.40.0.0/24", metric=5), "eth1") == ([], [])  # its device is eth0
    assert node.core.route_holders(gone("10.40.0.0/24"), "eth0") == ([], [])  # another metric: another route
    # without a device a virtual route is not tracked (keepalived sets no_track on it)
    assert node.rt.model.virtual_routes[1].no_track
    assert node.core.route_holders(gone("10.41.0.0/24", table=100), None) == ([], [])
    # a static route deleted: added again; a virtual one: the instance resigns and comes back
    mark = len(node.io.log)
    assert not node.core.route_deleted(node.io.now, gone("10.30.0.0/24"), "eth0")
    await node.settle()
    assert [(s.kind, [r.dest for r in s.what[0]]) for s in node.io.log[mark:]] == [("routes+", ["10.30.0.0/24"])]
    now = node.io.now
    assert node.core.route_deleted(now, gone("10.40.0.0/24", metric=5), "eth0")
    assert node.rt.fsm.state is State.BACKUP and (now, 0) in node.io.adverts()
    await node.run_until(now + (256 - 100) / 256 + 0.01)
    assert node.rt.fsm.state is State.MASTER
    await node.stop()
