"""Sync groups and IPv6 on fake I/O and a virtual clock: a member's FAULT takes the group along; an
IPv6 MASTER's unsolicited NAs carry the Router flag read when it became MASTER, paced by
vrrp_gna_interval."""

from __future__ import annotations

import pytest

from pykeepalived.vrrp import packet as pkt
from pykeepalived.vrrp.fsm import State

from .vrrp_harness import MAC, Node

GROUP = """
vrrp_sync_group G {
  group {
    VI_1
    VI_2
  }
}
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  virtual_ipaddress {
    10.0.0.5/24
  }
}
vrrp_instance VI_2 {
  state BACKUP
  interface eth1
  virtual_router_id 52
  priority 100
  advert_int 1
  virtual_ipaddress {
    10.1.0.5/24
  }
}
"""
DOWN = 3 + (256 - 100) / 256


async def test_a_member_link_down_faults_the_whole_group_and_both_come_back_together() -> None:
    node = Node(GROUP)
    await node.start()
    await node.run_until(DOWN + 0.5)
    vi1, vi2 = node.core.instances["VI_1"], node.core.instances["VI_2"]
    assert vi1.fsm.state is vi2.fsm.state is State.MASTER
    assert ("G", "MASTER") in node.notifier.groups
    node.link(DOWN + 0.7, "eth1", False)
    assert vi1.fsm.state is vi2.fsm.state is State.FAULT
    assert node.notifier.groups[-1] == ("G", "FAULT")
    # both resign at once with priority 0 (the faulted member twice, as keepalived) and release their VIPs
    zero = sorted((s.t, s.what.vrid) for s in node.io.of("advert", after=DOWN + 0.5) if s.what.priority == 0)
    assert zero == [(DOWN + 0.7, 51), (DOWN + 0.7, 52), (DOWN + 0.7, 52)]
    await node.run_until(DOWN + 1)
    assert sorted(str(s.what) for s in node.io.of("vip-", after=DOWN)) == ["10.0.0.5/24", "10.1.0.5/24"]
    node.link(DOWN + 2, "eth1", True)
    assert vi1.fsm.state is vi2.fsm.state is State.BACKUP
    await node.run_until(DOWN + 2 + DOWN + 0.5)
    assert vi1.fsm.state is vi2.fsm.state is State.MASTER
    await node.stop()


IPV6 = """
global_defs {
  vrrp_gna_interval 0.25
}
vrrp_instance VI_6 {
  state BACKUP
  interface eth0
  virtual_router_id 61
  priority 100
  advert_int 1
  garp_master_delay 0
  garp_master_repeat 2
  virtual_ipaddress {
    fd00::5/64
    fd00::6/64
  }
}
"""


async def test_an_ipv6_master_sends_paced_nas_with_the_router_flag_read_on_becoming_master() -> None:
    node = Node(IPV6)
    node.io.forwarding["eth0"] = True
    await node.start()
    assert node.rt.model.version == 3
    await node.run_until(DOWN + 0.5)
    node.io.forwarding["eth0"] = False  # read again only when stale (5 s) or on the next takeover
    await node.run_until(DOWN + 2)
    assert node.io.adverts()[0] == (pytest.approx(DOWN), 100)
    frames = node.io.frames()
    assert [f.t for f in frames] == pytest.approx([DOWN + 0.25 * i for i in range(4)])
    na5 = pkt.build_unsolicited_na(MAC, "fd00::5", router=True)
    na6 = pkt.build_unsolicited_na(MAC, "fd00::6", router=True)
    assert [f.what for f in frames] == [na5, na6, na5, na6]
    await node.stop()
