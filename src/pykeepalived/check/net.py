"""The one way checkers open sockets and connect (connect_ip/connect_port/bindto/bind_port/bind_if/fwmark).

Callback style (:class:`Connect`) because TCP_CHECK runs thousands of times a second: no Task, no
transport, just a writer callback and a timer.  The connect timeout starts when ``connect()`` is
called, never earlier, so a busy loop makes checks late rather than failed.  Async checkers use
:func:`connect`, the same mechanism behind a future.
"""

from __future__ import annotations

import asyncio
import errno
import socket
import struct
from collections.abc import Callable

from pykeepalived.config.model_lvs import CheckConnection

SO_MARK = getattr(socket, "SO_MARK", 36)
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
LINGER_RESET = struct.pack("ii", 1, 0)
"""SO_LINGER {on, 0}: close() sends RST, leaving no TIME_WAIT behind thousands of checks."""

ConnectCallback = Callable[[socket.socket | None, OSError | None], None]


def family_of(conn: CheckConnection) -> int:
    return socket.AF_INET6 if conn.connect_ip.version == 6 else socket.AF_INET


def target(conn: CheckConnection, port: int | None = None) -> tuple[str, int] | tuple[str, int, int, int]:
    """Socket address of the checked service (IPv6 link-local gets bind_if's scope)."""
    p = conn.connect_port if port is None else port
    if conn.connect_ip.version == 6:
        scope = socket.if_nametoindex(conn.bind_if) if conn.bind_if else 0
        return (str(conn.connect_ip), p, 0, scope)
    return (str(conn.connect_ip), p)


def open_socket(conn: CheckConnection, kind: int = socket.SOCK_STREAM, proto: int = 0,
                family: int | None = None) -> socket.socket:
    """A non-blocking socket with the checker's source options applied (raises OSError)."""
    fam = family_of(conn) if family is None else family
    sock = socket.socket(fam, kind, proto)
    try:
        sock.setblocking(False)
        if conn.fwmark:
            sock.setsockopt(socket.SOL_SOCKET, SO_MARK, conn.fwmark)
        if conn.bind_if:
            sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, conn.bind_if.encode())
        if conn.bindto is not None or conn.bind_port:
            any_addr = "::" if fam == socket.AF_INET6 else "0.0.0.0"
            src = str(conn.bindto) if conn.bindto is not None else any_addr
            sock.bind((src, conn.bind_port))
    except OSError:
        sock.close()
        raise
    return sock


def reset_close(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as haproxy's TCP check does: no TIME_WAIT, no work for the server."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
    except OSError:
        pass
    sock.close()


class Connect:
    """One non-blocking connect; ``callback(sock, None)`` when connected, ``(None, error)`` otherwise.

    The callback always runs from the event loop (never inside the constructor), so callers may
    start the next attempt from it without recursion.
    """

    __slots__ = ("_cb", "_fd", "_loop", "_sock", "_timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket, addr: tuple[str, int] | tuple[
            str, int, int, int], timeout: float, callback: ConnectCallback) -> None:
        self._loop = loop
        self._sock: socket.socket | None = sock
        self._cb = callback
        self._timer: asyncio.TimerHandle | None = None
        self._fd = sock.fileno()
        rc = sock.connect_ex(addr)
        if rc == 0:
            loop.call_soon(self._finish, None)
        elif rc == errno.EINPROGRESS:
            loop.add_writer(self._fd, self._ready)
            self._timer = loop.call_at(loop.time() + timeout, self._timeout)
        else:
            loop.call_soon(self._finish, OSError(rc, errno.errorcode.get(rc, str(rc))))

    def _ready(self) -> None:
        sock = self._sock
        if sock is None:
            return
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        self._finish(OSError(err, errno.errorcode.get(err, str(err))) if err else None)

    def _timeout(self) -> None:
        self._timer = None
        self._finish(TimeoutError(errno.ETIMEDOUT, "connect timeout"))

    def _finish(self, error: OSError | None) -> None:
        sock = self._sock
        if sock is None:
            return
        self._sock = None
        self._loop.remove_writer(self._fd)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if error is not None:
            sock.close()
            self._cb(None, error)
        else:
            self._cb(sock, None)

    def cancel(self) -> None:
        """Abandon the attempt (runner stopping): the socket is closed, the callback never runs."""
        sock = self._sock
        if sock is None:
            return
        self._sock = None
        self._loop.remove_writer(self._fd)
        if self._timer is not None:
            self._timer.cancel()
        sock.close()


async def connect(conn: CheckConnection, timeout: float, kind: int = socket.SOCK_STREAM,
                  port: int | None = None) -> socket.socket:
    """Open and connect a socket for ``conn`` (raises OSError / TimeoutError)."""
    loop = asyncio.get_running_loop()
    sock = open_socket(conn, kind)
    fut: asyncio.Future[socket.socket] = loop.create_future()

    def done(s: socket.socket | None, err: OSError | None) -> None:
        if fut.done():
            if s is not None:
                s.close()
        elif s is not None:
            fut.set_result(s)
        else:
            fut.set_exception(err if err is not None else OSError("connect failed"))

    c = Connect(loop, sock, target(conn, port), timeout, done)
    try:
        return await fut
    except asyncio.CancelledError:
        c.cancel()
        raise
