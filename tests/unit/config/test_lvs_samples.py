"""Every LVS-bearing sample config of keepalived parses into the expected virtual servers."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from pykeepalived.config.model import to_jsonable
from pykeepalived.config.model_lvs import (
    HttpCheck,
    IpFamily,
    LvsConfig,
    LvsMethod,
    MiscCheck,
    PingCheck,
    Protocol,
    SmtpCheck,
    TcpCheck,
    UdpCheck,
)
from pykeepalived.config.render import lvs as render_lvs
from tests.conftest import data_path, sample_names
from tests.unit.config.test_lvs_keywords import parse_lvs

ip = ipaddress.ip_address


def sample(name: str) -> tuple[LvsConfig, list[str]]:
    """The LVS model of a sample and its LVS diagnostics (root-level noise of other sections dropped)."""
    path: Path = data_path("keepalived-samples", name)
    lvs, diags = parse_lvs(path.read_text())
    # only the LVS tables are installed here, so other sections show up as unknown root keywords
    lvs_msgs = [d.message for d in diags if not d.message.startswith(("Unknown keyword", "Unexpected '{'"))]
    return lvs, lvs_msgs


LVS_SAMPLES = [
    "keepalived.conf",
    "keepalived.conf.HTTP_GET.port",
    "keepalived.conf.IPv6",
    "keepalived.conf.PING_CHECK",
    "keepalived.conf.SMTP_CHECK",
    "keepalived.conf.SSL_GET",
    "keepalived.conf.UDP_CHECK",
    "keepalived.conf.fwmark",
    "keepalived.conf.inhibit",
    "keepalived.conf.misc_check",
    "keepalived.conf.misc_check_arg",
    "keepalived.conf.quorum",
    "keepalived.conf.sample",
    "keepalived.conf.status_code",
    "keepalived.conf.virtual_server_group",
    "keepalived.conf.virtualhost",
    "keepalived.conf.vrrp.lvs_syncd",
]


def test_sample_list_is_complete() -> None:
    with_vs = [n for n in sample_names() if "virtual_server" in data_path("keepalived-samples", n).read_text()]
    assert with_vs == sorted(LVS_SAMPLES)


@pytest.mark.parametrize("name", LVS_SAMPLES)
def test_sample_lvs_diagnostics_match_keepalived(name: str) -> None:
    """keepalived 2.2.7 -t: only the fwmark sample has an LVS complaint (samples-t.txt)."""
    lvs, msgs = sample(name)
    notes = {"The SMTP_CHECK host block is deprecated. Please define additional checkers."}
    msgs = [m for m in msgs if m not in notes]
    if name == "keepalived.conf.fwmark":
        assert msgs == [
            "Warning: Virtual server FWM 1: protocol specified for fwmark - protocol will be ignored"
        ]
    else:
        assert msgs == []
    assert lvs.virtual_servers


@pytest.mark.parametrize("name", LVS_SAMPLES)
def test_sample_renders_back_to_the_same_model(name: str) -> None:
    lvs, _ = sample(name)
    again, diags = parse_lvs(render_lvs.render(lvs))
    assert [d.message for d in diags if not d.info] == []
    assert to_jsonable(again) == to_jsonable(lvs)


def test_default_sample() -> None:
    lvs, _ = sample("keepalived.conf")
    assert [(str(v.address), v.port) for v in lvs.virtual_servers] == [
        ("192.168.200.100", 443),
        ("10.10.10.2", 1358),
        ("10.10.10.3", 1358),
    ]
    vs = lvs.virtual_servers[0]
    assert (vs.lvs_sched, vs.forwarding.method, vs.persistence_timeout, vs.protocol, vs.delay_loop) == (
        "rr",
        LvsMethod.NAT,
        50,
        Protocol.TCP,
        6.0,
    )
    (c,) = vs.real_servers[0].checkers
    assert isinstance(c, HttpCheck) and c.ssl
    assert [(u.path, u.digest) for u in c.urls] == [
        ("/", "ff20ad2481f97b1754ef3e12ecd3a9cc"),
        ("/mrtg/", "9b3a0c85a887a256d6939da88aabd8cd"),
    ]
    assert (c.connection.connect_timeout, c.timing.retry, c.timing.delay_before_retry) == (3.0, 3, 3.0)
    assert (c.timing.delay_loop, c.timing.warmup) == (6.0, 6.0)
    vs2 = lvs.virtual_servers[1]
    assert vs2.sorry_server is not None and (vs2.sorry_server.ip, vs2.sorry_server.port) == (
        ip("192.168.200.200"),
        1358,
    )
    assert [len(rs.checkers[0].urls) for rs in vs2.real_servers] == [3, 2]  # type: ignore[union-attr]
    assert lvs.virtual_servers[2].real_servers[1].checkers[0].timing.delay_loop == 3.0  # type: ignore[union-attr]


def test_http_get_port_sample() -> None:
    lvs, _ = sample("keepalived.conf.HTTP_GET.port")
    c = lvs.virtual_servers[0].real_servers[0].checkers[0]
    assert isinstance(c, HttpCheck) and c.connection.connect_port == 444
    assert lvs.virtual_servers[0].real_servers[0].port == 443


def test_ipv6_sample() -> None:
    lvs, _ = sample("keepalived.conf.IPv6")
    (g,) = lvs.virtual_server_groups
    assert g.name == "IPv6_group"
    assert [(str(a.first), str(a.last), a.port) for a in g.addresses] == [
        ("ae00::2", "ae00::9", 80),
        ("ae00::1", "ae00::1", 80),
    ]
    (vs,) = lvs.virtual_servers
    assert vs.ip_family is IpFamily.INET6 and vs.address == ip("ae00::1")
    (rs,) = vs.real_servers
    assert (rs.ip, rs.port) == (ip("ae00::10"), 25)
    (c,) = rs.checkers
    assert isinstance(c, SmtpCheck) and c.helo_name == "foo.bar.com"
    assert (c.connection.connect_ip, c.connection.connect_port, c.timing.retry) == (ip("ae00::10"), 25, 3)


def test_ping_udp_misc_samples() -> None:
    lvs, _ = sample("keepalived.conf.PING_CHECK")
    c = lvs.virtual_servers[0].real_servers[0].checkers[0]
    assert isinstance(c, PingCheck) and c.timing.retry == 4
    lvs, _ = sample("keepalived.conf.UDP_CHECK")
    c = lvs.virtual_servers[0].real_servers[0].checkers[0]
    assert isinstance(c, UdpCheck) and not c.require_reply
    lvs, _ = sample("keepalived.conf.misc_check")
    c = lvs.virtual_servers[0].real_servers[0].checkers[0]
    assert isinstance(c, MiscCheck) and c.misc_path.argv == ("/usr/local/bin/script.sh",)
    assert c.timing.retry == 0 and c.misc_timeout == lvs.virtual_servers[0].delay_loop
    lvs, _ = sample("keepalived.conf.misc_check_arg")
    c = lvs.virtual_servers[0].real_servers[0].checkers[0]
    assert isinstance(c, MiscCheck) and c.misc_path.argv == ("/usr/local/bin/script.sh", "arg1", "arg2")


def test_smtp_sample_host_blocks() -> None:
    lvs, _ = sample("keepalived.conf.SMTP_CHECK")
    rss = lvs.virtual_servers[0].real_servers
    # connect_timeout at the SMTP_CHECK level counts as "connection configured" in keepalived's
    # smtp_check_end_handler, so the checker keeps its own connection and every host is added
    assert [len(rs.checkers) for rs in rss] == [1, 4, 4]
    assert [str(c.connection.connect_ip) for c in rss[1].checkers] == [  # type: ignore[union-attr]
        "172.16.1.11",
        "172.16.1.11",
        "192.168.155.10",
        "64.233.167.99",
    ]
    conns = [
        (
            str(c.connection.connect_ip),
            c.connection.connect_port,  # type: ignore[union-attr]
            str(c.connection.bindto),
        )
        for c in rss[2].checkers
    ]  # type: ignore[union-attr]
    assert conns == [
        ("172.16.1.12", 25, "None"),
        ("172.16.1.12", 25, "172.16.1.2"),
        ("192.168.155.11", 25, "192.168.155.2"),
        ("64.233.167.100", 587, "None"),
    ]
    assert all(
        c.timing.retry == 2 and c.timing.delay_before_retry == 5.0  # type: ignore[union-attr]
        for rs in rss
        for c in rs.checkers
    )
    assert rss[0].checkers[0].connection.connect_timeout == 30.0  # type: ignore[union-attr]


def test_fwmark_sample() -> None:
    lvs, _ = sample("keepalived.conf.fwmark")
    (vs,) = lvs.virtual_servers
    assert (vs.fwmark, vs.protocol, vs.persistence_timeout, vs.ip_family) == (1, None, 900, IpFamily.INET)
    assert all(rs.port == 0 for rs in vs.real_servers)
    assert all(
        isinstance(c, TcpCheck) and c.connection.connect_port == 80
        for rs in vs.real_servers
        for c in rs.checkers
    )


def test_inhibit_sample() -> None:
    lvs, _ = sample("keepalived.conf.inhibit")
    assert all(rs.inhibit_on_failure for vs in lvs.virtual_servers for rs in vs.real_servers)


def test_quorum_sample_numbers() -> None:
    lvs, _ = sample("keepalived.conf.quorum")
    (vs,) = lvs.virtual_servers
    assert (vs.lvs_sched, vs.quorum, vs.hysteresis, vs.alpha, vs.omega) == ("wrr", 7, 2, True, True)
    assert vs.persistence_timeout == 900
    assert vs.quorum_up is not None and vs.quorum_up.argv == ("/usr/local/sbin/quorum-up.sh",)
    assert vs.quorum_down is not None and vs.quorum_down.argv == ("/usr/local/sbin/quorum-down.sh",)
    assert len(vs.real_servers) == 10
    assert all((rs.weight, rs.alpha, rs.port) == (1, True, 8080) for rs in vs.real_servers)
    assert all(
        c.timing.alpha and c.connection.connect_port == 80  # type: ignore[union-attr]
        for rs in vs.real_servers
        for c in rs.checkers
    )


def test_status_code_sample() -> None:
    lvs, _ = sample("keepalived.conf.status_code")
    c = lvs.virtual_servers[0].real_servers[0].checkers[0]
    assert isinstance(c, HttpCheck)
    a, b = c.urls
    assert a.status_codes == ((200, 299), (400, 499), (503, 503), (505, 505)) and a.digest is None
    assert b.status_codes == ((200, 200),) and b.digest == "9b3a0c85a887a256d6939da88aabd8cd"


def test_virtual_server_group_sample() -> None:
    lvs, _ = sample("keepalived.conf.virtual_server_group")
    (g,) = lvs.virtual_server_groups
    assert [(str(a.first), str(a.last), a.port) for a in g.addresses] == [
        ("10.0.0.1", "10.0.0.1", 8080),
        ("10.0.0.2", "10.0.0.2", 80),
        ("192.168.200.1", "192.168.200.1", 1358),
        ("192.168.200.3", "192.168.200.10", 80),
    ]
    assert [(f.fwmark, f.family) for f in g.fwmarks] == [(1, None), (2, None)]
    (vs,) = lvs.virtual_servers
    assert (vs.group, vs.protocol, vs.ip_family, len(vs.real_servers)) == (
        "VSG_1",
        Protocol.TCP,
        IpFamily.INET,
        2,
    )


def test_virtualhost_and_sample_and_lvs_syncd() -> None:
    lvs, _ = sample("keepalived.conf.virtualhost")
    assert lvs.virtual_servers[0].virtualhost == "www.firewall.loc"
    lvs, _ = sample("keepalived.conf.sample")
    assert lvs.virtual_servers[0].sorry_server is not None
    lvs, _ = sample("keepalived.conf.vrrp.lvs_syncd")
    assert lvs.virtual_servers[0].delay_loop == 20.0
