"""The forwarding engine of one proxy worker: one epoll loop, listeners, TCP and UDP relays.

Every worker binds every virtual service's address and port itself, with ``SO_REUSEPORT`` (the
kernel spreads new connections and UDP flows over the workers' sockets) and ``IP_FREEBIND`` (a
BACKUP load balancer that does not hold the VIP yet can bind it; no root is needed for either).
Real servers are reached from the host's own address: a full proxy, as haproxy's TCP mode.

TCP: one connection is two sockets.  Small reads (up to 16 KiB) are copied through one preallocated
buffer of the worker (``readv`` then ``write``: no Python object per read); a read that fills the buffer
marks a bulk transfer, and that direction moves with ``os.splice`` socket -> pipe -> socket from then on,
never through Python memory: what the socket holds goes into the worker's shared pipe and at once on to
the other socket.  For a few hundred bytes a copy costs the kernel less than splice's page references
(measured: 12 vs 14 us of CPU per small keep-alive request); for 100 KB responses splice wins.  What the
other socket cannot take stays behind (in a bytes object, or in the pipe, which the connection then keeps
until drained while the worker takes a fresh shared pipe from a pool), reading stops and writability is
awaited instead.  So pipes are held only by backlogged connections, which matters to an unprivileged user
(``pipe-user-pages-soft``).  Half-closes are forwarded (``shutdown(SHUT_WR)`` once a side's EOF has been
flushed); the connection ends when both directions are done, or on an error (reset) from either side.

UDP: a flow is a client address; each gets a connected socket to its real server (so replies come
back to the flow's own socket and are sent to the client from the VIP).  Datagrams are read with
``recvfrom_into`` / ``recv_into`` into one preallocated buffer; sending uses a cached memoryview per
length, so a datagram costs no Python allocation beyond the client's address tuple.  A flow idle for
``udp_timeout`` seconds (IPVS's UDP timeout, 300 s) is closed.

Counters (``ipvsadm --stats``), per destination: Conns (TCP connections and UDP flows scheduled);
InBytes / OutBytes exact (client -> server / server -> client payload bytes); InPkts / OutPkts are
what the proxy sees: for UDP, datagrams (exact); for TCP, the reads (splices) that moved data, which
is at most the number of segments (several segments that arrived together count once).  Active
connections are open TCP connections; UDP flows count as inactive, as IPVS counts them.

Persistence across workers: a persistent service's socket group carries a classic BPF program
(``SO_ATTACH_REUSEPORT_CBPF``) that picks the worker from the client's address under the
persistence netmask, so one client network always reaches the same worker and therefore the same
persistence template.  Other services keep the kernel's 4-tuple spread (one client opening many
connections, as a benchmark does, is served by every worker); their schedulers run per worker:
rr/wrr keep one rotation per worker, sh/dh/mh are the same table in every worker, and the
connection-count schedulers add the other workers' counts as of the last reconcile.
"""

from __future__ import annotations

import _socket
import ctypes
import errno
import fcntl as _fcntl
import logging
import os
import select
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from ...model import ServiceKey
from ...reconcile import AddDest, AddService, DelDest, DelService, EditDest, EditService, Op
from .dispatch import DestState, ServiceDispatch, _Template

log = logging.getLogger("pykeepalived.proxy")

IP_FREEBIND = 15
IPV6_FREEBIND = 78
SO_ATTACH_REUSEPORT_CBPF = 51
SO_DETACH_REUSEPORT_BPF = 68
SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
#: bytes one splice may move (a pipe holds 64 KiB by default; we ask for more)
CHUNK = 1 << 18
PIPE_SIZE = 1 << 18
F_SETPIPE_SZ = 1031
#: TCP reads up to this size are copied through the worker's buffer; a full one switches to splice
COPY_MAX = 16384
#: accepts / datagrams handled per readiness event before other sockets get a turn
BATCH = 64
#: pipes kept for reuse
PIPE_POOL = 512
UDP_TIMEOUT = 300.0
UDP_BUFFER = 65536
LISTEN_BACKLOG = 4096

IN = select.EPOLLIN
OUT = select.EPOLLOUT
ERR = select.EPOLLERR
HUP = select.EPOLLHUP
RDHUP = select.EPOLLRDHUP
IN_RDHUP = IN | RDHUP
NO_PIPE = (-1, -1)
fcntl = _fcntl.fcntl
F_SETFL = _fcntl.F_SETFL
_splice = os.splice
_readv = os.readv
_write = os.write
#: the C socket type: no Python-level __init__ per connection (socket.socket adds nothing used here)
_Socket = _socket.socket
_close = os.close
_STREAM = socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC
_TCP = socket.IPPROTO_TCP
_NODELAY = socket.TCP_NODELAY
_EINPROGRESS = errno.EINPROGRESS
_NONBLOCKING = os.O_RDWR | os.O_NONBLOCK


def reuseport_program(family: int, prefix: int, workers: int) -> bytes:
    """A classic BPF program for ``SO_ATTACH_REUSEPORT_CBPF``: socket index = a hash of the client's
    address masked to ``prefix`` bits, modulo ``workers`` (loads are relative to the network header)."""
    net = 0xFFF00000  # SKF_NET_OFF
    bits = 32 if family == 4 else 128
    mask = ((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1)
    ins: list[tuple[int, int, int, int]] = []
    if family == 4:
        ins += [(0x20, 0, 0, net + 12), (0x54, 0, 0, mask)]  # ld [saddr]; and #mask
    else:
        words = [(mask >> (96 - 32 * i)) & 0xFFFFFFFF for i in range(4)]
        for i, w in enumerate(words):
            ins += [(0x20, 0, 0, net + 8 + 4 * i), (0x54, 0, 0, w)]  # ld [saddr word i]; and #mask
            if i:
                ins.append((0xAC, 0, 0, 0))  # xor x
            ins.append((0x07, 0, 0, 0))  # tax
        ins.append((0x87, 0, 0, 0))  # txa
    ins += [(0x24, 0, 0, 0x9E3779B1),  # mul #golden ratio (32-bit ALU)
            (0x74, 0, 0, 16),          # rsh #16
            (0x94, 0, 0, workers),     # mod #workers
            (0x16, 0, 0, 0)]           # ret a
    return b"".join(struct.pack("=HBBI", *i) for i in ins)


def attach_reuseport_program(sock: socket.socket, program: bytes) -> None:
    n = len(program) // 8
    buf = ctypes.create_string_buffer(program, len(program))
    fprog = struct.pack("HL", n, ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)


def open_listener(key: ServiceKey, backlog: int = LISTEN_BACKLOG) -> socket.socket:
    """A non-blocking socket bound to the service's address and port (SO_REUSEPORT, IP_FREEBIND)."""
    fam = socket.AF_INET if key.family == 4 else socket.AF_INET6
    typ = socket.SOCK_STREAM if key.protocol == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(fam, typ | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if fam == socket.AF_INET:
            s.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
        else:
            s.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if typ == socket.SOCK_STREAM:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.bind((str(key.addr), key.port))
        if typ == socket.SOCK_STREAM:
            s.listen(backlog)
    except OSError:
        s.close()
        raise
    return s


class _Pipes:
    """A pool of pipe pairs: a connection takes two, gives them back if they are empty."""

    def __init__(self) -> None:
        self.free: list[tuple[int, int]] = []

    def get(self) -> tuple[int, int]:
        if self.free:
            return self.free.pop()
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            fcntl(w, F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:  # pipe-max-size lower for this user: the default 64 KiB will do
            pass
        return r, w

    def put(self, pipe: tuple[int, int], empty: bool) -> None:
        if empty and len(self.free) < PIPE_POOL:
            self.free.append(pipe)
        else:
            os.close(pipe[0])
            os.close(pipe[1])


class Listener:
    """One virtual service in this worker: its dispatch and its listening socket."""

    def __init__(self, engine: Engine, disp: ServiceDispatch) -> None:
        self.engine = engine
        self.disp = disp
        self.sock = open_listener(disp.key)
        self.fd = self.sock.fileno()
        self.family = self.sock.family
        self.flows: dict[Any, UdpFlow] = {}
        self.steered = False
        self.attach()

    def attach(self) -> None:
        """A persistent service's socket group picks the worker by client network (see the module
        docstring); a service that stops being persistent goes back to the kernel's 4-tuple spread."""
        disp = self.disp
        if disp.timeout and self.engine.workers > 1:
            prefix = disp.service.persistence_netmask
            if prefix is None:
                prefix = 32 if disp.key.family == 4 else 128
            attach_reuseport_program(self.sock, reuseport_program(disp.key.family, prefix, self.engine.workers))
            self.steered = True
        elif self.steered:
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, SO_DETACH_REUSEPORT_BPF, 0)
            except OSError:  # kernels before 5.2: the program stays (persistence stays consistent)
                pass
            self.steered = False

    def on_ready(self, ev: int) -> None:
        if self.disp.key.protocol == "tcp":
            self.engine._accept(self)
        else:
            self.engine._datagrams(self)

    def close(self) -> None:
        """The service is deleted: new connections are refused; TCP connections go on until they end;
        UDP flows end now (their replies would leave through this socket)."""
        for f in list(self.flows.values()):
            f.close()
        self.flows.clear()
        self.engine.forget(self.fd)
        self.sock.close()


class TcpConn:
    """One proxied TCP connection: client socket, real-server socket, a pipe per backlogged direction.

    The connection to the real server is not awaited: both sockets are watched for reading at once, and
    what the client sends before the real server accepted waits in a pipe (the real server's socket
    reports EAGAIN until connected, then writability); a refused connection reports an error and ends
    the client's too.  Saves a wake-up and two system calls per connection.
    """

    __slots__ = (
        "cbuf",
        "ceof",
        "cfd",
        "cmask",
        "cpend",
        "csp",
        "cu",
        "dest",
        "disp",
        "done",
        "eng",
        "family",
        "stats",
        "tpl",
        "ubuf",
        "uc",
        "ueof",
        "ufd",
        "umask",
        "upend",
        "usock",
        "usp",
    )

    def __init__(self, eng: Engine, disp: ServiceDispatch, dest: DestState, tpl: _Template | None,
                 cfd: int, family: int) -> None:
        self.eng = eng
        self.disp = disp
        self.dest = dest
        self.tpl = tpl
        self.cfd = cfd
        self.family = family
        self.stats = dest.stats
        self.cpend = self.upend = 0
        self.ceof = self.ueof = False
        self.done = False
        self.cu = self.uc = NO_PIPE
        self.cbuf = self.ubuf = b""
        self.csp = self.usp = False
        us = self.usock = _Socket(family, _STREAM)
        ufd = self.ufd = us.fileno()
        us.setsockopt(_TCP, _NODELAY, 1)
        err = us.connect_ex(dest.sockaddr)
        if err and err != _EINPROGRESS:
            self.cmask = self.umask = 0
            self.close()
            return
        handlers = eng.handlers
        handlers[cfd] = self.on_client
        handlers[ufd] = self.on_upstream
        register = eng.ep.register
        register(cfd, IN_RDHUP)
        register(ufd, IN_RDHUP)
        self.cmask = self.umask = IN

    # -- events ------------------------------------------------------------------------------------
    def on_client(self, ev: int) -> None:
        if ev == IN:  # the common case: forward what arrived; nothing else to look at unless it backlogged
            if self._client_read():
                self._interest()
            return
        if ev & IN:
            self._client_read()
            if ev & RDHUP and not (self.done or self.cpend or self.ceof):
                self._client_read()  # the client shut down: read its EOF now, not on another wake-up
        elif ev & ERR:
            self.close()
            return
        if ev & OUT and self.upend and not self.done:
            self._flush_uc()
        if not self.done:
            if ev & HUP and not self.cmask & IN:
                self.close()
            else:
                self._interest()

    def on_upstream(self, ev: int) -> None:
        if ev == IN:
            if self._upstream_read():
                self._interest()
            return
        if ev & IN:
            self._upstream_read()
            if ev & RDHUP and not (self.done or self.upend or self.ueof):
                self._upstream_read()
        elif ev & ERR:
            self.close()
            return
        if ev & OUT and self.cpend and not self.done:
            self._flush_cu()
        if not self.done:
            if ev & HUP and not self.umask & IN:
                self.close()
            else:
                self._interest()

    # -- client -> real server ---------------------------------------------------------------------
    # Reads go through the worker's shared pipe and straight on to the other socket; only bytes the
    # other socket cannot take yet stay behind, and then the connection keeps that pipe (a fresh one
    # becomes the shared pipe) until it has drained: pipes are held by backlogged connections only.
    # The read functions return True when the connection's state changed (backlog, EOF, closed).
    def _client_read(self) -> bool:
        if not self.csp:
            return self._client_copy()
        eng = self.eng
        pipe = eng.shared
        try:
            n = _splice(self.cfd, pipe[1], CHUNK, None, None, SPLICE_FLAGS)
        except BlockingIOError:
            return False
        except OSError:
            self.close()
            return True
        if n == 0:
            self.ceof = True
            if self.ueof and not self.upend:  # both directions done: close() sends the FIN, no shutdown needed
                self.close()
            else:
                self._shut(self.usock)
            return True
        st = self.stats
        st[1] += 1
        st[3] += n
        try:
            m = _splice(pipe[0], self.ufd, n, None, None, SPLICE_FLAGS)
        except BlockingIOError:
            m = 0
        except OSError:
            m = -1
        if m == n:
            return False
        self.cu = pipe  # the rest waits in this pipe, which the connection now owns
        if not eng.replace_shared(n - max(m, 0)):
            self.cu = NO_PIPE
            self.close()
            return True
        if m < 0:
            self.close()
        else:
            self.cpend = n - m
        return True

    def _client_copy(self) -> bool:
        """Small messages are read into the worker's buffer and written on: for a few hundred bytes a
        copy costs the kernel less than splice's page references.  A read that fills the buffer means
        a bulk transfer: this direction splices from then on."""
        eng = self.eng
        try:
            n = _readv(self.cfd, eng.iov)
        except BlockingIOError:
            return False
        except OSError:
            self.close()
            return True
        if n == 0:
            self.ceof = True
            if self.ueof and not self.upend:
                self.close()
            else:
                self._shut(self.usock)
            return True
        st = self.stats
        st[1] += 1
        st[3] += n
        if n == COPY_MAX:
            self.csp = True
        v = eng.tviews.get(n)
        if v is None:
            v = eng.tviews[n] = eng.tmv[:n]
        try:
            m = _write(self.ufd, v)
        except BlockingIOError:
            m = 0
        except OSError:
            self.close()
            return True
        if m == n:
            return False
        self.cbuf = bytes(v[m:])
        self.cpend = n - m
        return True

    def _flush_cu(self) -> None:
        if self.cbuf:
            try:
                m = _write(self.ufd, self.cbuf)
            except BlockingIOError:
                return
            except OSError:
                self.close()
                return
            self.cpend -= m
            self.cbuf = self.cbuf[m:]
            if not self.cpend and self.ceof:
                self._shut(self.usock)
            return
        try:
            m = _splice(self.cu[0], self.ufd, self.cpend, None, None, SPLICE_FLAGS)
        except BlockingIOError:
            return
        except OSError:
            self.close()
            return
        self.cpend -= m
        if not self.cpend:
            self.eng.pipes.put(self.cu, True)
            self.cu = NO_PIPE
            if self.ceof:
                self._shut(self.usock)

    # -- real server -> client ---------------------------------------------------------------------
    def _upstream_read(self) -> bool:
        if not self.usp:
            return self._upstream_copy()
        eng = self.eng
        pipe = eng.shared
        try:
            n = _splice(self.ufd, pipe[1], CHUNK, None, None, SPLICE_FLAGS)
        except BlockingIOError:
            return False
        except OSError:
            self.close()
            return True
        if n == 0:
            self.ueof = True
            if self.ceof and not self.cpend:
                self.close()
            else:
                self._shut_client()
            return True
        st = self.stats
        st[2] += 1
        st[4] += n
        try:
            m = _splice(pipe[0], self.cfd, n, None, None, SPLICE_FLAGS)
        except BlockingIOError:
            m = 0
        except OSError:
            m = -1
        if m == n:
            return False
        self.uc = pipe
        if not eng.replace_shared(n - max(m, 0)):
            self.uc = NO_PIPE
            self.close()
            return True
        if m < 0:
            self.close()
        else:
            self.upend = n - m
        return True

    def _upstream_copy(self) -> bool:
        eng = self.eng
        try:
            n = _readv(self.ufd, eng.iov)
        except BlockingIOError:
            return False
        except OSError:
            self.close()
            return True
        if n == 0:
            self.ueof = True
            if self.ceof and not self.cpend:
                self.close()
            else:
                self._shut_client()
            return True
        st = self.stats
        st[2] += 1
        st[4] += n
        if n == COPY_MAX:
            self.usp = True
        v = eng.tviews.get(n)
        if v is None:
            v = eng.tviews[n] = eng.tmv[:n]
        try:
            m = _write(self.cfd, v)
        except BlockingIOError:
            m = 0
        except OSError:
            self.close()
            return True
        if m == n:
            return False
        self.ubuf = bytes(v[m:])
        self.upend = n - m
        return True

    def _flush_uc(self) -> None:
        if self.ubuf:
            try:
                m = _write(self.cfd, self.ubuf)
            except BlockingIOError:
                return
            except OSError:
                self.close()
                return
            self.upend -= m
            self.ubuf = self.ubuf[m:]
            if not self.upend and self.ueof:
                self._shut_client()
            return
        try:
            m = _splice(self.uc[0], self.cfd, self.upend, None, None, SPLICE_FLAGS)
        except BlockingIOError:
            return
        except OSError:
            self.close()
            return
        self.upend -= m
        if not self.upend:
            self.eng.pipes.put(self.uc, True)
            self.uc = NO_PIPE
            if self.ueof:
                self._shut_client()

    # -- state ---------------------------------------------------------------------------------------
    def _interest(self) -> None:
        if self.done:
            return
        cpend, upend = self.cpend, self.upend
        if self.ceof and self.ueof and not cpend and not upend:
            self.close()
            return
        cm = (IN if not self.ceof and not cpend else 0) | (OUT if upend else 0)
        um = (IN if not self.ueof and not upend else 0) | (OUT if cpend else 0)
        ep = self.eng.ep
        if cm != self.cmask:
            ep.modify(self.cfd, cm | RDHUP if cm & IN else cm)
            self.cmask = cm
        if um != self.umask:
            ep.modify(self.ufd, um | RDHUP if um & IN else um)
            self.umask = um

    def _shut(self, sock: _socket.socket) -> None:
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def _shut_client(self) -> None:
        s = _Socket(self.family, socket.SOCK_STREAM, 0, self.cfd)
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            s.detach()

    def close(self) -> None:
        if self.done:
            return
        self.done = True
        eng = self.eng
        handlers, closed = eng.handlers, eng._closed
        for fd in (self.cfd, self.ufd):
            if handlers.pop(fd, None) is not None:
                closed.add(fd)
        _close(self.cfd)
        self.usock.close()
        if self.cu[0] >= 0:
            eng.pipes.put(self.cu, False)
        if self.uc[0] >= 0:
            eng.pipes.put(self.uc, False)
        eng.conns.discard(self)
        disp = self.disp
        disp.unbound(self.dest, self.tpl, active=True)
        disp.linger(self.dest, eng.clock())


class UdpFlow:
    """One client address of a UDP service: a socket connected to its real server."""

    __slots__ = ("addr", "dest", "fd", "last", "listener", "sock", "stats", "tpl")

    def __init__(self, listener: Listener, addr: Any, dest: DestState, tpl: _Template | None, now: float) -> None:
        self.listener = listener
        self.addr = addr
        self.dest = dest
        self.tpl = tpl
        self.stats = dest.stats
        self.last = now
        s = self.sock = socket.socket(listener.family, socket.SOCK_DGRAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        s.connect(dest.sockaddr)
        self.fd = s.fileno()
        eng = listener.engine
        eng.handlers[self.fd] = self.on_reply
        eng.ep.register(self.fd, IN)

    def on_reply(self, ev: int) -> None:
        eng = self.listener.engine
        recv_into, sendto = self.sock.recv_into, self.listener.sock.sendto
        buf, views, addr, st = eng.buf, eng.views, self.addr, self.stats
        for _ in range(BATCH):
            try:
                n = recv_into(buf)
            except BlockingIOError:
                return
            except OSError:  # ICMP unreachable from the real server: the datagram is lost, as in the kernel
                continue
            v = views.get(n)
            if v is None:
                v = views[n] = eng.mv[:n]
            try:
                sendto(v, addr)
            except OSError:
                continue
            st[2] += 1
            st[4] += n

    def close(self) -> None:
        eng = self.listener.engine
        eng.forget(self.fd)
        self.sock.close()
        self.listener.disp.unbound(self.dest, self.tpl, active=False)


class Engine:
    """The worker's event loop and its table of services."""

    def __init__(self, index: int = 0, workers: int = 1, *, udp_timeout: float = UDP_TIMEOUT,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.index = index
        self.workers = workers
        self.udp_timeout = udp_timeout
        self.clock = clock
        self.ep = select.epoll()
        self.handlers: dict[int, Callable[[int], None]] = {}
        self.listeners: dict[ServiceKey, Listener] = {}
        self.conns: set[TcpConn] = set()
        self.pipes = _Pipes()
        #: the pipe every connection splices through while its data flows straight on
        self.shared = self.pipes.get()
        self.buf = bytearray(UDP_BUFFER)
        self.mv = memoryview(self.buf)
        self.views: dict[int, memoryview] = {}
        #: the TCP copy buffer, its one-element iovec and a view of each length (no allocation per read)
        self.tbuf = bytearray(COPY_MAX)
        self.iov = [self.tbuf]
        self.tmv = memoryview(self.tbuf)
        self.tviews: dict[int, memoryview] = {}
        self.running = True
        self._closed: set[int] = set()
        self._tickers: list[Callable[[float], None]] = []
        #: listeners whose accept failed (out of descriptors): watched again on the next tick
        self._paused: list[Listener] = []
        self.accept_errors = 0
        self.pipe_errors = 0
        self.handler_errors = 0

    # -- fds -----------------------------------------------------------------------------------------
    def forget(self, fd: int) -> None:
        """``fd`` is about to be closed: no handler, and no event of this batch, reaches it any more."""
        if self.handlers.pop(fd, None) is not None:
            self._closed.add(fd)

    def replace_shared(self, left: int) -> bool:
        """A connection took the shared pipe (``left`` bytes of its own in it): a fresh one is shared
        from now on.  Out of descriptors, the connection is dropped instead: its bytes are read out of
        the pipe, which stays the shared one (returns False)."""
        try:
            self.shared = self.pipes.get()
            return True
        except OSError as e:
            self.pipe_errors += 1
            if self.pipe_errors & (self.pipe_errors - 1) == 0:
                log.warning("no pipe for a backlogged connection (%d times): %s; connection dropped",
                            self.pipe_errors, e)
            while left > 0:
                left -= len(os.read(self.shared[0], min(left, 65536)))
            return False

    # -- table ---------------------------------------------------------------------------------------
    def apply(self, ops: list[Op]) -> None:
        for op in ops:
            if isinstance(op, AddService):
                if op.service.key in self.listeners:
                    self._edit(op.service)
                    continue
                disp = ServiceDispatch(op.service)
                lst = Listener(self, disp)
                self.listeners[disp.key] = lst
                self.handlers[lst.fd] = lst.on_ready
                self.ep.register(lst.fd, IN)
            elif isinstance(op, EditService):
                self._edit(op.service)
            elif isinstance(op, DelService):
                lst_ = self.listeners.pop(op.key, None)
                if lst_ is not None:
                    lst_.close()  # established connections and UDP flows go on until they end
            elif isinstance(op, AddDest):
                self._disp(op.service).add_dest(op.dest)
            elif isinstance(op, EditDest):
                self._disp(op.service).edit_dest(op.dest)
            elif isinstance(op, DelDest):
                self._disp(op.service).del_dest(op.key)

    def _edit(self, svc: Any) -> None:
        lst = self.listeners[svc.key]
        before = (lst.disp.timeout, lst.disp.service.persistence_netmask)
        lst.disp.edit(svc)
        if (lst.disp.timeout, lst.disp.service.persistence_netmask) != before:
            lst.attach()

    def _disp(self, key: ServiceKey) -> ServiceDispatch:
        lst = self.listeners.get(key)
        if lst is None:
            raise KeyError(f"no service {key}")
        return lst.disp

    def close_all(self) -> None:
        for conn in list(self.conns):
            conn.close()
        for lst in self.listeners.values():
            lst.close()
        self.listeners.clear()

    # -- accept / datagrams ----------------------------------------------------------------------------
    def _accept(self, lst: Listener) -> None:
        accept, disp, family = lst.sock._accept, lst.disp, lst.family  # type: ignore[attr-defined]
        now = self.clock()
        for _ in range(BATCH):
            try:
                fd, addr = accept()
            except BlockingIOError:
                return
            except OSError as e:  # EMFILE and the like: the connection waits in the backlog
                self.accept_errors += 1
                if self.accept_errors & (self.accept_errors - 1) == 0:
                    log.warning("accept on %s failed (%d times): %s", disp.key, self.accept_errors, e)
                # the listener stays readable: stop watching it until the next tick, not spin on it
                self.ep.modify(lst.fd, 0)
                self._paused.append(lst)
                return
            fcntl(fd, F_SETFL, _NONBLOCKING)  # accept4 without SOCK_NONBLOCK: one fcntl, not os.set_blocking's two
            dest = disp.pick(addr[0], addr[1], now)
            if dest is None:  # no real server may take it: refused, as IPVS answers with a reset
                os.close(fd)
                continue
            tpl = disp.last_template
            disp.bound(dest, tpl, active=True)
            try:
                conn = TcpConn(self, disp, dest, tpl, fd, family)
            except OSError:
                os.close(fd)
                disp.unbound(dest, tpl, active=True)
                continue
            if not conn.done:
                self.conns.add(conn)

    def _datagrams(self, lst: Listener) -> None:
        recvfrom_into, flows, disp = lst.sock.recvfrom_into, lst.flows, lst.disp
        buf, views = self.buf, self.views
        now = self.clock()
        for _ in range(BATCH):
            try:
                n, addr = recvfrom_into(buf)
            except BlockingIOError:
                return
            except OSError:
                continue
            f = flows.get(addr)
            if f is None:
                dest = disp.pick(addr[0], addr[1], now)
                if dest is None:
                    continue
                tpl = disp.last_template
                disp.bound(dest, tpl, active=False)
                try:
                    f = flows[addr] = UdpFlow(lst, addr, dest, tpl, now)
                except OSError:
                    disp.unbound(dest, tpl, active=False)
                    continue
            else:
                f.last = now
            v = views.get(n)
            if v is None:
                v = views[n] = self.mv[:n]
            try:
                f.sock.send(v)
            except OSError:
                continue
            st = f.stats
            st[1] += 1
            st[3] += n

    # -- upkeep ----------------------------------------------------------------------------------------
    def tick(self, now: float) -> None:
        """Once a second: UDP flows idle too long end, persistence templates expire."""
        for lst in self._paused:
            if self.listeners.get(lst.disp.key) is lst:
                self.ep.modify(lst.fd, IN)
        self._paused.clear()
        limit = now - self.udp_timeout
        for lst in list(self.listeners.values()):
            if lst.flows:
                for addr in [a for a, f in lst.flows.items() if f.last <= limit]:
                    lst.flows.pop(addr).close()
            lst.disp.expire(now)
        for t in self._tickers:
            t(now)

    def run(self) -> None:
        """Serve until :attr:`running` is false."""
        poll, handlers, closed = self.ep.poll, self.handlers, self._closed
        clock = self.clock
        next_tick = clock() + 1.0
        while self.running:
            events = poll(1.0)
            for fd, ev in events:
                if closed and fd in closed:
                    continue
                h = handlers.get(fd)
                if h is not None:
                    try:
                        h(ev)
                    except Exception:  # a bug must not take every connection of the worker with it
                        self.handler_errors += 1
                        if self.handler_errors & (self.handler_errors - 1) == 0:
                            log.exception("event handler failed (%d times)", self.handler_errors)
            if closed:
                closed.clear()
            now = clock()
            if now >= next_tick:
                next_tick = now + 1.0
                self.tick(now)
