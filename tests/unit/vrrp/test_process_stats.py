"""Counting on fake I/O: every received advert is counted once, as received or as the drop reason
keepalived counts it; ``keepalived.stats`` shows the sums; STATS_CLEAR zeroes them."""

from __future__ import annotations

from pykeepalived.vrrp import packet as pkt
from pykeepalived.vrrp import stats
from pykeepalived.vrrp.fsm import State

from .vrrp_harness import Node

CONF = """
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
"""
DOWN = 3 + (256 - 100) / 256


def advert(vrid: int = 51, priority: int = 200, adver_int: float = 1) -> pkt.Advert:
    return pkt.Advert.build(version=2, vrid=vrid, priority=priority, addresses=["10.0.0.5"], adver_int=adver_int)


def lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines()]


async def test_received_sent_and_dropped_adverts_are_counted_per_reason() -> None:
    node = Node(CONF)
    await node.start()
    for k in range(3):
        node.receive(advert(), "10.0.0.4", at=0.1 + k)
    node.receive(advert(), "10.0.0.4", ttl=64, at=3.2)  # multicast advert not at TTL 255
    node.receive(advert(adver_int=2), "10.0.0.4", at=3.3)  # another advert interval: dropped
    node.receive(advert(vrid=77), "10.0.0.4", at=3.4)  # nobody here has VRID 77
    node.receive(advert(priority=0), "10.0.0.4", at=3.5)  # the master resigns
    await node.run_until(3.5 + 2)  # takes over after Skew_Time, sends adverts
    assert node.rt.fsm.state is State.MASTER
    assert node.core.unknown_vrid_drops == 1
    text = lines(stats.stats_text(node.core))
    assert text[:4] == ["VRRP Instance: VI_1", "Advertisements:", "Received: 4", "Sent: 2"]
    # the TTL drop is counted; a v2 interval mismatch is dropped without being counted, as keepalived
    assert "TTL: 1" in text and "Advertisement Interval: 0" in text
    assert text[text.index("Priority Zero:") + 1:] == ["Received: 1", "Sent: 0"]
    assert "Became master: 1" in text

    stats.clear_stats(node.core)
    cleared = lines(stats.stats_text(node.core))
    assert "Received: 4" not in cleared and "TTL: 0" in cleared and "Sent: 2" not in cleared
    await node.run_until(3.5 + 3)
    assert "Sent: 1" in lines(stats.stats_text(node.core))  # counting goes on from zero
    await node.stop()


async def test_packets_in_fault_are_neither_fed_nor_counted() -> None:
    node = Node(CONF, links_up=False)  # eth0 down: FAULT from the start
    await node.start()
    assert node.rt.fsm.state is State.FAULT
    node.receive(advert(), "10.0.0.4", ttl=64, at=1)
    assert "Received: 0" in lines(stats.stats_text(node.core)) and "TTL: 0" in lines(stats.stats_text(node.core))
    await node.stop()


async def test_counters_survive_a_reload_that_keeps_the_instance() -> None:
    node = Node(CONF)
    await node.start()
    node.receive(advert(), "10.0.0.4", at=0.5)
    node.receive(advert(), "10.0.0.4", ttl=1, at=0.6)
    node.reload(CONF.replace("priority 100", "priority 110"))
    text = lines(stats.stats_text(node.core))
    assert "Received: 1" in text and "TTL: 1" in text
    await node.stop()
