"""Change notification: how one process learns at once that another's state changed.

Each daemon process keeps a :class:`ChangeSignal`, a counter it bumps when something happens that a
watcher must hear of at the moment it happens, not at its next poll:

- the VRRP process: an instance changed state (which also moves its sync group), an advert failed
  authentication or had a protocol error (keepalived's error traps, one per bad advert);
- the checker process: a real server's health or weight, or a virtual server's quorum, changed.

Every control socket serves its process's signal as a long poll::

    GET /changes?since=TOKEN&wait=SECONDS   ->   {"token": "EPOCH:GENERATION"}

answered as soon as the generation differs from the one in ``TOKEN`` (at once when it already does, when
``TOKEN`` is absent, or when it names another epoch: the process behind the socket was restarted), else
after ``wait`` seconds (at most :data:`MAX_WAIT`) with the token unchanged.  A token says only *that*
something changed; the reader then takes the status (``/status``) itself.  Changes that come while nobody
waits are folded into one: there is no queue to fill.

The supervisor follows each child's signal (:func:`follow`, one long poll per child, reconnecting while the
child restarts) and bumps its own when one moves; the SNMP subagent (traps at the moment of the change) and
the dashboard's event hub listen to that one, and the supervisor's control socket serves it to other readers.

Bounds: at most :data:`MAX_WAITERS` long polls wait on one signal at once (more are answered 503 at once),
every wait ends within :data:`MAX_WAIT` seconds, at most :data:`MAX_LISTENERS` in-process listeners, and a
follower asks again no sooner than :data:`FOLLOW_GAP` after a change, so a flood of changes (bad adverts
from a hostile peer) costs its child at most ``1 / FOLLOW_GAP`` answers a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable

import aiohttp
from aiohttp import web

__all__ = ["Busy", "ChangeSignal", "add_changes", "follow"]

log = logging.getLogger(__name__)

#: long polls waiting on one signal at once; more are refused (503) at once
MAX_WAITERS = 8
#: in-process listeners of one signal (the SNMP subagent, the dashboard hub: a few)
MAX_LISTENERS = 8
#: the longest a long poll waits before answering with the same token
MAX_WAIT = 30.0
#: what a follower asks for; its request gives up FOLLOW_GRACE seconds later
FOLLOW_WAIT = 10.0
FOLLOW_GRACE = 5.0
#: a follower asks again no sooner than this after a change was reported (a flood is folded into one
#: answer per gap; the first change of a quiet period is reported at once)
FOLLOW_GAP = 0.02
#: first and longest pause before a follower tries again a socket that did not answer (a child restarting)
RETRY_MIN, RETRY_MAX = 0.05, 1.0


class Busy(Exception):
    """MAX_WAITERS long polls wait already."""


class ChangeSignal:
    """A generation counter, a bounded set of long polls waiting on it, and in-process listeners."""

    def __init__(self, max_waiters: int = MAX_WAITERS) -> None:
        #: names this process's run: a reader holding another epoch's token is answered at once
        self.epoch = secrets.token_hex(8)
        self.generation = 0
        self.max_waiters = max_waiters
        self.waiters = 0
        #: long polls refused because MAX_WAITERS waited already
        self.refused = 0
        self._moved = asyncio.Event()
        self._listeners: list[Callable[[], None]] = []
        #: the server is stopping: waits end at once (a waiting long poll would hold its shutdown)
        self.closed = False

    @property
    def token(self) -> str:
        return f"{self.epoch}:{self.generation}"

    def bump(self) -> None:
        """Something changed: wake every long poll and call every listener (cheap: called per bad advert)."""
        self.generation += 1
        self._wake_waiters()
        for listener in self._listeners:
            listener()

    def _wake_waiters(self) -> None:
        if self.waiters:
            moved, self._moved = self._moved, asyncio.Event()
            moved.set()

    def close(self) -> None:
        """The control server is stopping: every wait ends now, new ones at once (with the token as it is)."""
        self.closed = True
        self._wake_waiters()

    def reopen(self) -> None:
        self.closed = False

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` (quick, never raising) on every bump."""
        if len(self._listeners) >= MAX_LISTENERS:
            raise RuntimeError(f"at most {MAX_LISTENERS} listeners of a change signal")
        self._listeners.append(listener)

    def unsubscribe(self, listener: Callable[[], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(listener)

    async def wait(self, since: str | None, timeout: float) -> str:
        """The token once it differs from ``since``, or after ``timeout`` (at most MAX_WAIT) seconds.
        Busy when MAX_WAITERS wait already."""
        if since != self.token or self.closed:
            return self.token
        if self.waiters >= self.max_waiters:
            self.refused += 1
            raise Busy
        self.waiters += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._moved.wait(), max(0.0, min(timeout, MAX_WAIT)))
        finally:
            self.waiters -= 1
        return self.token


# ------------------------------------------------------------------------------------------- serving

_SIGNAL_KEY = web.AppKey("change_signal", ChangeSignal)


async def _changes(request: web.Request) -> web.Response:
    signal = request.app[_SIGNAL_KEY]
    try:
        wait = float(request.query.get("wait", FOLLOW_WAIT))
    except ValueError:
        return web.json_response({"ok": False, "error": "wait must be a number of seconds"}, status=400)
    if wait != wait:  # NaN
        return web.json_response({"ok": False, "error": "wait must be a number of seconds"}, status=400)
    try:
        token = await signal.wait(request.query.get("since") or None, wait)
    except Busy:
        return web.json_response({"ok": False, "error": f"at most {signal.max_waiters} waiting already"},
                                 status=503, headers={"Retry-After": "1"})
    return web.json_response({"token": token}, headers={"Cache-Control": "no-store"})


def add_changes(app: web.Application, signal: ChangeSignal) -> None:
    """Mount ``GET /changes`` (the module docstring) on a control application."""
    app[_SIGNAL_KEY] = signal

    async def on_startup(_: web.Application) -> None:
        signal.reopen()

    async def on_shutdown(_: web.Application) -> None:
        signal.close()

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.router.add_get("/changes", _changes)


# ------------------------------------------------------------------------------------------- following


async def follow(path: str, on_change: Callable[[], None], *, wait: float = FOLLOW_WAIT,
                 gap: float = FOLLOW_GAP) -> None:
    """Long-poll the ``/changes`` of the control socket at ``path`` until cancelled: ``on_change()`` when its
    token moves (the first answer too: nothing is known before it), and once when the socket stops
    answering (the process behind it is gone, and with it its part of the status).  Never raises but
    CancelledError; a socket that does not answer is tried again after RETRY_MIN, doubling to RETRY_MAX."""
    token: str | None = None
    answering = False
    delay = RETRY_MIN
    timeout = aiohttp.ClientTimeout(total=wait + FOLLOW_GRACE)
    async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=path), timeout=timeout) as session:
        while True:
            try:
                async with session.get("http://localhost/changes",
                                       params={"since": token or "", "wait": f"{wait:g}"}) as r:
                    if r.status != 200:
                        raise ValueError(f"HTTP {r.status}")
                    body = await r.json(content_type=None)
                new = str(body["token"])
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, OSError, TimeoutError, ValueError, KeyError, TypeError) as e:
                if answering:
                    log.debug("change signal at %s: %s; following it again when it answers", path, e)
                    answering, token = False, None
                    on_change()
                await asyncio.sleep(delay)
                delay = min(RETRY_MAX, delay * 2)
                continue
            answering, delay = True, RETRY_MIN
            if new != token:
                token = new
                on_change()
                await asyncio.sleep(gap)
