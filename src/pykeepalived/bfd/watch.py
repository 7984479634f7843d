"""How the VRRP and checker processes learn that a BFD session went up or down.

keepalived passes ``bfd_event_t`` records (instance name, Up/Down, the time sent) through two pipes its
parent opens before forking, one to the VRRP child, one to the checker child (bfd/bfd_event.c).  Here the
BFD child serves an **event stream on a unix socket** (``<pid-file stem>_bfd.events``, e.g.
``/run/keepalived_bfd.events``; :meth:`pykeepalived.daemon.options.DaemonOptions.bfd_events_path`), one
JSON object per line:

* on connecting, a snapshot: ``{"type": "snapshot", "sessions": {NAME: {"up": bool, "state": "Up"|"Down"|
  "Init"|"AdminDown", "vrrp": bool, "checker": bool}, ...}, "sent": UNIX_TIME}``;
* then one line per change: ``{"type": "event", "name": NAME, "up": bool, "state": ..., "diag": ...,
  "vrrp": bool, "checker": bool, "sent": UNIX_TIME}``.

Unlike a pipe, the stream survives either side restarting: a subscriber (re)connects and the snapshot
gives it the whole current state, so nothing is lost while a child was being respawned, and nothing
stale waits in a pipe.  ``vrrp``/``checker`` are the ``bfd_instance``'s keepalived flags (which processes it
reports to; both unless the block says ``vrrp`` or ``checker``).  A session goes "down" for subscribers
only as keepalived reports it: not when the neighbour signalled AdminDown (RFC 5882 §3.2).

Subscribers use :class:`BfdWatch`::

    async for event in BfdWatch(options.bfd_events_path, role="vrrp"):
        tracker_states[("bfd", event.name)] = event.up      # then re-evaluate the instances tracking it

It yields a :class:`BfdEvent` for every session whose up/down differs from what it last yielded (all of
them after the first snapshot), reconnects forever while the BFD process is absent, and never raises for
the stream's sake.  The server side is :class:`EventHub`: bounded clients, a bounded write buffer per
client (a client that does not read is disconnected and counted; it resynchronises from the snapshot).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("pykeepalived")

#: at most this many subscribers (VRRP, checker, a status tool or two); more are refused and counted
MAX_CLIENTS = 16
#: a subscriber whose unread data passes this is disconnected (it reconnects and gets a snapshot)
MAX_BUFFERED = 256 * 1024
#: a line longer than this is not ours: the subscriber drops the connection and reconnects
MAX_LINE = 1 << 20


@dataclass(frozen=True, slots=True)
class BfdEvent:
    """One session's new verdict, as the VRRP / checker process sees it."""

    name: str
    up: bool
    state: str = ""
    diag: str = ""
    #: the BFD process's wall-clock time when it sent the event (keepalived logs the delivery delay)
    sent: float = 0.0
    #: True for the events that replay a snapshot after (re)connecting
    snapshot: bool = False


@dataclass
class _Session:
    up: bool
    state: str
    vrrp: bool
    checker: bool


class EventHub:
    """The BFD process's side: the current state of every session, and the subscribers' stream."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.sessions: dict[str, _Session] = {}
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.AbstractServer | None = None
        #: counters: subscribers refused (too many), dropped (did not read)
        self.refused = 0
        self.dropped = 0

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        old = os.umask(0o077)
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=self.path)
        finally:
            os.umask(old)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()
        self._writers.clear()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def declare(self, name: str, *, up: bool, state: str, vrrp: bool = True, checker: bool = True) -> None:
        """A session exists (at start and reload); no event is sent for it."""
        self.sessions[name] = _Session(up, state, vrrp, checker)

    def forget(self, name: str) -> None:
        self.sessions.pop(name, None)

    def publish(self, name: str, *, up: bool, state: str, diag: str = "") -> None:
        s = self.sessions.get(name)
        if s is None:
            return
        s.up, s.state = up, state
        self._broadcast({"type": "event", "name": name, "up": up, "state": state, "diag": diag,
                         "vrrp": s.vrrp, "checker": s.checker, "sent": time.time()})

    def snapshot(self) -> dict[str, Any]:
        return {"type": "snapshot", "sent": time.time(),
                "sessions": {n: {"up": s.up, "state": s.state, "vrrp": s.vrrp, "checker": s.checker}
                             for n, s in self.sessions.items()}}

    def _broadcast(self, message: dict[str, Any]) -> None:
        line = (json.dumps(message) + "\n").encode()
        for w in list(self._writers):
            self._write(w, line)

    def _write(self, w: asyncio.StreamWriter, line: bytes) -> None:
        transport = w.transport
        if transport.is_closing() or transport.get_write_buffer_size() > MAX_BUFFERED:
            if not transport.is_closing():
                self.dropped += 1
                log.warning("BFD event subscriber does not read: disconnected (it resynchronises on reconnect)")
            self._writers.discard(w)
            w.close()
            return
        w.write(line)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._writers) >= MAX_CLIENTS:
            self.refused += 1
            writer.close()
            return
        self._writers.add(writer)
        self._write(writer, (json.dumps(self.snapshot()) + "\n").encode())
        try:
            # nothing is expected from a subscriber: wait for it to go away
            while await reader.read(4096):
                pass
        except (ConnectionError, OSError):
            pass
        except asyncio.CancelledError:
            # the process is stopping with a subscriber connected: end quietly.  Re-raised, Python 3.11's
            # start_unix_server callback calls exception() on the cancelled task and logs a traceback
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


class BfdWatch:
    """The subscriber's side: an async iterator of :class:`BfdEvent` (see the module docstring).

    ``role`` is ``"vrrp"`` or ``"checker"`` (sessions whose bfd_instance reports only to the other process
    are skipped), or None for every session.  :attr:`states` holds the last verdict yielded per session.
    """

    def __init__(self, path: str, *, role: str | None = "vrrp", retry: float = 0.5) -> None:
        self.path = path
        self.role = role
        self.retry = retry
        self.states: dict[str, bool] = {}
        self.connected = asyncio.Event()
        self._pending: list[BfdEvent] = []
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._closed = False

    def __aiter__(self) -> AsyncIterator[BfdEvent]:
        return self

    async def __anext__(self) -> BfdEvent:
        while True:
            if self._pending:
                return self._pending.pop(0)
            if self._closed:
                raise StopAsyncIteration
            if self._reader is None:
                await self._connect()
                continue
            try:
                line = await self._reader.readline()
            except (ConnectionError, OSError, ValueError, asyncio.LimitOverrunError):
                line = b""
            if not line:
                self._disconnect()
                continue
            self._take(line)

    async def aclose(self) -> None:
        self._closed = True
        self._disconnect()

    def _wanted(self, entry: dict[str, Any]) -> bool:
        return self.role is None or bool(entry.get(self.role, True))

    def _take(self, line: bytes) -> None:
        try:
            msg = json.loads(line)
        except ValueError:
            return
        if not isinstance(msg, dict):
            return
        sent = float(msg.get("sent", 0.0) or 0.0)
        if msg.get("type") == "snapshot" and isinstance(msg.get("sessions"), dict):
            for name, entry in msg["sessions"].items():
                if isinstance(entry, dict) and self._wanted(entry):
                    self._offer(BfdEvent(str(name), bool(entry.get("up")), str(entry.get("state", "")), "", sent,
                                         snapshot=True))
        elif msg.get("type") == "event" and "name" in msg and self._wanted(msg):
            self._offer(BfdEvent(str(msg["name"]), bool(msg.get("up")), str(msg.get("state", "")),
                                 str(msg.get("diag", "")), sent))

    def _offer(self, event: BfdEvent) -> None:
        if self.states.get(event.name) is event.up:
            return
        self.states[event.name] = event.up
        self._pending.append(event)

    async def _connect(self) -> None:
        while not self._closed:
            try:
                self._reader, self._writer = await asyncio.open_unix_connection(self.path, limit=MAX_LINE)
                self.connected.set()
                return
            except (FileNotFoundError, ConnectionError, OSError):
                await asyncio.sleep(self.retry)

    def _disconnect(self) -> None:
        self.connected.clear()
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None
