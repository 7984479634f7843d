"""systemd's notify protocol (``sd_notify(3)``) without libsystemd, and the children's readiness pipe.

Under a ``Type=notify`` unit systemd passes ``$NOTIFY_SOCKET`` (a path, or ``@name`` for an abstract socket)
and, with ``WatchdogSec=``, ``$WATCHDOG_USEC`` (and perhaps ``$WATCHDOG_PID``).  The supervisor says
``READY=1`` once its children are ready, ``RELOADING=1`` … ``READY=1`` around a reload, ``STOPPING=1`` at
stop and ``WATCHDOG=1`` every half watchdog period.  Each message is one datagram on a non-blocking socket
made once, before the daemon enters another network namespace (``-s``: an abstract address is looked up in
the socket's namespace).  Nothing here can stop the daemon: a failed send is logged once and ignored.

Readiness of the children: the supervisor hands each child the write end of a pipe (its number in
``$PYKEEPALIVED_READY_FD``); the child writes ``ready`` when it is (VRRP: its instances in their initial
state and the VIPs asked for in place; checkers: the data plane's table in place).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import Iterable, MutableMapping

log = logging.getLogger("pykeepalived")

READY_FD_ENV = "PYKEEPALIVED_READY_FD"
READY_LINE = b"ready\n"
_SYSTEMD_VARS = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")


def socket_address(value: str) -> str | bytes | None:
    """``$NOTIFY_SOCKET`` as an ``AF_UNIX`` address: ``@name`` is abstract; a path must be absolute."""
    if value.startswith("@") and len(value) > 1:
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None


def watchdog_interval(environ: MutableMapping[str, str], pid: int | None = None) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings (half of ``$WATCHDOG_USEC``), or None when no watchdog is asked
    of this process (unset, not a positive number, or ``$WATCHDOG_PID`` names another process)."""
    try:
        usec = int(environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    if usec <= 0:
        return None
    owner = environ.get("WATCHDOG_PID")
    if owner and owner != str(os.getpid() if pid is None else pid):
        return None
    return usec / 2 / 1e6


class Notifier:
    """Sends notify messages to systemd; does nothing when not started by systemd."""

    def __init__(self, address: str | None, watchdog: float | None = None) -> None:
        self.address = address
        self.watchdog = watchdog
        self.sent = 0
        self.failures = 0
        #: READY=1 sent at least once: reloads are announced from then on
        self.is_ready = False
        self._reloading = False
        self._addr: str | bytes | None = None
        self._sock: socket.socket | None = None
        if not address:
            return
        self._addr = socket_address(address)
        if self._addr is None:
            self._fail(f"NOTIFY_SOCKET={address!r} is neither an absolute path nor @abstract")
            return
        try:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.setblocking(False)  # a full queue must not hold up the event loop
        except OSError as e:
            self._fail(str(e))

    @classmethod
    def from_environ(cls, environ: MutableMapping[str, str] | None = None) -> Notifier:
        """The notifier systemd asked for, taken out of the environment (as ``sd_notify``'s
        ``unset_environment``): children and the scripts they run must not speak for the daemon."""
        env = os.environ if environ is None else environ
        notifier = cls(env.get("NOTIFY_SOCKET") or None, watchdog_interval(env))
        for name in _SYSTEMD_VARS:
            env.pop(name, None)
        return notifier

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, *assignments: str) -> bool:
        """One datagram of ``KEY=value`` lines; True if it was sent."""
        if self._sock is None or self._addr is None:
            return False
        try:
            self._sock.sendto("\n".join(assignments).encode(), self._addr)
        except OSError as e:
            self._fail(f"{e.strerror or e}")
            return False
        self.sent += 1
        return True

    def _fail(self, why: str) -> None:
        self.failures += 1
        if self.failures == 1:
            log.warning("systemd notify socket %s: %s (logged once; the daemon carries on without it)",
                        self.address, why)

    def ready(self, status: str = "") -> bool:
        self.is_ready = True
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def reloading(self) -> bool:
        """RELOADING=1, once the daemon has said READY=1 (a reload during start-up is part of the start)."""
        self._reloading = self.is_ready
        if not self._reloading:
            return False
        return self.send("RELOADING=1", f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")

    def reloaded(self, status: str = "") -> bool:
        """READY=1 after a reload that said RELOADING=1 (else the start-up's own READY=1 is still to come)."""
        if not self._reloading:
            return False
        self._reloading = False
        return self.ready(status)

    def stopping(self) -> bool:
        return self.send("STOPPING=1")

    async def run_watchdog(self) -> None:
        """``WATCHDOG=1`` every half period until cancelled (the event loop itself is what is watched)."""
        if self.watchdog is None or not self.enabled:
            return
        while True:
            self.send("WATCHDOG=1")
            await asyncio.sleep(self.watchdog)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class ReadyWatch:
    """The supervisor's ends of its children's readiness pipes: one event per kind of child."""

    def __init__(self) -> None:
        self._ready: dict[str, asyncio.Event] = {}
        self._fds: set[int] = set()

    def event(self, kind: str) -> asyncio.Event:
        return self._ready.setdefault(kind, asyncio.Event())

    def open(self, kind: str) -> tuple[int, dict[str, str]]:
        """A pipe for a child about to start: the write end (pass it, then close it) and the environment that
        names it.  The read end is watched on the running loop; a child that dies before ``ready`` only
        closes it (its restart gets a new pipe)."""
        r, w = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(r, False)
        loop = asyncio.get_running_loop()
        self._fds.add(r)
        loop.add_reader(r, self._readable, loop, r, kind)
        return w, {**os.environ, READY_FD_ENV: str(w)}

    def _readable(self, loop: asyncio.AbstractEventLoop, fd: int, kind: str) -> None:
        try:
            data = os.read(fd, 64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if READY_LINE.strip() in data:
            self.event(kind).set()
        if not data:
            self._close(loop, fd)

    def _close(self, loop: asyncio.AbstractEventLoop, fd: int) -> None:
        loop.remove_reader(fd)
        self._fds.discard(fd)
        os.close(fd)

    async def wait(self, kinds: Iterable[str]) -> None:
        for kind in kinds:
            await self.event(kind).wait()

    def close(self) -> None:
        loop = asyncio.get_running_loop()
        for fd in list(self._fds):
            self._close(loop, fd)


def report_ready(environ: MutableMapping[str, str] | None = None) -> bool:
    """In a child: tell the supervisor it is ready (once; later calls do nothing).  True if told."""
    env = os.environ if environ is None else environ
    value = env.pop(READY_FD_ENV, None)
    if value is None:
        return False
    try:
        fd = int(value)
        with contextlib.suppress(BrokenPipeError):
            os.write(fd, READY_LINE)
        os.close(fd)
    except (ValueError, OSError) as e:
        log.debug("readiness pipe %s: %s", value, e)
        return False
    return True


def hide_ready_fd() -> None:
    """In a child at start: the readiness pipe is not for the scripts it runs (close_fds aside)."""
    value = os.environ.get(READY_FD_ENV)
    if value is not None:
        with contextlib.suppress(ValueError, OSError):
            os.set_inheritable(int(value), False)
