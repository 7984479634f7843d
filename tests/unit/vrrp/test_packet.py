"""vrrp.packet against keepalived 2.2.7's own bytes, plus property tests and one test per drop reason."""

from __future__ import annotations

import dataclasses
import ipaddress
import random
import shutil
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pykeepalived.vrrp import packet as P
from pykeepalived.vrrp.packet import (
    AUTH_AH,
    AUTH_NONE,
    AUTH_PASS,
    VRRP_GROUP4,
    VRRP_GROUP6,
    Advert,
    DropCounters,
    DropReason,
    Expectation,
    Received,
    Rejected,
    UnicastPeer,
    build_garp,
    build_unsolicited_na,
    decode_ipv4,
    decode_payload,
    encode_ipv4,
    encode_payload,
    internet_checksum,
    validate,
)
from tests.conftest import data_path
from tests.unit.vrrp.pcap import ETHERTYPE_ARP, ETHERTYPE_IPV4, LINKTYPE_ETHERNET, read_pcap

A4 = ipaddress.IPv4Address
A6 = ipaddress.IPv6Address


def capture(name: str) -> Path:
    return data_path("keepalived-2.2.7-captures", name)


def vrrp_packets(name: str) -> list[bytes]:
    out = []
    for rec in read_pcap(capture(name)):
        etype, l3 = rec.l3()
        if etype == ETHERTYPE_IPV4 and l3[9] == P.IPPROTO_VRRP:
            out.append(l3)
    return out


# keepalived 2.2.7's adverts as tcpdump captured them, verbatim: v2 VRID 42 priority 100, two VIPs, PASS
# "secret12345" (sent as "secret12"); v3 VRID 42 priority 100, one VIP, 1 s; both from 10.50.0.2
HEX_V2 = ("45c0 002c 0001 0000 ff70 d05a 0a32 0002 e000 0012"
          "212a 6402 0101 f726 0a32 0064 0a32 0065 7365 6372 6574 3132")
HEX_V3 = "45c0 0020 0001 0000 ff70 d066 0a32 0002 e000 0012 312a 6401 0064 7517 0a32 0064"


def h(s: str) -> bytes:
    return bytes.fromhex(s.replace(" ", ""))


EXP_CAP2 = Expectation(vrid=42, version=2, auth_type=AUTH_PASS, auth_pass="secret12345", adver_int=1,
                       vips=(A4("10.50.0.100"), A4("10.50.0.101")))
EXP_TIE = Expectation(vrid=42, version=3, adver_int=1, vips=(A4("10.50.0.100"),))


def reencode(a: Advert) -> bytes:
    assert a.src is not None and a.dst is not None and a.ip_id is not None and a.ttl is not None
    pd = VRRP_GROUP4 if a.legacy_unicast_checksum else None
    return encode_ipv4(a, a.src, a.dst, a.ip_id, a.ttl, pseudo_dst=pd)


# --- keepalived's bytes ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "count", "exp"),
                         [("cap2.pcap", 15, EXP_CAP2), ("captie.pcap", 12, EXP_TIE)])
def test_every_captured_advert_decodes_and_reencodes_byte_for_byte(name: str, count: int,
                                                                   exp: Expectation) -> None:
    pkts = vrrp_packets(name)
    assert len(pkts) == count
    for raw in pkts:
        adv = decode_ipv4(raw)
        assert isinstance(adv, Advert), adv
        assert reencode(adv) == raw
        assert validate(adv, exp) == adv
        assert validate(Received(raw), exp) == adv


def test_captures_are_ethernet_to_the_vrrp_group_mac() -> None:
    for name in ("cap2.pcap", "captie.pcap"):
        for rec in read_pcap(capture(name)):
            assert rec.linktype == LINKTYPE_ETHERNET
            if rec.l3()[0] == ETHERTYPE_IPV4:
                assert rec.data[:6] == bytes.fromhex("01005e000012")


def test_cap2_fields_match_the_experiment() -> None:
    ads = [decode_ipv4(p) for p in vrrp_packets("cap2.pcap")]
    assert all(isinstance(a, Advert) for a in ads)
    seen = [(str(a.src), a.priority, a.ip_id) for a in ads if isinstance(a, Advert)]
    # B (10.50.0.2) master at 100, A (10.50.0.1) takes over at 150, A stops (prio 0), B again, B stops.
    assert seen[0] == ("10.50.0.2", 100, 1)
    assert ("10.50.0.1", 150, 1) in seen and ("10.50.0.1", 0, 5) in seen and seen[-1] == ("10.50.0.2", 0, 10)
    a = ads[0]
    assert isinstance(a, Advert)
    assert (a.version, a.vrid, a.auth_type, a.auth_data, a.adver_int) == (2, 42, AUTH_PASS, b"secret12", 1.0)
    assert a.addresses == (A4("10.50.0.100"), A4("10.50.0.101"))


def test_captie_equal_priority_checksums_differ_by_source() -> None:
    by_src = {}
    for p in vrrp_packets("captie.pcap"):
        a = decode_ipv4(p)
        assert isinstance(a, Advert) and a.version == 3 and a.adver_int == 1.0
        if a.priority:
            by_src[str(a.src)] = a.checksum
    assert by_src == {"10.50.0.2": 0x7517, "10.50.0.1": 0x7518}


def test_reference_hex_examples() -> None:
    v2 = Advert.build(version=2, vrid=42, priority=100, addresses=["10.50.0.100", "10.50.0.101"],
                      auth_type=AUTH_PASS, auth_pass="secret12345")
    assert encode_ipv4(v2, "10.50.0.2", VRRP_GROUP4, 1) == h(HEX_V2)
    assert encode_payload(dataclasses.replace(v2, priority=150))[6:8] == h("c526")
    assert encode_payload(dataclasses.replace(v2, priority=0))[:8] == h("212a 0002 0101 5b27")
    v3 = Advert.build(version=3, vrid=42, priority=100, addresses=["10.50.0.100"])
    assert encode_ipv4(v3, "10.50.0.2", "224.0.0.18", 1) == h(HEX_V3)
    assert encode_payload(v3, "10.50.0.1", "224.0.0.18")[6:8] == h("7518")


def test_garps_in_capture_are_what_build_garp_makes() -> None:
    n = 0
    for rec in read_pcap(capture("cap2.pcap")):
        if rec.l3()[0] == ETHERTYPE_ARP:
            frame = rec.data
            mac, vip = frame[6:12], A4(frame[38:42])
            assert build_garp(mac, vip) == frame
            assert build_garp(mac.hex(":"), str(vip)) == frame
            n += 1
    assert n == 6  # two VIPs, three times master


def test_garp_layout() -> None:
    f = build_garp("0a:71:a1:dd:e8:b4", "10.50.0.100")
    assert f == h("ffff ffff ffff 0a71 a1dd e8b4 0806 0001 0800 0604 0001 0a71 a1dd e8b4 0a32 0064"
                  "ffff ffff ffff 0a32 0064")


def test_unsolicited_na_layout() -> None:
    mac = bytes.fromhex("528404 44bccd")
    vip = A6("fd99::100")
    f = build_unsolicited_na(mac, vip)
    assert len(f) == 14 + 40 + 32
    assert f[:14] == h("3333 0000 0001") + mac + h("86dd")
    ip6 = f[14:54]
    assert struct.unpack("!IHBB", ip6[:8]) == (6 << 28, 32, 58, 255)
    assert ip6[8:24] == vip.packed and ip6[24:40] == A6("ff02::1").packed
    icmp = f[54:]
    assert icmp[0:2] == bytes((136, 0)) and icmp[4:8] == h("2000 0000")
    assert icmp[8:24] == vip.packed and icmp[24:26] == bytes((2, 1)) and icmp[26:] == mac
    pseudo = ip6[8:40] + struct.pack("!I3xB", len(icmp), 58)
    assert internet_checksum(pseudo, icmp) == 0
    r = build_unsolicited_na(mac, vip, router=True)
    assert r[54 + 4] == 0xA0 and internet_checksum(pseudo, r[54:]) == 0


def _pcap_file(path: Path, frames: list[bytes]) -> None:
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    for fr in frames:
        out += struct.pack("<IIII", 0, 0, len(fr), len(fr)) + fr
    path.write_bytes(out)


@pytest.mark.skipif(shutil.which("tcpdump") is None, reason="tcpdump not installed")
def test_tcpdump_agrees_on_garp_na_and_ipv6_vrrp(tmp_path: Path) -> None:
    mac = "52:84:04:44:bc:cd"
    src6, vip6 = A6("fe80::5084:4ff:fe44:bccd"), A6("fd99::100")
    adv6 = Advert.build(version=3, vrid=7, priority=150, addresses=[vip6])
    pay = encode_payload(adv6, src6, VRRP_GROUP6)
    ip6 = struct.pack("!IHBB", 6 << 28 | 0xC0 << 20, len(pay), 112, 255) + src6.packed + VRRP_GROUP6.packed
    vr6 = h("3333 0000 0012") + bytes.fromhex(mac.replace(":", "")) + h("86dd") + ip6 + pay
    f = tmp_path / "x.pcap"
    _pcap_file(f, [build_garp(mac, "10.99.0.100"), build_unsolicited_na(mac, vip6), vr6])
    out = subprocess.run(["tcpdump", "-nn", "-v", "-r", str(f)], capture_output=True, text=True,
                         check=True, timeout=20).stdout
    assert "Request who-has 10.99.0.100 (ff:ff:ff:ff:ff:ff) tell 10.99.0.100" in out
    assert "fd99::100 > ff02::1: [icmp6 sum ok] ICMP6, neighbor advertisement" in out
    assert "tgt is fd99::100" in out
    assert "Flags [override]" in out and "destination link-address option" in out
    assert "VRRPv3, Advertisement, vrid 7, prio 150, intvl 100cs" in out and "fd99::100" in out


# --- encoder details ------------------------------------------------------------------------------


def test_password_truncated_and_nul_padded() -> None:
    assert P.auth_data_for("secret12345") == b"secret12"
    assert P.auth_data_for("ab") == b"ab\0\0\0\0\0\0"
    a = Advert.build(version=2, vrid=1, priority=100, addresses=["192.0.2.1"])
    assert a.auth_data == bytes(8) and encode_payload(a)[-8:] == bytes(8)
    assert Advert.build(version=2, vrid=1, priority=1, addresses=["2001:db8::1"]).auth_data == b""


def test_v3_interval_centiseconds_and_ip_header() -> None:
    a = Advert.build(version=3, vrid=9, priority=200, addresses=["192.0.2.1"], adver_int=0.35)
    pkt = encode_ipv4(a, "192.0.2.10", "192.0.2.11", 0xFFFF, ttl=64)
    assert pkt[:2] == h("45c0") and pkt[6:8] == h("0000") and pkt[8] == 64 and pkt[9] == 112
    assert pkt[4:6] == h("ffff") and internet_checksum(pkt[:20]) == 0
    assert pkt[20:22] == h("3109") and pkt[24:26] == (35).to_bytes(2, "big")
    d = decode_ipv4(pkt, unicast=True)
    assert isinstance(d, Advert) and d.adver_int == 0.35


def test_interval_truncated_like_keepalived() -> None:
    assert Advert.build(version=3, vrid=1, priority=1, adver_int=0.355).interval_units == 35
    assert Advert.build(version=3, vrid=1, priority=1, adver_int=0.29).interval_units == 29
    assert Advert.build(version=3, vrid=1, priority=1, adver_int=40.95).interval_units == 4095
    assert Advert.build(version=2, vrid=1, priority=1, adver_int=3).interval_units == 3


def test_bad_family_is_a_caller_error() -> None:
    with pytest.raises(ValueError):
        decode_payload(V3[20:], None, None, None, 5)


def test_encoder_refuses_what_keepalived_cannot_send() -> None:
    with pytest.raises(ValueError):
        Advert.build(version=3, vrid=1, priority=1, auth_type=AUTH_PASS, auth_pass="x")
    with pytest.raises(ValueError):
        Advert.build(version=2, vrid=1, priority=1, auth_type=AUTH_AH, auth_pass="x")
    with pytest.raises(ValueError):
        Advert.build(version=3, vrid=1, priority=1, addresses=["192.0.2.1", "2001:db8::1"])
    with pytest.raises(ValueError):
        encode_payload(Advert.build(version=3, vrid=1, priority=1, addresses=["192.0.2.1"]))
    with pytest.raises(ValueError):
        build_garp("00:11", "192.0.2.1")


def test_vmac() -> None:
    assert P.vmac(42) == h("00005e00012a") and P.vmac(42, 6) == h("00005e00022a")


# --- padding and legacy unicast checksum ----------------------------------------------------------


def test_ethernet_padding_is_tolerated() -> None:
    raw = h(HEX_V3)  # 32 bytes; an Ethernet frame pads it to 46
    assert isinstance(decode_ipv4(raw + bytes(14)), Advert)
    assert isinstance(validate(Received(raw + bytes(14)), EXP_TIE), Advert)
    assert decode_ipv4(raw + bytes(13)).reason is DropReason.TOO_LONG  # type: ignore[union-attr]
    v2 = h(HEX_V2)  # 44 bytes: padded by 2
    assert isinstance(decode_ipv4(v2 + bytes(2)), Advert)


def test_legacy_unicast_v3_checksum_is_accepted_and_flagged() -> None:
    a = Advert.build(version=3, vrid=5, priority=90, addresses=["192.0.2.1"])
    old = encode_ipv4(a, "192.0.2.10", "192.0.2.11", 3, pseudo_dst=VRRP_GROUP4)
    d = decode_ipv4(old, unicast=True)
    assert isinstance(d, Advert) and d.legacy_unicast_checksum and reencode(d) == old
    exp = Expectation(vrid=5, version=3, vips=(A4("192.0.2.1"),), unicast=True)
    assert isinstance(validate(Received(old), exp), Advert)
    multi = Expectation(vrid=5, version=3, vips=(A4("192.0.2.1"),))
    assert validate(Received(old), multi).reason is DropReason.BAD_CHECKSUM  # type: ignore[union-attr]


# --- one test per drop reason ---------------------------------------------------------------------

V2 = h(HEX_V2)
V3 = h(HEX_V3)


def patch(raw: bytes, at: int, new: bytes, fix_csum: bool = True) -> bytes:
    """Change bytes of an IPv4 VRRP packet and (optionally) fix the VRRP checksum again."""
    b = bytearray(raw)
    b[at:at + len(new)] = new
    if fix_csum:
        b[26:28] = b"\0\0"
        vrrp = bytes(b[20:])
        if b[20] >> 4 == 3:
            c = internet_checksum(bytes(b[12:20]) + struct.pack("!BBH", 0, 112, len(vrrp)), vrrp)
        else:
            c = internet_checksum(vrrp)
        b[26:28] = c.to_bytes(2, "big")
    return bytes(b)


def tot(raw: bytes, n: int) -> bytes:
    return raw[:2] + n.to_bytes(2, "big") + raw[4:]


def ipv6_payload(adv: Advert, src: str = "fe80::1") -> bytes:
    return encode_payload(adv, A6(src), VRRP_GROUP6)


def _ah_packet() -> bytes:
    ah = bytes((112, 4, 0, 0)) + A4("10.50.0.2").packed + (1).to_bytes(4, "big") + bytes(12)
    body = ah + V2[20:]
    hdr = P.ipv4_header("10.50.0.2", VRRP_GROUP4, len(body), 1, proto=51)
    return hdr + body


CASES: dict[DropReason, Callable[[], Advert | Rejected]] = {
    DropReason.TRUNCATED: lambda: decode_ipv4(V2[:27]),
    DropReason.BAD_IP_HEADER: lambda: decode_ipv4(b"\x60" + V2[1:]),
    DropReason.NOT_VRRP: lambda: decode_ipv4(V2[:9] + b"\x11" + V2[10:]),
    DropReason.UNKNOWN_VRID: lambda: validate(decode_ipv4(V2), dataclasses.replace(EXP_CAP2, vrid=43)),  # type: ignore[arg-type]
    DropReason.AH_UNSUPPORTED: lambda: decode_ipv4(_ah_packet()),
    DropReason.TOO_SHORT: lambda: decode_ipv4(V2[:-1]),
    DropReason.TOO_LONG: lambda: decode_ipv4(V2 + b"\0"),
    DropReason.BAD_TTL: lambda: decode_ipv4(V2[:8] + b"\x40" + V2[9:]),
    DropReason.VERSION_MISMATCH: lambda: validate(Received(V3), EXP_CAP2),
    DropReason.AUTH_TYPE_INVALID: lambda: decode_ipv4(patch(V2, 24, b"\x03")),
    DropReason.AUTH_TYPE_MISMATCH: lambda: validate(Received(patch(V2, 24, b"\x00")), EXP_CAP2),
    DropReason.AUTH_FAILURE: lambda: validate(Received(patch(V2, 36, b"secret13")), EXP_CAP2),
    DropReason.INTERVAL_MISMATCH: lambda: validate(Received(patch(V2, 25, b"\x02")), EXP_CAP2),
    DropReason.BAD_TYPE: lambda: decode_ipv4(patch(V2, 20, b"\x22")),
    DropReason.BAD_TOTAL_LENGTH: lambda: decode_ipv4(tot(V2, 45)),
    DropReason.BAD_CHECKSUM: lambda: decode_ipv4(patch(V2, 26, b"\x00\x00", fix_csum=False)),
    DropReason.CAST_MISMATCH: lambda: validate(Received(V2), dataclasses.replace(EXP_CAP2, unicast=True)),
    DropReason.ADDR_COUNT_MISMATCH: lambda: validate(Received(V3), dataclasses.replace(EXP_TIE, vips=())),
    DropReason.ADDR_LIST_MISMATCH: lambda: validate(
        Received(V3), dataclasses.replace(EXP_TIE, vips=(A4("10.50.0.99"),))),
    DropReason.UNKNOWN_UNICAST_SOURCE: lambda: validate(
        decode_ipv4(encode_ipv4(Advert.build(version=3, vrid=42, priority=1, addresses=["10.50.0.100"]),
                                "10.50.0.9", "10.50.0.1", 1), unicast=True),  # type: ignore[arg-type]
        dataclasses.replace(EXP_TIE, unicast=True, check_unicast_src=True,
                            unicast_peers=(UnicastPeer(A4("10.50.0.2")),))),
    DropReason.UNICAST_TTL_RANGE: lambda: validate(
        Received(encode_ipv4(Advert.build(version=3, vrid=42, priority=1, addresses=["10.50.0.100"]),
                             "10.50.0.2", "10.50.0.1", 1, ttl=60)),
        dataclasses.replace(EXP_TIE, unicast=True, check_unicast_src=True,
                            unicast_peers=(UnicastPeer(A4("10.50.0.2"), min_ttl=64),))),
}


def test_every_drop_reason_has_a_test() -> None:
    assert set(CASES) == set(DropReason)


@pytest.mark.parametrize("reason", list(DropReason), ids=lambda r: r.value)
def test_drop_reason(reason: DropReason) -> None:
    result = CASES[reason]()
    assert isinstance(result, Rejected), result
    assert result.reason is reason, result
    assert result.detail


def test_ipv6_drops() -> None:
    adv = Advert.build(version=3, vrid=3, priority=100, addresses=["2001:db8::5"])
    pay = ipv6_payload(adv)
    ok = decode_payload(pay, "fe80::1", VRRP_GROUP6, 255, 6)
    assert isinstance(ok, Advert) and ok.addresses == (A6("2001:db8::5"),)
    assert decode_payload(pay, "fe80::1", VRRP_GROUP6, 64, 6).reason is DropReason.BAD_TTL  # type: ignore[union-attr]
    assert isinstance(decode_payload(pay, "fe80::1", "fe80::2", 64, 6, unicast=True), Rejected)  # csum: dst
    assert decode_payload(pay, "fe80::2", VRRP_GROUP6, 255, 6).reason is DropReason.BAD_CHECKSUM  # type: ignore[union-attr]
    assert decode_payload(pay[:-1], "fe80::1", VRRP_GROUP6, 255, 6).reason is DropReason.TOO_SHORT  # type: ignore[union-attr]
    assert decode_payload(pay[:7], None, None, None, 6).reason is DropReason.TRUNCATED  # type: ignore[union-attr]
    exp = Expectation(vrid=3, version=3, vips=(A6("2001:db8::5"),))
    assert validate(ok, exp) == ok
    got = validate(Received(pay, 6, A6("fe80::1"), VRRP_GROUP6, 255), exp)
    assert got == ok
    # v2 over IPv6 has no auth field: a password can never be verified
    v2 = Advert.build(version=2, vrid=3, priority=100, addresses=["2001:db8::5"])
    v2r = decode_payload(ipv6_payload(v2), "fe80::1", VRRP_GROUP6, 255, 6)
    assert isinstance(v2r, Advert)
    pw = Expectation(vrid=3, version=2, auth_type=AUTH_PASS, auth_pass="x", vips=exp.vips)
    assert validate(v2r, pw).reason is DropReason.AUTH_TYPE_MISMATCH  # type: ignore[union-attr]
    v2p = dataclasses.replace(v2, auth_type=AUTH_PASS)
    v2pr = decode_payload(ipv6_payload(v2p), "fe80::1", VRRP_GROUP6, 255, 6)
    assert validate(v2pr, pw).reason is DropReason.AUTH_FAILURE  # type: ignore[arg-type, union-attr]


def test_keepalived_order_decides_which_counter_moves() -> None:
    # Bad type AND wrong auth type: keepalived checks auth first (vrrp/vrrp.c: vrrp_check_packet()).
    bad = patch(patch(V2, 24, b"\x00"), 20, b"\x22")
    assert decode_ipv4(bad).reason is DropReason.BAD_TYPE  # type: ignore[union-attr]
    assert validate(Received(bad), EXP_CAP2).reason is DropReason.AUTH_TYPE_MISMATCH  # type: ignore[union-attr]
    # v2 interval mismatch AND bad checksum: the silent DROP wins.
    both = patch(patch(V2, 25, b"\x05"), 26, b"\0\0", fix_csum=False)
    r = validate(Received(both), EXP_CAP2)
    assert isinstance(r, Rejected) and r.reason is DropReason.INTERVAL_MISMATCH and r.reason.silent
    # Rejected carries the VRID so the adapter can charge the right instance.
    assert r.vrid == 42


def test_vip_checks_can_be_skipped_for_the_known_master() -> None:
    exp = dataclasses.replace(EXP_TIE, vips=(A4("10.50.0.99"),), check_vips=False)
    assert isinstance(validate(Received(V3), exp), Advert)


def test_drop_counters_use_keepalived_stats_names() -> None:
    c = DropCounters()
    for reason in DropReason:
        c.record(CASES[reason]())
    c.record(decode_ipv4(V2))  # an advert is not a drop
    stats = c.keepalived_stats()
    assert list(stats) == [*P.STAT_NAMES, *P.RFC_STAT_NAMES]
    assert stats == {"packet_len_err": 3, "ip_ttl_err": 2, "invalid_type_rcvd": 1, "advert_interval_err": 0,
                     "addr_list_err": 3, "invalid_authtype": 1, "authtype_mismatch": 2, "auth_failure": 1,
                     "chk_err": 1, "vers_err": 1}
    assert c.packet_len_err == 3 and c.auth_failure == 1 and c[DropReason.INTERVAL_MISMATCH] == 1
    assert (c.ip_ttl_err, c.invalid_type_rcvd, c.advert_interval_err, c.addr_list_err, c.invalid_authtype,
            c.authtype_mismatch) == (2, 1, 0, 3, 1, 2)
    with pytest.raises(KeyError):
        c.stat("bogus")


# --- properties -----------------------------------------------------------------------------------

ipv4s = st.builds(A4, st.integers(0, 2**32 - 1))
ipv6s = st.builds(A6, st.integers(0, 2**128 - 1))
unicast4 = ipv4s.filter(lambda a: not a.is_multicast)


@st.composite
def adverts(draw: st.DrawFn, family: int | None = None) -> Advert:
    fam = family or draw(st.sampled_from([4, 6]))
    version = draw(st.sampled_from([2, 3]))
    addrs = tuple(draw(st.lists(ipv4s if fam == 4 else ipv6s, max_size=12)))
    if version == 2:
        interval = float(draw(st.integers(0, 255)))
        auth_type = draw(st.sampled_from([AUTH_NONE, AUTH_PASS, AUTH_AH]))
        auth = draw(st.binary(min_size=8, max_size=8)) if fam == 4 else b""
        reserved = 0
    else:
        interval = draw(st.integers(0, 4095)) / 100
        auth_type, auth, reserved = AUTH_NONE, b"", draw(st.integers(0, 15))
    return Advert(version=version, vrid=draw(st.integers(0, 255)), priority=draw(st.integers(0, 255)),
                  addresses=addrs, adver_int=interval, family=fam, auth_type=auth_type, auth_data=auth,
                  reserved=reserved)


@settings(max_examples=400, deadline=None)
@given(adv=adverts(family=4), src=ipv4s, dst=ipv4s, ident=st.integers(0, 0xFFFF), ttl=st.integers(0, 255))
def test_ipv4_round_trip(adv: Advert, src: A4, dst: A4, ident: int, ttl: int) -> None:
    raw = encode_ipv4(adv, src, dst, ident, ttl)
    got = decode_ipv4(raw, unicast=True)
    assert isinstance(got, Advert), got
    assert got == dataclasses.replace(adv, checksum=int.from_bytes(raw[26:28], "big"), src=src, dst=dst,
                                      ttl=ttl, ip_id=ident)
    assert reencode(got) == raw


@settings(max_examples=300, deadline=None)
@given(adv=adverts(family=6), src=ipv6s, dst=ipv6s, hl=st.integers(0, 255))
def test_ipv6_round_trip(adv: Advert, src: A6, dst: A6, hl: int) -> None:
    pay = encode_payload(adv, src, dst)
    got = decode_payload(pay, src, dst, hl, 6, unicast=True)
    assert isinstance(got, Advert), got
    assert got == dataclasses.replace(adv, checksum=int.from_bytes(pay[6:8], "big"), src=src, dst=dst, ttl=hl)
    assert encode_payload(got, src, dst) == pay


def _reencodes(raw: bytes, got: Advert) -> None:
    """A decodable IPv4 packet re-encodes to the same bytes (padding aside)."""
    ihl = (raw[0] & 15) * 4
    pd = VRRP_GROUP4 if got.legacy_unicast_checksum else None
    payload = encode_payload(got, got.src, got.dst, pseudo_dst=pd)
    assert raw[ihl:ihl + len(payload)] == payload
    if raw[:2] == h("45c0") and raw[6:8] == b"\0\0" and raw[9] == 112 and internet_checksum(raw[:20]) == 0:
        assert reencode(got) == raw[:20 + len(payload)]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    base = bytearray(draw(st.sampled_from([V2, V3, patch(V2, 24, b"\x00"), _ah_packet()])))
    for _ in range(draw(st.integers(0, 4))):
        op = draw(st.integers(0, 3))
        i = draw(st.integers(0, max(len(base) - 1, 0)))
        if op == 0 and base:
            base[i] = draw(st.integers(0, 255))
        elif op == 1:
            del base[i:i + draw(st.integers(1, 8))]
        elif op == 2:
            base[i:i] = draw(st.binary(max_size=8))
        else:
            base = base[: draw(st.integers(0, len(base)))]
    return bytes(base)


@settings(max_examples=8_000, deadline=None, suppress_health_check=list(HealthCheck))
@given(raw=st.one_of(st.binary(max_size=120), mutated()))
def test_fuzz_decoder_never_raises(raw: bytes) -> None:
    for result in (decode_ipv4(raw), decode_ipv4(raw, unicast=True), validate(Received(raw), EXP_CAP2),
                   validate(Received(raw), EXP_TIE)):
        assert isinstance(result, Advert | Rejected)
        if isinstance(result, Advert):
            _reencodes(raw, result)
        else:
            assert "undecodable" not in result.detail  # the safety net never fires
    p6 = decode_payload(raw, "fe80::1", VRRP_GROUP6, 255, 6)
    assert isinstance(p6, Advert | Rejected)
    if isinstance(p6, Advert):
        assert encode_payload(p6, p6.src, p6.dst) == raw[:len(encode_payload(p6, p6.src, p6.dst))]


def test_fuzz_bulk_random_mutations_bounded_time() -> None:
    """50,000 seeded mutations of valid packets (with checksums repaired so deeper checks run)."""
    rng = random.Random(3768)
    seeds = [V2, V3, h(HEX_V2)[:20] + encode_payload(Advert.build(version=2, vrid=1, priority=1))]
    t0 = time.perf_counter()
    kinds: set[DropReason | None] = set()
    for i in range(50_000):
        b = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            j = rng.randrange(len(b))
            b[j] = rng.randrange(256)
        if rng.random() < 0.2:
            b = b[: rng.randrange(len(b) + 1)]
        raw = bytes(b)
        if i % 2 and len(raw) >= 28 and raw[0] == 0x45:
            raw = patch(raw, 0, b"")
        for res in (decode_ipv4(raw), validate(Received(raw), EXP_CAP2 if i % 3 else EXP_TIE)):
            assert isinstance(res, Advert | Rejected)
            kinds.add(res.reason if isinstance(res, Rejected) else None)
            assert not isinstance(res, Rejected) or "undecodable" not in res.detail
            if isinstance(res, Advert):
                _reencodes(raw, res)
    assert time.perf_counter() - t0 < 60
    assert None in kinds and len(kinds) >= 12  # the mutations reach most checks


def test_decode_accepts_bytearray_and_memoryview() -> None:
    assert isinstance(decode_ipv4(bytearray(V2)), Advert)
    assert isinstance(decode_ipv4(memoryview(V2)), Advert)  # type: ignore[arg-type]


def test_pcap_reader_link_types_and_byte_orders(tmp_path: Path) -> None:
    from tests.unit.vrrp import pcap

    ip = h(HEX_V3)
    sll = struct.pack("!HHH8sH", 0, 1, 6, bytes(8), 0x0800) + ip
    sll2 = struct.pack("!HHIHBB8s", 0x0800, 0, 3, 1, 0, 6, bytes(8)) + ip
    vlan = h("01005e000012 0a71a1dde8b4 8100 0005 0800") + ip
    for linktype, frame in ((113, sll), (276, sll2), (101, ip), (1, vlan)):
        for magic, endian in ((0xA1B2C3D4, "<"), (0xA1B23C4D, ">")):
            f = tmp_path / f"{linktype}{endian}.pcap"
            f.write_bytes(struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
                          + struct.pack(endian + "IIII", 7, 500, len(frame), len(frame)) + frame)
            (rec,) = list(pcap.read_pcap(f))
            assert rec.l3() == (pcap.ETHERTYPE_IPV4, ip)
            assert rec.ts == pytest.approx(7 + 500 * (1e-6 if magic == 0xA1B2C3D4 else 1e-9))
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(b"\x0a\x0d\x0d\x0a" + bytes(40))  # pcapng is not read
    with pytest.raises(pcap.PcapError):
        list(pcap.read_pcap(bad))
