"""A tiny reader for classic libpcap files, enough to replay keepalived's captures in tests.

Handles both byte orders, micro- and nanosecond timestamps, and the link types a capture of
VRRP traffic is likely to have: Ethernet (with 802.1Q tags), Linux cooked SLL and SLL2, and raw IP.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_ARP = 0x0806
ETHERTYPE_IPV6 = 0x86DD
_VLAN_TPIDS = (0x8100, 0x88A8)

_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}


class PcapError(ValueError):
    """The file is not a classic pcap we can read."""


@dataclass(frozen=True, slots=True)
class Record:
    """One captured packet: timestamp (s), link type, the captured bytes, the original length."""

    ts: float
    linktype: int
    data: bytes
    orig_len: int

    def l3(self) -> tuple[int, bytes]:
        """(ethertype, network-layer bytes): the link-layer header removed."""
        return strip_link(self.linktype, self.data)

    @property
    def ethernet(self) -> bytes | None:
        """The whole Ethernet frame, when the capture has one."""
        return self.data if self.linktype == LINKTYPE_ETHERNET else None


def strip_link(linktype: int, data: bytes) -> tuple[int, bytes]:
    """Remove the link-layer header; returns the ethertype and the rest."""
    if linktype == LINKTYPE_ETHERNET:
        if len(data) < 14:
            raise PcapError("short Ethernet frame")
        off, etype = 14, struct.unpack_from("!H", data, 12)[0]
        while etype in _VLAN_TPIDS and len(data) >= off + 4:
            etype = struct.unpack_from("!H", data, off + 2)[0]
            off += 4
        return etype, data[off:]
    if linktype == LINKTYPE_LINUX_SLL:
        if len(data) < 16:
            raise PcapError("short SLL header")
        return struct.unpack_from("!H", data, 14)[0], data[16:]
    if linktype == LINKTYPE_LINUX_SLL2:
        if len(data) < 20:
            raise PcapError("short SLL2 header")
        return struct.unpack_from("!H", data, 0)[0], data[20:]
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        if not data:
            raise PcapError("empty raw IP packet")
        return (ETHERTYPE_IPV6 if data[0] >> 4 == 6 else ETHERTYPE_IPV4), data
    raise PcapError(f"unsupported link type {linktype}")


def read_pcap(path: str | Path) -> Iterator[Record]:
    """Yield every record of a classic pcap file."""
    raw = Path(path).read_bytes()
    if len(raw) < 24 or raw[:4] not in _MAGICS:
        raise PcapError(f"{path}: not a classic pcap file")
    endian, unit = _MAGICS[raw[:4]]
    linktype = struct.unpack_from(endian + "I", raw, 20)[0] & 0x0FFFFFFF
    rec = struct.Struct(endian + "IIII")
    off = 24
    while off + rec.size <= len(raw):
        sec, frac, incl, orig = rec.unpack_from(raw, off)
        off += rec.size
        if off + incl > len(raw):
            raise PcapError(f"{path}: truncated record at offset {off - rec.size}")
        yield Record(sec + frac * unit, linktype, raw[off:off + incl], orig)
        off += incl
