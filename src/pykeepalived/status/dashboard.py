"""The live dashboard: a page served from the package, fed by ``/events`` (server-sent events).

Routes (mounted on the control application by :func:`add_dashboard`, so on the control socket and on
``--listen``; every URL the page uses is relative, so it works from a sub-path behind a reverse proxy):

- ``/``                     the page (``static/index.html``)
- ``/dashboard/app.js``     its script and ``/dashboard/style.css`` its style (no library, no CDN, no font)
- ``/events``               ``text/event-stream``: the status document (:meth:`Snapshot.to_json`) of this
                            daemon and of each ``--dashboard-peer``, whenever it changes and at least every
                            :data:`HEARTBEAT` seconds

Events on the stream::

    event: sources
    data: [{"id": "local", "name": "lb2", "url": null, "connected": true, "error": null, "since": 1765000000.1},
    data:  {"id": "peer1", "name": "lb1", "url": "http://10.0.0.3:8080/", "connected": false, ...}]

    event: status
    data: local
    data: {"schema": 1, "daemon": {...}, "vrrp": [...], ...}

``sources`` lists where the documents come from and whether each peer answers (sent first and on every
change); ``status`` carries one source's document: its id on the first data line, the document on the
second (SSE joins data lines with a newline; the JSON has none).

Peers (``--dashboard-peer [NAME=]URL``, repeatable): the daemon itself reads each peer's ``URL/events?peers=0``
(that daemon's own document only, so two daemons naming each other do not loop) and relays it, so the browser
talks to one daemon, through one proxy path, with no cross-origin request and one token.  The daemon reads
its peers only while somebody watches (and :data:`LINGER` seconds after, so a reload of the page does not
reconnect them): one connection per peer however many viewers.

Bounds: at most :data:`MAX_STREAMS` event streams at once (more get 503 and the page tries again later); a
write to a viewer that takes longer than :data:`WRITE_TIMEOUT` closes that viewer's connection; a viewer that
falls behind gets only the newest document of each source, never a queue.  The local snapshot is read every
:data:`POLL_MIN` seconds, or less often when building it is slow (:data:`POLL_COST_FACTOR` times its cost);
sooner when a command was applied or the daemon's change signal moved (status.changes), but never more
often than every :data:`NUDGE_GAP` seconds (or the time one snapshot takes).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import json
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp import web

from pykeepalived.status.snapshot import Snapshot

__all__ = ["DashboardOptions", "EventHub", "Peer", "add_dashboard", "parse_peer"]

log = logging.getLogger(__name__)

#: concurrent ``/events`` streams served at once (each holds a connection of the listener's budget)
MAX_STREAMS = 16
#: seconds one write to a viewer may take before its connection is closed
WRITE_TIMEOUT = 5.0
#: the longest gap between two documents of a source (also the peers' liveness: no event for 3 x this = gone)
HEARTBEAT = 5.0
#: a change in counters only (traffic) is sent at most this often; a change of state at once
COUNTER_INTERVAL = 1.0
#: the local snapshot is read at most this often ...
POLL_MIN = 0.25
#: ... and at most every POLL_COST_FACTOR x the time one snapshot takes to build, up to POLL_MAX
POLL_COST_FACTOR = 4.0
POLL_MAX = 2.0
#: a nudge (a command applied, a change signalled) reads the snapshot at once, but no sooner than this (or
#: the time the last one took) after the last read began: a flood of changes is not a flood of snapshots
NUDGE_GAP = 0.05
#: seconds the producer and the peer connections outlive the last viewer
LINGER = 10.0
#: the largest event accepted from a peer (a big table's document is a few MB)
MAX_PEER_EVENT = 64 * 1024 * 1024
PEER_CONNECT_TIMEOUT = 3.0
PEER_RETRY_MIN, PEER_RETRY_MAX = 0.5, 5.0

STATIC_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
#: the page loads only its own files and talks only to its own origin
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


class PeerError(ValueError):
    """A ``--dashboard-peer`` that cannot be used (the message says why)."""


@dataclass(frozen=True, slots=True)
class Peer:
    name: str
    url: str  # base URL of the peer's --listen, ending with "/"


def parse_peer(text: str) -> Peer:
    """``[NAME=]URL``: ``lb1=http://10.0.0.3:8080/`` or ``http://[fd00::3]:8080/lb/`` (named by host:port)."""
    name, sep, url = text.partition("=")
    if not sep or "://" in name:
        name, url = "", text
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PeerError(f"dashboard peer {text!r}: expected [NAME=]http://HOST:PORT/[PATH/]")
    if parts.query or parts.fragment:
        raise PeerError(f"dashboard peer {text!r}: no query or fragment, please")
    base = url.strip()
    if not base.endswith("/"):
        base += "/"
    return Peer(name.strip() or parts.netloc, base)


@dataclass(frozen=True, slots=True)
class DashboardOptions:
    """What the command line says about the dashboard: this daemon's name on the page, and its peers."""

    name: str = field(default_factory=socket.gethostname)
    peers: tuple[Peer, ...] = ()

    @classmethod
    def configure(cls, name: str | None, peers: Sequence[str] = ()) -> DashboardOptions:
        return cls(name or socket.gethostname(), tuple(parse_peer(p) for p in peers))


# ------------------------------------------------------------------------------------------- the hub


def _shape(s: Snapshot) -> tuple[Any, ...]:
    """What an operator watches for (states, health, weights, overrides): a change here is sent at once."""
    vrrp = tuple((v.name, v.state, v.effective_priority, v.master_address, v.faults) for v in s.vrrp)
    lvs = tuple((vs.service, vs.quorum, tuple((d.key, d.health, d.weight, d.override) for d in vs.destinations))
                for vs in s.virtual_services)
    return vrrp, lvs, json.dumps(s.overrides, sort_keys=True, default=str)


def _event(name: str, *lines: str) -> bytes:
    return (f"event: {name}\n" + "".join(f"data: {line}\n" for line in lines) + "\n").encode()


@dataclass(eq=False)
class _Viewer:
    """One open ``/events`` stream: the newest event of each source not yet written, and a wake-up."""

    peers: bool = True  # the peers' documents too (False: ``?peers=0``, what a relaying daemon asks)
    pending: dict[str, bytes] = field(default_factory=dict)
    wake: asyncio.Event = field(default_factory=asyncio.Event)

    def push(self, key: str, data: bytes) -> None:
        self.pending[key] = data
        self.wake.set()


@dataclass
class _SourceState:
    id: str
    name: str
    url: str | None
    connected: bool = False
    error: str | None = None
    since: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "url": self.url, "connected": self.connected,
                "error": self.error, "since": self.since}


class StreamsFull(Exception):
    """MAX_STREAMS viewers are connected already."""


class EventHub:
    """Reads the local snapshot (and the peers) while somebody watches, and hands each viewer the news."""

    def __init__(self, get_snapshot: Callable[[], Awaitable[Snapshot]], options: DashboardOptions, *,
                 max_streams: int = MAX_STREAMS) -> None:
        self._get_snapshot = get_snapshot
        self.options = options
        self.max_streams = max_streams
        self.viewers: set[_Viewer] = set()
        self.closed = False
        self.sources: dict[str, _SourceState] = {"local": _SourceState("local", options.name, None, True)}
        for i, p in enumerate(options.peers, 1):
            self.sources[f"peer{i}"] = _SourceState(f"peer{i}", p.name, p.url)
        self._latest: dict[str, bytes] = {}  # source id -> its last status event
        self._task: asyncio.Task[None] | None = None
        self._watched = asyncio.Event()  # set while somebody watches
        self._nudged = asyncio.Event()  # a command changed something: read the snapshot now
        self.refused = 0  # streams refused because MAX_STREAMS were open

    # -- viewers -------------------------------------------------------------------------------
    def join(self, *, peers: bool = True) -> _Viewer:
        if len(self.viewers) >= self.max_streams:
            self.refused += 1
            raise StreamsFull
        v = _Viewer(peers)
        if peers:
            v.push("sources", self._sources_event())
            for key, data in self._latest.items():
                v.push(key, data)
        elif "local" in self._latest:
            v.push("local", self._latest["local"])
        self.viewers.add(v)
        self._watched.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="dashboard-events")
        return v

    def leave(self, v: _Viewer) -> None:
        self.viewers.discard(v)
        if not self.viewers:
            self._watched.clear()

    def _publish(self, key: str, data: bytes) -> None:
        if key.startswith("status:"):
            self._latest[key] = data
        for v in self.viewers:
            if v.peers or key == "status:local":
                v.push(key, data)

    def _sources_event(self) -> bytes:
        return _event("sources", json.dumps([s.as_dict() for s in self.sources.values()]))

    def _set_source(self, sid: str, connected: bool, error: str | None) -> None:
        s = self.sources[sid]
        if (s.connected, s.error) != (connected, error):
            if s.connected != connected:
                s.since = time.time()
            s.connected, s.error = connected, error
            self._publish("sources", self._sources_event())

    def nudge(self) -> None:
        """Read the local snapshot now rather than at the next tick (a command was just applied, or the
        daemon's change signal moved)."""
        self._nudged.set()

    # -- the producer ---------------------------------------------------------------------------
    async def _run(self) -> None:
        """Local snapshots and peer relays, until nobody has watched for LINGER seconds."""
        relays: list[asyncio.Task[None]] = []
        session: aiohttp.ClientSession | None = None
        try:
            if self.options.peers:
                session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
                    total=None, connect=PEER_CONNECT_TIMEOUT, sock_read=3 * HEARTBEAT))
                relays = [asyncio.get_running_loop().create_task(self._relay(session, f"peer{i}", p),
                                                                 name=f"dashboard-peer{i}")
                          for i, p in enumerate(self.options.peers, 1)]
            await self._poll_local()
        finally:
            for t in relays:
                t.cancel()
            for t in relays:
                with contextlib.suppress(asyncio.CancelledError):
                    await t
            if session is not None:
                await session.close()
            self._latest.pop("status:local", None)  # a later viewer waits for a fresh one, not this stale one
            for sid, s in self.sources.items():
                if sid != "local":
                    s.connected, s.error = False, None
                    self._latest.pop(f"status:{sid}", None)

    async def _poll_local(self) -> None:
        loop = asyncio.get_running_loop()
        last_shape: Any = None
        last_doc: Snapshot | None = None
        last_sent = 0.0
        while not self.closed:
            if not self.viewers:
                try:
                    await asyncio.wait_for(self._watched.wait(), LINGER)
                except TimeoutError:
                    return
            t0 = loop.time()
            self._nudged.clear()  # a nudge from now on asks for a newer snapshot than this one
            try:
                snap = await self._get_snapshot()
            except Exception as e:  # the daemon's bug: say so on the page, keep serving
                log.exception("dashboard: cannot build the status")
                self._set_source("local", False, f"cannot build the status: {e!r}")
                await asyncio.sleep(POLL_MAX)
                continue
            cost = loop.time() - t0
            self._set_source("local", True, None)
            shape = _shape(snap)
            bare = dataclasses.replace(snap, taken_at=0.0)
            now = loop.time()
            due = (shape != last_shape
                   or (bare != last_doc and now - last_sent >= COUNTER_INTERVAL)
                   or now - last_sent >= HEARTBEAT)
            if due:
                self._publish("status:local", _event("status", "local", snap.to_json()))
                last_shape, last_doc, last_sent = shape, bare, now
            pause = min(POLL_MAX, max(POLL_MIN, POLL_COST_FACTOR * cost) - (loop.time() - t0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._nudged.wait(), max(0.0, pause))
            rest = t0 + max(NUDGE_GAP, cost) - loop.time()
            if rest > 0:
                await asyncio.sleep(rest)

    async def _relay(self, session: aiohttp.ClientSession, sid: str, peer: Peer) -> None:
        """Read one peer's own documents and pass them on; reconnect with back-off while it is away."""
        url = urljoin(peer.url, "events?peers=0")
        delay = PEER_RETRY_MIN
        while True:
            try:
                async with session.get(url, headers={"Accept": "text/event-stream"}) as r:
                    if r.status != 200:
                        raise PeerError(f"HTTP {r.status} from {url}")
                    async for kind, data in _sse_events(r.content):
                        if kind != "status":
                            continue
                        _, _, doc = data.partition("\n")
                        if not doc.startswith("{"):
                            continue
                        self._set_source(sid, True, None)
                        delay = PEER_RETRY_MIN
                        self._publish(f"status:{sid}", _event("status", sid, doc))
                    raise PeerError("the peer closed the stream")
            except asyncio.CancelledError:
                raise
            except (aiohttp.ClientError, OSError, TimeoutError, PeerError, ValueError) as e:
                self._set_source(sid, False, _describe(e))
            await asyncio.sleep(delay)
            delay = min(PEER_RETRY_MAX, delay * 2)

    # -- lifetime --------------------------------------------------------------------------------
    def reopen(self) -> None:
        self.closed = False

    async def close(self) -> None:
        """The server is stopping: end every stream (they would hold the shutdown) and the producer."""
        self.closed = True
        for v in self.viewers:
            v.wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


def _describe(e: BaseException) -> str:
    if isinstance(e, TimeoutError | asyncio.TimeoutError):
        return "no answer in time"
    text = str(e) or type(e).__name__
    return text[:300]


async def _sse_events(stream: aiohttp.StreamReader) -> AsyncIterator[tuple[str, str]]:
    """(event, data) of a text/event-stream, each event at most MAX_PEER_EVENT bytes."""
    buf = b""
    kind = "message"
    data: list[str] = []
    async for chunk in stream.iter_any():
        buf += chunk
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            line, buf = buf[:nl].rstrip(b"\r").decode("utf-8", "replace"), buf[nl + 1:]
            if not line:
                if data:
                    yield kind, "\n".join(data)
                kind, data = "message", []
            elif line.startswith(":"):
                continue
            else:
                name, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if name == "event":
                    kind = value
                elif name == "data":
                    data.append(value)
        if len(buf) > MAX_PEER_EVENT or sum(map(len, data)) > MAX_PEER_EVENT:
            raise PeerError(f"an event larger than {MAX_PEER_EVENT} bytes")


# ------------------------------------------------------------------------------------------- routes

_HUB_KEY = web.AppKey("dashboard_hub", EventHub)


def _static(name: str) -> bytes:
    return resources.files("pykeepalived.status").joinpath("static", name).read_bytes()


async def _index(request: web.Request) -> web.Response:
    return web.Response(body=_static("index.html"), content_type="text/html", charset="utf-8",
                        headers={"Cache-Control": "no-cache", "Content-Security-Policy": CSP,
                                 "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})


async def _asset(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC_FILES:
        raise web.HTTPNotFound()
    return web.Response(body=_static(name), content_type=STATIC_FILES[name], charset="utf-8",
                        headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})


async def _events(request: web.Request) -> web.StreamResponse:
    hub = request.app[_HUB_KEY]
    if hub.closed:
        raise web.HTTPServiceUnavailable(text="the daemon is stopping\n")
    try:
        viewer = hub.join(peers=request.query.get("peers", "1") != "0")
    except StreamsFull:
        log.warning("dashboard: %d event streams open already; refused one", hub.max_streams)
        return web.Response(status=503, text=f"at most {hub.max_streams} event streams at once; try later\n",
                            headers={"Retry-After": "5"})
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                                       "X-Accel-Buffering": "no"})
    try:
        await asyncio.wait_for(resp.prepare(request), WRITE_TIMEOUT)
        await asyncio.wait_for(resp.write(b"retry: 2000\n\n"), WRITE_TIMEOUT)
        while not hub.closed:
            await viewer.wake.wait()
            viewer.wake.clear()
            if hub.closed:
                break
            batch, viewer.pending = b"".join(viewer.pending.values()), {}
            await asyncio.wait_for(resp.write(batch), WRITE_TIMEOUT)
    except TimeoutError:
        log.info("dashboard: a viewer took more than %g s to take an event; closing it", WRITE_TIMEOUT)
        if request.transport is not None:
            request.transport.abort()
    except (ConnectionError, aiohttp.ClientConnectionResetError):
        pass  # the viewer went away
    finally:
        hub.leave(viewer)
    return resp


def add_dashboard(app: web.Application, get_snapshot: Callable[[], Snapshot | Awaitable[Snapshot]],
                  options: DashboardOptions | None = None) -> EventHub:
    """Mount the page, its files and ``/events`` on a control application."""

    async def snapshot() -> Snapshot:
        snap = get_snapshot()
        if inspect.isawaitable(snap):
            snap = await snap
        return snap  # type: ignore[return-value]

    hub = EventHub(snapshot, options or DashboardOptions())
    app[_HUB_KEY] = hub

    async def on_startup(_: web.Application) -> None:
        hub.reopen()

    async def on_shutdown(_: web.Application) -> None:
        await hub.close()

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        if request.method == "POST" and request.path == "/api/v1/command" and response.status == 200:
            hub.nudge()  # the command is applied (the runtime API answers after reconciling): show it now

    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    app.on_response_prepare.append(on_prepare)
    app.router.add_get("/", _index)
    app.router.add_get("/dashboard/{name}", _asset)
    app.router.add_get("/events", _events)
    return hub
