"""The VRRP process's core and executor on fake I/O and a virtual clock: takeover, GARP pacing, stop.

Times are exact: the state machine counts microseconds and the harness's clock jumps straight to
each deadline (see ``vrrp_harness``)."""

from __future__ import annotations

import pytest

from pykeepalived.vrrp import packet as pkt
from pykeepalived.vrrp.fsm import State

from .vrrp_harness import MAC, Node

CONF = """
global_defs {
  vrrp_garp_interval 0.5
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  garp_master_delay 5
  garp_master_repeat 3
  virtual_ipaddress {
    10.0.0.5/24
    10.0.0.6/24
  }
}
"""

#: Master_Down_Interval of a v2 backup at priority 100, advert_int 1: 3 × 1 s + (256 - 100) / 256 s
DOWN = 3 + (256 - 100) / 256


def better_master(priority: int = 200) -> pkt.Advert:
    return pkt.Advert.build(version=2, vrid=51, priority=priority, addresses=["10.0.0.5", "10.0.0.6"])


async def test_backup_takes_over_after_master_down_interval_advert_first_then_vips_then_paced_garps() -> None:
    node = Node(CONF)
    await node.start()
    assert node.rt.fsm.state is State.BACKUP and node.core.next_deadline() == pytest.approx(DOWN)
    # starting in BACKUP removes VIPs a previous run may have left behind, as keepalived does
    assert [(s.t, str(s.what)) for s in node.io.of("vip-")] == [(0.0, "10.0.0.5/24"), (0.0, "10.0.0.6/24")]
    await node.run_until(12.0)

    assert node.rt.fsm.state is State.MASTER
    # adverts: the first at Master_Down_Interval, then one per advert_int, at priority 100
    assert node.io.adverts() == [(pytest.approx(DOWN + k), 100) for k in range(9)]
    # the advert goes first, then the VIPs are added, then the GARPs leave
    kinds = [s.kind for s in node.io.log if s.t == DOWN]
    assert kinds[:3] == ["advert", "vip+", "vip+"] and set(kinds[3:]) == {"frame"}
    assert [str(s.what) for s in node.io.of("vip+")] == ["10.0.0.5/24", "10.0.0.6/24"]
    assert all(s.t == DOWN for s in node.io.of("vip+"))
    # garp_master_repeat 3 rounds × 2 VIPs at once, then 3 more rounds garp_master_delay (5 s) later;
    # within a burst, one frame per vrrp_garp_interval (0.5 s) on eth0
    frames = node.io.frames()
    assert [f.t for f in frames] == pytest.approx([DOWN + 0.5 * i for i in range(6)]
                                                  + [DOWN + 5 + 0.5 * i for i in range(6)])
    garp5, garp6 = pkt.build_garp(MAC, "10.0.0.5"), pkt.build_garp(MAC, "10.0.0.6")
    assert [f.what for f in frames] == [garp5, garp6] * 6
    assert {f.dev for f in frames} == {"eth0"}
    assert node.notifier.states == [("VI_1", "BACKUP"), ("VI_1", "MASTER")]
    assert node.rt.fsm.stats.become_master == 1 and node.rt.fsm.stats.advert_sent == 9
    await node.stop()


async def test_without_garp_interval_a_burst_leaves_at_once() -> None:
    node = Node(CONF.replace("vrrp_garp_interval 0.5", "vrrp_garp_interval 0"))
    await node.start()
    await node.run_until(DOWN + 6)
    assert [f.t for f in node.io.frames()] == pytest.approx([DOWN] * 6 + [DOWN + 5] * 6)
    await node.stop()


async def test_a_better_master_keeps_it_backup_until_its_adverts_stop() -> None:
    node = Node(CONF)
    await node.start()
    for k in range(10):
        await node.run_until(k + 0.5)
        node.receive(better_master(), "10.0.0.4", at=k + 0.5)
    await node.run_until(9.5 + DOWN - 0.001)
    assert node.rt.fsm.state is State.BACKUP and node.io.adverts() == []
    assert node.rt.fsm.stats.advert_rcvd == 10 and node.rt.fsm.master_priority == 200
    await node.run_until(9.5 + DOWN + 0.5)
    assert node.io.adverts() == [(pytest.approx(9.5 + DOWN), 100)]
    await node.stop()


async def test_a_master_hearing_a_better_one_steps_down_and_drops_its_vips() -> None:
    node = Node(CONF)
    await node.start()
    await node.run_until(DOWN + 10)  # past both GARP bursts
    node.receive(better_master(), "10.0.0.4", at=DOWN + 10.2)
    await node.run_until(DOWN + 10.5)
    assert node.rt.fsm.state is State.BACKUP
    assert [str(s.what) for s in node.io.of("vip-", after=0)] == ["10.0.0.5/24", "10.0.0.6/24"]
    assert all(s.t == pytest.approx(DOWN + 10.2) for s in node.io.of("vip-", after=0))
    assert node.notifier.states[-1] == ("VI_1", "BACKUP")
    await node.stop()


async def test_stop_as_master_sends_priority_zero_and_releases_the_vips() -> None:
    node = Node(CONF)
    await node.start()
    await node.run_until(DOWN + 10.5)
    await node.stop()
    assert node.io.adverts()[-1] == (pytest.approx(DOWN + 10.5), 0)
    assert node.rt.fsm.stats.pri_zero_sent == 1
    assert [str(s.what) for s in node.io.of("vip-", after=0)] == ["10.0.0.5/24", "10.0.0.6/24"]
    assert node.notifier.states[-1] == ("VI_1", "STOP")


async def test_stop_with_dont_release_vrrp_leaves_the_vips() -> None:
    node = Node(CONF, dont_release_vrrp=True)
    await node.start()
    await node.run_until(DOWN + 10.5)
    await node.stop()
    assert node.io.adverts()[-1][1] == 0 and node.io.of("vip-", after=0) == []


async def test_stopping_cuts_a_paced_garp_burst_short() -> None:
    node = Node(CONF)
    await node.start()
    await node.run_until(DOWN + 1.2)  # three frames of the first burst are out, the fourth waits its turn
    assert len(node.io.frames()) == 3
    await node.stop()
    # no longer MASTER: only the frame already waiting leaves (its VIP is still there), then the VIPs go
    frames, removed = node.io.frames(), node.io.of("vip-", after=0)
    assert len(frames) == 4 and frames[-1].t == pytest.approx(DOWN + 1.5)
    assert [str(s.what) for s in removed] == ["10.0.0.5/24", "10.0.0.6/24"] and removed[0].t >= frames[-1].t
