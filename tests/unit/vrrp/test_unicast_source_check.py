"""A unicast peer's min_ttl/max_ttl turns the unicast source check on, as in keepalived 2.2.7
(vrrp_data.c sets VRRP_FLAG_CHECK_UNICAST_SRC for either option): an off-link advert is dropped."""

from __future__ import annotations

import ipaddress

from pykeepalived.config import load_config_text
from pykeepalived.vrrp import packet as pkt
from pykeepalived.vrrp.runner import checks_unicast_source

CONF = """vrrp_instance VI_U {{
  interface eth0
  virtual_router_id 42
  priority 100
  advert_int 1
  version 3
  unicast_src_ip 10.50.0.1
  unicast_peer {{
    {peer}
  }}
  virtual_ipaddress {{
    10.50.0.100
  }}
}}
"""


def _instance(peer: str):  # type: ignore[no-untyped-def]
    cfg = load_config_text(CONF.format(peer=peer), interfaces={"lo", "eth0"}).config
    assert cfg is not None
    return cfg.vrrp.instances[0]


def _advert_from(src: str, ttl: int) -> pkt.Received:
    adv = pkt.Advert.build(version=3, vrid=42, priority=200, addresses=["10.50.0.100"])
    return pkt.Received(pkt.encode_ipv4(adv, src, "10.50.0.1", 1, ttl=ttl))


def _expectation(inst) -> pkt.Expectation:  # type: ignore[no-untyped-def]
    """The instance's expectation as the VRRP process builds it."""
    return pkt.Expectation(
        vrid=42, version=3, auth_type=pkt.AUTH_NONE, auth_pass="", adver_int=1.0,
        vips=(ipaddress.IPv4Address("10.50.0.100"),), unicast=True,
        check_unicast_src=checks_unicast_source(inst),
        unicast_peers=tuple(pkt.UnicastPeer(p.address, p.min_ttl or 0, 255 if p.max_ttl is None else p.max_ttl)
                            for p in inst.unicast_peer))


def test_min_ttl_turns_the_source_check_on_and_an_off_link_advert_is_dropped() -> None:
    inst = _instance("10.50.0.2 min_ttl 255")
    assert not inst.check_unicast_src and checks_unicast_source(inst)
    result = pkt.validate(_advert_from("10.50.0.2", ttl=3), _expectation(inst))
    assert isinstance(result, pkt.Rejected) and result.reason is pkt.DropReason.UNICAST_TTL_RANGE
    assert isinstance(pkt.validate(_advert_from("10.50.0.2", ttl=255), _expectation(inst)), pkt.Advert)
    stranger = pkt.validate(_advert_from("10.50.0.77", ttl=255), _expectation(inst))
    assert isinstance(stranger, pkt.Rejected) and stranger.reason is pkt.DropReason.UNKNOWN_UNICAST_SOURCE


def test_max_ttl_alone_also_turns_it_on_and_plain_peers_do_not() -> None:
    assert checks_unicast_source(_instance("10.50.0.2 max_ttl 64"))
    plain = _instance("10.50.0.2")
    assert not checks_unicast_source(plain)
    assert isinstance(pkt.validate(_advert_from("10.50.0.77", ttl=3), _expectation(plain)), pkt.Advert)
