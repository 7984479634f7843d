"""Health-gated announcement: the pure decision, the announcer's order of operations, the config block."""

from __future__ import annotations

import ipaddress

from pykeepalived.announce import Announcer, ServiceView, plan, services_view, wanted
from pykeepalived.config.loader import load_config_text
from pykeepalived.config.model_announce import AnnounceConfig

V1, V2 = ipaddress.ip_address("10.0.0.5"), ipaddress.ip_address("10.0.0.6")
N1, N2 = ipaddress.ip_network("10.0.0.5/32"), ipaddress.ip_network("10.0.0.6/32")


def test_an_address_is_announced_only_while_every_service_on_it_is_programmed_and_has_quorum() -> None:
    cfg = AnnounceConfig()
    ok = [ServiceView(V1, True, True), ServiceView(V1, True, True), ServiceView(V2, True, True)]
    assert wanted(cfg, ok) == {N1, N2}
    assert wanted(cfg, [*ok, ServiceView(V1, True, False)]) == {N2}  # quorum lost on one port of V1
    assert wanted(cfg, [*ok, ServiceView(V2, False, True)]) == {N1}  # not programmed
    assert wanted(cfg, ok, stopping=True) == frozenset()
    assert wanted(cfg, [ServiceView(None, True, True)]) == frozenset()  # fwmark: no address


def test_prefix_lines_choose_what_is_announced() -> None:
    net = ipaddress.ip_network("10.0.0.0/29")
    cfg = AnnounceConfig(prefixes=(net, ipaddress.ip_network("fd00::5/128")))
    assert wanted(cfg, [ServiceView(V1, True, True)]) == {net, ipaddress.ip_network("fd00::5/128")}
    assert wanted(cfg, [ServiceView(V1, True, False)]) == {ipaddress.ip_network("fd00::5/128")}
    assert wanted(cfg, [ServiceView(V1, True, True), ServiceView(V2, False, True)]) == {
        ipaddress.ip_network("fd00::5/128")}


def test_plan_withdraws_before_it_announces() -> None:
    p = plan({N1}, {N2})
    assert p.withdraw == (N1,) and p.announce == (N2,)
    assert not plan({N1}, {N1})


class FakeSpeaker:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def open(self) -> None:
        self.calls.append(("open", None))

    def announce(self, prefix: object) -> None:
        self.calls.append(("announce", prefix))

    def withdraw(self, prefix: object) -> None:
        self.calls.append(("withdraw", prefix))

    def close(self) -> None:
        self.calls.append(("close", None))


def test_announcer_follows_quorum_and_withdraws_everything_at_stop() -> None:
    sp = FakeSpeaker()
    a = Announcer(AnnounceConfig(), sp)
    a.sync([ServiceView(V1, True, True)])
    a.sync([ServiceView(V1, True, True)])  # no change, no call
    a.sync([ServiceView(V1, True, False)])
    a.sync([ServiceView(V1, True, True), ServiceView(V2, True, True)])
    a.stop()
    assert sp.calls == [("open", None), ("announce", N1), ("withdraw", N1), ("announce", N1),
                        ("announce", N2), ("withdraw", N1), ("withdraw", N2), ("close", None)]
    assert a.announced == frozenset()


CONF = """
virtual_server 10.0.0.5 80 {
    lb_algo mh
    lb_kind NAT
    protocol TCP
    real_server 192.168.0.12 80 {
    }
}
virtual_server_group G {
    10.0.0.6 443
}
virtual_server group G {
    lb_algo mh
    lb_kind NAT
    protocol TCP
    real_server 192.168.0.13 443 {
    }
}
bgp_announce {
    device pkt7
    prefix 10.0.0.5
    proto 200
    withdraw_delay 0.5
}
"""


def test_bgp_announce_block_is_parsed() -> None:
    res = load_config_text(CONF)
    assert res.config is not None and res.diagnostics.config_test_exit_code() == 0, [str(d) for d in res.diagnostics]
    a = res.config.announce
    assert a is not None
    assert (a.device, a.prefixes, a.proto, a.withdraw_delay) == ("pkt7", (N1,), 200, 0.5)
    views = services_view(res.config.lvs.virtual_servers,
                          {g.name: g for g in res.config.lvs.virtual_server_groups}, {}, [])
    assert sorted(str(v.address) for v in views) == ["10.0.0.5", "10.0.0.6"]
    assert not any(v.serving for v in views)


def test_bgp_announce_errors_name_the_line() -> None:
    res = load_config_text("bgp_announce {\n  prefix 10.0.0.300\n  device a/b\n  proto 999\n}\n")
    text = "\n".join(str(d) for d in res.diagnostics)
    assert ":2:" in text and "not an address" in text
    assert ":3:" in text and "not a valid interface name" in text
    assert ":4:" in text and "outside range" in text


def test_a_config_without_the_block_announces_nothing() -> None:
    res = load_config_text("virtual_server 10.0.0.5 80 {\n}\n")
    assert res.config is not None and res.config.announce is None
