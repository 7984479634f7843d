"""The last authentication / protocol error of an instance (for the SNMP error traps): recorded by the VRRP
core on each bad advert, kept over STATS_CLEAR and reloads, carried by the status snapshot."""

from __future__ import annotations

import ipaddress

import pytest

from pykeepalived.daemon.child import vrrp_snapshot
from pykeepalived.daemon.options import DaemonOptions
from pykeepalived.vrrp import packet as pkt
from pykeepalived.vrrp import stats

from .vrrp_harness import Node

CONF = """
vrrp_instance VI_1 {
  state BACKUP
  interface eth0
  virtual_router_id 51
  priority 100
  advert_int 1
  authentication {
    auth_type PASS
    auth_pass secret
  }
  virtual_ipaddress {
    10.0.0.5/24
  }
}
"""


def advert(password: str = "secret", auth_type: int = pkt.AUTH_PASS, version: int = 2) -> pkt.Advert:
    if version == 3:
        return pkt.Advert.build(version=3, vrid=51, priority=200, addresses=["10.0.0.5"])
    return pkt.Advert.build(version=2, vrid=51, priority=200, addresses=["10.0.0.5"], auth_type=auth_type,
                            auth_pass=password)


async def test_bad_adverts_reach_the_snapshot() -> None:
    node = Node(CONF)
    await node.start()
    node.receive(advert("wrong"), "10.0.0.4", at=0.1)
    node.receive(advert("", pkt.AUTH_NONE), "10.0.0.7", at=0.2)
    node.receive(advert(), "10.0.0.4", ttl=64, at=0.3)
    node.receive(advert(version=3), "10.0.0.4", at=0.4)
    node.receive(advert(), "10.0.0.4", at=0.5)  # a good one changes nothing
    e = node.rt.errors
    assert (e.auth_errors, e.auth_error_src, e.auth_error_type) == (2, ipaddress.IPv4Address("10.0.0.7"), 2)
    assert (e.proto_errors, e.proto_error_reason) == (2, 2)  # TTL, then the version
    stats.clear_stats(node.core)  # STATS_CLEAR zeroes the counters, not this
    node.reload(CONF.replace("priority 100", "priority 110"))  # nor does a reload keeping the instance
    st = vrrp_snapshot(node.core, DaemonOptions(config_file="k.conf"), 0.0).vrrp[0]
    assert (st.auth_errors, st.auth_error_src, st.auth_error_type, st.proto_errors, st.proto_error_reason) == (
        2, "10.0.0.7", 2, 2, 2)
    assert st.stats.authtype_mismatch == 0  # cleared
    await node.stop()


async def test_each_bad_advert_is_told_at_once_and_the_latest_kept_with_their_details() -> None:
    """The core calls ``on_error`` for every bad advert keepalived traps (the process bumps its change signal
    then), and keeps the latest ERROR_RING of each kind, numbered, for one trap each."""
    node = Node(CONF)
    told: list[tuple[float, str]] = []
    node.core.on_error = lambda rt: told.append((node.io.now, rt.name))
    await node.start()
    n = pkt.ERROR_RING + 2
    for i in range(n):
        node.receive(advert("wrong"), f"10.0.0.{10 + i}", at=0.1 * (i + 1))
    node.receive(advert(), "10.0.0.4", ttl=64, at=2.0)
    node.receive(advert(), "10.0.0.4", at=2.1)  # a good one: nothing told
    assert told == [(pytest.approx(0.1 * (i + 1)), "VI_1") for i in range(n)] + [(2.0, "VI_1")]
    st = vrrp_snapshot(node.core, DaemonOptions(config_file="k.conf"), 0.0).vrrp[0]
    assert (st.auth_errors, st.proto_errors) == (n, 1)
    assert [(e.kind, e.seq, e.code, e.src) for e in st.recent_errors] == [
        ("auth", k, 3, f"10.0.0.{9 + k}") for k in range(n - pkt.ERROR_RING + 1, n + 1)] + [
        ("proto", 1, 1, "10.0.0.4")]
    await node.stop()
