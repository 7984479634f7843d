"""``use_ipvlan [IFNAME] [IP[/PREFIX]] [bridge|private|vepa]`` (issue 17): parsed as keepalived 2.2.7's
``vrrp_ipvlan_handler`` and ``vrrp_complete_instance`` do, modelled as the instance's ``vmac`` of kind
ipvlan, and what the VRRP process derives from it (where VIPs and adverts go, the advert source, no
firewall).  keepalived's own words for the error cases are in tests/data/configtest/ipvlan_*.conf.
"""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from pykeepalived.config import load_config_text
from pykeepalived.config.model import to_jsonable
from pykeepalived.config.model_vrrp import Vmac, VrrpInstance
from pykeepalived.config.render import render
from pykeepalived.vrrp.firewall import needs_firewall
from pykeepalived.vrrp.instances import advert_ifname, advert_source, configured_vips

IFS = frozenset({"lo", "eth0", "eth1"})


def load(body: str, globals_: str = "", vip: str = "10.9.0.50/24"):  # type: ignore[no-untyped-def]
    text = (f"global_defs {{\n{globals_}\n}}\n" if globals_ else "") + (
        f"vrrp_instance VI_1 {{\n interface eth0\n virtual_router_id 51\n{body}\n"
        f" virtual_ipaddress {{\n  {vip}\n }}\n}}\n")
    return load_config_text(text, name="k.conf", interfaces=IFS, config_id="x")


def only(result) -> VrrpInstance:  # type: ignore[no-untyped-def]
    assert result.config is not None, [str(d) for d in result.diagnostics]
    (inst,) = result.config.vrrp.instances
    return inst


def messages(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [d.message for d in result.diagnostics if not d.info]


def test_defaults_name_vrrp_vrid_bridge_and_the_address_with_its_prefix() -> None:
    r = load(" use_ipvlan 10.9.0.21/24")
    i = only(r)
    assert messages(r) == []
    assert i.vmac == Vmac("vrrp.51", kind="ipvlan", address=ipaddress.ip_interface("10.9.0.21/24"),
                          ipvlan_type="bridge")
    assert i.ipvlan and not i.macvlan


def test_words_in_any_order_and_an_address_without_prefix_is_a_host_address() -> None:
    i = only(load(" use_ipvlan private 10.9.0.21 ipv0"))
    assert i.vmac is not None
    assert (i.vmac.ifname, str(i.vmac.address), i.vmac.ipvlan_type) == ("ipv0", "10.9.0.21/32", "private")


def test_vmac_prefix_names_the_ipvlan() -> None:
    i = only(load(" use_ipvlan 10.9.0.21/24 vepa", globals_=" vmac_prefix ka"))
    assert i.vmac is not None and (i.vmac.ifname, i.vmac.ipvlan_type) == ("ka.51", "vepa")


def test_ipv4_ipvlan_without_an_address_is_kept_with_keepalived_s_error() -> None:
    r = load(" use_ipvlan")
    assert only(r).ipvlan
    assert messages(r) == ["(VI_1) IPv4 ipvlan requires a source ip address to be configured."
                           " setting instance to fault state"]


def test_ipv6_ipvlan_needs_no_address_and_the_address_sets_the_family() -> None:
    r = load(" use_ipvlan", vip="fd09::50/64")
    assert messages(r) == [] and only(r).family == 6
    r = load(" use_ipvlan fd09::21/64", vip="fd09::50/64")
    assert only(r).vmac.address == ipaddress.ip_interface("fd09::21/64")  # type: ignore[union-attr]
    r = load(" use_ipvlan fd09::21/64")  # the IPv4 VIP comes second: the instance is IPv6 already
    assert "(VI_1): address family must match VRRP instance [10.9.0.50/24] - ignoring" in messages(r)


def test_a_mode_word_is_an_interface_name_as_in_keepalived_with_a_note() -> None:
    r = load(" use_ipvlan 10.9.0.21/24 l3")
    assert only(r).vmac.ifname == "l3"  # type: ignore[union-attr]
    notes = [str(d) for d in r.diagnostics if d.info]
    assert notes == ["k.conf:4:26: note: keepalived 2.2.7 has no ipvlan mode word (its ipvlan is always L2):"
                     " 'l3' is the interface's name"]


def test_unicast_with_ipvlan_gets_keepalived_s_two_messages_and_no_xmit_base() -> None:
    r = load(" use_ipvlan 10.9.0.21/24\n unicast_peer {\n  10.9.0.99\n }")
    assert messages(r) == ["(VI_1) unicast with use_vmac requires vmac_xmit_base - setting",
                           "(VI_1) vmac_xmit_base is only valid with a vmac"]
    assert only(r).vmac.xmit_base is False  # type: ignore[union-attr]


def test_ipvlan_wins_over_use_vmac_and_keeps_its_name() -> None:
    i = only(load(" use_vmac vm1\n use_ipvlan 10.9.0.21/24"))
    assert i.ipvlan and i.vmac is not None and i.vmac.ifname == "vm1"


@pytest.mark.parametrize("body", [" use_ipvlan 10.9.0.21/24", " use_ipvlan ipv7 10.9.0.21 private",
                                  " use_ipvlan vepa 10.9.0.21/25 ipv8"])
def test_render_round_trip(body: str) -> None:
    r = load(body)
    again = load_config_text(render(r.config), interfaces=IFS, config_id="x")
    assert again.config is not None
    a, b = to_jsonable(r.config), to_jsonable(again.config)
    a.pop("files"), b.pop("files")
    assert a == b


def test_adverts_go_on_the_ipvlan_the_vips_stay_on_the_interface_and_it_needs_no_firewall() -> None:
    """keepalived 2.2.7's vrrp_complete_instance moves VIPs to the instance's own interface for a VMAC only."""
    i = only(load(" use_ipvlan ipv0 10.9.0.21/24"))
    vips, _ = configured_vips(i)
    assert [v.dev for v in vips] == ["eth0"]
    assert [v.dev for v in configured_vips(only(load(" use_vmac vm0")))[0]] == ["vm0"]
    assert advert_ifname(i) == "ipv0"
    assert not needs_firewall(i)  # keepalived's firewall test is the VMAC bit only
    assert needs_firewall(only(load(" use_vmac")))


class _NoNetlink:
    async def primary_ipv4(self, ifname: str) -> str:
        return "10.9.0.1"


def test_the_advert_source_is_the_ipvlan_address_unless_configured() -> None:
    nl = _NoNetlink()
    i = only(load(" use_ipvlan 10.9.0.21/24"))
    assert asyncio.run(advert_source(nl, i, "eth0", 2)) == ipaddress.ip_address("10.9.0.21")  # type: ignore[arg-type]
    i = only(load(" use_ipvlan 10.9.0.21/24\n mcast_src_ip 10.9.0.7"))
    assert asyncio.run(advert_source(nl, i, "eth0", 2)) == ipaddress.ip_address("10.9.0.7")  # type: ignore[arg-type]
