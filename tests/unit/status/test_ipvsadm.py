"""The ipvsadm renderers against hand-written goldens.

Where the expected text comes from (ipvsadm 1.31 as Debian ships it; facts, not its code):

- list_all: ``"IP Virtual Server version %d.%d.%d (size=%d)\\n"`` then print_title.
- print_title (plain -Ln): ``"Prot LocalAddress:Port Scheduler Flags\\n"
  "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\\n"``;
  --stats / --rate: ``"%-33s %8s %8s %8s %8s %8s\\n  -> RemoteAddress:Port\\n"`` with
  Prot LocalAddress:Port, Conns InPkts OutPkts InBytes OutBytes (or CPS InPPS OutPPS InBPS OutBPS).
- service name: ``"%-4s %s"`` (protocol, numeric addr:port, IPv6 in brackets), cut at 33 chars for IPv4;
  fwmark: ``"FWM  %d"`` / ``"FWM  %d IPv6"``.
- service line (-Ln): ``"%s %s"`` (name, scheduler), then ``" ("`` flags ``")"`` if any scheduler flag
  bit is set, then ``" persistent %u"`` and ``" mask %s"`` (IPv4 dotted, unless /32) or ``" mask %i"``
  (IPv6 prefix, unless 128), then ``" ops"``.
- scheduler flag names: sh -> sh-fallback, sh-port; mh -> mh-fallback, mh-port (flag 3 unnamed for both);
  other schedulers -> flag-1, flag-2, flag-3; comma separated.
- destination line (-Ln): ``"  -> %-28s %-7s %-6d %-10u %-10u\\n"`` (so lines end in spaces); Forward is
  Masq / Route / Tunnel.
- --stats lines: ``"%-33s"`` / ``"  -> %-28s"`` then print_largenum for each of the five counters.
- --rate destination lines: ``"  -> %-28s %8llu %8llu %8llu"`` (cps, inpps, outpps, no suffix) then
  print_largenum(inbps), print_largenum(outbps); the service line uses print_largenum for all five.
- print_largenum: ``%9llu`` below 10^8, else ``%8lluK`` (/10^3) below 10^9, ``%8lluM`` (/10^6) below 10^11,
  ``%8lluG`` (/10^9) below 10^14, else ``%8lluT`` (/10^12); with --exact ``%*llu`` of width 9 when the
  number has at most 8 digits, else digits + 1.
- order: libipvs sorts services by fwmark, family, protocol, address, port and destinations by address,
  port, comparing by int subtraction of host-order 32-bit words (which wraps for differences >= 2^31).
"""

from __future__ import annotations

import pytest

from pykeepalived.lvs.model import Destination, DestKey, Forward, Service, ServiceKey
from pykeepalived.status import ipvsadm
from pykeepalived.status.ipvsadm import Mode, largenum, render, render_services, service_line
from pykeepalived.status.snapshot import (
    Counters,
    DestinationStatus,
    Rates,
    Snapshot,
    VirtualServiceStatus,
)

# The C formats, applied with Python's printf-style % (same semantics for these conversions), to check
# that the hand-written goldens below say what the formats say.
DEST_FMT = "  -> %-28s %-7s %-6d %-10u %-10u"
TITLE_STATS_FMT = "%-33s %8s %8s %8s %8s %8s"

HEADER = "IP Virtual Server version 1.2.1 (size=4096)"
LIST_TITLE = [
    "Prot LocalAddress:Port Scheduler Flags",
    "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn",
]


def lines(text: str) -> list[str]:
    assert text.endswith("\n")
    return text[:-1].split("\n")


# ------------------------------------------------------------------------------------ -Ln


SEED_LIST = [
    HEADER,
    *LIST_TITLE,
    "TCP  10.0.0.5:80 wlc persistent 50",
    "  -> 192.168.0.12:80              Masq    20     3          1         ",
    "  -> 192.168.0.13:80              Masq    8      0          2         ",
]


def test_seed_list(seed: Snapshot) -> None:
    assert lines(render(seed)) == SEED_LIST


def test_golden_dest_lines_match_ipvsadm_format() -> None:
    assert SEED_LIST[4] == DEST_FMT % ("192.168.0.12:80", "Masq", 20, 3, 1)
    assert SEED_LIST[5] == DEST_FMT % ("192.168.0.13:80", "Masq", 8, 0, 2)


def test_degraded_list_shows_the_data_plane_not_the_config(degraded: Snapshot) -> None:
    # the inhibited rs1 stays with weight 0, the down rs2 is absent, the sorry server is in
    assert lines(render(degraded)) == [
        HEADER,
        *LIST_TITLE,
        "TCP  10.0.0.5:80 wlc persistent 50",
        "  -> 192.168.0.12:80              Masq    0      0          4         ",
        "  -> 192.168.0.200:80             Masq    1      1          0         ",
    ]


def _vs(svc: Service, *status: DestinationStatus) -> VirtualServiceStatus:
    return VirtualServiceStatus(svc, tuple(status))


def test_service_variants() -> None:
    d = DestKey.of
    services = [
        # fwmark, DR and TUN
        _vs(Service(ServiceKey.mark(1), "wrr", destinations=(
            Destination(d("192.168.0.12", 0), 3, Forward.DR),
            Destination(d("192.168.0.13", 0), 1, Forward.TUN),
        ))),
        # IPv6, persistence granularity as a prefix
        _vs(Service(ServiceKey.inet("tcp", "2001:db8::5", 443), "rr", frozenset(), 300, 64, (
            Destination(d("2001:db8:1::12", 443), 1),
        ))),
        # sh with its named flags, IPv4 granularity printed as a dotted mask
        _vs(Service(ServiceKey.inet("tcp", "10.0.0.5", 8080), "sh", frozenset({"sh-port", "sh-fallback"}),
                    60, 24)),
        # one-packet scheduling on UDP; generic flag names on a scheduler without its own words
        _vs(Service(ServiceKey.inet("udp", "10.0.0.5", 53), "rr", frozenset({"ops", "flag-3"}))),
        _vs(Service(ServiceKey.inet("sctp", "10.0.0.5", 3868), "mh", frozenset({"mh-port"}))),
        _vs(Service(ServiceKey.mark(7, family=6), "lc")),
    ]  # fmt: skip
    assert lines(render_services(services)) == [
        HEADER,
        *LIST_TITLE,
        "TCP  10.0.0.5:8080 sh (sh-fallback,sh-port) persistent 60 mask 255.255.255.0",
        "UDP  10.0.0.5:53 rr (flag-3) ops",
        "SCTP 10.0.0.5:3868 mh (mh-port)",
        "TCP  [2001:db8::5]:443 rr persistent 300 mask 64",
        "  -> [2001:db8:1::12]:443         Masq    1      0          0         ",
        "FWM  1 wrr",
        "  -> 192.168.0.12:0               Route   3      0          0         ",
        "  -> 192.168.0.13:0               Tunnel  1      0          0         ",
        "FWM  7 IPv6 lc",
    ]


@pytest.mark.parametrize(
    ("sched", "flags", "persist", "mask", "family", "expected"),
    [
        ("wlc", set(), 0, None, 4, "wlc"),
        ("wlc", set(), 50, 32, 4, "wlc persistent 50"),  # /32 is the whole address: no mask printed
        ("wlc", set(), 50, 16, 4, "wlc persistent 50 mask 255.255.0.0"),
        ("wlc", set(), 50, 128, 6, "wlc persistent 50"),
        ("wlc", set(), 50, 48, 6, "wlc persistent 50 mask 48"),
        ("wlc", set(), 0, 24, 4, "wlc"),  # granularity only matters when persistent
        ("sh", {"flag-3"}, 0, None, 4, "sh ()"),  # a set bit sh has no word for: empty parentheses
        ("sh", {"flag-1", "flag-2"}, 0, None, 4, "sh (sh-fallback,sh-port)"),
        ("mh", {"mh-fallback"}, 0, None, 4, "mh (mh-fallback)"),
        ("wrr", {"flag-1", "flag-2", "flag-3"}, 0, None, 4, "wrr (flag-1,flag-2,flag-3)"),
        ("wrr", {"hashed"}, 0, None, 4, "wrr"),  # keepalived's service flag, not an ipvsadm word
        ("rr", {"ops"}, 10, None, 4, "rr persistent 10 ops"),
    ],
)
def test_service_line(sched: str, flags: set[str], persist: int, mask: int | None, family: int,
                      expected: str) -> None:
    addr = "10.0.0.5" if family == 4 else "2001:db8::5"
    svc = Service(ServiceKey.inet("tcp", addr, 80), sched, frozenset(flags), persist, mask)
    name = "TCP  10.0.0.5:80" if family == 4 else "TCP  [2001:db8::5]:80"
    assert service_line(svc) == f"{name} {expected}"


def test_sort_order_follows_libipvs_including_its_wraparound() -> None:
    d = DestKey.of
    svc_a = Service(ServiceKey.inet("tcp", "10.0.0.5", 80), "rr", destinations=(
        Destination(d("10.1.0.2", 80), 1), Destination(d("10.1.0.1", 81), 1),
        Destination(d("10.1.0.1", 80), 1), Destination(d("200.0.0.1", 80), 1),
    ))  # fmt: skip
    services = [
        _vs(Service(ServiceKey.mark(2), "rr")),
        _vs(Service(ServiceKey.mark(1), "rr")),
        _vs(Service(ServiceKey.inet("udp", "10.0.0.5", 53), "rr")),
        _vs(svc_a),
        _vs(Service(ServiceKey.inet("tcp", "10.0.0.5", 22), "rr")),
        _vs(Service(ServiceKey.inet("tcp", "192.168.0.1", 80), "rr")),
        _vs(Service(ServiceKey.inet("tcp", "2001:db8::1", 80), "rr")),
    ]
    got = [line for line in lines(render_services(services))[3:]]
    assert got == [
        # fwmark 0 first; AF_INET (2) before AF_INET6 (10); TCP (6) before UDP (17); then address:
        # 0xC0A80001 - 0x0A000005 >= 2^31 wraps negative, so 192.168.0.1 sorts before 10.0.0.5
        "TCP  192.168.0.1:80 rr",
        "TCP  10.0.0.5:22 rr",
        "TCP  10.0.0.5:80 rr",
        "  -> 200.0.0.1:80                 Masq    1      0          0         ",  # wraps as well
        "  -> 10.1.0.1:80                  Masq    1      0          0         ",
        "  -> 10.1.0.1:81                  Masq    1      0          0         ",
        "  -> 10.1.0.2:80                  Masq    1      0          0         ",
        "UDP  10.0.0.5:53 rr",
        "TCP  [2001:db8::1]:80 rr",
        "FWM  1 rr",
        "FWM  2 rr",
    ]


# ------------------------------------------------------------------------------------ numbers


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "        0"),
        (99_999_999, " 99999999"),
        (100_000_000, "  100000K"),
        (999_999_999, "  999999K"),
        (1_000_000_000, "    1000M"),
        (99_999_999_999, "   99999M"),
        (100_000_000_000, "     100G"),
        (99_999_999_999_999, "   99999G"),
        (100_000_000_000_000, "     100T"),
        (123_456_789_012_345_678, "  123456T"),
    ],
)
def test_largenum(n: int, text: str) -> None:
    assert largenum(n) == text
    assert len(text) == 9


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "        0"),
        (12_345_678, " 12345678"),  # 8 digits: width 9
        (123_456_789, " 123456789"),  # 9 digits: width 10
        (1_234_567_890_123, " 1234567890123"),
    ],
)
def test_largenum_exact(n: int, text: str) -> None:
    assert largenum(n, exact=True) == text


# ------------------------------------------------------------------------------------ --stats / --rate


def test_seed_stats(seed: Snapshot) -> None:
    assert lines(render(seed, Mode.STATS)) == [
        HEADER,
        "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes",
        "  -> RemoteAddress:Port",
        # the service line is the sum of its destinations when the data plane has no service counters
        "TCP  10.0.0.5:80                       168     6300     6050   434000  7280000",
        "  -> 192.168.0.12:80                   120     4500     4300   310000  5200000",
        "  -> 192.168.0.13:80                    48     1800     1750   124000  2080000",
    ]


def test_golden_stats_lines_match_ipvsadm_format() -> None:
    title = TITLE_STATS_FMT % ("Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
    assert title == "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes"
    # printf-style on purpose: these are ipvsadm's own conversions
    row = "%-33s" % "TCP  10.0.0.5:80"  # noqa: UP031
    row += "".join("%9u" % n for n in (168, 6300, 6050, 434000, 7280000))  # noqa: UP031
    assert row == "TCP  10.0.0.5:80                       168     6300     6050   434000  7280000"


def _big_snapshot(seed: Snapshot) -> Snapshot:
    vs = seed.virtual_services[0]
    big = Counters(123_456_789, 2_000_000_000, 99_999_999, 150_000_000_000, 123_456_789_012_345)
    rates = Rates(123_456_789, 5, 6, 987_654_321, 7)
    vs = VirtualServiceStatus(vs.service, vs.destinations, vs.quorum, big, rates, None, None)
    return Snapshot(seed.daemon, seed.taken_at, seed.vrrp, (vs,))


def test_stats_suffixes_and_exact(seed: Snapshot) -> None:
    snap = _big_snapshot(seed)
    assert lines(render(snap, Mode.STATS))[3] == (
        "TCP  10.0.0.5:80                 "  # %-33s
        "  123456K    2000M 99999999     150G     123T"
    )
    assert lines(render(snap, Mode.STATS, exact=True))[3] == (
        "TCP  10.0.0.5:80                 "  # %-33s
        " 123456789 2000000000 99999999 150000000000 123456789012345"
    )


def test_seed_rate(seed: Snapshot) -> None:
    assert lines(render(seed, Mode.RATE)) == [
        HEADER,
        "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS",
        "  -> RemoteAddress:Port",
        "TCP  10.0.0.5:80                         3       55       52     3800    63000",
        "  -> 192.168.0.12:80                     2       40       38     2700    45000",
        "  -> 192.168.0.13:80                     1       15       14     1100    18000",
    ]


def test_rate_destination_packet_rates_have_no_suffix(seed: Snapshot) -> None:
    vs = seed.virtual_services[0]
    rs1 = vs.destinations[0]
    fast = DestinationStatus(rs1.key, rs1.weight, rs1.health, rates=Rates(123_456_789, 1, 2, 300_000_000, 4))
    vs = VirtualServiceStatus(vs.service, (fast,), vs.quorum)
    text = lines(render_services([vs], Mode.RATE))
    # cps/inpps/outpps: "%8llu" (here 9 digits overflow the width); inbps: print_largenum -> K
    assert text[4] == "  -> 192.168.0.12:80              123456789        1        2  300000K        4"
    fmt = "  -> %-28s %8u %8u %8u"
    assert text[4] == fmt % ("192.168.0.12:80", 123_456_789, 1, 2) + "  300000K" + "        4"
    # the service line uses print_largenum for all five
    assert text[3] == "TCP  10.0.0.5:80                   123456K        1        2  300000K        4"


def test_empty_table() -> None:
    assert lines(render_services([])) == [HEADER, *LIST_TITLE]
    assert ipvsadm.header("1.2.1", 1048576) == "IP Virtual Server version 1.2.1 (size=1048576)"
