"""LVS keywords: every keyword, keepalived's defaults, virtual server -> real server inheritance, messages."""

from __future__ import annotations

import ipaddress
from types import SimpleNamespace
from typing import Any

import pytest

from pykeepalived.config.blocks import lvs_ssl, virtual_server, virtual_server_group
from pykeepalived.config.errors import Diagnostics, ErrClass
from pykeepalived.config.model_lvs import (
    BfdCheck,
    DnsCheck,
    DnsType,
    FileCheck,
    HttpCheck,
    HttpProtocol,
    IpFamily,
    LvsConfig,
    LvsMethod,
    MiscCheck,
    Protocol,
    SmtpCheck,
    TcpCheck,
    TunnelChecksum,
    TunnelType,
    UdpCheck,
    VirtualServer,
    VsgAddressRange,
    VsgFwmark,
)
from pykeepalived.config.parser import Block, Context, parse_lines
from pykeepalived.config.preprocess import read_config_text
from pykeepalived.config.validate import lvs as validate_lvs
from pykeepalived.config.validate.scripts import iter_lvs_scripts

ip = ipaddress.ip_address


def parse_lvs(text: str, global_defs: Any = None, shared: dict[str, Any] | None = None
              ) -> tuple[LvsConfig, Diagnostics]:
    """Parse LVS-only config text through the real reader and the LVS keyword tables (``shared``: what
    earlier blocks of a whole file would have left, e.g. the bfd_instance names BFD_CHECK may use)."""
    diags = Diagnostics()
    lines = read_config_text(text, diags, name="t.conf", config_id="test")
    root = Block("root")
    for section in (lvs_ssl, virtual_server_group, virtual_server):
        section.register(root)
    ctx = Context(diags=diags, shared=dict(shared or {}))
    draft = parse_lines(lines, root, ctx, {})
    return validate_lvs.finish(ctx, draft, global_defs), diags


def messages(diags: Diagnostics) -> list[str]:
    return [d.message for d in diags]


def one_vs(body: str, head: str = "10.0.0.1 80", **kw: Any) -> tuple[VirtualServer, list[str]]:
    lvs, diags = parse_lvs(f"virtual_server {head} {{\n{body}\n}}\n", **kw)
    assert len(lvs.virtual_servers) == 1, messages(diags)
    return lvs.virtual_servers[0], [d.message for d in diags if not d.info]


BASE = "lvs_sched rr\nlvs_method NAT\nprotocol TCP\n"
HTTP = "HTTP_GET {{ {extra}\nurl {{ path / }} }}"


def rs_with(checker: str, rs_extra: str = "", vs_extra: str = "") -> Any:
    vs, msgs = one_vs(f"{BASE}{vs_extra}\nreal_server 10.1.0.1 80 {{\n{rs_extra}\n{checker}\n}}")
    assert not msgs, msgs
    return vs.real_servers[0]


# --- inheritance ----------------------------------------------------------------------------

CHECKERS = {
    "TCP_CHECK": "TCP_CHECK {{ {extra} }}",
    "HTTP_GET": HTTP,
    "SSL_GET": HTTP.replace("HTTP_GET", "SSL_GET"),
    "SMTP_CHECK": "SMTP_CHECK {{ {extra} }}",
    "DNS_CHECK": "DNS_CHECK {{ {extra} }}",
    "UDP_CHECK": "UDP_CHECK {{ {extra} }}",
    "PING_CHECK": "PING_CHECK {{ {extra} }}",
    "MISC_CHECK": "MISC_CHECK {{ misc_path /bin/true\n{extra} }}",
}


@pytest.mark.parametrize(
    ("kind", "retry", "dbr"),
    [
        ("TCP_CHECK", 1, 1.0),
        ("HTTP_GET", 1, 3.0),
        ("SSL_GET", 1, 3.0),
        ("SMTP_CHECK", 1, 1.0),
        ("UDP_CHECK", 1, 1.0),
        ("PING_CHECK", 1, 1.0),
        ("DNS_CHECK", 3, "delay_loop"),
        ("MISC_CHECK", 0, 1.0),
    ],
)
def test_per_checker_defaults(kind: str, retry: int, dbr: float | str) -> None:
    rs = rs_with(CHECKERS[kind].format(extra=""), vs_extra="delay_loop 7")
    t = rs.checkers[0].timing
    assert t.retry == retry
    assert t.delay_before_retry == (7.0 if dbr == "delay_loop" else dbr)
    assert t.delay_loop == 7.0 and t.warmup == 7.0  # warmup defaults to the checker's delay_loop
    assert t.alpha is False and t.log_all_failures is False


@pytest.mark.parametrize("kind", sorted(CHECKERS))
def test_checker_overrides_rs_overrides_vs(kind: str) -> None:
    vs_extra = "delay_loop 10\nconnect_timeout 9\nretry 8\ndelay_before_retry 7\nwarmup 6"
    # VS only
    t = rs_with(CHECKERS[kind].format(extra=""), vs_extra=vs_extra).checkers[0]
    assert (t.timing.delay_loop, t.timing.retry, t.timing.delay_before_retry, t.timing.warmup) == (
        10,
        8,
        7,
        6,
    )
    # RS beats VS
    rs_extra = "delay_loop 5\nconnect_timeout 4\nretry 3\ndelay_before_retry 2\nwarmup 1\nalpha"
    c = rs_with(CHECKERS[kind].format(extra=""), rs_extra=rs_extra, vs_extra=vs_extra).checkers[0]
    assert (c.timing.delay_loop, c.timing.retry, c.timing.delay_before_retry, c.timing.warmup) == (5, 3, 2, 1)
    assert c.timing.alpha is True
    # the checker beats both
    extra = "delay_loop 0.5\nretry 0\ndelay_before_retry 0.25\nwarmup 0\nalpha false\nlog_all_failures"
    c = rs_with(CHECKERS[kind].format(extra=extra), rs_extra=rs_extra, vs_extra=vs_extra).checkers[0]
    assert (c.timing.delay_loop, c.timing.retry, c.timing.delay_before_retry, c.timing.warmup) == (
        0.5,
        0,
        0.25,
        0,
    )
    assert c.timing.alpha is False and c.timing.log_all_failures is True
    if kind != "MISC_CHECK":
        assert (
            rs_with(CHECKERS[kind].format(extra=""), vs_extra=vs_extra).checkers[0].connection.connect_timeout
            == 9
        )
        assert c.connection.connect_timeout == 4
        c = rs_with(CHECKERS[kind].format(extra="connect_timeout 1.5"), rs_extra=rs_extra).checkers[0]
        assert c.connection.connect_timeout == 1.5


def test_vs_defaults() -> None:
    vs, _ = one_vs(BASE + "real_server 10.1.0.1 80 { TCP_CHECK { } }")
    assert (vs.delay_loop, vs.connect_timeout, vs.weight, vs.quorum, vs.hysteresis) == (60.0, 5.0, 1, 1, 0)
    assert (vs.retry, vs.delay_before_retry, vs.warmup) == (None, None, None)
    assert vs.smtp_alert is False
    c = vs.real_servers[0].checkers[0]
    assert isinstance(c, TcpCheck)
    assert c.connection.connect_timeout == 5.0 and c.timing.delay_loop == 60.0


def test_misc_timeout_defaults_to_vs_delay_loop() -> None:
    rs = rs_with("MISC_CHECK { misc_path /bin/true }", rs_extra="delay_loop 3", vs_extra="delay_loop 11")
    c = rs.checkers[0]
    assert isinstance(c, MiscCheck)
    assert c.misc_timeout == 11.0 and c.timing.delay_loop == 3.0
    c = rs_with(
        "MISC_CHECK { misc_path /bin/true\nmisc_timeout 4\nmisc_dynamic\nuser nobody nogroup }"
    ).checkers[0]
    assert isinstance(c, MiscCheck)
    assert c.misc_timeout == 4.0 and c.misc_dynamic
    assert c.misc_path.argv == ("/bin/true",) and (c.misc_path.user, c.misc_path.group) == (
        "nobody",
        "nogroup",
    )


def test_misc_path_quoted_with_args() -> None:
    c = rs_with('MISC_CHECK { misc_path "/usr/local/bin/script.sh arg1 arg2" }').checkers[0]
    assert isinstance(c, MiscCheck)
    assert c.misc_path.argv == ("/usr/local/bin/script.sh", "arg1", "arg2")


def test_rs_weight_and_flags_inherit_from_vs() -> None:
    vs, _ = one_vs(
        BASE + "weight 5\nalpha\ninhibit_on_failure\nreal_server 10.1.0.1 80 { }\n"
        "real_server 10.1.0.2 80 { weight 0\nalpha false\ninhibit_on_failure no }"
    )
    a, b = vs.real_servers
    assert (a.weight, a.alpha, a.inhibit_on_failure) == (5, True, True)
    assert (b.weight, b.alpha, b.inhibit_on_failure) == (0, False, False)


@pytest.mark.parametrize(
    ("globals_", "vs_alert", "rs_alert"),
    [
        (None, False, True),
        (SimpleNamespace(smtp_alert=True, smtp_alert_checker=None), True, True),
        (SimpleNamespace(smtp_alert=True, smtp_alert_checker=False), False, False),
        (SimpleNamespace(smtp_alert=False, smtp_alert_checker=None), False, False),
    ],
)
def test_smtp_alert_defaults(globals_: Any, vs_alert: bool, rs_alert: bool) -> None:
    vs, _ = one_vs(
        BASE + "real_server 10.1.0.1 80 { }\nreal_server 10.1.0.2 80 { smtp_alert }", global_defs=globals_
    )
    assert vs.smtp_alert is vs_alert
    assert vs.real_servers[0].smtp_alert is rs_alert
    assert vs.real_servers[1].smtp_alert is True


# --- ports ---------------------------------------------------------------------------------


def test_nat_rs_inherits_vs_port_and_checker_uses_it() -> None:
    vs, msgs = one_vs(BASE + "real_server 10.1.0.1 { TCP_CHECK { } }\nreal_server 10.1.0.2 8080 { }")
    assert not msgs
    assert [rs.port for rs in vs.real_servers] == [80, 8080]
    assert vs.real_servers[0].checkers[0].connection.connect_port == 80  # type: ignore[union-attr]


def test_non_nat_rs_port_reset_but_checker_keeps_written_port() -> None:
    vs, msgs = one_vs(
        "lvs_sched rr\nlvs_method DR\nprotocol TCP\nreal_server 10.0.0.9 8080 { TCP_CHECK { } }"
    )
    assert msgs == [
        "WARNING - virtual server [10.0.0.1]:tcp:80 and real server [10.0.0.9]:tcp:8080 "
        "ports don't match - resetting"
    ]
    rs = vs.real_servers[0]
    assert rs.port == 80 and rs.forwarding.method is LvsMethod.DR
    assert rs.checkers[0].connection.connect_port == 8080  # type: ignore[union-attr]


def test_fwmark_non_nat_rs_port_cleared() -> None:
    vs, msgs = one_vs("lvs_sched rr\nlb_kind DR\nreal_server 10.0.0.9 80 { }", head="fwmark 3")
    assert msgs == [
        "WARNING - fwmark virtual server FWM 3, real server [10.0.0.9]:none:80 has port specified - clearing"
    ]
    assert vs.real_servers[0].port == 0 and vs.protocol is None and vs.ip_family is IpFamily.INET


# --- validation messages ---------------------------------------------------------------------


def test_missing_scheduler_protocol_method() -> None:
    vs, msgs = one_vs("real_server 10.1.0.1 80 { }")
    assert msgs == [
        "Virtual server [10.0.0.1]:none:80: no protocol set - defaulting to UDP",
        "Virtual server [10.0.0.1]:udp:80: no scheduler set, setting default 'wlc'",
        "Virtual server [10.0.0.1]:udp:80: no forwarding method set, setting default NAT",
    ]
    assert (vs.protocol, vs.lvs_sched, vs.forwarding.method) == (Protocol.UDP, "wlc", LvsMethod.NAT)


def test_fwmark_protocol_ignored_like_samples() -> None:
    lvs, diags = parse_lvs(
        "virtual_server fwmark 1 {\nlb_algo rr\nlb_kind NAT\nprotocol TCP\nreal_server 192.168.201.100 { }\n}"
    )
    assert messages(diags) == [
        "Warning: Virtual server FWM 1: protocol specified for fwmark - protocol will be ignored"
    ]
    assert diags.config_test_exit_code() == 5
    assert lvs.virtual_servers[0].protocol is None


def test_zero_port_needs_persistence() -> None:
    vs, msgs = one_vs(BASE + "real_server 10.1.0.1 { }", head="10.0.0.1")
    assert msgs == ["Virtual server [10.0.0.1]:tcp:0: zero port only valid for persistent services - setting"]
    assert vs.persistence_timeout == 360
    vs, msgs = one_vs(BASE + "persistence_timeout\nreal_server 10.1.0.1 { }", head="10.0.0.1 0")
    assert not msgs and vs.persistence_timeout == 360 and vs.port == 0


def test_quorum_and_hysteresis_fixups() -> None:
    rss = "".join(f"real_server 10.1.0.{i} 80 {{ weight 2 }}\n" for i in range(1, 4))
    vs, msgs = one_vs(BASE + "quorum 10\nhysteresis 9\n" + rss)
    assert msgs == [
        "Warning - quorum 10 for [10.0.0.1]:tcp:80 exceeds total weight of real servers 6, "
        "reducing quorum to 6",
        "Virtual server [10.0.0.1]:tcp:80: hysteresis 9 >= quorum 6; setting hysteresis to 5",
    ]
    assert (vs.quorum, vs.hysteresis) == (6, 5)


def test_duplicate_rs_removed_and_no_rs_vs_ignored() -> None:
    lvs, diags = parse_lvs(
        f"virtual_server 10.0.0.1 80 {{\n{BASE}real_server 10.1.0.1 80 {{ }}\n"
        f"real_server 10.1.0.1 80 {{ weight 7 }}\n}}\nvirtual_server 10.0.0.2 80 {{\n{BASE}}}\n"
    )
    assert messages(diags) == [
        "VS [10.0.0.1]:tcp:80: real server [10.1.0.1]:tcp:80 is duplicated - removing second rs",
        "Virtual server [10.0.0.2]:tcp:80 has no real servers - ignoring",
    ]
    assert len(lvs.virtual_servers) == 1 and lvs.virtual_servers[0].real_servers[0].weight == 1


def test_aliases_silent_and_nb_get_retry_deprecated() -> None:
    vs, msgs = one_vs(
        "lb_algo wrr\nlb_kind TUN\nprotocol TCP\nreal_server 10.1.0.1 80 {\n"
        "HTTP_GET { nb_get_retry 4\nurl { path /x } } }"
    )
    assert msgs == ["nb_get_retry is deprecated - please use 'retry'"]
    assert vs.lvs_sched == "wrr" and vs.real_servers[0].forwarding.method is LvsMethod.TUN
    assert vs.real_servers[0].checkers[0].timing.retry == 4  # type: ignore[union-attr]


def test_url_validation() -> None:
    vs, msgs = one_vs(
        BASE + "real_server 10.1.0.1 80 {\nHTTP_GET {\nurl { digest 0123 }\n"
        "url { path /a\ndigest 0123456789ABCDEF0123456789abcdeg\nstatus_code 200 301-302 99 600 x }\n"
        "url { path /b\ndigest 0123456789ABCDEF0123456789abcdef\ndigest 00000000000000000000000000000000 }\n"
        "}\nSSL_GET { }\n}"
    )
    assert msgs == [
        "digest '0123' character length should be 32 rather than 4",
        "HTTP/SSL_GET checker url has no path - ignoring",
        "Unable to interpret hex digit in '0123456789ABCDEF0123456789abcdeg' at offset 30/31",
        "Invalid HTTP_GET status code '99'",
        "Invalid HTTP_GET status code '600'",
        "Invalid HTTP_GET status code 'x'",
        "Digest '00000000000000000000000000000000' is a duplicate",
        "HTTP/SSL_GET checker has no urls specified - ignoring",
    ]
    (c,) = vs.real_servers[0].checkers
    assert isinstance(c, HttpCheck) and c.type == "HTTP_GET"
    a, b = c.urls
    assert (a.path, a.digest, a.status_codes) == ("/a", None, ((200, 200), (301, 302)))
    assert (b.digest, b.status_codes) == ("0123456789abcdef0123456789abcdef", ((200, 299),))


def test_http_options() -> None:
    c = rs_with(
        "SSL_GET { virtualhost www.example.com\nhttp_protocol 1.0c\nfast_recovery\nenable_sni off\n"
        'url { path /p\nvirtualhost v.example\nregex "a b"\nregex_no_match\nregex_options caseless utf\n'
        "regex_min_offset 2\nregex_max_offset 9\nregex_stack 10 20 } }"
    ).checkers[0]
    assert isinstance(c, HttpCheck) and c.ssl
    assert (c.virtualhost, c.http_protocol, c.fast_recovery, c.enable_sni) == (
        "www.example.com",
        HttpProtocol.HTTP_1_0C,
        True,
        False,
    )
    u = c.urls[0]
    assert (u.virtualhost, u.regex, u.regex_no_match, u.regex_options) == (
        "v.example",
        "a b",
        True,
        ("caseless", "utf"),
    )
    assert (u.regex_min_offset, u.regex_max_offset, u.regex_stack) == (2, 9, (10, 20))


def test_smtp_host_blocks_become_checkers() -> None:
    lvs, diags = parse_lvs(
        f"virtual_server 10.0.0.1 25 {{\n{BASE}real_server 10.1.0.1 25 {{\nSMTP_CHECK {{\n"
        'retry 2\nhelo_name "foo.bar.com"\nhost { connect_ip 10.2.0.1\nconnect_port 587 }\n'
        "host { connect_ip 10.2.0.2\nbindto 10.2.0.9\nconnect_timeout 2 }\n}\n}\n}\n"
    )
    assert messages(diags) == ["The SMTP_CHECK host block is deprecated. Please define additional checkers."]
    assert diags.config_test_exit_code() == 0
    checkers = lvs.virtual_servers[0].real_servers[0].checkers
    assert all(
        isinstance(c, SmtpCheck) and c.helo_name == "foo.bar.com" and c.timing.retry == 2 for c in checkers
    )
    conns = [
        (
            c.connection.connect_ip,
            c.connection.connect_port,
            c.connection.bindto,  # type: ignore[union-attr]
            c.connection.connect_timeout,
        )
        for c in checkers
    ]  # type: ignore[union-attr]
    assert conns == [(ip("10.2.0.1"), 587, None, 5.0), (ip("10.2.0.2"), 25, ip("10.2.0.9"), 2.0)]
    # connection keywords at the checker level keep it, hosts are added
    c = rs_with("SMTP_CHECK { connect_port 26\nhost { connect_ip 10.2.0.3 } }").checkers
    assert [(x.connection.connect_ip, x.connection.connect_port) for x in c] == [  # type: ignore[union-attr]
        (ip("10.1.0.1"), 26),
        (ip("10.2.0.3"), 80),
    ]
    assert rs_with("SMTP_CHECK { }").checkers[0].helo_name == "smtpchecker.keepalived.org"  # type: ignore[union-attr]


def test_connection_keywords_and_family_checks() -> None:
    c = rs_with(
        "TCP_CHECK { connect_ip 10.9.0.1\nconnect_port 81\nbindto 10.9.0.2\nbind_port 1000\n"
        "bind_if eth0\nfwmark 7 }"
    ).checkers[0]
    co = c.connection  # type: ignore[union-attr]
    assert (co.connect_ip, co.connect_port, co.bindto, co.bind_port, co.bind_if, co.fwmark) == (
        ip("10.9.0.1"),
        81,
        ip("10.9.0.2"),
        1000,
        "eth0",
        7,
    )
    vs, msgs = one_vs(
        BASE + "real_server 10.1.0.1 80 {\nTCP_CHECK { bindto fe80::1 }\n"
        "TCP_CHECK { connect_ip fe80::1 }\nTCP_CHECK { connect_ip nonsense }\n}"
    )
    assert msgs == [
        "bindto address fe80::1 does not match address family of connect_ip - skipping",
        "Checker link local address fe80::1 requires a bind_if",
        "Invalid connect_ip address nonsense - ignoring",
    ]
    assert len(vs.real_servers[0].checkers) == 2


def test_dns_udp_ping_file_bfd() -> None:
    checkers = (
        "DNS_CHECK { type mx\nname example.com }\nDNS_CHECK { }\n"
        "UDP_CHECK { payload 01 02 a\nrequire_reply 0x xA\nmin_reply_length 2\nmax_reply_length 9 }\n"
        "PING_CHECK { }\nFILE_CHECK { track_file tf\nweight -5 reverse }\nFILE_CHECK { track_file g }\n"
        "BFD_CHECK { name bfd1\nalpha }"
    )
    # BFD_CHECK names a bfd_instance defined earlier in the file (one reporting to the checkers)
    vs, msgs = one_vs(f"{BASE}\nreal_server 10.1.0.1 80 {{\n{checkers}\n}}", shared={"bfd_checker_names": {"bfd1"}})
    assert not msgs, msgs
    rs = vs.real_servers[0]
    dns, dns2, udp, ping, f1, f2, bfd = rs.checkers
    assert isinstance(dns, DnsCheck) and (dns.query_type, dns.name) == (DnsType.MX, "example.com")
    assert isinstance(dns2, DnsCheck) and (dns2.query_type, dns2.name) == (DnsType.SOA, "")
    assert isinstance(udp, UdpCheck)
    assert (udp.payload, udp.require_reply, udp.reply_pattern) == ("01020a", True, "0xxa")
    assert (udp.min_reply_length, udp.max_reply_length) == (2, 9)
    assert ping.type == "PING_CHECK"
    assert f1 == FileCheck(track_file="tf", weight=-5, reverse=True)
    assert f2 == FileCheck(track_file="g")
    assert bfd == BfdCheck(name="bfd1", alpha=True)
    _vs, msgs = one_vs(f"{BASE}\nreal_server 10.1.0.1 80 {{\nBFD_CHECK {{ name bfd1 }}\n}}")
    assert msgs == ["([10.1.0.1]:none:80) BFD_CHECK - BFD bfd1 not configured"]


def test_checker_block_errors() -> None:
    vs, msgs = one_vs(
        BASE + "real_server 10.1.0.1 80 {\nMISC_CHECK { }\nFILE_CHECK { }\nBFD_CHECK { }\n"
        "DNS_CHECK { type XX\nname a..b }\nUDP_CHECK { min_reply_length 10\nmax_reply_length 5 }\n}"
    )
    assert msgs == [
        "No script path has been specified for MISC_CHECKER - skipping",
        "FILE_CHECK has no track_file specified - ignoring",
        "([10.1.0.1]:none:80) No name has been specified for BFD_CHECKER - skipping",
        "Unknown DNS check type XX - ignoring",
        "DNS_CHECK name 'a..b' has empty label - ignoring",
        "UDP_CHECK min_reply length 10 > max_reply_length 5 - will always fail",
    ]
    assert [c.type for c in vs.real_servers[0].checkers] == ["DNS_CHECK", "UDP_CHECK"]


# --- virtual server keywords -----------------------------------------------------------------


def test_every_vs_keyword() -> None:
    vs, msgs = one_vs(
        "lvs_sched sh\nsh-port\nsh-fallback\nops\nflag-1\nlvs_method TUN type gue port 6080 csum\n"
        "protocol udp\n"
        "persistence_timeout 600\npersistence_granularity 255.255.255.0\npersistence_engine sip\n"
        "delay_loop 2.5\nconnect_timeout 1.25\nretry 4\ndelay_before_retry 0.5\nwarmup 3\nweight 3\n"
        "alpha\nomega\ninhibit_on_failure\nha_suspend\nquorum 2\nhysteresis 1\n"
        'quorum_up "/bin/up arg" root\nquorum_down /bin/down\n'
        "sorry_server 10.5.0.1 80\nsorry_server_inhibit\nsorry_server_lvs_method DR\n"
        "virtualhost vs.example\nsmtp_alert\nsnmp_name vs1\nip_family inet\n"
        "real_server 10.1.0.1 80 { }"
    )
    assert not msgs, msgs
    assert (vs.lvs_sched, vs.sched_flags) == ("sh", ("sh-port", "sh-fallback", "ops", "flag-1"))
    f = vs.forwarding
    assert (f.method, f.tunnel_type, f.tunnel_port, f.tunnel_checksum) == (
        LvsMethod.TUN,
        TunnelType.GUE,
        6080,
        TunnelChecksum.CSUM,
    )
    assert vs.real_servers[0].forwarding == f
    assert (vs.protocol, vs.persistence_timeout, vs.persistence_engine) == (Protocol.UDP, 600, "sip")
    assert vs.persistence_granularity == ipaddress.IPv4Address("255.255.255.0")
    assert (vs.delay_loop, vs.connect_timeout, vs.retry, vs.delay_before_retry, vs.warmup) == (
        2.5,
        1.25,
        4,
        0.5,
        3,
    )
    assert (vs.weight, vs.alpha, vs.omega, vs.inhibit_on_failure, vs.ha_suspend) == (
        3,
        True,
        True,
        True,
        True,
    )
    assert (vs.quorum, vs.hysteresis) == (2, 1)
    assert (
        vs.quorum_up is not None and vs.quorum_up.argv == ("/bin/up", "arg") and vs.quorum_up.user == "root"
    )
    assert vs.quorum_down is not None and vs.quorum_down.argv == ("/bin/down",)
    s = vs.sorry_server
    assert s is not None and (s.ip, s.port, s.inhibit, s.forwarding.method) == (
        ip("10.5.0.1"),
        80,
        True,
        LvsMethod.DR,
    )
    assert (vs.virtualhost, vs.smtp_alert, vs.snmp_name, vs.ip_family) == (
        "vs.example",
        True,
        "vs1",
        IpFamily.INET,
    )


def test_sched_flag_and_forwarding_errors() -> None:
    vs, msgs = one_vs(
        "sh-port\nlvs_sched bogus\nlvs_sched mh\nmh-port\nsh-port\nlvs_method XX\n"
        "lvs_method TUN type ipip csum\nprotocol TCP\nops\nreal_server 10.1.0.1 80 { }"
    )
    assert msgs == [
        "sh-port only applies to sh scheduler - ignoring",
        "Invalid lvs_scheduler 'bogus' - ignoring",
        "PARSER : unknown [XX] routing method for virtual server.",
        "ipip tunnels do not support checksum option.",
        "Virtual server [10.0.0.1]:tcp:80: one packet scheduling requires UDP - resetting",
    ]
    assert (vs.lvs_sched, vs.sched_flags, vs.forwarding.method) == ("mh", ("mh-port",), LvsMethod.TUN)


def test_rs_keywords() -> None:
    vs, msgs = one_vs(
        BASE + "real_server 10.1.0.1 80 { weight 9\nlvs_method DR\ninhibit_on_failure\n"
        'notify_up "/bin/up x"\nnotify_down /bin/down\nuthreshold 100\nlthreshold 10\n'
        "smtp_alert false\nvirtualhost rs.example\nsnmp_name rs1 }"
    )
    assert not msgs
    rs = vs.real_servers[0]
    assert (rs.weight, rs.forwarding.method, rs.inhibit_on_failure) == (9, LvsMethod.DR, True)
    assert rs.notify_up is not None and rs.notify_up.argv == ("/bin/up", "x")
    assert rs.notify_down is not None and rs.notify_down.argv == ("/bin/down",)
    assert (rs.uthreshold, rs.lthreshold, rs.smtp_alert, rs.virtualhost, rs.snmp_name) == (
        100,
        10,
        False,
        "rs.example",
        "rs1",
    )


def test_bad_addresses_skip_blocks() -> None:
    lvs, diags = parse_lvs(
        "virtual_server 10.0.0.300 80 {\nreal_server 1.1.1.1 80 { }\n}\n"
        f"virtual_server 10.0.0.1 80 {{\n{BASE}real_server 1.1.1 80 {{ weight 2 }}\n"
        "real_server ::1 80 { }\nreal_server 1.1.1.1 80 { }\n}\n"
    )
    assert messages(diags) == [
        "Invalid virtual server IP address/port 10.0.0.300/80 - skipping",
        "Invalid real server ip address/port 1.1.1/80 - skipping",
        "Address family of virtual server and real server ::1 don't match - skipping real server.",
    ]
    (vs,) = lvs.virtual_servers
    assert [str(rs.ip) for rs in vs.real_servers] == ["1.1.1.1"]


def test_number_errors_keep_defaults() -> None:
    vs, msgs = one_vs(BASE + "delay_loop 0\nweight 0\nquorum 0\nreal_server 10.1.0.1 80 { retry 0 }")
    assert "virtual server delay loop '0' invalid - ignoring" in msgs
    assert "Virtual server weight 0 is outside range 1-2147483647" in msgs
    assert "Quorum 0 must be in [1, 4294967295]. Setting to 1." in msgs
    assert "retry value invalid - 0" in msgs
    assert (vs.delay_loop, vs.weight, vs.quorum) == (60.0, 1, 1)


# --- SSL and virtual_server_group ------------------------------------------------------------


def test_ssl_block() -> None:
    lvs, diags = parse_lvs("SSL {\npassword pw\nca /ca.pem\ncertificate /c.pem\nkey /k.pem\nkey /k2.pem\n}\n")
    assert messages(diags) == ["SSL keyfile already specified - replacing"]
    assert lvs.ssl is not None and (lvs.ssl.password, lvs.ssl.ca, lvs.ssl.certificate, lvs.ssl.key) == (
        "pw",
        "/ca.pem",
        "/c.pem",
        "/k2.pem",
    )


def test_vsg_entries() -> None:
    lvs, diags = parse_lvs(
        "virtual_server_group G {\n10.0.0.1 80\n192.168.200.3-10 80\n10.1.0.1-10.1.1.2 443\n"
        "10.2.0.0/30\nfwmark 1\nfwmark 2 inet\n"
        "10.0.0.9-5 80\n10.0.0.1-300 80\n10.0.0.1/24\n10.0.0.0/33\nbad 80\nfwmark 3 ipx\n10.0.0.1-2x\n}\n"
        "virtual_server_group E {\n}\nvirtual_server_group G6 {\nae00::2-9 80\nfwmark 5 inet6\n}\n"
    )
    assert messages(diags) == [
        "Address range end is not greater than address range start - 10.0.0.9-5 - skipping",
        "Virtual server group range '10.0.0.1-300' end '300' too large",
        "Address mask bits not empty - 10.0.0.1/24 - skipping",
        "Invalid netmask - 10.0.0.0/33 - skipping",
        "Invalid virtual server group IP address bad /port/80 - skipping",
        "(G): fwmark '3' family ipx unknown - ignoring",
        "Virtual server group range '10.0.0.1-2x' has extra characters at end 'x'",
        "virtual server group E has no entries - removing",
    ]
    g, g6 = lvs.virtual_server_groups
    assert g.addresses == (
        VsgAddressRange(ip("10.0.0.1"), ip("10.0.0.1"), 80),
        VsgAddressRange(ip("192.168.200.3"), ip("192.168.200.10"), 80),
        VsgAddressRange(ip("10.1.0.1"), ip("10.1.1.2"), 443),
        VsgAddressRange(ip("10.2.0.0"), ip("10.2.0.3"), 0),
    )
    assert g.fwmarks == (VsgFwmark(1), VsgFwmark(2, IpFamily.INET))
    assert g6.addresses == (VsgAddressRange(ip("ae00::2"), ip("ae00::9"), 80),)
    assert g6.fwmarks == (VsgFwmark(5, IpFamily.INET6),)


def test_vsg_mixed_family_without_fwmark_family_removed() -> None:
    _, diags = parse_lvs("virtual_server_group G {\n10.0.0.1 80\nae00::1 80\nfwmark 1\n}\n")
    assert messages(diags) == [
        "virtual server group G cannot have IPv4, IPv6 and fwmark without family - removing"
    ]


def test_group_virtual_server() -> None:
    lvs, diags = parse_lvs(
        "virtual_server_group G {\n10.0.0.1 80\nfwmark 4\n}\n"
        f"virtual_server group G {{\n{BASE}real_server 10.1.0.1 80 {{ }}\n}}\n"
        f"virtual_server group MISSING {{\n{BASE}real_server 10.1.0.1 80 {{ }}\n}}\n"
        f"virtual_server group G {{\nlvs_sched rr\nlvs_method NAT\nreal_server 10.1.0.1 {{ }}\n}}\n"
    )
    assert messages(diags) == [
        "Virtual server group MISSING specified but not configured - ignoring virtual server [MISSING]:0",
        "Virtual server [G]:1: no protocol set - defaulting to UDP",
    ]
    # the group-not-configured line is informational, as keepalived only logs it
    assert [d.info for d in diags] == [True, False]
    a, b = lvs.virtual_servers
    assert (a.group, a.protocol, a.ip_family) == ("G", Protocol.TCP, IpFamily.INET)
    # group members keep their own ports: a NAT real server without one stays portless
    assert (b.persistence_timeout, b.real_servers[0].port) == (0, 0)


def test_error_classes() -> None:
    _, diags = parse_lvs(
        f"virtual_server 10.0.0.1 80 {{\n{BASE}real_server 10.1.0.1 80 {{\n"
        "HTTP_GET { nb_get_retry 3\nurl { path / } }\n}\n}\n"
    )
    assert [d.cls for d in diags] == [ErrClass.DEPRECATED]
    _, diags = parse_lvs("virtual_server 10.0.0.1 80 {\nquorum\n}\n")
    assert diags.config_test_exit_code() == 2


def test_iter_scripts() -> None:
    lvs, _ = parse_lvs(
        f"virtual_server 10.0.0.1 80 {{\n{BASE}quorum_up /bin/qu\nreal_server 10.1.0.1 80 {{\n"
        "notify_down /bin/nd\nMISC_CHECK { misc_path /bin/m }\nTCP_CHECK { }\n}\n}\n"
    )
    assert [s.argv for s in iter_lvs_scripts(lvs)] == [("/bin/qu",), ("/bin/nd",), ("/bin/m",)]
