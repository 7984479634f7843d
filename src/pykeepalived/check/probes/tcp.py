"""TCP_CHECK: success is a connection established within connect_timeout (keepalived's ``check_tcp.c``).

One step (the connect): its timeout is the attempt's deadline.  Pure callbacks on the loop's
:class:`~pykeepalived.check.net.Poller`, because it runs thousands of times a second: one socket, one
epoll registration and one timer entry per attempt, and no allocation for a verdict
(:func:`~.common.verdict`).
"""

from __future__ import annotations

import asyncio
import errno
import socket
from _socket import socket as _raw_socket
from socket import SO_LINGER, SOL_SOCKET

from pykeepalived.check.net import (
    CONNECT_FAIL,
    EPOLLERR_HUP,
    EPOLLOUT,
    LINGER_RESET,
    STREAM_NONBLOCK,
    TCP_QUICKACK,
    Poller,
    SetupError,
    family_of,
    open_socket,
    poller_for,
    target,
)
from pykeepalived.check.probes.common import Done, Kind, Setup, verdict
from pykeepalived.check.state import Result
from pykeepalived.config.model_lvs import CheckConnection, RealServer, TcpCheck, VirtualServer

#: keepalived's line when the socket cannot be set up; the attempt gives no verdict
TCP_SETUP_FAILED = "TCP socket bind failed. Rescheduling."
TCP_OK = verdict(True)


def _errno_reason(err: int) -> Result:
    return verdict(False, errno.errorcode.get(err, str(err)))


class TcpProbe:
    """TCP_CHECK: success = connected within connect_timeout; then closed at once, with a FIN.

    keepalived's dialogue on the wire: the handshake completed, then an orderly close (its socket has
    SO_LINGER 5 s, which only makes its ``close()`` wait for the FIN's ACK; here the kernel sends the FIN
    and the loop never waits), so the server sees a connection opened and closed, never a reset.  As
    keepalived's, each check leaves a TIME_WAIT on this host (one per real server: a distinct address).
    The connect timeout starts at ``connect()``.  A socket that cannot be set up (bindto an address this
    host does not hold) gives no verdict, as in keepalived (:attr:`.state.Result.skip`).

    ``half_open`` (off by default) closes the way haproxy's TCP check does: TCP_QUICKACK off delays our
    final ACK and an RST (SO_LINGER 0) goes first, so the server never accept()s -- less work on both
    sides of loopback (the checker benchmark's like-for-like comparison with haproxy).
    """

    __slots__ = ("_addr", "_attempt", "_conn", "_done", "_family", "_fd", "_half_open", "_loop", "_on_expire",
                 "_on_ready", "_plain", "_poller", "_sock", "_timeout")

    def __init__(self, conn: CheckConnection, loop: asyncio.AbstractEventLoop, half_open: bool = False) -> None:
        self._conn = conn
        self._addr = target(conn)
        self._family = family_of(conn)
        self._plain = not (conn.fwmark or conn.bind_if or conn.bindto is not None or conn.bind_port)
        self._timeout = conn.connect_timeout
        self._half_open = half_open
        self._loop = loop
        self._poller: Poller | None = None
        self._sock: _raw_socket | None = None
        self._done: Done | None = None
        self._fd = -1
        self._attempt = 0
        self._on_ready = self._ready
        self._on_expire = self._expire

    def _socket(self) -> _raw_socket:
        # the C socket type itself: socket.socket's Python __init__ and close() are a visible share of a check
        sock = _raw_socket(self._family, STREAM_NONBLOCK) if self._plain else open_socket(self._conn)
        if self._half_open:
            try:
                sock.setsockopt(SOL_SOCKET, SO_LINGER, LINGER_RESET)
                sock.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 0)
            except OSError:
                sock.close()
                raise
        return sock

    def start(self, done: Done) -> None:
        loop = self._loop
        try:
            if self._plain and not self._half_open:  # (_socket(), inline: the usual case)
                sock = _raw_socket(self._family, STREAM_NONBLOCK)
            else:
                sock = self._socket()
        except OSError as e:  # keepalived: log, try again after delay_loop, no verdict
            note = e.detail if isinstance(e, SetupError) else f"Checker bind failed: {e.strerror or e}"
            loop.call_soon(done, Result(False, reason=TCP_SETUP_FAILED, note=note, skip=True))
            return
        try:
            rc = sock.connect_ex(self._addr)
        except OSError as e:
            sock.close()
            loop.call_soon(done, Result(False, reason=TCP_SETUP_FAILED, note=e.strerror or str(e), skip=True))
            return
        if rc == errno.EINPROGRESS:
            poller = self._poller
            if poller is None:
                poller = self._poller = poller_for(loop)
            fd = self._fd = sock.fileno()
            self._sock = sock
            self._done = done
            self._attempt += 1
            poller.epoll.register(fd, EPOLLOUT)  # (poller.register, inline)
            poller.handlers[fd] = self._on_ready
            poller.timers.add_after(self._timeout, self._on_expire, self._attempt)
            return
        sock.close()
        if rc == 0 or rc in CONNECT_FAIL:
            loop.call_soon(done, TCP_OK if rc == 0 else _errno_reason(rc))
        else:  # a local error (keepalived's connect_error): no verdict
            loop.call_soon(done, Result(False, reason=TCP_SETUP_FAILED, skip=True))

    def _ready(self, events: int) -> None:
        sock = self._sock
        done = self._done
        if sock is None or done is None:
            return
        self._sock = self._done = None
        assert self._poller is not None
        self._poller.handlers.pop(self._fd, None)  # (poller.forget, inline)
        # EPOLLOUT alone is a completed connect; the error is only fetched when there is one
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) if events & EPOLLERR_HUP else 0
        sock.close()  # a FIN (half_open: an RST, before our final ACK)
        done(TCP_OK if err == 0 else _errno_reason(err))

    def _expire(self, attempt: int) -> None:
        sock = self._sock
        done = self._done
        if attempt != self._attempt or sock is None or done is None:
            return
        self._sock = self._done = None
        assert self._poller is not None
        self._poller.forget(self._fd)
        sock.close()
        done(verdict(False, "connect timeout"))

    def cancel(self) -> None:
        sock = self._sock
        if sock is None:
            return
        self._sock = self._done = None
        if self._poller is not None:
            self._poller.forget(self._fd)
        sock.close()


def build(setup: Setup, vs: VirtualServer, rs: RealServer, checker: TcpCheck) -> TcpProbe:
    return TcpProbe(checker.connection, setup.loop, setup.tcp_half_open)


KIND = Kind(TcpCheck, ("TCP_CHECK",), steps=1, build=build)
