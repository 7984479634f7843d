"""VRRP keywords: defaults, validation messages, deprecated names."""

from __future__ import annotations

from pykeepalived.config import load_config_text

IFS = frozenset({"lo", "eth0", "eth1"})


def load(text: str):  # type: ignore[no-untyped-def]
    return load_config_text(text, interfaces=IFS, config_id="x")


def inst(body: str, name: str = "VI_1") -> str:
    return f"vrrp_instance {name} {{\n interface eth0\n{body}\n}}\n"


def msgs(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [d.message for d in result.diagnostics if not d.info]


def test_defaults_master_gets_255_and_ipv6_gets_v3() -> None:
    r = load(inst(" state MASTER\n virtual_router_id 1\n virtual_ipaddress {\n fe80::1\n }"))
    i = r.config.vrrp.instances[0]
    assert (i.priority, i.state, i.version, i.family) == (255, "MASTER", 3, 6)
    assert msgs(r) == []


def test_vrid_range_and_required() -> None:
    r = load(inst(" virtual_router_id 300\n virtual_ipaddress {\n 10.0.0.1\n }"))
    assert "(VI_1): VRID '300' not valid - must be between 1 & 255" in msgs(r)
    assert "(VI_1) the virtual router id must be set" in msgs(r)
    assert r.config.vrrp.instances == ()


def test_advert_int_rounding_per_version() -> None:
    r = load(inst(" virtual_router_id 1\n advert_int 1.4\n virtual_ipaddress {\n 10.0.0.1\n }"))
    assert r.config.vrrp.instances[0].advert_int == 1.0
    assert "(VI_1) VRRPv2 advertisement interval 1.400000s must be an integer. rounding" in msgs(r)
    r = load(inst(" virtual_router_id 1\n version 3\n advert_int 0.123\n virtual_ipaddress {\n 10.0.0.1\n }"))
    assert r.config.vrrp.instances[0].advert_int == 0.12


def test_auth_pass_truncated_and_ah_master() -> None:
    r = load(
        inst(
            " state MASTER\n priority 100\n virtual_router_id 1\n authentication {\n auth_type AH\n"
            " auth_pass 123456789\n }\n virtual_ipaddress {\n 10.0.0.1\n }"
        )
    )
    i = r.config.vrrp.instances[0]
    assert i.authentication is not None and i.authentication.password == "12345678"
    assert i.state == "BACKUP"
    assert "Truncating auth_pass to 8 characters" in msgs(r)


def test_vip_syntax() -> None:
    r = load(
        inst(
            " virtual_router_id 1\n virtual_ipaddress {\n"
            " 10.1.1.1/24 brd + dev eth1 scope link label eth1:1\n"
            " 10.1.1.2/24 brd -\n 10.1.1.3 bogus\n }"
        )
    )
    v = r.config.vrrp.instances[0].virtual_ipaddress
    assert str(v[0].broadcast) == "10.1.1.255" and v[0].dev == "eth1" and v[0].label == "eth1:1"
    assert str(v[1].broadcast) == "10.1.1.0"
    assert "Unknown configuration entry 'bogus' for ip address - ignoring" in msgs(r)


def test_duplicate_vrid_and_notify_duplicate() -> None:
    body = " virtual_router_id 7\n virtual_ipaddress {\n 10.0.0.1\n }\n"
    r = load(inst(body + " notify_master /bin/true\n notify_master /bin/false") + inst(body, "VI_2"))
    assert "(VI_1) notify_master script already specified - ignoring /bin/false" in msgs(r)
    assert "VI_2 and VI_1 both use VRID 7 with IPv4 on interface eth0" in msgs(r)


def test_sync_group_rules_and_unused_script() -> None:
    text = (
        "vrrp_script s1 {\n script /bin/true\n weight 5\n}\nvrrp_script unused {\n script /bin/true\n}\n"
        + inst(" virtual_router_id 1\n virtual_ipaddress {\n 10.0.0.1\n }\n track_script {\n s1\n }")
        + "vrrp_sync_group G {\n group {\n VI_1\n VI_9\n }\n}\n"
    )
    r = load(text)
    m = msgs(r)
    assert "Virtual router VI_9 specified in sync group G doesn't exist - ignoring" in m
    assert "Sync group G has only 1 virtual router(s) - this probably isn't what you want" in m
    assert "(VI_1) ignoring tracked script s1 with weights due to SYNC group" in m
    # keepalived -t stops before it reports unused scripts: a note, not an error
    assert "Warning - script unused is not used" in [d.message for d in r.diagnostics if d.info]
    assert r.config.vrrp.instances[0].sync_group == "G"


def test_deprecated_track_file_alias() -> None:
    r = load("vrrp_track_file f {\n file /tmp/x\n}\n")
    # keepalived 2.2.7 only logs this: a note, and the exit status stays 0
    d = [x for x in r.diagnostics if x.info]
    assert d and d[0].message == '"vrrp_track_file" is deprecated, please use "track_file"'
    assert r.diagnostics.config_test_exit_code() == 0
    assert r.config.vrrp.track_files[0].file == "/tmp/x"


def test_strict_mode_fixups() -> None:
    r = load(
        "global_defs {\n vrrp_strict\n}\n"
        + inst(" virtual_router_id 1\n preempt_delay 5\n virtual_ipaddress {\n 10.0.0.1\n }")
    )
    i = r.config.vrrp.instances[0]
    assert i.strict_mode and not i.accept and i.lower_prio_no_advert and i.preempt_delay == 0
    assert "(VI_1) preempt_delay is incompatible with strict mode - resetting" in msgs(r)
