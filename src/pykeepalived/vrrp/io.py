"""VRRP packet I/O: raw IPv4/IPv6 sockets and AF_PACKET frames as thin asyncio adapters.

This module moves bytes.  Building and checking packets is ``vrrp.packet``'s job, deciding what
to send is ``vrrp.fsm``'s; here we only know how Linux wants the sockets set up (measured on Linux;
keepalived's vrrp/vrrp_if.c does the same):

* a raw socket bound to an *address* only receives packets sent to that address, so receiving
  and sending use separate sockets, as keepalived does;
* ``SO_BINDTODEVICE`` plus ``IP_MULTICAST_ALL=0`` is what keeps one interface's adverts out of
  another interface's socket (without it a raw socket sees every group anyone joined);
* TTL/hop limits other than 255 are delivered, so they are reported for the caller to reject.

Every socket can be made inside a named network namespace (``netns=``, through pyroute2's
fd-passing helper) so one test process can drive several nodes; with ``netns=None`` the socket
lives in the process's own namespace (the daemon run under ``ip netns exec``).  Interface names
are resolved with ioctls *on the socket*, hence in the socket's namespace, never the caller's.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import ipaddress
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

IPPROTO_VRRP = 112
VRRP_GROUP_V4 = "224.0.0.18"
VRRP_GROUP_V6 = "ff02::12"
#: keepalived's TOS / traffic class for adverts (DSCP CS6, "network control")
TOS_NETWORK_CONTROL = 0xC0
VRRP_TTL = 255

# missing from Python 3.11's socket module
IP_MULTICAST_ALL = 49
IPV6_MULTICAST_ALL = 29
SO_ATTACH_FILTER = 26
SIOCGIFINDEX = 0x8933
SIOCGIFHWADDR = 0x8927
IFNAMSIZ = 16

#: packets handled per wake-up, so a flood cannot starve the timers sharing the loop
_READ_BURST = 64
_RECV_SIZE = 65535


@dataclass(frozen=True, slots=True)
class Datagram:
    """One packet as the kernel handed it over.

    ``data`` is the whole IPv4 packet (header included) for IPv4; for IPv6 the kernel gives no
    header, so it equals ``payload`` (the VRRP message).  Same meaning as ``data`` in
    ``vrrp.packet.Received``, which the caller builds from this.  ``ttl`` is the IPv4 TTL or
    IPv6 hop limit (-1 if the kernel did not report it).
    """

    family: int
    data: bytes
    payload: bytes
    src: str
    dst: str
    ttl: int
    ifindex: int


# -- sockets in a namespace, interfaces seen from a socket ----------------------------------

def open_socket(family: int, type: int, proto: int = 0, netns: str | None = None) -> socket.socket:
    """A socket in ``netns`` (never created on the fly: ``flags=0``), or in our own namespace."""
    if netns is None:
        return socket.socket(family, type, proto)
    from pyroute2.netns import create_socket  # imported late: costs ~130 ms, daemon path skips it

    return create_socket(netns, family, type, proto, flags=0)  # type: ignore[no-any-return]


def _ifreq(ifname: str) -> bytes:
    name = ifname.encode()
    if not name or len(name) >= IFNAMSIZ:
        raise ValueError(f"bad interface name {ifname!r}")
    return struct.pack("16s24x", name)


def _ioctl(sock: socket.socket, request: int, ifname: str) -> bytes:
    try:
        return fcntl.ioctl(sock.fileno(), request, _ifreq(ifname))
    except OSError as e:
        raise OSError(e.errno, f"interface {ifname!r}: {e.strerror}") from e


def ifindex_of(sock: socket.socket, ifname: str) -> int:
    """Index of ``ifname`` in the namespace *of the socket* (``socket.if_nametoindex`` uses ours)."""
    return int(struct.unpack_from("i", _ioctl(sock, SIOCGIFINDEX, ifname), 16)[0])


def hwaddr_of(sock: socket.socket, ifname: str) -> bytes:
    """The 6-byte MAC of ``ifname``, seen from the socket's namespace."""
    return _ioctl(sock, SIOCGIFHWADDR, ifname)[18:24]


def interface_mac(ifname: str, netns: str | None = None) -> bytes:
    with open_socket(socket.AF_INET, socket.SOCK_DGRAM, 0, netns) as s:
        return hwaddr_of(s, ifname)


def _attach_drop_all(sock: socket.socket) -> None:
    """Make a send-only raw socket receive nothing (else every advert also queues on it, unread)."""
    insn = ctypes.create_string_buffer(struct.pack("HBBI", 0x06, 0, 0, 0))  # BPF_RET|BPF_K 0: drop
    prog = struct.pack("HP", 1, ctypes.addressof(insn))                      # struct sock_fprog
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, prog)
    for _ in range(_READ_BURST):  # what arrived before the filter
        try:
            sock.recv(_RECV_SIZE, socket.MSG_DONTWAIT)
        except OSError:
            break


def _mreqn(group: str, ifindex: int) -> bytes:
    return struct.pack("4s4si", socket.inet_aton(group), b"\0" * 4, ifindex)


# -- VRRP raw sockets ---------------------------------------------------------------------

class VrrpSocket:
    """The receive and send sockets of VRRP on one interface, for one address family.

    IPv4: ``send`` takes whole IP packets (``IP_HDRINCL``: the codec writes TTL 255, TOS 0xc0,
    the IP id and the source address, as keepalived does).  IPv6: ``send`` takes the VRRP
    message; the kernel adds the header (hop limit 255 to the multicast group, traffic class
    0xc0; to unicast destinations ``unicast_hop_limit``, where None leaves the interface's
    default hop limit as keepalived 2.2.7 does: 64 on a default host) and the checksum
    (``IPV6_CHECKSUM`` 6), and drops received packets whose checksum is wrong.

    Receive either with a callback (:meth:`start`) or with ``async for rx in sock``.
    """

    def __init__(self, ifname: str, family: int = socket.AF_INET, *, group: str | None = None,
                 src: str | None = None, netns: str | None = None, join: bool = True,
                 queue_size: int = 256, rcvbuf: int | None = None,
                 unicast_hop_limit: int | None = VRRP_TTL) -> None:
        if family not in (socket.AF_INET, socket.AF_INET6):
            raise ValueError("family must be AF_INET or AF_INET6")
        self.ifname = ifname
        self.family = family
        self.group = group or (VRRP_GROUP_V4 if family == socket.AF_INET else VRRP_GROUP_V6)
        self.netns = netns
        self.unicast_hop_limit = unicast_hop_limit
        #: packets dropped here (queue full, truncated or too short to carry an IP header)
        self.dropped = 0
        self._queue: asyncio.Queue[Datagram | None] = asyncio.Queue(queue_size)
        self._deliver: Callable[[Datagram], None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.rx = open_socket(family, socket.SOCK_RAW, IPPROTO_VRRP, netns)
        try:
            self.tx = open_socket(family, socket.SOCK_RAW, IPPROTO_VRRP, netns)
        except BaseException:
            self.rx.close()
            raise
        try:
            self.ifindex = ifindex_of(self.rx, ifname)
            if family == socket.AF_INET:
                self._setup_v4(join, src)
            else:
                self._setup_v6(join, src)
            if rcvbuf:
                self.rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        except BaseException:
            self.rx.close()
            self.tx.close()
            raise

    def _setup_v4(self, join: bool, src: str | None) -> None:
        dev = self.ifname.encode()
        mreqn = _mreqn(self.group, self.ifindex)
        for s in (self.rx, self.tx):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev)
            s.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
            s.setblocking(False)
        if join:
            self.rx.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
        tx = self.tx
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, VRRP_TTL)
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, VRRP_TTL)
        tx.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, TOS_NETWORK_CONTROL)
        if src:
            tx.bind((src, 0))
        _attach_drop_all(tx)

    def _setup_v6(self, join: bool, src: str | None) -> None:
        dev = self.ifname.encode()
        ip6 = socket.IPPROTO_IPV6
        for s in (self.rx, self.tx):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev)
            s.setsockopt(ip6, socket.IPV6_CHECKSUM, 6)
            with contextlib.suppress(OSError):  # kernels before 4.20 lack it
                s.setsockopt(ip6, IPV6_MULTICAST_ALL, 0)
            s.setblocking(False)
        rx = self.rx
        rx.setsockopt(ip6, socket.IPV6_RECVHOPLIMIT, 1)
        rx.setsockopt(ip6, socket.IPV6_RECVPKTINFO, 1)
        if join:
            mreq = socket.inet_pton(socket.AF_INET6, self.group) + struct.pack("@I", self.ifindex)
            rx.setsockopt(ip6, socket.IPV6_JOIN_GROUP, mreq)
        tx = self.tx
        tx.setsockopt(ip6, socket.IPV6_MULTICAST_IF, self.ifindex)
        tx.setsockopt(ip6, socket.IPV6_MULTICAST_HOPS, VRRP_TTL)
        if self.unicast_hop_limit is not None:
            tx.setsockopt(ip6, socket.IPV6_UNICAST_HOPS, self.unicast_hop_limit)
        tx.setsockopt(ip6, socket.IPV6_MULTICAST_LOOP, 0)
        tx.setsockopt(ip6, socket.IPV6_TCLASS, TOS_NETWORK_CONTROL)
        if src:
            tx.bind((src, 0, 0, self.ifindex))
        _attach_drop_all(tx)

    # -- sending ----------------------------------------------------------------------------
    def send(self, packet: bytes, dst: str | None = None, src: str | None = None,
             hop_limit: int | None = None) -> None:
        """Send one packet to ``dst`` (default: IPv4 the header's destination, IPv6 the group).

        IPv6: ``src`` is the source address the packet must carry (the instance's link-local
        address, or its ``unicast_src_ip``), passed as ``IPV6_PKTINFO`` so that the kernel's
        source selection (a global address towards a global unicast peer) cannot change it; the
        peer checks it against its ``unicast_peer`` list, and the checksum covers it.  IPv4
        carries its source (and TTL) in the header it is given.  ``hop_limit`` (IPv6 only) overrides
        the hop limit of this packet (keepalived's ``unicast_ttl``).

        Raises ``OSError`` (e.g. ENETDOWN while the link is down, EADDRNOTAVAIL while ``src`` is
        gone, EAGAIN when the queue is full): the caller counts and logs, the next advert is the
        retry.
        """
        if self.family == socket.AF_INET:
            if dst is None:
                if len(packet) < 20:
                    raise ValueError("IPv4 packet shorter than its header")
                dst = socket.inet_ntoa(packet[16:20])
            self.tx.sendto(packet, (dst, 0))
        else:
            cmsgs: list[tuple[int, int, bytes]] = []
            if src is not None:
                info = socket.inet_pton(socket.AF_INET6, src) + struct.pack("@I", self.ifindex)
                cmsgs.append((socket.IPPROTO_IPV6, socket.IPV6_PKTINFO, info))
            if hop_limit is not None:
                cmsgs.append((socket.IPPROTO_IPV6, socket.IPV6_HOPLIMIT, struct.pack("@i", hop_limit)))
            self.tx.sendmsg([packet], cmsgs, 0, (dst or self.group, 0, 0, self.ifindex))

    # -- receiving --------------------------------------------------------------------------
    def start(self, callback: Callable[[Datagram], None] | None = None) -> None:
        """Begin reading on the running loop; packets go to ``callback`` or to ``async for``."""
        if self._loop is not None:
            raise RuntimeError("VrrpSocket is already reading")
        if self._closed:
            raise RuntimeError("VrrpSocket is closed")
        self._deliver = callback or self._enqueue
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self.rx.fileno(), self._on_readable)

    def stop(self) -> None:
        """Stop reading (the sockets stay open; the kernel queues until :meth:`start`)."""
        if self._loop is not None:
            self._loop.remove_reader(self.rx.fileno())
            self._loop = None

    def __aiter__(self) -> VrrpSocket:
        if self._loop is None and not self._closed:
            self.start()
        return self

    async def __anext__(self) -> Datagram:
        if self._closed and self._queue.empty():
            raise StopAsyncIteration
        item = await self._queue.get()
        if item is None:
            raise StopAsyncIteration
        return item

    async def recv(self, timeout: float | None = None) -> Datagram:
        """The next packet (starts reading if needed); ``TimeoutError`` after ``timeout`` s."""
        self.__aiter__()
        return await asyncio.wait_for(self.__anext__(), timeout)

    def _enqueue(self, rx: Datagram) -> None:
        try:
            self._queue.put_nowait(rx)
        except asyncio.QueueFull:
            self.dropped += 1

    def _on_readable(self) -> None:
        assert self._deliver is not None
        read = self._read_v4 if self.family == socket.AF_INET else self._read_v6
        for _ in range(_READ_BURST):
            try:
                rx = read()
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                # e.g. ENETDOWN surfaced on the socket: nothing to deliver, keep the reader
                return
            if rx is None:
                self.dropped += 1
            else:
                self._deliver(rx)

    def _read_v4(self) -> Datagram | None:
        data, _, flags, addr = self.rx.recvmsg(_RECV_SIZE)
        if flags & socket.MSG_TRUNC or len(data) < 20:
            return None
        ihl = (data[0] & 0x0F) * 4
        if ihl < 20 or ihl > len(data):
            return None
        return Datagram(socket.AF_INET, data, data[ihl:], addr[0], socket.inet_ntoa(data[16:20]),
                        data[8], self.ifindex)

    def _read_v6(self) -> Datagram | None:
        data, anc, flags, addr = self.rx.recvmsg(
            _RECV_SIZE, socket.CMSG_SPACE(4) + socket.CMSG_SPACE(20))
        if flags & socket.MSG_TRUNC:
            return None
        ttl, dst, ifindex = -1, "", self.ifindex
        for level, kind, value in anc:
            if level != socket.IPPROTO_IPV6:
                continue
            if kind == socket.IPV6_HOPLIMIT and len(value) >= 4:
                ttl = struct.unpack("@i", value[:4])[0]
            elif kind == socket.IPV6_PKTINFO and len(value) >= 20:
                dst = str(ipaddress.IPv6Address(value[:16]))
                ifindex = struct.unpack("@I", value[16:20])[0]
        src = str(addr[0]).split("%", 1)[0]
        return Datagram(socket.AF_INET6, data, data, src, dst, ttl, ifindex)

    # -- lifetime ---------------------------------------------------------------------------
    def close(self) -> None:
        if self._closed:
            return
        self.stop()
        self._closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)  # wakes an ``async for`` waiting on us
        self.rx.close()
        self.tx.close()

    def __enter__(self) -> VrrpSocket:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


# -- link-layer frames: gratuitous ARP, unsolicited NA -------------------------------------

class FrameSender:
    """An AF_PACKET socket that sends ready-made Ethernet frames out of one interface.

    Protocol 0 in ``socket()`` and ``bind()``: the socket receives nothing, so it never has to
    be read.  Keep one per interface: in another namespace each socket costs a fork (~8 ms).
    """

    def __init__(self, ifname: str, netns: str | None = None) -> None:
        self.ifname = ifname
        self.sock = open_socket(socket.AF_PACKET, socket.SOCK_RAW, 0, netns)
        try:
            self.sock.bind((ifname, 0))  # the name is resolved through the socket: right netns
            self.mac = hwaddr_of(self.sock, ifname)
            self.sock.setblocking(False)
        except BaseException:
            self.sock.close()
            raise

    def send(self, frame: bytes) -> None:
        """Send one frame as is (destination MAC, source MAC, ethertype included)."""
        self.sock.send(frame)

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> FrameSender:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def send_frame(ifname: str, frame: bytes, netns: str | None = None) -> None:
    """Send one Ethernet frame out of ``ifname`` (one-shot; use :class:`FrameSender` for bursts)."""
    with FrameSender(ifname, netns) as fs:
        fs.send(frame)
