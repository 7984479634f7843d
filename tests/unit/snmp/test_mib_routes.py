"""vrrpRouteTable and vrrpRouteNextHopTable built from the config (pure): every column keepalived 2.2.7 shows for
a route's metrics, realms and encapsulation, with its quirks; and the whole of both tables for
``snmp_routes_conf`` equal to keepalived's own walk (tests/data/snmp/keepalived-2.2.7-walk-routes.txt)."""

from __future__ import annotations

from pathlib import Path

from pykeepalived.lab.snmp import snmp_routes_conf
from pykeepalived.snmp import mib
from pykeepalived.snmp.agentx import OID, Counter64, Gauge32, Integer, OctetString, Value, VarType
from pykeepalived.status.snapshot import DaemonInfo, Snapshot, VrrpInstanceStatus
from tests.conftest import data_path
from tests.unit.snmp.test_traps import IFACES, config

ROUTE, HOP = (*mib.VRRP, 7, 1), (*mib.VRRP, 11, 1)


def masters(*names: str) -> Snapshot:
    info = DaemonInfo(pid=1, config_file="k.conf", dataplane="none", started_at=0.0)
    return Snapshot(daemon=info, taken_at=0.0, vrrp=tuple(
        VrrpInstanceStatus(name=n, interface="eth0", vrid=50 + i, state="MASTER", base_priority=100,
                           effective_priority=100) for i, n in enumerate(names, 1)))


def routes_view(*lines: str) -> dict[OID, Value]:
    """Instance 1's routes: {(column, route[, hop]): value} of both tables."""
    body = "\n".join(f"        {line}" for line in lines)
    cfg = config(f"vrrp_instance VI_R {{\n    interface eth0\n    virtual_router_id 51\n    priority 100\n"
                 f"    virtual_ipaddress {{\n        10.0.0.9\n    }}\n    virtual_routes {{\n{body}\n    }}\n}}\n")
    view = mib.build(cfg, masters("VI_R"), IFACES, started=0.0, rfcv2=False, rfcv3=False)
    out: dict[OID, Value] = {}
    for oid, value in zip(view.oids, view.values, strict=True):
        for base in (ROUTE, HOP):
            if oid[:len(base)] == base:
                col, inst, *rest = oid[len(base):]
                assert inst == 1
                out[(col, *rest)] = value
    return out


def test_metrics_and_their_locks() -> None:
    v = routes_view("10.1.0.0/24 dev eth0 mtu lock 1400 rtt 300ms rttvar 1.5s rto_min lock 1 cwnd 10 window 9"
                    " initcwnd 3 initrwnd 4 reordering lock 2 ssthresh 8 congctl lock reno tos 0x10"
                    " fastopen_no_cookie 0")
    assert v[(17, 1)] == Gauge32(16)
    assert (v[(22, 1)], v[(23, 1)]) == (Gauge32(1400), Integer(1))
    assert (v[(27, 1)], v[(28, 1)]) == (Gauge32(300), Integer(2))      # rtt in ms (keepalived keeps 1/8 ms)
    assert (v[(29, 1)], v[(30, 1)]) == (Gauge32(1500), Integer(2))     # rttvar in ms (kept in 1/4 ms)
    assert (v[(38, 1)], v[(39, 1)]) == (Gauge32(200), Integer(1))      # rto_min 1 clamped to 200 ms
    assert (v[(31, 1)], v[(32, 1)], v[(33, 1)]) == (Gauge32(2), Integer(1), Gauge32(9))
    assert (v[(34, 1)], v[(35, 1)], v[(36, 1)], v[(37, 1)]) == (Gauge32(10), Integer(2), Gauge32(8), Integer(2))
    assert (v[(40, 1)], v[(41, 1)], v[(42, 1)]) == (Gauge32(3), Gauge32(4), OctetString("reno"))
    assert v[(55, 1)] == Integer(2)
    for absent in (21, 24, 25, 26, 43, 44, 45, 46):
        assert (absent, 1) not in v


def test_advmss_is_shown_beside_hoplimit_only() -> None:
    v = routes_view("10.1.0.0/24 dev eth0 advmss lock 1200", "10.2.0.0/24 dev eth0 hoplimit 32",
                    "10.3.0.0/24 dev eth0 hoplimit 7 advmss 1300")
    assert (25, 1) not in v and v[(26, 1)] == Integer(1)                # advmss without hoplimit: its lock only
    assert (v[(24, 2)], v[(25, 2)]) == (Gauge32(32), Gauge32(0)) and (26, 2) not in v
    assert (v[(24, 3)], v[(25, 3)], v[(26, 3)]) == (Gauge32(7), Gauge32(1300), Integer(2))


def test_quickack_is_true_whenever_given_and_ecn() -> None:
    v = routes_view("10.1.0.0/24 dev eth0 quickack 0", "10.2.0.0/24 dev eth0 features ecn", "10.3.0.0/24 dev eth0")
    assert [v[(20, i)] for i in (1, 2, 3)] == [Integer(1), Integer(2), Integer(2)]
    assert [v[(19, i)] for i in (1, 2, 3)] == [Integer(2), Integer(1), Integer(2)]


def test_realms_to_then_from() -> None:
    v = routes_view("10.1.0.0/24 dev eth0 realms 3/5", "10.2.0.0/24 dev eth0 realms 7",
                    "10.3.0.0/24 dev eth0 realms 6/0", "10.4.0.0/24 dev eth0 realms 0/0")
    assert (v[(44, 1)], v[(45, 1)]) == (Gauge32(5), Gauge32(3))
    assert v[(44, 2)] == Gauge32(7) and (45, 2) not in v
    assert (v[(44, 3)], v[(45, 3)]) == (Gauge32(0), Gauge32(6))       # FROM/0: TO shown as 0
    assert (44, 4) not in v and (45, 4) not in v


def test_ipv6_expires_and_pref() -> None:
    v = routes_view("2001:db8:1::/64 dev eth0 expires 3000000000 pref high", "2001:db8:2::/64 dev eth0 pref 2",
                    "2001:db8:3::/64 dev eth0 pref medium", "2001:db8:4::/64 dev eth0 pref low")
    assert v[(21, 1)] == Integer(3000000000 - (1 << 32))                # an INTEGER column
    assert [v[(43, i)] for i in (1, 2, 3, 4)] == [Integer(3), Integer(0), Integer(2), Integer(1)]


def test_encapsulations() -> None:
    v = routes_view("10.1.0.0/24 dev eth0 encap mpls 100/200", "10.2.0.0/24 dev eth0 encap mpls 0x10",
                    "10.3.0.0/24 dev eth0 encap ip id 42 dst 10.0.0.100 src 10.0.0.3 tos AF11 ttl 9 flags 1",
                    "2001:db8::/64 dev eth0 encap ip6 dst 2001:db8::9 tc 16 hoplimit 7",
                    "2001:db8:1:0:2000::1/128 dev eth0 encap ila 2001:0:0:1")
    # MPLS label stack entries (network order, bottom-of-stack bit on the last) read as little-endian numbers
    assert (v[(46, 1)], v[(47, 1)]) == (Integer(2), OctetString("4195840/8457216"))
    assert v[(47, 2)] == OctetString(str(int.from_bytes((16 << 12 | 256).to_bytes(4, "big"), "little")))
    assert [v[(c, 3)] for c in (46, *range(48, 54))] == [
        Integer(3), Counter64(42), OctetString(bytes([10, 0, 0, 100])), OctetString(bytes([10, 0, 0, 3])),
        Gauge32(40), Gauge32(9), Gauge32(1)]
    assert (47, 3) not in v
    assert (v[(46, 4)], v[(51, 4)], v[(52, 4)]) == (Integer(5), Gauge32(16), Gauge32(7))
    assert (48, 4) not in v and (50, 4) not in v and (53, 4) not in v
    assert (v[(46, 5)], v[(54, 5)]) == (Integer(4), Counter64(72057594037928224))  # the locator's bytes, little-endian


def test_protocol_column_and_no_track() -> None:
    v = routes_view("10.1.0.0/24 dev eth0 no_track", "10.2.0.0/24 dev eth0 no_track protocol bird",
                    "10.3.0.0/24 via 10.0.0.1", "10.4.0.0/24 dev eth0")
    assert (18, 1) not in v                                             # no_track: keepalived sets no protocol
    assert [v[(18, i)] for i in (2, 3, 4)] == [Integer(13), Integer(19), Integer(19)]


def test_nexthops_show_realms_but_no_encapsulation() -> None:
    v = routes_view("10.1.0.0/24 nexthop via 10.0.0.100 dev eth0 weight 3 realms 2/4 encap mpls 300 "
                    "nexthop via 192.168.0.12 dev eth1 realms 9 encap ip id 7 dst 192.168.0.13 nexthop via 10.0.0.101 "
                    "dev eth0 onlink")
    assert v[(10, 1)] == Integer(2)
    hops = {k: val for k, val in v.items() if len(k) == 3}
    assert hops == {
        (2, 1, 1): Integer(1), (2, 1, 2): Integer(1), (2, 1, 3): Integer(1),
        (3, 1, 1): OctetString(bytes([10, 0, 0, 100])), (3, 1, 2): OctetString(bytes([192, 168, 0, 12])),
        (3, 1, 3): OctetString(bytes([10, 0, 0, 101])),
        (4, 1, 1): Integer(2), (4, 1, 2): Integer(3), (4, 1, 3): Integer(2),
        (5, 1, 1): OctetString("eth0"), (5, 1, 2): OctetString("eth1"), (5, 1, 3): OctetString("eth0"),
        (6, 1, 1): Gauge32(3),
        (7, 1, 1): Integer(2), (7, 1, 2): Integer(2), (7, 1, 3): Integer(1),
        (8, 1, 1): Gauge32(4), (8, 1, 2): Gauge32(9), (9, 1, 1): Gauge32(2),
    }


def snmpwalk_line(oid: OID, value: Value) -> str:
    """A variable as Debian's ``snmpwalk -On -Oe`` prints the types these tables use."""
    if value.type is VarType.OCTET_STRING:
        raw = value.value
        assert isinstance(raw, bytes)
        text = (f'STRING: "{raw.decode()}"' if all(32 <= c < 127 for c in raw)
                else "Hex-STRING: " + "".join(f"{c:02X} " for c in raw))
    else:
        kind = {VarType.INTEGER: "INTEGER", VarType.GAUGE32: "Gauge32", VarType.COUNTER64: "Counter64"}[value.type]
        text = f"{kind}: {value.value}"
    return "." + ".".join(map(str, oid)) + " = " + text


def test_both_tables_equal_keepalived_2_2_7_walk() -> None:
    cfg = config(snmp_routes_conf(Path("/run/ax")))
    view = mib.build(cfg, masters("VI_FRONT", "VI_GATEWAY", "VI_ROUTES"), IFACES, started=0.0,
                     rfcv2=False, rfcv3=False)
    ours = [snmpwalk_line(o, v).rstrip() for o, v in zip(view.oids, view.values, strict=True)
            if o[:len(ROUTE)] in (ROUTE, HOP)]
    prefixes = tuple("." + ".".join(map(str, t)) + "." for t in (ROUTE, HOP))
    reference = [ln.rstrip() for ln in data_path("snmp", "keepalived-2.2.7-walk-routes.txt").read_text().splitlines()
                 if ln.startswith(prefixes)]
    assert len(reference) > 200
    assert ours == reference
