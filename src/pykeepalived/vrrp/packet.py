"""VRRP v2/v3 codec: adverts, checksums, authentication, GARP and unsolicited NA frames.

Sans-I/O: bytes in, bytes out.  Encoders produce exactly what keepalived 2.2.7 puts on the wire
(keepalived's vrrp/vrrp.c: vrrp_build_pkt()).  Decoders never raise: any input becomes an `Advert` or a
typed `Rejected`, and the checks run in keepalived's order (vrrp/vrrp.c: vrrp_check_packet()), so that a
packet failing several checks is counted under the same stats name as keepalived would count it.

Two layers of checks:

* `decode_ipv4` / `decode_payload` apply the checks that need only the packet (length, TTL,
  version known, auth type valid, type, IPv4 total length, checksum).
* `validate` applies what depends on the instance (`Expectation`: VRID, version, authentication,
  v2 interval, multicast vs unicast, VIP list, unicast source).  Given a `Received` (raw bytes +
  socket metadata) it runs *every* check in keepalived's order; given an `Advert` it runs the
  instance checks only (the packet checks already passed).
"""

from __future__ import annotations

import collections
import enum
import hmac
import ipaddress
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, NamedTuple

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# --- constants (RFC 3768 / RFC 5798 / keepalived include/vrrp.h) --------------------------------

IPPROTO_VRRP: Final = 112
IPPROTO_AH: Final = 51
VRRP_TTL: Final = 255
VRRP_TYPE_ADVERT: Final = 1
VRRP_HDR_LEN: Final = 8
VRRP_AUTH_LEN: Final = 8
AH_HDR_LEN: Final = 24  # next hdr, len, reserved, SPI, sequence, 96-bit ICV
IPV4_HDR_LEN: Final = 20
IPV4_TOS: Final = 0xC0  # internetwork control, as keepalived sets it

AUTH_NONE: Final = 0
AUTH_PASS: Final = 1
AUTH_AH: Final = 2

VRRP_GROUP4: Final = ipaddress.IPv4Address("224.0.0.18")
VRRP_GROUP6: Final = ipaddress.IPv6Address("ff02::12")
ALL_NODES6: Final = ipaddress.IPv6Address("ff02::1")

# Ethernet frames shorter than 60 bytes (without FCS) are padded; 2.4 tolerates that padding
# modulo the 4-byte VLAN tag size (keepalived vrrp.c, vrrp_check_packet).
_ETH_ZLEN_PAYLOAD: Final = 60 - 14
_PAD_RESIDUE: Final = (4 - _ETH_ZLEN_PAYLOAD % 4) % 4

_HDR = struct.Struct("!BBBBBBH")  # vers_type, vrid, priority, naddr, auth|rsvd+int(16), checksum
_V3_HDR = struct.Struct("!BBBBHH")
_IP4 = struct.Struct("!BBHHHBBH4s4s")
_PSEUDO4 = struct.Struct("!4s4sBBH")


# --- checksum -------------------------------------------------------------------------------------


def _ones_sum(data: bytes) -> int:
    """One's complement sum of 16-bit words, folded (RFC 1071); 2**16 == 1 mod 0xffff does the folding."""
    if len(data) & 1:
        data += b"\0"
    n = int.from_bytes(data, "big")
    s = n % 0xFFFF
    return s if s or not n else 0xFFFF


def internet_checksum(*parts: bytes) -> int:
    """RFC 1071 checksum of the concatenation of `parts` (each part of even length except the last)."""
    return ~_ones_sum(b"".join(parts)) & 0xFFFF


def _pseudo4(src: bytes, dst: bytes, length: int) -> bytes:
    return _PSEUDO4.pack(src, dst, 0, IPPROTO_VRRP, length)


def _pseudo6(src: bytes, dst: bytes, length: int, nxt: int) -> bytes:
    return src + dst + length.to_bytes(4, "big") + b"\0\0\0" + bytes((nxt,))


# --- the advert -----------------------------------------------------------------------------------


def _family(family: int) -> int:
    """Accept 4/6 or socket.AF_INET (2) / AF_INET6 (10): callers hold one or the other."""
    if family in (4, 2):
        return 4
    if family in (6, 10):
        return 6
    raise ValueError(f"unknown address family {family}")


def auth_data_for(password: str | bytes) -> bytes:
    """keepalived's 8-byte auth field: the password truncated to 8 bytes, NUL padded."""
    raw = password.encode() if isinstance(password, str) else password
    return raw[:VRRP_AUTH_LEN].ljust(VRRP_AUTH_LEN, b"\0")


@dataclass(frozen=True, slots=True)
class Advert:
    """One VRRP advertisement, as decoded from the wire or as we are about to send it.

    `adver_int` is in seconds (v2: whole seconds, v3: centisecond steps).  `auth_data` holds the
    8 raw auth bytes of a v2 IPv4 advert (empty otherwise).  `checksum`, `src`, `dst`, `ttl`,
    `ip_id` describe a received packet (None on adverts we build).  `reserved` is the 4 v3 bits
    that receivers ignore, kept so that a decoded packet re-encodes to the same bytes.
    `legacy_unicast_checksum` marks a v3 unicast advert whose checksum used 224.0.0.18 as the
    pseudo-header destination (keepalived < 1.3.6); keepalived then switches its own sending to
    that form for the instance.
    """

    version: int
    vrid: int
    priority: int
    addresses: tuple[IPAddress, ...] = ()
    adver_int: float = 1.0
    family: int = 4
    auth_type: int = AUTH_NONE
    auth_data: bytes = b""
    checksum: int | None = None
    src: IPAddress | None = None
    dst: IPAddress | None = None
    ttl: int | None = None
    ip_id: int | None = None
    reserved: int = 0
    legacy_unicast_checksum: bool = False

    @classmethod
    def build(
        cls,
        *,
        version: int,
        vrid: int,
        priority: int,
        addresses: Iterable[IPAddress | str] = (),
        adver_int: float = 1.0,
        family: int | None = None,
        auth_type: int = AUTH_NONE,
        auth_pass: str | bytes = b"",
    ) -> Advert:
        """An advert to send, with keepalived's rules for the auth field (v2 IPv4 only)."""
        addrs = tuple(ipaddress.ip_address(a) for a in addresses)
        fam = _family(family) if family is not None else (addrs[0].version if addrs else 4)
        if any(a.version != fam for a in addrs):
            raise ValueError("all addresses of an advert must be of the advert's family")
        if version not in (2, 3):
            raise ValueError(f"VRRP version must be 2 or 3, not {version}")
        if version == 3 and auth_type != AUTH_NONE:
            raise ValueError("VRRPv3 has no authentication")
        if auth_type not in (AUTH_NONE, AUTH_PASS):
            raise ValueError("only auth types none and PASS are supported (AH is not)")
        data = b""
        if version == 2 and fam == 4:
            data = auth_data_for(auth_pass) if auth_type == AUTH_PASS else bytes(VRRP_AUTH_LEN)
        return cls(version=version, vrid=vrid, priority=priority, addresses=addrs, adver_int=adver_int,
                   family=fam, auth_type=auth_type, auth_data=data)

    @property
    def interval_units(self) -> int:
        """The wire value of the interval: whole seconds (v2) or centiseconds (v3), truncated from
        microseconds as keepalived does (its timers are µs; the config layer rounds v2 to seconds)."""
        us = round(self.adver_int * 1_000_000)
        return us // 1_000_000 if self.version == 2 else us // 10_000


def _payload_len(version: int, family: int, naddr: int) -> int:
    """Expected VRRP length from the header, as keepalived computes it (no auth field over IPv6)."""
    n = VRRP_HDR_LEN + naddr * (4 if family == 4 else 16)
    if family == 4 and version == 2:
        n += VRRP_AUTH_LEN
    return n


# --- encoders -------------------------------------------------------------------------------------


def _as_ip(addr: IPAddress | str) -> IPAddress:
    if isinstance(addr, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return addr
    return ipaddress.ip_address(addr)


def encode_payload(
    advert: Advert,
    src: IPAddress | str | None = None,
    dst: IPAddress | str | None = None,
    *,
    pseudo_dst: IPAddress | str | None = None,
) -> bytes:
    """The VRRP part of an advert, checksum included.

    v2 over IPv4 needs no addresses (the checksum covers the VRRP bytes only).  v3 over IPv4 needs
    `src` and `dst` for the pseudo-header; `pseudo_dst` overrides the pseudo-header destination
    (224.0.0.18 for the pre-1.3.6 unicast form).  Over IPv6 the kernel fills the checksum
    (IPV6_CHECKSUM); it is computed here too when `src`/`dst` are given, else left 0 as keepalived
    hands it to the kernel.
    """
    fam = advert.family
    version = advert.version
    if version == 2:
        b4 = advert.auth_type & 0xFF
        b5 = advert.interval_units & 0xFF
    else:
        word = ((advert.reserved & 0xF) << 12) | (advert.interval_units & 0x0FFF)
        b4, b5 = word >> 8, word & 0xFF
    addrs = b"".join(a.packed for a in advert.addresses)
    tail = advert.auth_data if (version == 2 and fam == 4) else b""
    if version == 2 and fam == 4 and len(tail) != VRRP_AUTH_LEN:
        tail = tail[:VRRP_AUTH_LEN].ljust(VRRP_AUTH_LEN, b"\0")
    head = _HDR.pack((version << 4) | VRRP_TYPE_ADVERT, advert.vrid, advert.priority,
                     len(advert.addresses), b4, b5, 0)
    body = addrs + tail
    length = VRRP_HDR_LEN + len(body)
    if fam == 4:
        if version == 2:
            csum = internet_checksum(head, body)
        else:
            pd_raw = pseudo_dst if pseudo_dst is not None else dst
            if src is None or pd_raw is None:
                raise ValueError("a VRRPv3 IPv4 checksum needs the source and destination addresses")
            pd = _as_ip(pd_raw)
            csum = internet_checksum(_pseudo4(_as_ip(src).packed, pd.packed, length), head, body)
    elif src is not None and dst is not None:
        csum = internet_checksum(_pseudo6(_as_ip(src).packed, _as_ip(dst).packed, length, IPPROTO_VRRP),
                                 head, body)
    else:
        csum = 0
    return head[:6] + csum.to_bytes(2, "big") + body


def ipv4_header(src: IPAddress | str, dst: IPAddress | str, payload_len: int, ident: int,
                ttl: int = VRRP_TTL, proto: int = IPPROTO_VRRP, tos: int = IPV4_TOS) -> bytes:
    """The IPv4 header keepalived writes with IP_HDRINCL (no DF, no options), checksum filled
    in as the kernel does on send."""
    s, d = _as_ip(src).packed, _as_ip(dst).packed
    total = IPV4_HDR_LEN + payload_len
    hdr = _IP4.pack(0x45, tos, total, ident & 0xFFFF, 0, ttl, proto, 0, s, d)
    return hdr[:10] + internet_checksum(hdr).to_bytes(2, "big") + hdr[12:]


def encode_ipv4(advert: Advert, src: IPAddress | str, dst: IPAddress | str, ident: int,
                ttl: int = VRRP_TTL, *, pseudo_dst: IPAddress | str | None = None) -> bytes:
    """A whole IPv4 VRRP packet as keepalived sends it: one per destination (multicast group or
    each unicast peer), `ident` from the instance's counter (starts at 1, skips 0)."""
    if advert.family != 4:
        raise ValueError("encode_ipv4 needs an IPv4 advert")
    payload = encode_payload(advert, src, dst, pseudo_dst=pseudo_dst)
    return ipv4_header(src, dst, len(payload), ident, ttl) + payload


def _mac(mac: bytes | str) -> bytes:
    raw = bytes.fromhex(mac.replace(":", "").replace("-", "")) if isinstance(mac, str) else bytes(mac)
    if len(raw) != 6:
        raise ValueError(f"not an Ethernet MAC address: {mac!r}")
    return raw


def vmac(vrid: int, family: int = 4) -> bytes:
    """RFC 5798 virtual router MAC: 00:00:5e:00:01:VRID (IPv4) or 00:00:5e:00:02:VRID (IPv6)."""
    return bytes((0, 0, 0x5E, 0, 1 if _family(family) == 4 else 2, vrid & 0xFF))


def build_garp(mac: bytes | str, ip: ipaddress.IPv4Address | str) -> bytes:
    """Gratuitous ARP as keepalived sends it (vrrp_arp.c): Ethernet broadcast, ARP *request*,
    sender = target = VIP, target hardware address all ones; 42 bytes, unpadded."""
    m = _mac(mac)
    a = ipaddress.IPv4Address(ip).packed
    bcast = b"\xff" * 6
    return (bcast + m + b"\x08\x06"
            + struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + m + a + bcast + a)


def build_unsolicited_na(mac: bytes | str, ip6: ipaddress.IPv6Address | str, router: bool = False) -> bytes:
    """Unsolicited Neighbour Advertisement as keepalived sends it (vrrp_ndisc.c): to
    33:33:00:00:00:01 / ff02::1, source = target = VIP, hop limit 255, Override flag (+Router
    when the interface forwards), target link-layer address option."""
    m = _mac(mac)
    target = ipaddress.IPv6Address(ip6).packed
    flags = 0x20 | (0x80 if router else 0)
    icmp = bytes((136, 0, 0, 0, flags, 0, 0, 0)) + target + bytes((2, 1)) + m
    csum = internet_checksum(_pseudo6(target, ALL_NODES6.packed, len(icmp), 58), icmp)
    icmp = icmp[:2] + csum.to_bytes(2, "big") + icmp[4:]
    ip6h = struct.pack("!IHBB", 6 << 28, len(icmp), 58, 255) + target + ALL_NODES6.packed
    return b"\x33\x33\x00\x00\x00\x01" + m + b"\x86\xdd" + ip6h + icmp


# --- drops ----------------------------------------------------------------------------------------


class DropReason(enum.Enum):
    """Why a received packet was not processed; one per check of keepalived's vrrp_check_packet()."""

    TRUNCATED = "truncated"  # not even the IP + (AH) + VRRP headers: dropped before VRID routing
    BAD_IP_HEADER = "bad_ip_header"  # not IPv4 / IHL < 5 (a raw socket never delivers that)
    NOT_VRRP = "not_vrrp"  # IP protocol neither VRRP (112) nor AH (51)
    UNKNOWN_VRID = "unknown_vrid"
    AH_UNSUPPORTED = "ah_unsupported"  # IPsec AH: not implemented (keepalived: authtype mismatch)
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    BAD_TTL = "bad_ttl"
    VERSION_MISMATCH = "version_mismatch"
    AUTH_TYPE_INVALID = "auth_type_invalid"
    AUTH_TYPE_MISMATCH = "auth_type_mismatch"
    AUTH_FAILURE = "auth_failure"
    INTERVAL_MISMATCH = "interval_mismatch"  # v2 only; keepalived DROPs it without counting
    BAD_TYPE = "bad_type"
    BAD_TOTAL_LENGTH = "bad_total_length"
    BAD_CHECKSUM = "bad_checksum"
    CAST_MISMATCH = "cast_mismatch"  # multicast packet to a unicast instance or vice versa
    ADDR_COUNT_MISMATCH = "addr_count_mismatch"
    ADDR_LIST_MISMATCH = "addr_list_mismatch"
    UNKNOWN_UNICAST_SOURCE = "unknown_unicast_source"
    UNICAST_TTL_RANGE = "unicast_ttl_range"

    @property
    def stat(self) -> str | None:
        """keepalived's per-instance stats field this drop increments (None: counted nowhere)."""
        return KEEPALIVED_STAT.get(self)

    @property
    def silent(self) -> bool:
        """keepalived's VRRP_PACKET_DROP (ignored) rather than VRRP_PACKET_KO (an error)."""
        return self in (DropReason.INTERVAL_MISMATCH, DropReason.UNKNOWN_VRID, DropReason.TRUNCATED)


KEEPALIVED_STAT: Final[Mapping[DropReason, str]] = {
    DropReason.TOO_SHORT: "packet_len_err",
    DropReason.TOO_LONG: "packet_len_err",
    DropReason.BAD_TOTAL_LENGTH: "packet_len_err",
    DropReason.BAD_TTL: "ip_ttl_err",
    DropReason.UNICAST_TTL_RANGE: "ip_ttl_err",
    DropReason.BAD_TYPE: "invalid_type_rcvd",
    DropReason.CAST_MISMATCH: "addr_list_err",
    DropReason.ADDR_COUNT_MISMATCH: "addr_list_err",
    DropReason.ADDR_LIST_MISMATCH: "addr_list_err",
    DropReason.AUTH_TYPE_INVALID: "invalid_authtype",
    DropReason.AUTH_TYPE_MISMATCH: "authtype_mismatch",
    DropReason.AH_UNSUPPORTED: "authtype_mismatch",
    DropReason.AUTH_FAILURE: "auth_failure",
    DropReason.BAD_CHECKSUM: "chk_err",
    DropReason.VERSION_MISMATCH: "vers_err",
}

# Order of the "Packet Errors" / "Authentication Errors" lines of keepalived's SIGUSR2 dump.
# advert_interval_err exists there but keepalived 2.2.7 never increments it (v2 interval
# mismatches are silent drops); it is kept so the dump has every line.
#: keepalived's two other per-instance error counters, which only RFC 2787's global vrrpRouterChecksumErrors and
#: vrrpRouterVersionErrors show (summed over the instances); its vrid_err is never incremented in 2.2.7
RFC_STAT_NAMES: Final = ("chk_err", "vers_err")

STAT_NAMES: Final = ("packet_len_err", "ip_ttl_err", "invalid_type_rcvd", "advert_interval_err",
                     "addr_list_err", "invalid_authtype", "authtype_mismatch", "auth_failure")


@dataclass(frozen=True, slots=True)
class Rejected:
    """A dropped packet: why, keepalived's log text for it, and the VRID when it could be read
    (so the adapter can charge the drop to the right instance)."""

    reason: DropReason
    detail: str
    vrid: int | None = None


class DropCounters(collections.Counter[DropReason]):
    """Drops per reason for one instance, readable under keepalived's stats names."""

    def record(self, result: Advert | Rejected) -> None:
        """Count a decode/validate result (adverts are not drops and are ignored)."""
        if isinstance(result, Rejected):
            self[result.reason] += 1

    def stat(self, name: str) -> int:
        """keepalived's counter `name` (one of STAT_NAMES or RFC_STAT_NAMES)."""
        if name not in STAT_NAMES and name not in RFC_STAT_NAMES:
            raise KeyError(name)
        return sum(n for r, n in self.items() if KEEPALIVED_STAT.get(r) == name)

    def keepalived_stats(self) -> dict[str, int]:
        """All STAT_NAMES with their values, in the dump's order, then RFC_STAT_NAMES."""
        return {name: self.stat(name) for name in (*STAT_NAMES, *RFC_STAT_NAMES)}

    @property
    def packet_len_err(self) -> int:
        return self.stat("packet_len_err")

    @property
    def ip_ttl_err(self) -> int:
        return self.stat("ip_ttl_err")

    @property
    def invalid_type_rcvd(self) -> int:
        return self.stat("invalid_type_rcvd")

    @property
    def advert_interval_err(self) -> int:
        return self.stat("advert_interval_err")

    @property
    def addr_list_err(self) -> int:
        return self.stat("addr_list_err")

    @property
    def invalid_authtype(self) -> int:
        return self.stat("invalid_authtype")

    @property
    def authtype_mismatch(self) -> int:
        return self.stat("authtype_mismatch")

    @property
    def auth_failure(self) -> int:
        return self.stat("auth_failure")


#: RFC 2787 vrrpTrapAuthErrorType of the drops keepalived 2.2.7 sends vrrpTrapAuthFailure for
#: (vrrp_check_packet): invalidAuthType(1), authTypeMismatch(2) (also an AH header where none is expected, or
#: none where AH is), authFailure(3) (a wrong password).  AH_UNSUPPORTED is not there: keepalived would check
#: the AH and trap authFailure if it failed; pykeepalived cannot check it.
AUTH_ERROR_TYPE: Final[Mapping[DropReason, int]] = {
    DropReason.AUTH_TYPE_INVALID: 1,
    DropReason.AUTH_TYPE_MISMATCH: 2,
    DropReason.AUTH_FAILURE: 3,
}

#: RFC 6527 vrrpv3StatisticsProtoErrReason of the drops keepalived 2.2.7 sends vrrpv3NotifyProtoError for:
#: ipTtlError(1) (multicast TTL/hop limit not 255, or a unicast peer's TTL out of its min_ttl/max_ttl),
#: versionError(2), checksumError(3).  vrIdError(4) exists in the MIB but 2.2.7 never sends it (an unknown VRID
#: is dropped before any instance sees the packet).
PROTO_ERROR_REASON: Final[Mapping[DropReason, int]] = {
    DropReason.BAD_TTL: 1,
    DropReason.UNICAST_TTL_RANGE: 1,
    DropReason.VERSION_MISMATCH: 2,
    DropReason.BAD_CHECKSUM: 3,
}


#: the latest bad adverts of each kind an instance keeps for the SNMP traps (one trap each): more than this
#: between two reads of the status are counted (the count goes on) but not described
ERROR_RING: Final = 8


class ErrorRecord(NamedTuple):
    """One bad advert keepalived sends a trap for: ``kind`` "auth" (vrrpTrapAuthFailure) or "proto"
    (vrrpv3NotifyProtoError); ``seq``: its number among the instance's errors of that kind (1, 2, ...);
    ``code``: the RFC 2787 vrrpTrapAuthErrorType or RFC 6527 vrrpv3StatisticsProtoErrReason; ``src``: the
    packet's source."""

    kind: str
    seq: int
    code: int
    src: IPAddress | None


@dataclass(slots=True)
class ErrorEvents:
    """The authentication and protocol errors of one instance, for the SNMP traps.

    keepalived sends vrrpTrapAuthFailure / vrrpv3NotifyProtoError from inside its packet check, once per bad
    packet.  Here the SNMP service sees the instance through status snapshots, so each kind keeps a count (never
    cleared, not even by STATS_CLEAR), the latest packet's details, and the last :data:`ERROR_RING` bad adverts
    (:attr:`recent`, numbered by that count): each gets its own trap, and a gap in the numbers says how many
    came faster than the status was read -- bounded, whatever a peer sends.  ``proto_error_reason`` is also
    keepalived's ``proto_err_reason`` (vrrpv3StatisticsProtoErrReason), which stays at the last error's reason."""

    auth_errors: int = 0
    auth_error_src: IPAddress | None = None
    auth_error_type: int = 0
    proto_errors: int = 0
    proto_error_reason: int = 0
    recent_auth: collections.deque[ErrorRecord] = field(
        default_factory=lambda: collections.deque(maxlen=ERROR_RING))
    recent_proto: collections.deque[ErrorRecord] = field(
        default_factory=lambda: collections.deque(maxlen=ERROR_RING))

    def record(self, result: Rejected, src: IPAddress | None) -> bool:
        """Note a drop; ``src`` is the packet's source.  True if it is one keepalived traps (drops that are
        neither kind are ignored)."""
        if (kind := AUTH_ERROR_TYPE.get(result.reason)) is not None:
            self.note("auth", kind, src)
            return True
        if (reason := PROTO_ERROR_REASON.get(result.reason)) is not None:
            self.note("proto", reason, src)
            return True
        return False

    def note(self, kind: str, code: int, src: IPAddress | None) -> None:
        """One bad advert of ``kind`` ("auth" or "proto") with its RFC ``code``."""
        if kind == "auth":
            self.auth_errors += 1
            self.auth_error_src = src
            self.auth_error_type = code
            self.recent_auth.append(ErrorRecord("auth", self.auth_errors, code, src))
        else:
            self.proto_errors += 1
            self.proto_error_reason = code
            self.recent_proto.append(ErrorRecord("proto", self.proto_errors, code, src))

    @property
    def recent(self) -> tuple[ErrorRecord, ...]:
        """The bad adverts still described, each kind in order."""
        return (*self.recent_auth, *self.recent_proto)


# --- what an instance expects ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnicastPeer:
    """A configured unicast_peer with its accepted TTL range (min_ttl/max_ttl)."""

    address: IPAddress
    min_ttl: int = 0
    max_ttl: int = 255


@dataclass(frozen=True, slots=True)
class Expectation:
    """What one vrrp_instance accepts.  `auth_pass` is the configured password (truncated to 8
    bytes as keepalived does); `check_vips` is False when skip_check_adv_addr applies and the
    sender is the master we already know; `check_unicast_src` turns on the unicast source
    (and min/max TTL) check."""

    vrid: int
    version: int = 2
    auth_type: int = AUTH_NONE
    auth_pass: str | bytes = b""
    adver_int: float = 1.0
    vips: tuple[IPAddress, ...] = ()
    unicast: bool = False
    check_vips: bool = True
    check_unicast_src: bool = False
    unicast_peers: tuple[UnicastPeer, ...] = ()
    _auth8: bytes = field(init=False, repr=False, compare=False)
    _vip_set: frozenset[bytes] = field(init=False, repr=False, compare=False)
    _peers: Mapping[bytes, UnicastPeer] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_auth8", auth_data_for(self.auth_pass))
        object.__setattr__(self, "_vip_set", frozenset(v.packed for v in self.vips))
        object.__setattr__(self, "_peers", {p.address.packed: p for p in self.unicast_peers})


@dataclass(frozen=True, slots=True)
class Received:
    """Raw bytes from a VRRP socket plus what the kernel told us.  IPv4: `data` is the whole IP
    packet (src/dst/TTL are read from it).  IPv6: `data` is the VRRP payload, with src, dst
    (IPV6_PKTINFO) and hop limit (IPV6_HOPLIMIT) from the ancillary data."""

    data: bytes
    family: int = 4
    src: IPAddress | None = None
    dst: IPAddress | None = None
    ttl: int | None = None


# --- decoding -------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Frame:
    """A packet whose headers are known to be present; offsets into `buf`."""

    buf: bytes
    family: int
    off: int  # start of the VRRP header
    ah: bool
    src: IPAddress | None
    dst: IPAddress | None
    ttl: int | None
    tot_len: int | None  # IPv4 header total length
    ip_id: int | None
    vrid: int


def _frame_ipv4(data: bytes) -> _Frame | Rejected:
    n = len(data)
    if n < IPV4_HDR_LEN:
        return Rejected(DropReason.TRUNCATED, f"IPv4 VRRP packet too short - {n} bytes")
    ver, ihl = data[0] >> 4, (data[0] & 0xF) * 4
    if ver != 4 or ihl < IPV4_HDR_LEN:
        return Rejected(DropReason.BAD_IP_HEADER, f"not an IPv4 header (version {ver}, IHL {ihl})")
    proto = data[9]
    if proto not in (IPPROTO_VRRP, IPPROTO_AH):
        return Rejected(DropReason.NOT_VRRP, f"IP protocol {proto} is not VRRP")
    ah = proto == IPPROTO_AH
    off = ihl + (AH_HDR_LEN if ah else 0)
    if n < off + VRRP_HDR_LEN:
        what = "IPv4 VRRP packet with AH" if ah else "IPv4 VRRP packet"
        return Rejected(DropReason.TRUNCATED, f"{what} too short - {n} bytes")
    return _Frame(buf=data, family=4, off=off, ah=ah,
                  src=ipaddress.IPv4Address(data[12:16]), dst=ipaddress.IPv4Address(data[16:20]),
                  ttl=data[8], tot_len=(data[2] << 8) | data[3], ip_id=(data[4] << 8) | data[5],
                  vrid=data[off + 1])


def _frame_payload(data: bytes, src: IPAddress | str | None, dst: IPAddress | str | None,
                   ttl: int | None, family: int) -> _Frame | Rejected:
    if len(data) < VRRP_HDR_LEN:
        v = "IPv4" if family == 4 else "IPv6"
        return Rejected(DropReason.TRUNCATED, f"{v} VRRP packet too short - {len(data)} bytes")
    return _Frame(buf=data, family=family, off=0, ah=False,
                  src=None if src is None else _as_ip(src), dst=None if dst is None else _as_ip(dst),
                  ttl=ttl, tot_len=None, ip_id=None, vrid=data[1])


def _padding_ok(extra: int, expected: int) -> bool:
    return expected < _ETH_ZLEN_PAYLOAD and extra > 0 and extra % 4 == _PAD_RESIDUE


def _is_multicast(addr: IPAddress | None) -> bool | None:
    return None if addr is None else addr.is_multicast


# Instance checks, shared by the full pipeline and by validate(Advert).  Each returns None when
# the packet passes.


def _x_ah(ah: bool, exp: Expectation, vrid: int) -> Rejected | None:
    if ah != (exp.auth_type == AUTH_AH):
        text = "Received AH header but auth type not AH" if ah else "No AH header but auth type is AH"
        return Rejected(DropReason.AUTH_TYPE_MISMATCH, text, vrid)
    if ah:
        return Rejected(DropReason.AH_UNSUPPORTED, "IPSEC-AH authentication is not supported", vrid)
    return None


def _x_ttl(ttl: int | None, unicast: bool, vrid: int) -> Rejected | None:
    if not unicast and ttl is not None and ttl != VRRP_TTL:
        return Rejected(DropReason.BAD_TTL, f"invalid TTL/HL. Received {ttl} and expect {VRRP_TTL}", vrid)
    return None


def _x_version(version: int, exp: Expectation | None, vrid: int) -> Rejected | None:
    if exp is None:
        if version in (2, 3):
            return None
        return Rejected(DropReason.VERSION_MISMATCH,
                        f"wrong version. Received {version} and expect 2 or 3", vrid)
    if version != exp.version:
        return Rejected(DropReason.VERSION_MISMATCH,
                        f"wrong version. Received {version} and expect {exp.version}", vrid)
    return None


def _x_auth(auth_type: int, auth_bytes: bytes, exp: Expectation, vrid: int) -> Rejected | None:
    if auth_type != exp.auth_type:
        return Rejected(DropReason.AUTH_TYPE_MISMATCH,
                        f"received a {auth_type} auth, expecting {exp.auth_type}!", vrid)
    # v2 over IPv6 carries no auth field, so a password can never match there.
    if auth_type == AUTH_PASS and (
        len(auth_bytes) != VRRP_AUTH_LEN or not hmac.compare_digest(auth_bytes, exp._auth8)
    ):
        return Rejected(DropReason.AUTH_FAILURE, "received an invalid passwd!", vrid)
    return None


def _x_interval_v2(seconds: int, exp: Expectation, vrid: int) -> Rejected | None:
    if round(exp.adver_int * 1_000_000) != seconds * 1_000_000:
        return Rejected(DropReason.INTERVAL_MISMATCH,
                        f"advertisement interval mismatch mine={int(exp.adver_int)} sec rcv'd={seconds} sec",
                        vrid)
    return None


def _x_cast(dst: IPAddress | None, exp: Expectation, vrid: int) -> Rejected | None:
    mcast = _is_multicast(dst)
    if mcast is not None and mcast == exp.unicast:
        want, got = ("un", "mult") if exp.unicast else ("mult", "un")
        return Rejected(DropReason.CAST_MISMATCH,
                        f"Expected {want}icast packet but received {got}icast packet", vrid)
    return None


def _x_vips(packed: list[bytes], exp: Expectation, vrid: int) -> Rejected | None:
    if not exp.check_vips:
        return None
    if len(packed) != len(exp.vips):
        return Rejected(DropReason.ADDR_COUNT_MISMATCH,
                        f"received an unexpected ip number count {len(packed)}, expected {len(exp.vips)}!",
                        vrid)
    got = set(packed)
    for vip in exp.vips:
        if vip.packed not in got:
            return Rejected(DropReason.ADDR_LIST_MISMATCH,
                            f"ip address associated with VRID {exp.vrid} not present in MASTER advert: {vip}",
                            vrid)
    return None


def _x_unicast_src(src: IPAddress | None, ttl: int | None, exp: Expectation, vrid: int) -> Rejected | None:
    # keepalived 2.2.7 nests this inside the VIP check, so skip_check_adv_addr skips it too.
    if not (exp.unicast and exp.check_unicast_src and exp.check_vips) or src is None:
        return None
    peer = exp._peers.get(src.packed)
    if peer is None:
        return Rejected(DropReason.UNKNOWN_UNICAST_SOURCE, f"unicast source address {src} not a unicast peer",
                        vrid)
    if ttl is not None and not peer.min_ttl <= ttl <= peer.max_ttl:
        return Rejected(DropReason.UNICAST_TTL_RANGE,
                        f"TTL/HL {ttl} not in range {peer.min_ttl} - {peer.max_ttl}", vrid)
    return None


def _check(fr: _Frame, exp: Expectation | None, unicast: bool) -> Advert | Rejected:
    """Every check of §2.6 in keepalived's order; instance checks only when `exp` is given."""
    buf, off, vrid, fam = fr.buf, fr.off, fr.vrid, fr.family
    if exp is not None:
        if vrid != exp.vrid:
            return Rejected(DropReason.UNKNOWN_VRID, f"Unknown VRID({vrid}) received. ignoring...", vrid)
        unicast = exp.unicast
        if fam == 4 and (r := _x_ah(fr.ah, exp, vrid)):
            return r
    elif fr.ah:
        return Rejected(DropReason.AH_UNSUPPORTED, "IPSEC-AH authentication is not supported", vrid)

    vers_type, _, priority, naddr = buf[off], buf[off + 1], buf[off + 2], buf[off + 3]
    version = vers_type >> 4
    ip_len = off  # IP header + AH in front of the VRRP header (0 for a bare payload)

    # 2. length: exactly header + addresses (+ auth), Ethernet padding tolerated
    expected = ip_len + _payload_len(version, fam, naddr)
    n = len(buf)
    if n != expected and not _padding_ok(n - expected, expected):
        which = DropReason.TOO_LONG if n > expected else DropReason.TOO_SHORT
        word = "long" if n > expected else "short"
        return Rejected(which, f"vrrp packet too {word}, length {n} and expect {expected}", vrid)

    # 3. TTL / hop limit
    if r := _x_ttl(fr.ttl, unicast, vrid):
        return r
    # 4. version
    if r := _x_version(version, exp, vrid):
        return r

    # 6. v2 authentication and interval
    v2 = version == 2
    auth_type = buf[off + 4] if v2 else AUTH_NONE
    has_auth = v2 and fam == 4
    auth_bytes = buf[expected - VRRP_AUTH_LEN:expected] if has_auth else b""
    if v2:
        if auth_type not in (AUTH_NONE, AUTH_PASS, AUTH_AH):
            return Rejected(DropReason.AUTH_TYPE_INVALID, f"Invalid auth type: {auth_type}", vrid)
        if exp is not None:
            if r := _x_auth(auth_type, auth_bytes, exp, vrid):
                return r
            if r := _x_interval_v2(buf[off + 5], exp, vrid):
                return r

    # 7. type
    if vers_type & 0x0F != VRRP_TYPE_ADVERT:
        return Rejected(DropReason.BAD_TYPE,
                        f"Invalid packet type. {vers_type & 0x0F} and expect {VRRP_TYPE_ADVERT}", vrid)

    # 8. IPv4 total length
    tot = fr.tot_len
    if tot is not None and tot != n and not (
        n <= _ETH_ZLEN_PAYLOAD and tot < n and (n - tot) % 4 == _PAD_RESIDUE
    ):
        return Rejected(DropReason.BAD_TOTAL_LENGTH,
                        f"ip_tot_len mismatch against received length. {tot} and received {n}", vrid)

    # 10. checksum
    vrrp = buf[off:expected]
    vlen = len(vrrp)
    legacy = False
    if fam == 4:
        if v2:
            bad = _ones_sum(vrrp) != 0xFFFF
        else:
            if fr.src is None or fr.dst is None:
                return Rejected(DropReason.BAD_CHECKSUM, "VRRPv3 checksum needs source and destination", vrid)
            src4 = fr.src.packed
            bad = _ones_sum(_pseudo4(src4, fr.dst.packed, vlen) + vrrp) != 0xFFFF
            if bad and not fr.dst.is_multicast and (exp is None or exp.unicast):
                # pre-1.3.6 keepalived used the multicast group in the unicast pseudo-header
                legacy = _ones_sum(_pseudo4(src4, VRRP_GROUP4.packed, vlen) + vrrp) == 0xFFFF
                bad = not legacy
        if bad:
            return Rejected(DropReason.BAD_CHECKSUM, f"Invalid VRRPv{version} checksum", vrid)
    # IPv6: the kernel already verified it (IPV6_CHECKSUM); checking again keeps this codec honest.
    elif (fr.src is not None and fr.dst is not None
          and _ones_sum(_pseudo6(fr.src.packed, fr.dst.packed, vlen, IPPROTO_VRRP) + vrrp) != 0xFFFF):
        return Rejected(DropReason.BAD_CHECKSUM, f"Invalid VRRPv{version} checksum", vrid)

    width = 4 if fam == 4 else 16
    a0 = off + VRRP_HDR_LEN
    packed = [buf[a0 + i * width:a0 + (i + 1) * width] for i in range(naddr)]

    if exp is not None:
        # 11. multicast iff the instance is multicast
        if r := _x_cast(fr.dst, exp, vrid):
            return r
        # 13. VIP list (2.2.7: a mismatch rejects the advert)
        if r := _x_vips(packed, exp, vrid):
            return r
        # 14. unicast source / TTL range
        if r := _x_unicast_src(fr.src, fr.ttl, exp, vrid):
            return r

    cls = ipaddress.IPv4Address if fam == 4 else ipaddress.IPv6Address
    int_word = (buf[off + 4] << 8) | buf[off + 5]
    return Advert(
        version=version, vrid=vrid, priority=priority,
        addresses=tuple(cls(p) for p in packed),
        adver_int=float(buf[off + 5]) if v2 else (int_word & 0x0FFF) / 100,
        family=fam, auth_type=auth_type, auth_data=auth_bytes,
        checksum=(buf[off + 6] << 8) | buf[off + 7],
        src=fr.src, dst=fr.dst, ttl=fr.ttl, ip_id=fr.ip_id,
        reserved=0 if v2 else int_word >> 12,
        legacy_unicast_checksum=legacy,
    )


def decode_ipv4(packet: bytes, *, unicast: bool = False) -> Advert | Rejected:
    """Decode a whole IPv4 packet as read from the raw VRRP socket (IP header first).

    `unicast` says the receiving instance is unicast, which waives the TTL == 255 rule.
    Never raises.
    """
    try:
        fr = _frame_ipv4(bytes(packet))
        return fr if isinstance(fr, Rejected) else _check(fr, None, unicast)
    except Exception as exc:  # pragma: no cover - a bug; the contract is "never raises"
        return Rejected(DropReason.BAD_IP_HEADER, f"undecodable packet ({exc!r})")


def decode_payload(vrrp: bytes, src: IPAddress | str | None, dst: IPAddress | str | None,
                   ttl_or_hoplimit: int | None, family: int, *, unicast: bool = False) -> Advert | Rejected:
    """Decode a VRRP payload without its IP header (IPv6 sockets deliver only that).

    src/dst come from the socket (recvmsg address, IPV6_PKTINFO); a None TTL/hop limit means the
    kernel did not report it and skips that check, as keepalived does.  Never raises.
    """
    fam = _family(family)  # a caller's bug, not bad input: let it raise
    try:
        fr = _frame_payload(bytes(vrrp), src, dst, ttl_or_hoplimit, fam)
        return fr if isinstance(fr, Rejected) else _check(fr, None, unicast)
    except Exception as exc:  # pragma: no cover - a bug; the contract is "never raises"
        return Rejected(DropReason.BAD_IP_HEADER, f"undecodable packet ({exc!r})")


def validate(packet: Advert | Received, expect: Expectation) -> Advert | Rejected:
    """Apply an instance's expectations.

    With a `Received`, every check (packet and instance) runs in keepalived's order, so the drop
    reason — and the stats counter — are the ones keepalived would pick.  With an `Advert` that
    already passed `decode_*`, only the instance checks run (same order).  Never raises.
    """
    fam = _family(packet.family)
    try:
        if isinstance(packet, Received):
            fr = (_frame_ipv4(bytes(packet.data)) if fam == 4 else
                  _frame_payload(bytes(packet.data), packet.src, packet.dst, packet.ttl, 6))
            if isinstance(fr, Rejected):
                return fr
            return _check(fr, expect, expect.unicast)
        return _validate_advert(packet, expect)
    except Exception as exc:  # pragma: no cover - a bug; the contract is "never raises"
        return Rejected(DropReason.BAD_IP_HEADER, f"undecodable packet ({exc!r})")


def _validate_advert(adv: Advert, exp: Expectation) -> Advert | Rejected:
    vrid = adv.vrid
    if vrid != exp.vrid:
        return Rejected(DropReason.UNKNOWN_VRID, f"Unknown VRID({vrid}) received. ignoring...", vrid)
    if adv.family == 4 and (r := _x_ah(False, exp, vrid)):
        return r
    if r := _x_ttl(adv.ttl, exp.unicast, vrid):
        return r
    if r := _x_version(adv.version, exp, vrid):
        return r
    if adv.version == 2:
        if r := _x_auth(adv.auth_type, adv.auth_data, exp, vrid):
            return r
        if r := _x_interval_v2(adv.interval_units, exp, vrid):
            return r
    if r := _x_cast(adv.dst, exp, vrid):
        return r
    if r := _x_vips([a.packed for a in adv.addresses], exp, vrid):
        return r
    if r := _x_unicast_src(adv.src, adv.ttl, exp, vrid):
        return r
    return adv


__all__ = [
    "AUTH_AH", "AUTH_ERROR_TYPE", "AUTH_NONE", "AUTH_PASS", "ERROR_RING", "IPPROTO_AH", "IPPROTO_VRRP",
    "KEEPALIVED_STAT", "PROTO_ERROR_REASON", "STAT_NAMES", "VRRP_GROUP4", "VRRP_GROUP6", "VRRP_TTL", "Advert",
    "DropCounters", "DropReason", "ErrorEvents", "ErrorRecord", "Expectation", "IPAddress", "Received", "Rejected",
    "UnicastPeer", "auth_data_for", "build_garp", "build_unsolicited_na", "decode_ipv4", "decode_payload",
    "encode_ipv4", "encode_payload", "internet_checksum", "ipv4_header", "validate", "vmac",
]
