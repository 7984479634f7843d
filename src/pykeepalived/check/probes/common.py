"""What every probe shares: the probe contract, a kind's registration, one attempt under one deadline.

A probe performs ONE attempt and reports a :class:`~pykeepalived.check.state.Result`; the runner owns
scheduling, retries, the delays between attempts and all state.  Every probe has ``start(done)`` and
``cancel()``.  The hot probes (TCP_CHECK, HTTP_GET) are callbacks on the checkers' private epoll
(:class:`~pykeepalived.check.net.Poller`); the others are small coroutines run by :class:`AsyncProbe`,
whose socket steps go through one :class:`Dialogue`:

* each step (connect, a send, the wait for a reply) times out ``connect_timeout`` after the step starts,
  as keepalived's steps do, never counted from when the check was due;
* the whole attempt ends by one overall deadline, ``connect_timeout`` x the steps of the kind's dialogue
  (:class:`~pykeepalived.check.net.Deadline`, :attr:`Kind.steps`), so a backend that streams without
  pause or drips a byte at a time fails the check instead of holding it;
* replies are read one bounded piece per wake-up of the event loop
  (:func:`~pykeepalived.check.net.recv_by`) into bounded buffers.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pykeepalived.check.net import Deadline, SetupError, recv_by
from pykeepalived.check.state import Result
from pykeepalived.config.model import Script
from pykeepalived.config.model_lvs import RealServer, VirtualServer
from pykeepalived.config.model_vrrp import TrackFile
from pykeepalived.notify.scripts import ScriptJob

Done = Callable[[Result], None]


class Probe(Protocol):
    def start(self, done: Done) -> None: ...

    def cancel(self) -> None: ...


class UnsupportedChecker(Exception):
    """A checker type this implementation cannot run (BFD_CHECK); the message says so plainly."""


# -------------------------------------------------------------------------------------- registration


@dataclass(frozen=True, slots=True)
class Setup:
    """What building a probe may need besides its checker, real server and virtual server."""

    loop: asyncio.AbstractEventLoop
    #: the global ``SSL {}`` client context (SSL_GET)
    ssl_context: ssl.SSLContext | None = None
    #: the configuration's ``track_file`` blocks by name (FILE_CHECK)
    track_files: Mapping[str, TrackFile] = field(default_factory=dict)
    #: TCP_CHECK closes before the server accepts (see :class:`.tcp.TcpProbe`)
    tcp_half_open: bool = False
    #: which url the next HTTP attempt fetches (the health state's ``url_it``)
    url_index: Callable[[], int] | None = None
    #: the process's script security: how a MISC_CHECK script may run (None: refused)
    script_job: Callable[[Script], ScriptJob | None] | None = None


@dataclass(frozen=True, slots=True)
class Kind:
    """One checker kind, as the registry (:mod:`pykeepalived.check.probes`) knows it."""

    #: the config model class of its checkers
    model: type
    #: the type names it is configured by (``HTTP_GET`` and ``SSL_GET`` share a kind)
    names: tuple[str, ...]
    #: keepalived's steps in one attempt's dialogue, each timed by connect_timeout; the attempt's overall
    #: deadline is this many connect_timeouts (None: not a network dialogue)
    steps: int | None
    #: ``build(setup, vs, rs, checker)`` -> the probe
    build: Callable[[Setup, VirtualServer, RealServer, Any], Probe]


# -------------------------------------------------------------------------------------------- results


_RESULTS: dict[tuple[bool, str], Result] = {}


def verdict(ok: bool, reason: str = "") -> Result:
    """The shared :class:`Result` for ``(ok, reason)``: results are frozen and a probe's messages are few
    (keepalived's texts, errno names), so the hot probes allocate nothing per attempt."""
    r = _RESULTS.get((ok, reason))
    if r is None:
        r = _RESULTS[(ok, reason)] = Result(ok, reason=reason)
    return r


# -------------------------------------------------------------------------------------- async probes


class Dialogue:
    """One attempt's socket steps under its one overall deadline (a :class:`~.net.Deadline` started now)."""

    __slots__ = ("deadline", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, step: float, steps: int) -> None:
        self.loop = loop
        self.deadline = Deadline(loop.time(), step, steps)

    def step_end(self) -> float:
        """When a step starting now times out (``now + connect_timeout``, never past the overall deadline)."""
        return self.deadline.step_end(self.loop.time())

    async def send(self, sock: socket.socket, data: bytes) -> None:
        """One step: send all of ``data`` (TimeoutError at the step's end)."""
        async with asyncio.timeout_at(self.step_end()):
            await self.loop.sock_sendall(sock, data)

    async def recv(self, sock: socket.socket, size: int, until: float) -> bytes:
        """One bounded read (at most ``size`` bytes, one per wake-up of the loop) before ``until``."""
        return await recv_by(self.loop, sock, size, until)


class AsyncProbe:
    """A probe whose one attempt is a coroutine; exceptions are failures, never crashes.

    ``steps``: the kind's dialogue (:attr:`Kind.steps`), for :meth:`dialogue`.  ``setup_failed``: for the
    checkers where keepalived gives no verdict when the socket cannot be set up
    (:class:`~.net.SetupError`), the line it logs before trying again after delay_loop.
    """

    steps = 0
    setup_failed = ""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._task: asyncio.Task[Result] | None = None

    def attempt(self) -> Coroutine[Any, Any, Result]:
        raise NotImplementedError

    def dialogue(self, connect_timeout: float) -> Dialogue:
        """The attempt's steps and deadline, starting now (call it before the connect)."""
        return Dialogue(self._loop, connect_timeout, self.steps)

    def start(self, done: Done) -> None:
        task = self._loop.create_task(self.attempt())
        self._task = task

        def finished(t: asyncio.Task[Result]) -> None:
            self._task = None
            if t.cancelled():
                done(Result(False, reason="cancelled"))
            elif (exc := t.exception()) is not None:
                if isinstance(exc, SetupError) and self.setup_failed:
                    done(Result(False, reason=self.setup_failed, note=exc.detail, skip=True))
                else:
                    done(Result(False, reason=str(exc) or type(exc).__name__))
            else:
                done(t.result())

        task.add_done_callback(finished)

    def cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()
