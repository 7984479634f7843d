"""virtual_routes / virtual_rules as the rtnetlink requests keepalived 2.2.7's ``netlink_route`` and
``netlink_rule`` send (``vrrp.routes``): built without a kernel, encoded and decoded back, and applied
through a fake netlink that refuses what a kernel may refuse."""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from typing import Any

import pytest
from pyroute2.netlink import NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import RTM_DELROUTE, RTM_DELRULE, RTM_NEWROUTE, RTM_NEWRULE
from pyroute2.netlink.rtnl.fibmsg import fibmsg

from pykeepalived.config.loader import load_config_text
from pykeepalived.config.model_vrrp import Route, Rule
from pykeepalived.vrrp.executor import Executor
from pykeepalived.vrrp.routes import (
    Request,
    RouteMessage,
    change_routes_rules,
    route_devices,
    route_key,
    route_request,
    rule_key,
    rule_request,
)
from pykeepalived.vrrp.runner import KernelIO

IFINDEX = {"eth0": 3, "eth1": 5}


def _instance(routes: str = "", rules: str = "") -> tuple[list[Route], list[Rule]]:
    text = ("vrrp_instance V {\n interface eth0\n virtual_router_id 1\n priority 100\n"
            " virtual_ipaddress {\n  10.0.0.1\n }\n"
            f" virtual_routes {{\n{routes}\n }}\n virtual_rules {{\n{rules}\n }}\n}}\n")
    result = load_config_text(text, name="k.conf", config_id="n", interfaces=frozenset({"lo", "eth0", "eth1"}))
    assert result.config is not None, [str(d) for d in result.diagnostics]
    inst = result.config.vrrp.instances[0]
    return list(inst.virtual_routes), list(inst.virtual_rules)


def route(line: str) -> Route:
    routes, _ = _instance(routes=line)
    assert len(routes) == 1
    return routes[0]


def rule(line: str) -> Rule:
    _, rules = _instance(rules=line)
    assert len(rules) == 1
    return rules[0]


def decoded(req: Request) -> Any:
    """The request encoded as it goes to the kernel, then read back by the same message class."""
    msg = req.message()
    msg["header"]["type"] = req.type
    msg.encode()
    out = (RouteMessage if req.type in (RTM_NEWROUTE, RTM_DELROUTE) else fibmsg)(msg.data)
    out.decode()
    return out


def attrs(msg: Any) -> dict[str, Any]:
    return {name: value for name, value in msg["attrs"]}


# -- routes -------------------------------------------------------------------------------------------------

def test_a_plain_route_gets_keepalived_defaults() -> None:
    req = route_request(route("10.50.0.0/24 dev eth0"), IFINDEX)
    assert req.type == RTM_NEWROUTE and req.flags == NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE  # ip route prepend
    assert dict(req.fields) == {"family": socket.AF_INET, "dst_len": 24, "src_len": 0, "tos": 0, "table": 254,
                                "proto": 18, "scope": 0, "type": 1, "flags": 0}
    assert req.attrs == (("RTA_DST", "10.50.0.0"), ("RTA_OIF", 3))


def test_a_default_destination_or_source_is_the_zero_address_as_keepalived_sends_it() -> None:
    assert route_request(route("default via 10.1.0.1 dev eth0"), IFINDEX).attrs[0] == ("RTA_DST", "0.0.0.0")
    v6 = route_request(route("default6 via 2001:db8::1 dev eth0"), IFINDEX)
    assert v6.attrs[0] == ("RTA_DST", "::") and v6.fields["dst_len"] == 0
    r = rule_request(rule("from all to default table 5 preference 9"))
    assert r.attrs[:2] == (("FRA_SRC", "0.0.0.0"), ("FRA_DST", "0.0.0.0"))
    assert (r.fields["src_len"], r.fields["dst_len"]) == (0, 0)


def test_removal_asks_for_scope_nowhere_and_a_type_only_when_configured() -> None:
    plain = route_request(route("10.50.0.0/24 dev eth0"), IFINDEX, add=False)
    assert plain.type == RTM_DELROUTE and plain.flags == NLM_F_REQUEST | NLM_F_ACK
    assert plain.fields["scope"] == 255 and plain.fields["type"] == 0
    typed = route_request(route("blackhole 10.50.0.0/24 scope link"), IFINDEX, add=False)
    assert typed.fields["type"] == 6 and typed.fields["scope"] == 253


def test_tables_protocols_and_add_modes() -> None:
    big = route_request(route("10.50.0.0/24 dev eth0 table 1000 metric 7 no_track protocol bird append"), IFINDEX)
    assert big.fields["table"] == 0 and big.attrs[0] == ("RTA_TABLE", 1000)
    assert ("RTA_PRIORITY", 7) in big.attrs and big.fields["proto"] == 12
    assert big.flags & NLM_F_APPEND
    assert route_request(route("10.50.0.0/24 dev eth0 add"), IFINDEX).flags & NLM_F_EXCL
    assert not route_request(route("10.50.0.0/24 dev eth0 add prepend"), IFINDEX).flags & (NLM_F_EXCL | NLM_F_APPEND)


def test_source_preferred_source_gateway_and_onlink() -> None:
    req = route_request(route("2001:db8:5::/64 from 2001:db8::/48 src 2001:db8::1 via 2001:db8::2 dev eth0 onlink"),
                        IFINDEX)
    assert req.fields["family"] == socket.AF_INET6 and req.fields["src_len"] == 48 and req.fields["flags"] == 4
    assert [a[0] for a in req.attrs] == ["RTA_DST", "RTA_SRC", "RTA_PREFSRC", "RTA_GATEWAY", "RTA_OIF"]


def test_metrics_with_their_locks_in_keepalived_order() -> None:
    req = route_request(route("10.51.0.0/24 via 10.1.0.2 dev eth0 mtu lock 1400 advmss 1300 rtt 300ms "
                              "rttvar lock 250ms reordering 5 window 65535 cwnd 10 ssthresh 20 rto_min 300ms "
                              "initcwnd 11 initrwnd 12 congctl lock reno features ecn quickack 0 "
                              "fastopen_no_cookie 1 hoplimit 33"), IFINDEX)
    metrics = dict(req.attrs)["RTA_METRICS"]["attrs"]
    assert metrics == [
        ("RTAX_CC_ALGO", b"reno"), ("RTAX_RTT", 2400), ("RTAX_RTTVAR", 1000), ("RTAX_RTO_MIN", 300),
        ("RTAX_FEATURES", 1), ("RTAX_MTU", 1400), ("RTAX_WINDOW", 65535), ("RTAX_SSTHRESH", 20), ("RTAX_CWND", 10),
        ("RTAX_ADVMSS", 1300), ("RTAX_REORDERING", 5), ("RTAX_HOPLIMIT", 33), ("RTAX_INITCWND", 11),
        ("RTAX_INITRWND", 12), ("RTAX_QUICKACK", 0), ("RTAX_FASTOPEN_NO_COOKIE", 1),
        ("RTAX_LOCK", 1 << 2 | 1 << 5 | 1 << 16),
    ]
    back = attrs(attrs(decoded(req))["RTA_METRICS"])
    assert back["RTAX_CC_ALGO"] == b"reno" and back["RTAX_FASTOPEN_NO_COOKIE"] == 1 and back["RTAX_LOCK"] == 65572


def test_tos_realms_pref_expires_ttl_propagate() -> None:
    req = route_request(route("10.52.0.0/24 via 10.1.0.2 dev eth0 tos 0x10 realms 3/4 ttl-propagate disabled"),
                        IFINDEX)
    assert req.fields["tos"] == 0x10
    assert ("RTA_FLOW", 3 << 16 | 4) in req.attrs and ("RTA_TTL_PROPAGATE", 0) in req.attrs
    v6 = route_request(route("2001:db8:50::/64 dev eth0 expires 300 pref high"), IFINDEX)
    assert ("RTA_EXPIRES", 300) in v6.attrs and ("RTA_PREF", 1) in v6.attrs
    back = attrs(decoded(v6))
    assert back["RTA_EXPIRES"] == 300 and back["RTA_PREF"] == 1


@pytest.mark.parametrize(("line", "kind", "inner"), [
    ("10.53.0.0/24 dev eth0 encap mpls 100/200", 1,
     [("MPLS_IPTUNNEL_DST", bytes.fromhex("00064000000c8100"))]),  # label << 12, bottom of stack on the last
    ("10.53.0.0/24 encap ip id 5 dst 10.9.9.9 src 10.9.9.1 tos 0x10 ttl 3 flags 1 dev eth0", 2,
     [("LWTUNNEL_IP_ID", 5), ("LWTUNNEL_IP_DST", "10.9.9.9"), ("LWTUNNEL_IP_SRC", "10.9.9.1"),
      ("LWTUNNEL_IP_TOS", 16), ("LWTUNNEL_IP_TTL", 3), ("LWTUNNEL_IP_FLAGS", 1)]),
    ("2001:db8:51::/64 dev eth0 encap ila 2001:0:0:1", 3, [("ILA_ATTR_LOCATOR", bytes.fromhex("2001000000000001"))]),
    ("2001:db8:52::/64 encap ip6 id 9 dst 2001:db8::9 tc 0x10 hoplimit 7 dev eth0", 4,
     [("LWTUNNEL_IP6_ID", 9), ("LWTUNNEL_IP6_DST", "2001:db8::9"), ("LWTUNNEL_IP6_TC", 16),
      ("LWTUNNEL_IP6_HOPLIMIT", 7)]),
])
def test_encapsulations(line: str, kind: int, inner: list[tuple[str, Any]]) -> None:
    req = route_request(route(line), IFINDEX)
    got = dict(req.attrs)
    assert got["RTA_ENCAP_TYPE"] == kind and got["RTA_ENCAP"] == {"attrs": inner}
    assert attrs(attrs(decoded(req))["RTA_ENCAP"]) == dict(inner)


def test_multipath_hops_carry_weight_minus_one_onlink_and_realms_but_not_encap() -> None:
    """keepalived's request loses a hop's encapsulation (its writer is given no room): so does ours."""
    r = route("10.55.0.0/24 nexthop via 10.1.0.1 dev eth0 weight 3 realms 2/4 "
              "nexthop via 10.1.0.2 dev eth1 encap ip id 7 dst 10.1.0.3 "
              "nexthop via 10.1.0.4 dev eth0 weight 256 onlink")
    assert route_devices(r) == ["eth0", "eth1"]
    req = route_request(r, IFINDEX)
    hops = dict(req.attrs)["RTA_MULTIPATH"]
    assert [(h["flags"], h["hops"], h["oif"]) for h in hops] == [(0, 2, 3), (0, 0, 5), (4, 255, 3)]
    assert [h["attrs"] for h in hops] == [[["RTA_GATEWAY", "10.1.0.1"], ["RTA_FLOW", 2 << 16 | 4]],
                                          [["RTA_GATEWAY", "10.1.0.2"]], [["RTA_GATEWAY", "10.1.0.4"]]]
    assert req.left_out == ("nexthop encap",)
    back = attrs(decoded(req))["RTA_MULTIPATH"]
    assert [(h["hops"], h["oif"], attrs(h)["RTA_GATEWAY"]) for h in back] == [
        (2, 3, "10.1.0.1"), (0, 5, "10.1.0.2"), (255, 3, "10.1.0.4")]


def test_what_does_not_fit_keepalived_s_128_bytes_is_left_out() -> None:
    """keepalived copies the encapsulation and the nexthops into its message with 128 bytes as the bound for
    the whole message: an IPv6 route with a long ip6 encapsulation, or many nexthops, go without them."""
    short = route_request(route("2001:db8:52::/64 dev eth0 encap ip6 id 9 dst 2001:db8::9"), IFINDEX)
    assert "RTA_ENCAP" in dict(short.attrs) and short.left_out == ()
    long = route_request(route("2001:db8:52::/64 dev eth0 encap ip6 id 9 dst 2001:db8::9 src 2001:db8::3 "
                               "tc 0x10 hoplimit 7 flags 3"), IFINDEX)
    assert "RTA_ENCAP" not in dict(long.attrs) and long.left_out == ("encap",)
    assert ("RTA_OIF", 3) in long.attrs
    hops = " ".join(f"nexthop via 10.1.0.{n} dev eth0" for n in range(1, 7))
    assert "RTA_MULTIPATH" in dict(route_request(route(f"10.55.0.0/24 {hops.rsplit(' nexthop', 1)[0]}"), IFINDEX).attrs)
    six = route_request(route(f"10.55.0.0/24 {hops}"), IFINDEX)  # 28 + 8 + 4 + 6 * 16 = 136 bytes
    assert "RTA_MULTIPATH" not in dict(six.attrs) and six.left_out == ("nexthops",)


def test_an_or_route_is_two_hops() -> None:
    req = route_request(route("10.56.0.0/24 via 10.1.0.1 or 10.1.0.2 dev eth0"), IFINDEX)
    hops = dict(req.attrs)["RTA_MULTIPATH"]
    assert [h["attrs"] for h in hops] == [[["RTA_GATEWAY", "10.1.0.1"]], [["RTA_GATEWAY", "10.1.0.2"]]]
    assert "RTA_GATEWAY" not in dict(req.attrs)


def test_every_attribute_survives_encoding() -> None:
    """pyroute2 silently leaves out an attribute its message class does not name: none may be lost."""
    routes, rules = _instance(
        routes="10.51.0.0/24 via 10.1.0.2 dev eth0 mtu lock 1400 advmss 1300 rtt 300ms rttvar 250ms reordering 5 "
               "window 65535 cwnd 10 ssthresh 20 rto_min 300ms initcwnd 11 initrwnd 12 congctl lock reno features ecn "
               "quickack 1 fastopen_no_cookie 1 hoplimit 33 tos 0x10 realms 3/4 ttl-propagate enabled table 1000 "
               "metric 9 src 10.1.0.9 encap ip id 5 dst 10.9.9.9\n"
               "2001:db8:5::/64 from 2001:db8::/48 dev eth0 expires 30 pref low\n"
               "10.55.0.0/24 nexthop via 10.1.0.1 dev eth0 weight 3 realms 2/4 "
               "nexthop via 10.1.0.2 dev eth1 encap mpls 5",
        rules="from 10.1.0.0/24 to 10.2.0.0/16 tos 0x10 fwmark 0x5/0xff realms 3/4 sup_pl 0 sup_group 3 iif eth0 "
              "oif eth1 tunnel-id 42 uidrange 100-200 ipproto tcp sport 1000-2000 dport 80-81 table 1000 "
              "preference 100\n"
              "goto 300 preference 101\nl3mdev preference 102")
    for req in [*(route_request(r, IFINDEX) for r in routes), *(rule_request(r) for r in rules)]:
        assert [name for name, _ in decoded(req)["attrs"]] == [name for name, _ in req.attrs]


# -- rules --------------------------------------------------------------------------------------------------

def test_a_rule_with_every_selector() -> None:
    req = rule_request(rule("from 10.1.0.0/24 to 10.2.0.0/16 tos 0x10 fwmark 0x5/0xff realms 3/4 sup_pl 0 "
                            "sup_group 3 iif eth0 oif eth1 tunnel-id 42 uidrange 100-200 ipproto tcp "
                            "sport 1000-2000 dport 80-81 table 100 preference 100 not"))
    assert req.type == RTM_NEWRULE and req.flags == NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL
    assert dict(req.fields) == {"family": socket.AF_INET, "dst_len": 16, "src_len": 24, "tos": 0x10, "table": 100,
                                "action": 1, "flags": 2}
    assert req.attrs == (
        ("FRA_SRC", "10.1.0.0"), ("FRA_DST", "10.2.0.0"), ("FRA_PRIORITY", 100), ("FRA_FWMARK", 5),
        ("FRA_FWMASK", 0xFF), ("FRA_FLOW", 3 << 16 | 4), ("FRA_SUPPRESS_PREFIXLEN", 0), ("FRA_SUPPRESS_IFGROUP", 3),
        ("FRA_IIFNAME", "eth0"), ("FRA_OIFNAME", "eth1"), ("FRA_TUN_ID", 42), ("FRA_UID_RANGE", "100:200"),
        ("FRA_PROTOCOL", 18), ("FRA_IP_PROTO", 6), ("FRA_SPORT_RANGE", "1000:2000"), ("FRA_DPORT_RANGE", "80:81"),
    )
    back = attrs(decoded(req))
    assert back["FRA_TUN_ID"] == 42 and back["FRA_UID_RANGE"] == "100:200" and back["FRA_DPORT_RANGE"] == "80:81"


@pytest.mark.parametrize(("line", "action", "table", "extra"), [
    ("table 1000 preference 5", 1, 0, [("FRA_TABLE", 1000)]),
    ("lookup main preference 5", 1, 254, []),
    ("goto 300 preference 5", 2, 0, [("FRA_GOTO", 300)]),
    ("nop preference 5", 3, 0, []),
    ("type blackhole preference 5", 6, 0, []),
    ("unreachable preference 5", 7, 0, []),
    ("prohibit preference 5", 8, 0, []),
    ("l3mdev preference 5", 1, 0, [("FRA_L3MDEV", 1)]),
])
def test_rule_actions(line: str, action: int, table: int, extra: list[tuple[str, Any]]) -> None:
    req = rule_request(rule(line))
    assert (req.fields["action"], req.fields["table"]) == (action, table)
    assert [a for a in req.attrs if a[0] not in ("FRA_PRIORITY", "FRA_PROTOCOL")] == extra


def test_rule_protocol_is_keepalived_unless_no_track() -> None:
    assert ("FRA_PROTOCOL", 18) in rule_request(rule("protocol 3 table 5 preference 7")).attrs
    assert ("FRA_PROTOCOL", 3) in rule_request(rule("protocol 3 table 5 preference 7 no_track")).attrs
    assert not [a for a in rule_request(rule("table 5 preference 7 no_track")).attrs if a[0] == "FRA_PROTOCOL"]
    removal = rule_request(rule("inet6 x from 2001:db8::/64 table 5 preference 7"), add=False)
    assert removal.type == RTM_DELRULE and removal.flags == NLM_F_REQUEST | NLM_F_ACK


# -- applying them ------------------------------------------------------------------------------------------

class FakeNetlink:
    """Records requests; refuses those ``refuse`` names (by message type and first attribute value)."""

    def __init__(self, refuse: dict[tuple[int, Any], int] | None = None, missing: tuple[str, ...] = ()) -> None:
        self.sent: list[tuple[int, Any]] = []
        self.refuse = refuse or {}
        self.missing = missing

    async def ifindex(self, name: str) -> int:
        if name in self.missing:
            raise LookupError(f"no interface {name!r}")
        return IFINDEX[name]

    async def request(self, msg: Any, msg_type: int, flags: int) -> None:
        key = (msg_type, next(v for n, v in msg["attrs"] if n in ("RTA_DST", "FRA_PRIORITY")))
        self.sent.append(key)
        msg["header"].update(sequence_number=7, pid=42)
        if key in self.refuse:
            raise NetlinkError(self.refuse[key])


ROUTES, RULES = _instance(routes="10.50.0.0/24 dev eth0\n10.51.0.0/24 dev eth1\n10.52.0.0/24 dev eth0",
                          rules="table 5 preference 10\ntable 6 preference 11")


def test_routes_go_in_before_rules_and_rules_come_out_first() -> None:
    nl = FakeNetlink()
    added = asyncio.run(change_routes_rules(nl, "VI_1", ROUTES, RULES, add=True))  # type: ignore[arg-type]
    assert added == (ROUTES, RULES)
    assert [t for t, _ in nl.sent] == [RTM_NEWROUTE] * 3 + [RTM_NEWRULE] * 2
    nl.sent.clear()
    asyncio.run(change_routes_rules(nl, "VI_1", ROUTES, RULES, add=False))  # type: ignore[arg-type]
    assert nl.sent == [(RTM_DELRULE, 10), (RTM_DELRULE, 11), (RTM_DELROUTE, "10.50.0.0"),
                       (RTM_DELROUTE, "10.51.0.0"), (RTM_DELROUTE, "10.52.0.0")]


def test_refusals_are_logged_as_keepalived_logs_them_and_never_raise(caplog: pytest.LogCaptureFixture) -> None:
    nl = FakeNetlink(refuse={(RTM_NEWROUTE, "10.50.0.0"): errno.EOPNOTSUPP, (RTM_NEWROUTE, "10.51.0.0"): errno.EEXIST,
                             (RTM_NEWRULE, 10): errno.EEXIST, (RTM_NEWRULE, 11): errno.EINVAL},
                     missing=("eth1",))
    with caplog.at_level(logging.ERROR, "pykeepalived.vrrp"):
        routes, rules = asyncio.run(change_routes_rules(nl, "VI_1", ROUTES, RULES, add=True))  # type: ignore[arg-type]
    assert [r.dest for r in routes] == ["10.52.0.0/24"] and [r.preference for r in rules] == [10]  # EEXIST: there
    assert caplog.messages == [
        "Netlink: error: Operation not supported(95), type=RTM_NEWROUTE(24), seq=7, pid=42 - (VI_1) route 10.50.0.0/24",
        "(VI_1) cannot add route 10.51.0.0/24: no interface 'eth1'",
        "Netlink: error: Invalid argument(22), type=RTM_NEWRULE(32), seq=7, pid=42 - (VI_1) rule (preference 11)",
    ]


def test_what_is_already_gone_is_skipped_quietly(caplog: pytest.LogCaptureFixture) -> None:
    nl = FakeNetlink(refuse={(RTM_DELROUTE, "10.50.0.0"): errno.ESRCH, (RTM_DELRULE, 10): errno.ENOENT})
    with caplog.at_level(logging.ERROR, "pykeepalived.vrrp"):
        routes, rules = asyncio.run(change_routes_rules(nl, "VI_1", ROUTES, RULES, add=False))  # type: ignore[arg-type]
    assert [r.dest for r in routes] == ["10.51.0.0/24", "10.52.0.0/24"] and [r.preference for r in rules] == [11]
    assert caplog.messages == []


def test_the_vrrp_process_removes_only_what_it_set() -> None:
    """keepalived's ``set`` flag: a route the kernel refused is not removed (nor its refusal logged) again."""
    nl = FakeNetlink(refuse={(RTM_NEWROUTE, "10.50.0.0"): errno.EOPNOTSUPP})
    executor = Executor(KernelIO(nl), notifier=None)  # type: ignore[arg-type]
    asyncio.run(executor.routes_rules("VI_1", ROUTES, RULES, True))
    nl.sent.clear()
    asyncio.run(executor.routes_rules("VI_1", ROUTES, RULES, False))
    assert (RTM_DELROUTE, "10.50.0.0") not in nl.sent and len(nl.sent) == 4
    nl.sent.clear()
    asyncio.run(executor.routes_rules("VI_1", ROUTES, RULES, False))
    assert nl.sent == []


def test_a_replacement_is_ip_route_replace_and_its_einval_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    """keepalived's reload replaces a route by the new line of the same key; EINVAL (a source address not
    added yet) is expected there and not logged: the old route is removed and the new one added later."""
    route = ROUTES[0]
    assert route_request(route, IFINDEX, replace=True).flags == NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE
    appended = _instance(routes="10.50.0.0/24 dev eth0 append")[0][0]
    assert route_request(appended, IFINDEX, replace=True).flags & (NLM_F_APPEND | NLM_F_REPLACE) == NLM_F_REPLACE
    nl = FakeNetlink(refuse={(RTM_NEWROUTE, "10.50.0.0"): errno.EINVAL, (RTM_NEWROUTE, "10.51.0.0"): errno.ENETDOWN})
    with caplog.at_level(logging.ERROR, "pykeepalived.vrrp"):
        done, _ = asyncio.run(change_routes_rules(nl, "static", ROUTES, [], add=True, replace=True))  # type: ignore[arg-type]
    assert done == [ROUTES[2]]
    assert caplog.messages == ["Netlink: error: Network is down(100), type=RTM_NEWROUTE(24), seq=7, pid=42 - "
                               "(static) route 10.51.0.0/24"]


def test_routes_pair_by_keepalived_key_and_rules_by_every_selector() -> None:
    """``route_exist``: destination, tos, metric, table, scope, type, gateway, device and nexthops, nothing
    else; ``rule_is_equal``: everything the rule sends, in whatever order the line said it."""
    def routes(text: str) -> list[Route]:
        return _instance(routes=text)[0]

    same = routes("10.50.0.0/24 via 10.1.0.1 dev eth0\n"
                  "10.50.0.0/24 via 10.1.0.1 dev eth0 mtu 1400 src 10.1.0.5 protocol bird table main scope global")
    assert route_key(same[0]) == route_key(same[1])
    for other in ("10.50.0.0/24 via 10.1.0.2 dev eth0", "10.50.0.0/24 via 10.1.0.1 dev eth1",
                  "10.50.0.0/24 via 10.1.0.1 dev eth0 metric 5", "10.50.0.0/24 via 10.1.0.1 dev eth0 table 7",
                  "10.50.0.0/24 via 10.1.0.1 dev eth0 tos 0x10", "blackhole 10.50.0.0/24",
                  "10.50.0.0/24 via 10.1.0.1 dev eth0 scope link", "10.50.1.0/24 via 10.1.0.1 dev eth0",
                  "10.50.0.0/24 nexthop via 10.1.0.1 dev eth0 nexthop via 10.1.0.2 dev eth1"):
        assert route_key(routes(other)[0]) != route_key(same[0]), other
    rules = _instance(rules="from 10.1.0.0/16 table 5 preference 10\ntable 5 from 10.1.0.0/16 preference 10\n"
                            "from 10.1.0.0/16 table 6 preference 10\nfrom 10.1.0.0/16 table 5 preference 11")[1]
    assert rule_key(rules[0]) == rule_key(rules[1])
    assert len({rule_key(r) for r in rules}) == 3


def test_what_keepalived_leaves_out_is_said_when_adding(caplog: pytest.LogCaptureFixture) -> None:
    routes, _ = _instance(routes="10.55.0.0/24 nexthop via 10.1.0.1 dev eth0 encap mpls 5 "
                                 "nexthop via 10.1.0.2 dev eth1")
    with caplog.at_level(logging.WARNING, "pykeepalived.vrrp"):
        asyncio.run(change_routes_rules(FakeNetlink(), "VI_1", routes, [], add=True))  # type: ignore[arg-type]
        asyncio.run(change_routes_rules(FakeNetlink(), "VI_1", routes, [], add=False))  # type: ignore[arg-type]
    assert caplog.messages == [
        "(VI_1) route 10.55.0.0/24: nexthop encap not installed, as keepalived 2.2.7 leaves it out of its request"]
