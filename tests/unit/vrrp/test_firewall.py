"""vrrp.firewall (keepalived's nftables commands, no kernel) and vrrp.vmac's MAC rule."""

from __future__ import annotations

import ipaddress

from pykeepalived.config import load_config_text
from pykeepalived.vrrp.firewall import BlockedAddress, Firewall, Tables, address_commands, firewall_for, vmac_commands
from pykeepalived.vrrp.vmac import vmac_mac

V4 = BlockedAddress(ipaddress.ip_address("10.9.0.50"), "eth0")
LL = BlockedAddress(ipaddress.ip_address("fe80::50"), "eth0")
LL_NAME = BlockedAddress(ipaddress.ip_address("fe80::51"), "eth0", by_name=True)


def test_first_address_creates_table_chains_and_set_in_keepalived_order() -> None:
    t = Tables()
    cmds = address_commands(t, [V4], True)
    assert cmds == [
        "add table ip keepalived", "delete table ip keepalived", "add table ip keepalived",
        "add chain ip keepalived out { type filter hook output priority -1; policy accept; }",
        "add chain ip keepalived in { type filter hook input priority -1; policy accept; }",
        "add set ip keepalived vips { type ipv4_addr; }",
        "add rule ip keepalived in ip daddr @vips drop",
        "add rule ip keepalived out ip saddr @vips drop",
        "add element ip keepalived vips { 10.9.0.50 }",
    ]
    assert address_commands(t, [V4], False) == ["delete element ip keepalived vips { 10.9.0.50 }"]
    assert address_commands(t, [V4], True) == ["add element ip keepalived vips { 10.9.0.50 }"]


def test_options_name_priority_counters() -> None:
    t = Tables("kaxx", -5, counters=True)
    cmds = address_commands(t, [V4], True)
    assert "add rule ip kaxx in ip daddr @vips counter drop" in cmds
    assert "add chain ip kaxx out { type filter hook output priority -5; policy accept; }" in cmds


def test_link_local_sets_by_index_and_by_name() -> None:
    t = Tables()
    cmds = address_commands(t, [LL, LL_NAME], True)
    assert "add set ip6 keepalived vips_link_local { type ipv6_addr . iface_index; }" in cmds
    assert "add set ip6 keepalived vips_link_local_name { type ipv6_addr . ifname; }" in cmds
    assert 'add element ip6 keepalived vips_link_local { fe80::50 . "eth0" }' in cmds
    assert "add rule ip6 keepalived in_link_local ip6 daddr . iifname @vips_link_local_name drop" in cmds
    assert cmds.index("add rule ip6 keepalived in icmpv6 type @neighbor-discovery accept") < cmds.index(
        "add rule ip6 keepalived in ip6 daddr @vips drop")


def test_vmac_map_and_ipv6_set() -> None:
    t = Tables()
    cmds = vmac_commands(t, "vrrp.51", "eth0", 6, True)
    assert cmds[-2:] == ['add element ip6 keepalived vmac_map { "vrrp.51" : "eth0" }',
                         'add element ip6 keepalived vmac_set { "vrrp.51" }']
    assert vmac_commands(t, "vrrp.51", "eth0", 6, False) == [
        'delete element ip6 keepalived vmac_map { "vrrp.51" : "eth0" }',
        'delete element ip6 keepalived vmac_set { "vrrp.51" }']
    assert vmac_commands(Tables(), "vrrp.51", "eth0", 4, False) == []


def test_firewall_applies_changes_once_and_deletes_its_tables_on_close() -> None:
    ran: list[str] = []
    fw = Firewall(None, None, False, ran.append)
    fw.block([V4], True)
    fw.block([V4], True)
    assert len(ran) == 1
    fw.block([V4], False)
    fw.close()
    assert ran[-1] == "delete table ip keepalived\n"


def _config(body: str, glob: str = "") -> object:
    text = (f"global_defs {{\n{glob}}}\nvrrp_instance V {{\n  interface eth0\n  virtual_router_id 7\n"
            f"  priority 100\n{body}  virtual_ipaddress {{\n    10.0.0.1\n  }}\n}}\n")
    return load_config_text(text, name="k.conf", interfaces=frozenset({"lo", "eth0"})).config


def test_firewall_only_when_some_instance_needs_it() -> None:
    assert firewall_for(_config("")) is None  # type: ignore[arg-type]
    assert firewall_for(_config("  no_accept\n")) is not None  # type: ignore[arg-type]
    assert firewall_for(_config("  use_vmac\n")) is not None  # type: ignore[arg-type]
    fw = firewall_for(_config("", "  vrrp_strict\n  nftables ka\n  nftables_priority -3\n"))  # type: ignore[arg-type]
    assert fw is not None and (fw.tables.name, fw.tables.priority) == ("ka", -3)


def test_vmac_mac() -> None:
    assert vmac_mac(51, 4) == "00:00:5e:00:01:33"
    assert vmac_mac(255, 6) == "00:00:5e:00:02:ff"
    assert vmac_mac(1, 4, "02:AB:00:00:00:01") == "02:ab:00:00:00:01"


def test_use_vmac_five_octets_take_the_vrid() -> None:
    cfg = _config("  use_vmac 02:12:34:56:78\n")
    inst = cfg.vrrp.instances[0]  # type: ignore[attr-defined]
    assert inst.vmac.mac == "02:12:34:56:78:07" and inst.vmac.ifname == "vrrp.7"
