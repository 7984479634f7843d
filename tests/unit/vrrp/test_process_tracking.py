"""Tracking on fake I/O and a virtual clock: a link event becomes a priority change or a FAULT, and
what goes on the wire follows."""

from __future__ import annotations

import pytest

from pykeepalived.vrrp.fsm import State

from .vrrp_harness import Node

CONF = """
vrrp_instance VI_1 {{
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  garp_master_delay 0
  notify_priority_changes
  track_interface {{
    eth1{weight}
  }}
  virtual_ipaddress {{
    10.0.0.5/24
  }}
}}
"""
DOWN = 3 + (256 - 100) / 256


async def test_a_weighted_link_down_lowers_the_priority_of_the_next_scheduled_advert() -> None:
    node = Node(CONF.format(weight=" weight -30"))
    await node.start()
    await node.run_until(DOWN + 2.5)
    assert node.link(DOWN + 2.5, "eth1", False)
    assert not node.link(DOWN + 2.6, "eth1", False)  # no change, nothing to do
    await node.run_until(DOWN + 4.5)
    node.link(DOWN + 4.5, "eth1", True)
    await node.run_until(DOWN + 5.5)
    # no extra advert at the change: the next one on schedule carries the new priority (as keepalived)
    assert node.io.adverts() == [(pytest.approx(DOWN + k), p) for k, p in
                                 ((0, 100), (1, 100), (2, 100), (3, 70), (4, 70), (5, 100))]
    assert node.rt.fsm.state is State.MASTER
    assert node.notifier.events == [("VI_1", "MASTER_PRIORITY", 70), ("VI_1", "MASTER_PRIORITY", 100)]
    await node.stop()


async def test_a_backup_whose_priority_drops_waits_longer_by_the_skew_difference() -> None:
    node = Node(CONF.format(weight=" weight -30"))
    await node.start()
    await node.run_until(1.0)
    node.link(1.0, "eth1", False)
    assert node.core.next_deadline() == pytest.approx(DOWN + 30 / 256)  # skew of 70 instead of 100
    await node.run_until(DOWN + 1)
    assert node.io.adverts() == [(pytest.approx(DOWN + 30 / 256), 70)]
    assert node.notifier.events == [("VI_1", "BACKUP_PRIORITY", 70)]
    await node.stop()


async def test_an_unweighted_link_down_faults_the_master_and_up_again_it_comes_back() -> None:
    node = Node(CONF.format(weight=""))
    await node.start()
    await node.run_until(DOWN + 1.5)
    node.link(DOWN + 1.5, "eth1", False)
    await node.run_until(DOWN + 5)
    assert node.rt.fsm.state is State.FAULT
    assert node.io.adverts()[-1] == (pytest.approx(DOWN + 1.5), 0)  # resigns at once
    assert [str(s.what) for s in node.io.of("vip-", after=0)] == ["10.0.0.5/24"]
    assert node.notifier.states == [("VI_1", "BACKUP"), ("VI_1", "MASTER"), ("VI_1", "FAULT")]
    node.link(DOWN + 5, "eth1", True)
    assert node.rt.fsm.state is State.BACKUP
    await node.run_until(DOWN + 5 + DOWN + 0.5)
    assert node.rt.fsm.state is State.MASTER and node.io.adverts()[-1][0] == pytest.approx(DOWN + 5 + DOWN)
    await node.stop()


async def test_a_script_verdict_from_the_monitors_changes_the_priority() -> None:
    text = CONF.format(weight=" weight -30").replace(
        "  track_interface {\n    eth1 weight -30\n  }\n", "  track_script {\n    chk\n  }\n")
    text = "vrrp_script chk {\n  script \"/bin/true\"\n  weight 20\n}\n" + text
    node = Node(text)
    node.monitor_states[("script", "chk")] = True  # chk succeeds from the start: 100 + 20
    await node.start()
    assert node.rt.fsm.effective_priority == 120
    await node.run_until(3 + (256 - 120) / 256 + 0.5)
    assert node.io.adverts() == [(pytest.approx(3 + (256 - 120) / 256), 120)]
    node.monitor_states[("script", "chk")] = False
    node.core.tracker_changed(node.io.now, ("script", "chk"))
    await node.run_until(5)
    assert node.io.adverts()[-1][1] == 100
    await node.stop()


BFD_CONF = """
bfd_instance b1 {{
  neighbor_ip 10.0.0.9
}}
vrrp_instance VI_1 {{
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  garp_master_delay 0
  track_bfd {{
    b1{weight}
  }}
  virtual_ipaddress {{
    10.0.0.5/24
  }}
}}
"""


async def test_an_unweighted_track_bfd_is_fault_until_the_session_is_up_and_down_again_faults(
        caplog: pytest.LogCaptureFixture) -> None:
    """keepalived starts every tracked BFD down: FAULT until the BFD process says Up; Down faults again."""
    node = Node(BFD_CONF.format(weight=""))
    await node.start()
    assert node.rt.fsm.state is State.FAULT
    caplog.set_level("INFO", logger="pykeepalived")
    assert not node.core.bfd_event(0.5, "b1", False)  # already down: nothing
    assert node.core.bfd_event(0.5, "b1", True)
    assert "VRRP_Instance(VI_1) Tracked BFD instance b1 is UP" in caplog.messages
    assert node.rt.fsm.state is State.BACKUP
    await node.run_until(0.5 + DOWN + 0.5)
    assert node.rt.fsm.state is State.MASTER
    t = 0.5 + DOWN + 0.5
    assert node.core.bfd_event(t, "b1", False)
    assert "VRRP_Instance(VI_1) Tracked BFD instance b1 is DOWN" in caplog.messages
    assert node.rt.fsm.state is State.FAULT
    assert node.io.adverts()[-1] == (pytest.approx(t), 0)  # resigns at once: the backup takes over
    assert not node.core.bfd_event(t, "other", True)  # not a configured bfd_instance
    await node.stop()


async def test_a_weighted_track_bfd_changes_the_priority() -> None:
    node = Node(BFD_CONF.format(weight=" weight 20"))
    await node.start()
    assert node.rt.fsm.state is State.BACKUP and node.rt.fsm.total_priority == 100
    node.core.bfd_event(0.1, "b1", True)
    assert node.rt.fsm.total_priority == 120
    node.core.bfd_event(0.2, "b1", False)
    assert node.rt.fsm.total_priority == 100
    await node.stop()
