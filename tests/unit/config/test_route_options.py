"""Route metrics, realms, encapsulations and nexthops read as keepalived 2.2.7's ``alloc_route`` and
``parse_nexthops`` read them (``config.route_options``), and what the config parser keeps of them."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

import pytest

from pykeepalived.config.errors import ErrClass
from pykeepalived.config.loader import load_config_text
from pykeepalived.config.model_vrrp import Route
from pykeepalived.config.render import render
from pykeepalived.config.route_options import (
    Encap,
    NextHop,
    RouteOptionParser,
    RouteOptions,
    get_addr64,
    get_realms,
    get_time_rtt,
    nexthop,
    parse_mpls,
    parse_nexthops,
    read_rt_file,
    read_unsigned,
    route_options,
)

NAMES = {"dsfield": {"AF11": 0x28, "default": 0}, "realms": {"cosmos": 0, "inr.ac": 1}}


def names(kind: str) -> Mapping[str, int]:
    return NAMES[kind]


def split(text: str) -> list[str]:
    return text.split()


def opts(text: str) -> RouteOptions:
    return route_options(tuple(text.split()), names)


def test_rt_files_are_read_as_keepalived_reads_them() -> None:
    text = "# comment\n0x0\tdefault\n0x28 AF11 # trailing\n300 toobig\n3 a b\n-1 neg\n010 octal\n0x28 again\n"
    assert read_rt_file(text) == {"default": 0, "AF11": 0x28, "octal": 8, "again": 0x28}


@pytest.mark.parametrize(("text", "value"), [
    ("300ms", 2400), ("1.5s", 12000), ("2sec", 16000), ("1secs", 8000), ("300msec", 2400),
    ("2000", 2000),          # no unit: the kernel's 1/8 ms as it is
    ("2", 1600),             # clamped to 200 ms
    ("200s", 960000),        # clamped to 120 s
])
def test_rtt_takes_units_and_clamps(text: str, value: int) -> None:
    assert get_time_rtt(text, 8)[0] == value


@pytest.mark.parametrize("text", ["1e3", "ms", "s", "5m", "5ks", "-5", "1x5"])
def test_bad_times_are_refused(text: str) -> None:
    assert get_time_rtt(text, 8)[0] is None


def test_too_many_decimal_places_round_and_are_reported() -> None:
    value, msgs = get_time_rtt("300.5ms", 1)
    assert value == 301
    assert (ErrClass.INVALID_NUMBER, "number '300.5' has too many decimal places") in msgs


def test_numbers_give_keepalived_messages() -> None:
    assert read_unsigned("12", 255) == (12, [])
    assert read_unsigned("lock", 255) == (None, [(ErrClass.INVALID_NUMBER, "invalid number 'lock'")])
    assert read_unsigned("-1", 255)[1] == [(ErrClass.INVALID_NUMBER, "negative number '-1'")]
    assert read_unsigned("256", 255)[1] == [(ErrClass.INVALID_NUMBER, "number '256' outside range [0, 255]")]
    assert read_unsigned("4294967296", 0xFFFFFFFF)[1] == [
        (ErrClass.INVALID_NUMBER, "number '4294967296' outside unsigned integer range")]


def test_realms_are_from_shifted_over_to() -> None:
    assert get_realms("3/5", names) == 3 << 16 | 5
    assert get_realms("7", names) == 7
    assert get_realms("inr.ac/0x10", names) == 1 << 16 | 16
    assert get_realms("256", names) is None
    assert get_realms("3/nope", names) is None


def test_mpls_labels_and_ila_locators() -> None:
    assert parse_mpls("100/200") == (100, 200)
    assert parse_mpls("0x10") == (16,)
    for bad in ("1/2/3", "1048576", "-1", "1,2", ""):
        assert parse_mpls(bad) is None
    assert get_addr64("2001:0:0:1") == bytes.fromhex("2001000000000001")
    for bad in ("2001:0:0", "2001:0:0:1:2", "10000:0:0:1", "g:0:0:1"):
        assert get_addr64(bad) is None


def test_every_metric_with_locks() -> None:
    o = opts("tos 0x10 mtu lock 1400 hoplimit 64 advmss 1360 rtt 300ms rttvar lock 1000 reordering lock 5 "
             "window 65535 cwnd lock 10 ssthresh 20 rto_min 250ms initcwnd 12 initrwnd 14 congctl lock reno "
             "quickack 0 fastopen_no_cookie 1 features ecn realms 3/5 onlink")
    assert o == RouteOptions(tos=16, mtu=1400, hoplimit=64, advmss=1360, rtt=2400, rttvar=1000, reordering=5,
                             window=65535, cwnd=10, ssthresh=20, rto_min=250, initcwnd=12, initrwnd=14,
                             congctl="reno", quickack=0, fastopen_no_cookie=True, ecn=True, realms=3 << 16 | 5,
                             onlink=True,
                             locked=frozenset({"mtu", "rttvar", "reordering", "cwnd", "congctl"}))
    assert opts("dsfield AF11 expires 60 pref high").tos == 0x28
    assert opts("pref low").pref == 3 and opts("pref medium").pref == 0 and opts("pref 2").pref == 2


def take_all(text: str, family: int | None = 4) -> tuple[list[tuple[ErrClass, str]], bool, int | None]:
    """Every option of ``text`` (messages, dropped, family)."""
    words, parser, i, msgs = text.split(), RouteOptionParser(names), 0, []
    while i < len(words):
        step = parser.take(words, i, family)
        assert step is not None and not step.missing, words[i]
        msgs += step.messages
        if step.drop:
            return msgs, True, family
        family, i = step.family, step.end
    return msgs, False, family


@pytest.mark.parametrize(("text", "message"), [
    ("hoplimit lock 5", "Invalid hoplimit lock specified for route"),       # hoplimit takes no lock
    ("mtu lock x", "Invalid MTU x specified for route"),
    ("tos 0x100", "TOS value 0x100 is invalid"),
    ("realms 300", "Invalid realms 300 for route"),
    ("rtt 1e3", "Invalid rtt 1e3 for route"),
    ("rto_min 5m", "Invalid rto_min value 5m specified for route"),
    ("quickack 2", "Invalid quickack value 2 specified for route"),
    ("expires 60", "expires is only valid for IPv6"),
    ("pref high", "pref is only valid for IPv6"),
    ("expires 60 pref 256", "Invalid pref value 256 specified for route"),
])
def test_bad_values_drop_the_route(text: str, message: str) -> None:
    msgs, dropped, _ = take_all(text, None if text.startswith("expires 60 pref") else 4)
    assert dropped and (ErrClass.GENERAL_ERROR, message) in msgs


def test_options_imply_a_family() -> None:
    assert take_all("expires 60 pref 1", None)[2] == 6
    assert take_all("realms 1", None)[2] == 4
    msgs, dropped, _ = take_all("realms 1", 6)
    assert dropped and msgs == [(ErrClass.GENERAL_ERROR, "realms are only valid for IPv4")]


def test_errors_that_keep_the_route() -> None:
    assert take_all("features sack") == ([(ErrClass.GENERAL_ERROR, "feature sack not supported")], False, 4)
    assert take_all("ttl-propagate on")[0] == [(ErrClass.GENERAL_ERROR, "ttl-propagate value on not recognised")]
    assert take_all("as to 10.0.0.1")[0] == [(ErrClass.GENERAL_ERROR, '"as to" for MPLS only - ignoring')]


def test_missing_parameters() -> None:
    parser = RouteOptionParser(names)
    for words in (["mtu"], ["mtu", "lock"], ["congctl", "lock"], ["as"]):
        step = parser.take(words, 0, 4)
        assert step is not None and step.missing and step.end == len(words)


def encap(text: str) -> tuple[Encap | None, int, list[tuple[ErrClass, str]]]:
    parser = RouteOptionParser(names)
    step = parser.take(text.split(), 0, 4)
    assert step is not None
    return parser.result().encap, step.end, list(step.messages)


def test_encapsulations() -> None:
    assert encap("encap mpls 100/200 dev eth0") == (Encap("mpls", labels=(100, 200)), 3, [])
    v4 = ipaddress.IPv4Address
    assert encap("encap ip id 42 dst 10.0.0.100 src 10.0.0.3 tos AF11 ttl 9 flags 1 dev eth0") == (
        Encap("ip", id=42, dst=v4("10.0.0.100"), src=v4("10.0.0.3"), tos=0x28, ttl=9, flags=1), 14, [])
    got = encap("encap ip6 id 9 dst 2001:db8::9 tc 0x10 hoplimit 7")[0]
    assert got == Encap("ip6", id=9, dst=ipaddress.IPv6Address("2001:db8::9"), tos=16, ttl=7)
    assert encap("encap ila 2001:0:0:1")[0] == Encap("ila", locator=bytes.fromhex("2001000000000001"))


def test_encapsulation_errors_as_keepalived_has_them() -> None:
    # an unknown type: keepalived goes on one word further than the type
    assert encap("encap gre 1.2.3.4 mtu 1400") == (None, 3, [(ErrClass.GENERAL_ERROR, "Unknown encap type - gre")])
    # a wrong address: the addresses are forgotten, the numbers stay, the route's words go on at "dst"
    got, end, msgs = encap("encap ip id 5 src 10.0.0.1 dst 2001::1")
    assert (got, end) == (Encap("ip", id=5), 6)
    assert msgs == [(ErrClass.GENERAL_ERROR, "IPv6 address 2001::1 not valid for ip encapsulation")]
    assert encap("encap ip ttl 3 dev eth0")[0::2] == (
        Encap("ip", ttl=3), [(ErrClass.GENERAL_ERROR, "address or id missing for ip encapsulation")])
    assert encap("encap ip6 tc x")[2] == [(ErrClass.GENERAL_ERROR, "tc value tc is invalid for ip6 encapsulation")]
    assert encap("encap mpls 1/2/3")[0::2] == (
        Encap("mpls"), [(ErrClass.GENERAL_ERROR, "invalid mpls address 1/2/3 for encapsulation")])


@pytest.mark.parametrize("text", ["encap mpls 7", "encap ip id 3 dst 10.1.1.1 tos 40", "encap ila 1:2:3:4",
                                  "encap ip6 dst 2001::1 hoplimit 3 flags 2", "encap mpls 1/2/3", "encap ip"])
def test_encap_words_read_back_alone(text: str) -> None:
    first = encap(text)[0]
    assert first is not None
    words = (*first.words(), "no_track", "nexthop", "via", "10.0.0.1")  # what a render puts after them
    parser = RouteOptionParser(names)
    step = parser.take(words, 0, 4)
    assert step is not None and step.end == len(first.words())
    assert parser.result().encap == first


def test_nexthops() -> None:
    words = split("10.0.0.0/24 nexthop via 10.0.0.1 dev eth0 weight 3 realms 2/4 encap mpls 300 "
                  "nexthop via inet 10.0.0.2 onlink encap ip id 7 dst 10.0.0.9")
    hops = parse_nexthops(words, 1, 4, names=names)
    assert hops.messages == () and hops.family == 4
    assert [w for w, _ in hops.hops] == [tuple(words[2:13]), tuple(words[14:])]
    assert hops.hops[0][1] == NextHop(via=ipaddress.IPv4Address("10.0.0.1"), dev="eth0", weight=3,
                                      realms=2 << 16 | 4, encap=Encap("mpls", labels=(300,)))
    assert nexthop(hops.hops[1][0], names) == hops.hops[1][1]
    assert hops.hops[1][1].onlink and hops.hops[1][1].encap == Encap("ip", id=7, dst=ipaddress.IPv4Address("10.0.0.9"))


def test_nexthop_errors_keep_the_hops_before() -> None:
    words = split("nexthop via 10.0.0.1 nexthop via 10.0.0.2 weight 0 nexthop via 10.0.0.3")
    hops = parse_nexthops(words, 0, 4)
    assert len(hops.hops) == 1 and hops.messages == ((ErrClass.GENERAL_ERROR, "Invalid weight 0 specified for route"),)
    hops = parse_nexthops(split("nexthop via 10.0.0.1 mtu 1400"), 0, 4)
    assert len(hops.hops) == 1
    assert hops.messages == ((ErrClass.GENERAL_ERROR, "Route has trailing nonsense after nexthops - mtu"),)
    assert parse_nexthops(split("nexthop via 2001::1"), 0, 4).messages == (
        (ErrClass.GENERAL_ERROR, "Address family mismatch for next hop"),)
    assert parse_nexthops(split("nexthop realms 1"), 0, 6).messages == (
        (ErrClass.GENERAL_ERROR, "realms are only supported for IPv4"),)
    assert parse_nexthops(split("nexthop dev eth0 via"), 0, 4).missing


def routes(body: str) -> tuple[tuple[Route, ...], list[str]]:
    text = (f"vrrp_instance V {{\n interface eth0\n virtual_router_id 1\n priority 100\n"
            f" virtual_ipaddress {{\n 10.0.0.9\n }}\n virtual_routes {{\n{body}\n }}\n}}\n")
    result = load_config_text(text, name="k.conf", config_id="n", interfaces=frozenset({"lo", "eth0", "eth1"}))
    assert result.config is not None
    return result.config.vrrp.instances[0].virtual_routes, [d.message for d in result.diagnostics]


def test_the_config_keeps_the_options_and_the_encapsulation_last() -> None:
    (r,), msgs = routes("10.1.0.0/24 dev eth0 encap ip dst 10.0.0.9 tos 0x10 mtu lock 1400 realms 3/5")
    assert msgs == []
    assert r.options == ("mtu", "lock", "1400", "realms", "3/5", "encap", "ip", "dst", "10.0.0.9", "tos", "16")
    assert route_options(r.options) == RouteOptions(mtu=1400, realms=3 << 16 | 5, locked=frozenset({"mtu"}),
                                                    encap=Encap("ip", dst=ipaddress.IPv4Address("10.0.0.9"),
                                                                tos=16))
    # the encapsulation's tos stays its own after a render and a read back
    text = render(load_config_text(
        "vrrp_instance V {\n interface eth0\n virtual_router_id 1\n priority 100\n virtual_routes {\n"
        "10.1.0.0/24 dev eth0 encap ip dst 10.0.0.9 dev eth0 tos 8\n }\n}\n", name="k.conf", config_id="n",
        interfaces=frozenset({"eth0"})).config)  # type: ignore[arg-type]
    (again,), _ = routes(text.split("virtual_routes {")[1].split("}")[0])
    assert route_options(again.options).tos == 8 and route_options(again.options).encap == Encap(
        "ip", dst=ipaddress.IPv4Address("10.0.0.9"))


def test_the_config_drops_routes_keepalived_drops() -> None:
    got, msgs = routes("10.1.0.0/24 dev eth0 hoplimit lock 5\n10.2.0.0/24 dev eth0 realms 1/2 expires 5\n"
                       "10.3.0.0/24 dev eth0 encap ip dst 2001::1 src 10.0.0.1")
    assert got == ()
    assert "Invalid hoplimit lock specified for route" in msgs and "invalid number 'lock'" in msgs
    assert "expires is only valid for IPv6" in msgs
    assert "unknown route keyword dst" in msgs  # keepalived goes on at the word the encapsulation refused


def test_no_track_and_protocol() -> None:
    got, _ = routes("10.1.0.0/24 dev eth0 no_track\n10.2.0.0/24 via 10.0.0.1\n10.3.0.0/24 dev eth0")
    assert [(r.no_track, r.protocol) for r in got] == [(True, None), (True, "keepalived"), (False, None)]
