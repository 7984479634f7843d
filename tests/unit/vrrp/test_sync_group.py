"""Sync groups: members move together (keepalived's vrrp_sync.c), under a virtual clock."""

from __future__ import annotations

from ipaddress import ip_address
from typing import Any

from pykeepalived.vrrp.fsm import (
    AddVips,
    AdvertReceived,
    FaultCleared,
    FaultSet,
    Instance,
    InstanceParams,
    Log,
    Notify,
    RemoveVips,
    SendAdvert,
    SendGarps,
    State,
)
from pykeepalived.vrrp.sync_group import GroupNotify, Routed, SyncGroup

PEER = ip_address("10.0.0.4")


def group(**kw: Any) -> tuple[SyncGroup, Instance, Instance]:
    a = Instance(
        InstanceParams(
            "VI_1", 51, primary_address=ip_address("10.0.0.3"), vips=("10.0.0.5",), sync_group="G", **kw
        )
    )
    b = Instance(
        InstanceParams(
            "VI_2", 52, primary_address=ip_address("192.168.0.2"), vips=("192.168.0.1",), sync_group="G", **kw
        )
    )
    return SyncGroup("G", [a, b]), a, b


def run_to(g: SyncGroup, until: float) -> list[Routed]:
    out: list[Routed] = []
    while (t := g.next_deadline()) is not None and t <= until:
        out += g.fire_timers(t)
    return out


def test_start_notifies_the_group_then_members_in_backup() -> None:
    g, _, _ = group()
    out = g.start(0.0)
    assert out[0] == ("G", GroupNotify("G", State.BACKUP))
    assert ("VI_1", Notify(State.BACKUP, 100, "init")) in out
    assert ("VI_2", Notify(State.BACKUP, 100, "init")) in out


def test_members_become_master_together_when_all_want_it() -> None:
    g, a, b = group(garp_master_delay=0)
    g.start(0.0)
    out = run_to(g, 3.609375)
    assert a.state is State.MASTER and b.state is State.MASTER and g.state is State.MASTER
    assert ("G", Log("VRRP_Group(G) Syncing instances to MASTER state")) in out
    assert out[-1] == ("G", GroupNotify("G", State.MASTER))
    assert ("VI_1", AddVips(("10.0.0.5",))) in out and ("VI_2", AddVips(("192.168.0.1",))) in out


def test_a_member_hearing_a_master_holds_the_whole_group_in_backup() -> None:
    g, a, b = group()
    g.start(0.0)
    # VI_2's peer keeps advertising; VI_1 times out but may not go master alone.
    t = 0.5
    while t < 10:
        g.handle(t, "VI_2", AdvertReceived(PEER, 150))
        run_to(g, t + 1)
        t += 1
        assert a.state is State.BACKUP and b.state is State.BACKUP
    assert a.wantstate is State.MASTER and b.wantstate is State.BACKUP


def test_one_member_losing_master_pulls_the_others_to_backup() -> None:
    g, a, b = group(garp_master_delay=0)
    g.start(0.0)
    run_to(g, 3.609375)
    out = g.handle(4.0, "VI_1", AdvertReceived(PEER, 200))
    assert a.state is State.BACKUP and b.state is State.BACKUP and g.state is State.BACKUP
    assert ("VI_2", RemoveVips(("192.168.0.1",))) in out
    assert ("G", GroupNotify("G", State.BACKUP)) in out
    assert not any(isinstance(act, SendAdvert) and act.priority == 0 for _, act in out)


def test_one_member_fault_forces_all_into_fault_until_every_fault_clears() -> None:
    g, a, b = group(garp_master_delay=0)
    g.start(0.0)
    run_to(g, 3.609375)
    out = g.handle(5.0, "VI_1", FaultSet("eth0"))
    assert a.state is State.FAULT and b.state is State.FAULT and g.state is State.FAULT
    # The member that faulted sends priority 0 twice, the one pulled along once (vrrp_state_leave_master).
    zeros = [name for name, act in out if act == SendAdvert(0)]
    assert zeros == ["VI_1", "VI_1", "VI_2"]
    assert ("G", GroupNotify("G", State.FAULT)) in out
    # A second member faulting on its own is already in the group's state: no new notify.
    assert g.handle(6.0, "VI_2", FaultSet("eth1")) == []
    assert g.handle(7.0, "VI_1", FaultCleared("eth0")) == []
    assert a.state is State.FAULT
    out = g.handle(8.0, "VI_2", FaultCleared("eth1"))
    assert a.state is State.BACKUP and b.state is State.BACKUP and g.state is State.BACKUP
    assert ("G", GroupNotify("G", State.BACKUP)) in out
    assert a.next_deadline() == b.next_deadline() == 11.609375


def test_start_with_a_faulty_member_puts_the_group_in_fault() -> None:
    g, a, b = group()
    a.handle(0.0, FaultSet("eth0"))
    out = g.start(0.0)
    assert out[0] == ("G", GroupNotify("G", State.FAULT))
    assert a.state is State.FAULT and b.state is State.FAULT
    assert ("VI_2", Log("(VI_2) Entering FAULT STATE (init)")) in out
    g.handle(1.0, "VI_1", FaultCleared("eth0"))
    assert a.state is State.BACKUP and b.state is State.BACKUP


def test_lower_priority_advert_sends_garps_for_every_master_member() -> None:
    g, _, _ = group(garp_master_delay=0, garp_lower_prio_repeat=1, garp_lower_prio_delay=0)
    g.start(0.0)
    run_to(g, 3.609375)
    out = g.handle(4.0, "VI_1", AdvertReceived(PEER, 50))
    garps = [(name, act.reason) for name, act in out if isinstance(act, SendGarps)]
    assert garps == [("VI_1", "lower-prio"), ("VI_2", "lower-prio")]


def test_owners_wanting_master_start_as_a_master_group() -> None:
    g, a, b = group(priority=255, initial_state=State.MASTER)
    out = g.start(0.0)
    assert g.state is State.MASTER and not any(isinstance(act, GroupNotify) for _, act in out)
    run_to(g, 0.000001)
    assert a.state is State.MASTER and b.state is State.MASTER


def test_stop_stops_members_then_the_group() -> None:
    g, _, _ = group(garp_master_delay=0)
    g.start(0.0)
    run_to(g, 3.609375)
    out = g.stop(5.0)
    assert [act for _, act in out if isinstance(act, Notify)] == [
        Notify(State.STOP, 100, "stop"),
        Notify(State.STOP, 100, "stop"),
    ]
    assert out[-1] == ("G", GroupNotify("G", State.STOP))
    assert g.next_deadline() is None
