"""global_defs keywords: defaults, ranges, deprecated names."""

from __future__ import annotations

import socket

from pykeepalived.config import load_config_text


def load(text: str):  # type: ignore[no-untyped-def]
    return load_config_text(text, interfaces=frozenset({"eth0"}), config_id="x")


def test_defaults() -> None:
    gd = load("").config.global_defs
    assert gd.router_id == socket.gethostname()
    assert (gd.vrrp_version, gd.vrrp_garp_master_delay, gd.vrrp_garp_lower_prio_delay) == (2, 5, 5)
    assert str(gd.vrrp_mcast_group4) == "224.0.0.18" and gd.default_interface == "eth0"


def test_values_and_errors() -> None:
    r = load(
        'global_defs {\n router_id "a b"\n smtp_server 10.0.0.1 2525\n vrrp_garp_interval 0\n'
        " smtp_connect_timeout 0\n vrrp_min_garp\n notification_email {\n a@b c@d\n }\n}\n"
    )
    gd = r.config.global_defs
    assert gd.router_id == "a b" and gd.smtp_server.port == 2525
    assert gd.notification_email == ("a@b", "c@d")
    assert (gd.vrrp_garp_master_repeat, gd.vrrp_garp_master_delay, gd.smtp_connect_timeout) == (1, 0, 1)
    m = [d.message for d in r.diagnostics]
    assert "vrrp_garp_interval '0' is invalid" in m
    assert "smtp_conect_timeout must be greater than 0, setting to 1" in m


def test_deprecated_names() -> None:
    r = load("global_defs {\n enable_snmp_keepalived\n lvs_flush_onstop\n}\n")
    assert r.config.global_defs.enable_snmp_vrrp and r.config.global_defs.lvs_flush_on_stop == "ALL"
    # keepalived 2.2.7 takes both as synonyms without a word: notes, and exit status 0
    assert sum("deprecated" in d.message for d in r.diagnostics if d.info) == 2
    assert r.diagnostics.config_test_exit_code() == 0


def test_root_level_keywords() -> None:
    gd = load("net_namespace blue\ninstance i1\nuse_pid_dir\n").config.global_defs
    assert (gd.net_namespace, gd.instance, gd.use_pid_dir) == ("blue", "i1", True)
