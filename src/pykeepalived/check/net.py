"""The one way checkers open sockets and connect (connect_ip/connect_port/bindto/bind_port/bind_if/fwmark).

The hot checkers (TCP_CHECK, HTTP_GET) run thousands of times a second, so they use the cheapest
mechanism asyncio allows: their sockets sit on one private epoll (:class:`Poller`), which is itself a
single reader of the event loop, and their timeouts are entries of one heap of plain tuples
(:class:`Timers`) behind a single loop timer.  Per check there is no Task, no transport, no Handle and
no TimerHandle.  Timeouts start when ``connect()`` is called, never earlier, so a busy loop makes
checks late rather than failed.

The slow checkers use :class:`Connect` (a writer callback and a loop timer) or :func:`connect`, the
same mechanism behind a future, and read with :func:`recv_by` (through
:class:`pykeepalived.check.probes.common.Dialogue`).

One deadline per check (a backend is untrusted input). keepalived gives each step of a check (connect,
write, each read) its own ``connect_timeout``, re-armed by every read, so a backend that never stops
sending, or drips a byte just inside the timeout, keeps a check going for ever. Here each step still
times out after ``connect_timeout`` (keepalived's messages and timings for a normal reply are
unchanged), and the whole attempt also ends at :class:`Deadline`'s ``end``: ``connect_timeout`` times
the number of steps of the checker's dialogue (each kind's ``steps``,
:data:`pykeepalived.check.probes.CHECK_STEPS`), which is keepalived's own worst case for a reply that
arrives within one read timeout. Every receive loop reads a bounded amount per wake-up and then gives
the event loop back (:func:`recv_by`; ``HttpGet``'s read budget), so a peer that always has data ready
cannot starve the other checks, the timers or the signal handlers.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import heapq
import itertools
import select
import socket
import struct
import time
import weakref
from collections.abc import Callable
from typing import Any

from pykeepalived.config.model_lvs import CheckConnection

SO_MARK = getattr(socket, "SO_MARK", 36)
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
TCP_QUICKACK = getattr(socket, "TCP_QUICKACK", 12)
LINGER_RESET = struct.pack("ii", 1, 0)
"""SO_LINGER {on, 0}: close() sends RST (TCP_CHECK's haproxy-style ``half_open`` close only)."""

ConnectCallback = Callable[[socket.socket | None, OSError | None], None]

EPOLLIN = select.EPOLLIN
EPOLLOUT = select.EPOLLOUT
EPOLLERR_HUP = select.EPOLLERR | select.EPOLLHUP
EPOLLRDHUP = select.EPOLLRDHUP
#: one registration for a whole exchange: edge-triggered reads and writes, and "the peer sent FIN"
#: reported with the data, so a reply and its EOF are usually read in one wake-up
EPOLL_EXCHANGE = select.EPOLLIN | select.EPOLLOUT | select.EPOLLRDHUP | select.EPOLLET
#: errno values of an immediate connect() failure that keepalived counts as a failed check ("connect_fail");
#: any other is a local error ("connect_error"): logged, retried after delay_loop, state untouched
CONNECT_FAIL = frozenset({errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNREFUSED, errno.EHOSTDOWN,
                          errno.ENETDOWN, errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT})

#: socket type of a non-blocking stream socket created in one system call
STREAM_NONBLOCK = socket.SOCK_STREAM | getattr(socket, "SOCK_NONBLOCK", 0)


class Deadline:
    """One check attempt's time budget, pure (loop times are arguments, tests pass their own).

    ``step`` is keepalived's per-step timeout (connect_timeout); ``end`` = start + ``steps`` x ``step``
    is the attempt's one overall deadline, which no step may pass.
    """

    __slots__ = ("end", "step")

    def __init__(self, now: float, step: float, steps: int) -> None:
        self.step = step
        self.end = now + step * steps

    def step_end(self, now: float) -> float:
        """When a step starting at ``now`` times out: ``now + step``, but never after :attr:`end`."""
        return min(now + self.step, self.end)

    def expired(self, now: float) -> bool:
        return now >= self.end


def _wake(fut: asyncio.Future[bool], readable: bool) -> None:
    if not fut.done():
        fut.set_result(readable)


async def recv_by(loop: asyncio.AbstractEventLoop, sock: socket.socket, size: int, until: float) -> bytes:
    """One ``recv(size)`` once the socket is readable, before loop time ``until`` (else TimeoutError).

    ``loop.sock_recv`` returns without suspending when data is already waiting, so a
    ``while True: await loop.sock_recv(...)`` loop against a peer that never stops sending never gives
    the event loop back: no timer (its own timeout included) and no signal handler runs again.  This
    always waits for the loop's readiness callback first: at most one read of ``size`` bytes per
    wake-up, and the deadline is looked at before every read.
    """
    fd = sock.fileno()
    while True:
        if loop.time() >= until:
            raise TimeoutError(errno.ETIMEDOUT, "read timeout")
        fut: asyncio.Future[bool] = loop.create_future()
        loop.add_reader(fd, _wake, fut, True)
        timer = loop.call_at(until, _wake, fut, False)
        try:
            readable = await fut
        finally:
            loop.remove_reader(fd)
            timer.cancel()
        if not readable:
            raise TimeoutError(errno.ETIMEDOUT, "read timeout")
        try:
            return sock.recv(size)
        except (BlockingIOError, InterruptedError):
            continue


def clock_of(loop: asyncio.AbstractEventLoop) -> Callable[[], float]:
    """The loop's clock, as the C function itself when the loop keeps asyncio's own (``time.monotonic``):
    the hot paths read it several times per check, and ``loop.time()`` is a Python call each time."""
    if type(loop).time is asyncio.BaseEventLoop.time:
        return time.monotonic
    return loop.time


_Lane = tuple[collections.deque[float], collections.deque[Callable[[Any], object]], collections.deque[Any]]


class Timers:
    """Many one-shot timers behind one loop timer.

    Timers at an arbitrary time (:meth:`add`) are ``(when, seq, fn, arg)`` tuples on a heap; timers a
    fixed delay from now (:meth:`add_after`: timeouts, delay_loop) go to one FIFO lane per delay, since
    with one clock and one delay they come due in the order they were added: O(1) instead of the
    heap's O(log n) tuple comparisons, which at 10,000 checks/s are a visible share of the CPU.
    (The loop's own ``call_at`` allocates a TimerHandle and compares with a Python ``__lt__``.)
    There is no cancel: an owner that no longer wants a timer ignores the call (pass an attempt
    number as ``arg`` and compare).  Entries never fire before their time; the due ones of one pass
    fire heap first, then lane by lane, each lane in order.
    """

    __slots__ = ("__weakref__", "_armed", "_clock", "_handle", "_heap", "_lanes", "_loopref", "_running", "_seq")

    #: more distinct delays than this go to the heap (a lane per delay only pays while they are few)
    MAX_LANES = 64

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loopref = weakref.ref(loop)
        self._clock = clock_of(loop)
        self._heap: list[tuple[float, int, Callable[[Any], object], Any]] = []
        #: per delay: the due times, callbacks and arguments, each in its own deque -- no tuple per entry, so an
        #: entry allocates nothing the garbage collector tracks (thousands are pending at any time)
        self._lanes: dict[float, _Lane] = {}
        self._seq = itertools.count()
        self._handle: asyncio.TimerHandle | None = None
        self._armed = 0.0
        self._running = False

    def __len__(self) -> int:
        return len(self._heap) + sum(len(lane[0]) for lane in self._lanes.values())

    def add(self, when: float, fn: Callable[[Any], object], arg: Any = None) -> None:
        """Call ``fn(arg)`` from the loop at ``when`` (loop time)."""
        heapq.heappush(self._heap, (when, next(self._seq), fn, arg))
        if not self._running and (self._handle is None or when < self._armed):
            self._arm(when)

    def add_after(self, delay: float, fn: Callable[[Any], object], arg: Any = None,
                  now: float | None = None) -> None:
        """Call ``fn(arg)`` from the loop ``delay`` seconds after ``now`` (default: the loop's time)."""
        if now is None:
            now = self._clock()
        when = now + delay
        lane = self._lanes.get(delay)  # a configured timeout: its lane's own key
        if lane is None:
            key = round(delay, 9)  # (``a + d - a`` is d give or take a rounding error: one lane all the same)
            lane = self._lanes.get(key)
            if lane is None:
                if len(self._lanes) >= self.MAX_LANES:
                    self.add(when, fn, arg)
                    return
                lane = self._lanes[key] = (collections.deque(), collections.deque(), collections.deque())
        lane[0].append(when)
        lane[1].append(fn)
        lane[2].append(arg)
        if not self._running and (self._handle is None or when < self._armed):
            self._arm(when)

    def _arm(self, when: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        loop = self._loopref()
        if loop is None:
            return
        self._armed = when
        self._handle = loop.call_at(when, self._run)

    def _next_due(self) -> float | None:
        heads = [whens[0] for whens, _, _ in self._lanes.values() if whens]
        if self._heap:
            heads.append(self._heap[0][0])
        return min(heads) if heads else None

    def _run(self) -> None:
        self._handle = None
        loop = self._loopref()
        if loop is None:
            return
        heap = self._heap
        pop = heapq.heappop
        now = self._clock()
        self._running = True
        try:
            while heap and heap[0][0] <= now:
                _, _, fn, arg = pop(heap)
                try:
                    fn(arg)
                except Exception as e:  # one broken owner must not stop the others' timers
                    self._failed(loop, e)
            for whens, fns, args in list(self._lanes.values()):
                while whens and whens[0] <= now:
                    whens.popleft()
                    fn = fns.popleft()
                    arg = args.popleft()
                    try:  # (inline, not a helper call: most of these are timeouts of checks long done)
                        fn(arg)
                    except Exception as e:
                        self._failed(loop, e)
        finally:
            self._running = False
            due = self._next_due()
            if due is not None:
                self._arm(due)

    @staticmethod
    def _failed(loop: asyncio.AbstractEventLoop, e: Exception) -> None:
        loop.call_exception_handler({"message": "checker timer callback failed", "exception": e})

    def clear(self) -> None:
        """Drop every timer (the owner is shutting down)."""
        self._heap.clear()
        self._lanes.clear()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class Poller:
    """The checkers' sockets on one private epoll, which is a single reader of the asyncio loop.

    ``register(fd, events, handler)``; ``handler(events)`` runs from the loop while the fd is
    ready.  Closing a socket removes it from the epoll; :meth:`forget` must be called first so a
    reused fd number is never dispatched to the old owner.  Use :func:`poller_for`.
    """

    __slots__ = ("__weakref__", "_ep", "_handlers", "_loopref", "clock", "epoll", "handlers", "timers")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._ep = select.epoll()
        self._handlers: dict[int, Callable[[int], None]] = {}
        #: the epoll and the fd -> handler map themselves, for a probe that runs thousands of times a second to do
        #: :meth:`register` / :meth:`forget` inline (``epoll.register(fd, events); handlers[fd] = handler``)
        self.epoll = self._ep
        self.handlers = self._handlers
        self._loopref = weakref.ref(loop)
        #: the loop's clock (:func:`clock_of`)
        self.clock = clock_of(loop)
        self.timers = Timers(loop)
        loop.add_reader(self._ep.fileno(), self._dispatch)

    def register(self, fd: int, events: int, handler: Callable[[int], None]) -> None:
        self._ep.register(fd, events)
        self._handlers[fd] = handler

    def modify(self, fd: int, events: int) -> None:
        self._ep.modify(fd, events)

    def forget(self, fd: int) -> None:
        """Stop dispatching ``fd`` (call before closing the socket, which leaves the epoll by itself)."""
        self._handlers.pop(fd, None)

    def unregister(self, fd: int) -> None:
        """Stop watching ``fd`` while the socket stays open."""
        self._handlers.pop(fd, None)
        try:
            self._ep.unregister(fd)
        except OSError:
            pass

    def _dispatch(self) -> None:
        handlers = self._handlers
        for fd, events in self._ep.poll(0):
            handler = handlers.get(fd)
            if handler is None:
                continue
            try:
                handler(events)
            except Exception as e:  # keep serving the other sockets of this batch
                loop = self._loopref()
                if loop is not None:
                    loop.call_exception_handler({"message": "checker socket handler failed", "exception": e})

    def close(self) -> None:
        loop = self._loopref()
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self._ep.fileno())
        self._ep.close()
        self.timers.clear()
        self._handlers.clear()


_pollers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Poller] = weakref.WeakKeyDictionary()


def poller_for(loop: asyncio.AbstractEventLoop) -> Poller:
    """The loop's checker :class:`Poller` (created on first use; it goes away with the loop)."""
    p = _pollers.get(loop)
    if p is None:
        p = _pollers[loop] = Poller(loop)
    return p


def family_of(conn: CheckConnection) -> int:
    return socket.AF_INET6 if conn.connect_ip.version == 6 else socket.AF_INET


def target(conn: CheckConnection, port: int | None = None) -> tuple[str, int] | tuple[str, int, int, int]:
    """Socket address of the checked service (IPv6 link-local gets bind_if's scope)."""
    p = conn.connect_port if port is None else port
    if conn.connect_ip.version == 6:
        scope = socket.if_nametoindex(conn.bind_if) if conn.bind_if else 0
        return (str(conn.connect_ip), p, 0, scope)
    return (str(conn.connect_ip), p)


class SetupError(OSError):
    """The checker's socket could not be set up (fwmark, bind_if, bindto) or connect() failed with a local
    error: keepalived's ``connect_error``.  ``detail`` is keepalived's own log line for it, if it has one."""

    def __init__(self, err: OSError, detail: str = "") -> None:
        super().__init__(err.errno, err.strerror)
        self.detail = detail


def open_socket(conn: CheckConnection, kind: int = socket.SOCK_STREAM, proto: int = 0,
                family: int | None = None) -> socket.socket:
    """A non-blocking socket with the checker's source options applied (raises OSError; SetupError when an
    option or the bind fails)."""
    fam = family_of(conn) if family is None else family
    sock = socket.socket(fam, kind, proto)
    what = ""
    try:
        sock.setblocking(False)
        if conn.fwmark:
            what = f"Error setting fwmark {conn.fwmark} to socket"
            sock.setsockopt(socket.SOL_SOCKET, SO_MARK, conn.fwmark)
        if conn.bind_if:
            what = f"Checker can't bind to device {conn.bind_if}"
            sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, conn.bind_if.encode())
        if conn.bindto is not None or conn.bind_port:
            what = "Checker bind failed"
            any_addr = "::" if fam == socket.AF_INET6 else "0.0.0.0"
            src = str(conn.bindto) if conn.bindto is not None else any_addr
            sock.bind((src, conn.bind_port))
    except OSError as e:
        sock.close()
        if what:
            raise SetupError(e, f"{what}: {e.strerror or e}") from e
        raise
    return sock


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
            err = OSError(rc, errno.errorcode.get(rc, str(rc)))
            loop.call_soon(self._finish, err if rc in CONNECT_FAIL else SetupError(err))

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
