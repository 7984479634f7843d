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

import asyncio
import ctypes
import errno
import ipaddress
import os
import random
import socket
import struct
from collections.abc import Callable

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


class WakeUp:
    """The BFD process's one timer: a wake-up at an absolute ``loop.time()`` through a ``timerfd`` on
    CLOCK_MONOTONIC (asyncio's ``call_at`` sleeps in ``epoll_wait``, rounded up to a millisecond: at
    3 x 10 ms a detection would come up to 1 ms late for that alone).  The same mechanism as the VRRP
    process's ``vrrp.timer.DeadlineTimer``, kept here so ``bfd`` does not import ``vrrp``; falls back to
    ``call_at`` where timerfd is missing."""

    _CLOCK_MONOTONIC = 1
    _TFD_TIMER_ABSTIME = 1

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> None:
        self.loop = loop
        self.callback = callback
        self.when: float | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._fd = -1
        try:
            self._libc = ctypes.CDLL(None, use_errno=True)
            fd = self._libc.timerfd_create(self._CLOCK_MONOTONIC, os.O_NONBLOCK | os.O_CLOEXEC)
        except (OSError, AttributeError):
            fd = -1
        if fd >= 0:
            self._fd = fd
            loop.add_reader(fd, self._readable)

    def arm(self, when: float | None) -> None:
        """Call back at ``when`` (replacing any earlier arming); None disarms."""
        if when == self.when:
            return
        self.when = when
        if self._fd < 0:
            if self._handle is not None:
                self._handle.cancel()
            self._handle = None if when is None else self.loop.call_at(when, self._fire)
            return
        value = max(when, 1e-9) if when is not None else 0.0  # all zero disarms
        sec = int(value)
        spec = (ctypes.c_long * 4)(0, 0, sec, round((value - sec) * 1e9))
        if self._libc.timerfd_settime(self._fd, self._TFD_TIMER_ABSTIME, spec, None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    def _readable(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            return
        self._fire()

    def _fire(self) -> None:
        self.when, self._handle = None, None
        self.callback()

    def close(self) -> None:
        self.arm(None)
        if self._fd >= 0:
            self.loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
