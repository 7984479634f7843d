"""BFD sockets (RFC 5881 §4-5), as keepalived's bfd/bfd_scheduler.c opens them.

* one listening socket per address family on UDP 3784 that reports the received TTL / hop limit
  (``IP_RECVTTL`` / ``IPV6_RECVHOPLIMIT``) and the local address (``IP_PKTINFO`` / ``IPV6_RECVPKTINFO``), so
  the session table can apply GTSM and pick a session by (neighbour, local address);
* one sending socket per session: bound to ``source_ip`` (or the wildcard) on a source port drawn from
  49152-65535 (the same port for the session's life, RFC 5881 §4; keepalived draws it within
  ``ip_local_port_range`` ∩ 49152-65535 and leaves it to the kernel without a source_ip: here the range
  holds either way), TTL / unicast hops set to the session's ``ttl`` (255 by default).
"""

from __future__ import annotations

import errno
import ipaddress
import random
import socket
import struct

from .packet import CONTROL_PORT, SOURCE_PORT_MAX, SOURCE_PORT_MIN

# Linux values the socket module does not export
IP_PKTINFO = 8
IP_RECVTTL = 12
IP_TTL_CMSG = 2  # cmsg_type of the received TTL (== IP_TTL)

_PKTINFO4 = struct.Struct("=i4s4s")  # ifindex, spec_dst, addr
_PKTINFO6 = struct.Struct("=16sI")  # addr, ifindex

ANC_SIZE = socket.CMSG_SPACE(_PKTINFO6.size) + socket.CMSG_SPACE(4) + 64
#: larger than any BFD packet we accept (24 bytes, or an authentication section): more is truncated
RECV_SIZE = 512


def family_of(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET


def open_listener(family: socket.AddressFamily, port: int = CONTROL_PORT, address: str = "") -> socket.socket:
    """The receive socket for one family (IPv6 only for AF_INET6: IPv4 has its own)."""
    sock = socket.socket(family, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVPKTINFO, 1)
            sock.bind((address or "::", port))
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_RECVTTL, 1)
            sock.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
            sock.bind((address or "0.0.0.0", port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def parse_ancillary(ancdata: list[tuple[int, int, bytes]]) -> tuple[int | None, str | None]:
    """(received TTL / hop limit, local address) from recvmsg's ancillary data."""
    ttl: int | None = None
    local: str | None = None
    for level, kind, data in ancdata:
        if level == socket.IPPROTO_IP and kind == IP_TTL_CMSG and len(data) >= 1:
            ttl = int.from_bytes(data[:4], "little") if len(data) >= 4 else data[0]
        elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT and len(data) >= 4:
            ttl = int.from_bytes(data[:4], "little")
        elif level == socket.IPPROTO_IP and kind == IP_PKTINFO and len(data) >= _PKTINFO4.size:
            _ifindex, _spec, addr = _PKTINFO4.unpack_from(data)
            local = str(ipaddress.IPv4Address(addr))
        elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_PKTINFO and len(data) >= _PKTINFO6.size:
            addr6, _ifindex = _PKTINFO6.unpack_from(data)
            local = str(ipaddress.IPv6Address(addr6))
    return ttl, local


def receive(sock: socket.socket) -> tuple[bytes, str, str | None, int | None] | None:
    """One datagram: (payload, source address, local address, TTL), or None when none is waiting."""
    try:
        data, anc, flags, src = sock.recvmsg(RECV_SIZE, ANC_SIZE)
    except (BlockingIOError, InterruptedError):
        return None
    if flags & socket.MSG_TRUNC:
        data = b""  # dropped by the codec (too short / length beyond payload) and counted there
    ttl, local = parse_ancillary(anc)
    source = str(ipaddress.ip_address(src[0].split("%", 1)[0]))
    return data, source, local, ttl


def open_sender(neighbor: str, source: str | None, ttl: int, *, rng: random.Random | None = None,
                port_range: tuple[int, int] = (SOURCE_PORT_MIN, SOURCE_PORT_MAX)) -> socket.socket:
    """A session's sending socket: a source port in 49152-65535 (tried from a random start, as keepalived),
    TTL / unicast hop limit ``ttl``."""
    family = family_of(neighbor)
    sock = socket.socket(family, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl)
        else:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        low, high = port_range
        first = (rng or random.SystemRandom()).randint(low, high)
        port = first
        wildcard = "::" if family == socket.AF_INET6 else "0.0.0.0"
        while True:
            try:
                sock.bind((source or wildcard, port))
                break
            except OSError as e:
                if e.errno != errno.EADDRINUSE:
                    raise
                port = low if port >= high else port + 1
                if port == first:
                    raise
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def destination(neighbor: str) -> tuple[str, int]:
    return (neighbor, CONTROL_PORT)
