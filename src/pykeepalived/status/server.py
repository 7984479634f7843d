"""The control socket: the daemon's state over HTTP on a unix socket (and optionally TCP for Prometheus).

Endpoints (all GET, all read-only):

- ``/status``  the :class:`Snapshot` as JSON (what ``pykeepalived status`` reads)
- ``/metrics`` Prometheus text, computed from a fresh snapshot at each scrape
- ``/ipvsadm`` the ``ipvsadm -Ln`` table as text (``?stats``, ``?rate``, ``?exact``), for curl users
- ``/``        the live dashboard (status.dashboard: the page, and ``/events``, server-sent events)
- ``/changes`` a long poll answered when the process's state changes (status.changes), when it has a
               change signal

The server is handed a ``get_snapshot`` callable and knows nothing else about the daemon, so it can run in
whichever process owns the state and be tested with a fake.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import socket
import stat
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiohttp import web
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from pykeepalived.paths import DEFAULT_PID_FILE, control_path_for
from pykeepalived.status import ipvsadm, metrics
from pykeepalived.status.api import MAX_REQUEST, Access, CommandHandler, add_api
from pykeepalived.status.changes import ChangeSignal, add_changes
from pykeepalived.status.dashboard import DashboardOptions, add_dashboard
from pykeepalived.status.snapshot import VRRP_STAT_NAMES, Health, Snapshot

__all__ = [
    "DEFAULT_PID_FILE",
    "ControlServer",
    "ControlSocketInUse",
    "StatusCollector",
    "control_path_for",
    "make_app",
    "parse_listen",
]

log = logging.getLogger(__name__)

SnapshotSource = Callable[[], Snapshot | Awaitable[Snapshot]]
_SOURCE_KEY = web.AppKey("get_snapshot", object)
_UNIX_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL

VRRP_STATES = ("INIT", "BACKUP", "MASTER", "FAULT", "STOP")


class ControlSocketInUse(RuntimeError):
    """Another process already answers on this control socket (a second daemon with the same pid file?)."""


# ---------------------------------------------------------------------------------------- metrics


class StatusCollector(Collector):
    """A prometheus-client collector reading a snapshot at each scrape (never stale, no background task)."""

    def __init__(self, get_snapshot: Callable[[], Snapshot]) -> None:
        self._get_snapshot = get_snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self._get_snapshot()
        yield from _daemon_metrics(snap)
        yield from _vrrp_metrics(snap)
        yield from _lvs_metrics(snap)
        yield from metrics.collect(snap)  # keepalived-exporter's and node_exporter's names, checkers, transitions
        yield from metrics.process_metrics()


def _daemon_metrics(snap: Snapshot) -> Iterator[Metric]:
    d = snap.daemon
    info = GaugeMetricFamily("pykeepalived_info", "The running daemon (value is always 1).",
                             labels=["version", "dataplane", "config_file"])
    info.add_metric([d.version, d.dataplane, d.config_file], 1)
    yield info
    yield GaugeMetricFamily("pykeepalived_start_time_seconds", "When the daemon started (unix time).",
                            value=d.started_at)


def _vrrp_metrics(snap: Snapshot) -> Iterator[Metric]:
    inst_info = GaugeMetricFamily("pykeepalived_vrrp_instance_info", "VRRP instances (value is always 1).",
                                  labels=["instance", "interface", "vrid", "version"])
    state = GaugeMetricFamily("pykeepalived_vrrp_state",
                              "1 for the current state (INIT, BACKUP, MASTER, FAULT, STOP), else 0.",
                              labels=["instance", "state"])
    base = GaugeMetricFamily("pykeepalived_vrrp_base_priority", "Configured priority.", labels=["instance"])
    eff = GaugeMetricFamily("pykeepalived_vrrp_effective_priority",
                            "Priority after tracking adjustments.", labels=["instance"])
    counters = {
        n: CounterMetricFamily(f"pykeepalived_vrrp_{n}", f"keepalived's {n} counter.", labels=["instance"])
        for n in VRRP_STAT_NAMES
    }
    for v in snap.vrrp:
        inst_info.add_metric([v.name, v.interface, str(v.vrid), str(v.version)], 1)
        for s in VRRP_STATES:
            state.add_metric([v.name, s], 1.0 if v.state == s else 0.0)
        base.add_metric([v.name], v.base_priority)
        eff.add_metric([v.name], v.effective_priority)
        for n, fam in counters.items():
            fam.add_metric([v.name], getattr(v.stats, n))
    yield from (inst_info, state, base, eff, *counters.values())


def _lvs_metrics(snap: Snapshot) -> Iterator[Metric]:
    svc_l = ["service"]
    dst_l = ["service", "destination"]
    q_up = GaugeMetricFamily("pykeepalived_lvs_service_quorum_up", "1 when the virtual server has quorum.",
                             labels=svc_l)
    q_weight = GaugeMetricFamily("pykeepalived_lvs_service_alive_weight",
                                 "Sum of the weights of the alive real servers.", labels=svc_l)
    q_quorum = GaugeMetricFamily("pykeepalived_lvs_service_quorum", "Configured quorum.", labels=svc_l)
    s_conns = CounterMetricFamily("pykeepalived_lvs_service_connections", "Connections scheduled.",
                                  labels=svc_l)
    s_bytes = {
        k: CounterMetricFamily(f"pykeepalived_lvs_service_{k}_bytes", f"Bytes {k}.", labels=svc_l)
        for k in ("in", "out")
    }
    weight = GaugeMetricFamily("pykeepalived_lvs_destination_weight",
                               "Weight in the data plane (0 when absent or inhibited).", labels=dst_l)
    up = GaugeMetricFamily("pykeepalived_lvs_destination_up", "1 when the checkers say alive.",
                           labels=dst_l)
    health = GaugeMetricFamily("pykeepalived_lvs_destination_health",
                               "1 for the destination's health (alive, down, inhibited, sorry), else 0.",
                               labels=[*dst_l, "health"])
    active = GaugeMetricFamily("pykeepalived_lvs_destination_active_connections", "ActiveConn.", labels=dst_l)
    inactive = GaugeMetricFamily("pykeepalived_lvs_destination_inactive_connections", "InActConn.",
                                 labels=dst_l)
    conns = CounterMetricFamily("pykeepalived_lvs_destination_connections", "Connections scheduled.",
                                labels=dst_l)
    pkts = {k: CounterMetricFamily(f"pykeepalived_lvs_destination_{k}_packets", f"Packets {k}.", labels=dst_l)
            for k in ("in", "out")}
    byts = {k: CounterMetricFamily(f"pykeepalived_lvs_destination_{k}_bytes", f"Bytes {k}.", labels=dst_l)
            for k in ("in", "out")}
    for vs in snap.virtual_services:
        sname = metrics.service_label(vs.service.key)
        q_up.add_metric([sname], 1.0 if vs.quorum.up else 0.0)
        q_weight.add_metric([sname], vs.quorum.weight_sum)
        q_quorum.add_metric([sname], vs.quorum.quorum)
        tot = vs.total_stats()
        s_conns.add_metric([sname], tot.conns)
        s_bytes["in"].add_metric([sname], tot.inbytes)
        s_bytes["out"].add_metric([sname], tot.outbytes)
        in_table = vs.service.dest_map()
        for d in vs.destinations:
            labels = [sname, str(d.key)]
            plane = in_table.get(d.key)
            weight.add_metric(labels, plane.weight if plane is not None else 0)
            up.add_metric(labels, 1.0 if d.health is Health.ALIVE else 0.0)
            for h in Health:
                health.add_metric([*labels, h.value], 1.0 if d.health is h else 0.0)
            active.add_metric(labels, d.active_conns)
            inactive.add_metric(labels, d.inactive_conns)
            conns.add_metric(labels, d.stats.conns)
            pkts["in"].add_metric(labels, d.stats.inpkts)
            pkts["out"].add_metric(labels, d.stats.outpkts)
            byts["in"].add_metric(labels, d.stats.inbytes)
            byts["out"].add_metric(labels, d.stats.outbytes)
    yield from (q_up, q_weight, q_quorum, s_conns, *s_bytes.values())
    yield from (weight, up, health, active, inactive, conns, *pkts.values(), *byts.values())


def metrics_text(snap: Snapshot) -> bytes:
    """The Prometheus exposition of one snapshot."""
    return metrics.exposition(StatusCollector(lambda: snap).collect())  # generate_latest's text, faster


# ---------------------------------------------------------------------------------------- handlers


async def _snapshot(request: web.Request) -> Snapshot:
    source: Any = request.app[_SOURCE_KEY]
    snap = source()
    if inspect.isawaitable(snap):
        snap = await snap
    return snap  # type: ignore[no-any-return]


async def _status(request: web.Request) -> web.Response:
    snap = await _snapshot(request)
    return web.Response(text=snap.to_json(), content_type="application/json")


_METRICS_LOCK_KEY = web.AppKey("metrics_lock", asyncio.Lock)


async def _metrics(request: web.Request) -> web.Response:
    """Rendered on a worker thread, one scrape at a time: a large table takes seconds of CPU, which must
    not hold the control socket's event loop (status, the API, the dashboard's stream) for all of it."""
    snap = await _snapshot(request)
    async with request.app[_METRICS_LOCK_KEY]:
        body = await asyncio.to_thread(metrics_text, snap)
    resp = web.Response(body=body)
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return resp


async def _ipvsadm(request: web.Request) -> web.Response:
    snap = await _snapshot(request)
    q = request.query
    mode = ipvsadm.Mode.STATS if "stats" in q else ipvsadm.Mode.RATE if "rate" in q else ipvsadm.Mode.LIST
    return web.Response(text=ipvsadm.render(snap, mode, "exact" in q), content_type="text/plain")


@web.middleware
async def _errors(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                  ) -> web.StreamResponse:
    """A failure to build the snapshot is the daemon's bug: say so in a 500, keep serving."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except Exception as e:
        log.exception("control socket: %s %s failed", request.method, request.path)
        return web.Response(status=500, text=f"pykeepalived: cannot build the status: {e!r}\n")


def make_app(get_snapshot: SnapshotSource, commands: CommandHandler | None = None,
             access: Access | None = None, dashboard: DashboardOptions | None = None,
             changes: ChangeSignal | None = None) -> web.Application:
    """The aiohttp application (served on the unix socket and, optionally, on TCP): the status views, the
    dashboard, and the runtime API (``POST /api/v1/command``, status.api) when ``commands`` handles it;
    with ``changes``, ``GET /changes`` serves it and the dashboard reads the status when it moves."""
    app = web.Application(middlewares=[_errors], client_max_size=MAX_REQUEST)
    app[_SOURCE_KEY] = get_snapshot
    app[_METRICS_LOCK_KEY] = asyncio.Lock()
    add_api(app, commands, access or Access())
    hub = add_dashboard(app, get_snapshot, dashboard)
    if changes is not None:
        add_changes(app, changes)
        changes.subscribe(hub.nudge)
    app.router.add_get("/status", _status)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/ipvsadm", _ipvsadm)
    return app


# ---------------------------------------------------------------------------------------- server


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` for the optional TCP listener."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError(f"listen address must be HOST:PORT or [IPv6]:PORT, not {text!r}")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


def _claim_unix_path(path: str) -> None:
    """Remove a stale socket left by a dead daemon; refuse to steal a live one or to delete other files."""
    if len(os.fsencode(path)) > _UNIX_PATH_MAX:
        raise ValueError(f"control socket path is longer than {_UNIX_PATH_MAX} bytes: {path}")
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise FileExistsError(f"{path} exists and is not a socket; not replacing it with the control socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # nobody listening: left over from a daemon that died
        return
    finally:
        probe.close()
    raise ControlSocketInUse(f"another daemon is listening on {path}; give this one another -p PIDFILE or "
                             "--control PATH")


#: most TCP connections served at once; more are closed at once (and counted), so that idle or slow
#: clients of the optional listener can never take the descriptors the daemon and its unix socket need
TCP_MAX_CONNECTIONS = 64
#: a TCP client must send its first bytes within this many seconds of connecting, or is closed
TCP_FIRST_BYTE_TIMEOUT = 10.0
#: first and longest wait before trying again to open a control socket that could not be opened
RETRY_DELAY, MAX_RETRY_DELAY = 1.0, 60.0


class ConnectionGate:
    """Counts the TCP listener's connections and says whether one more may be served."""

    def __init__(self, limit: int = TCP_MAX_CONNECTIONS, first_byte_timeout: float = TCP_FIRST_BYTE_TIMEOUT) -> None:
        self.limit = limit
        self.first_byte_timeout = first_byte_timeout
        self.active = 0
        self.refused = 0  # closed because the listener was full
        self.idle_closed = 0  # closed because they sent nothing in time


class _GatedProtocol(asyncio.Protocol):
    """aiohttp's request handler behind a :class:`ConnectionGate`: over the limit the connection is closed
    at once; a connection that sends nothing within the gate's timeout is closed."""

    def __init__(self, inner: asyncio.Protocol, gate: ConnectionGate) -> None:
        self.inner: asyncio.Protocol | None = inner
        self.gate = gate
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        gate = self.gate
        if gate.active >= gate.limit:
            gate.refused += 1
            self.inner = None
            transport.close()
            return
        gate.active += 1
        self._idle = asyncio.get_running_loop().call_later(gate.first_byte_timeout, self._idle_close, transport)
        assert self.inner is not None
        self.inner.connection_made(transport)

    def _idle_close(self, transport: asyncio.BaseTransport) -> None:
        self.gate.idle_closed += 1
        transport.close()

    def data_received(self, data: bytes) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self.inner is not None:
            self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        if self.inner is not None:
            self.gate.active -= 1
            self.inner.connection_lost(exc)
            self.inner = None


class ControlServer:
    """Serves :func:`make_app` on a unix socket (mode 0600 by default) and an optional TCP address.

    ``get_snapshot`` is called for every request; it runs on the event loop, so it must be quick (the
    daemon hands over its last assembled state), or be a coroutine function.  The TCP listener serves at
    most ``gate.limit`` connections at once.  The daemon starts it with :meth:`start_or_retry`: a socket
    that cannot be opened is logged and tried again with back-off, never a reason to stop.
    """

    def __init__(self, get_snapshot: SnapshotSource, path: str, *, tcp: tuple[str, int] | None = None,
                 mode: int | None = None, gate: ConnectionGate | None = None,
                 commands: CommandHandler | None = None, access: Access | None = None,
                 dashboard: DashboardOptions | None = None, changes: ChangeSignal | None = None) -> None:
        access = access or Access()
        self.path = path
        self.tcp = tcp
        self.mode = access.socket_mode if mode is None else mode
        self.gate = gate or ConnectionGate()
        self._runner = web.AppRunner(make_app(get_snapshot, commands, access, dashboard, changes), access_log=None)
        self._started = False
        self._bound = False  # only a socket we bound is ours to remove
        self._tcp_server: asyncio.Server | None = None
        self._retry: asyncio.Task[None] | None = None
        self.tcp_port: int | None = None  # the bound port (useful with port 0)

    async def start_or_retry(self) -> bool:
        """:meth:`start`; on failure log it and keep trying in the background (True: serving now)."""
        try:
            await self.start()
            return True
        except (OSError, ValueError, RuntimeError) as e:
            log.error("control socket %s unavailable: %s; retrying in %g s", self.path, e, RETRY_DELAY)
        self._retry = asyncio.get_running_loop().create_task(self._retry_start(), name="control-socket-retry")
        return False

    async def _retry_start(self) -> None:
        delay = RETRY_DELAY
        while True:
            await asyncio.sleep(delay)
            try:
                await self.start()
                return
            except (OSError, ValueError, RuntimeError) as e:
                delay = min(delay * 2, MAX_RETRY_DELAY)
                log.warning("control socket %s still unavailable: %s; retrying in %g s", self.path, e, delay)

    async def start(self) -> None:
        _claim_unix_path(self.path)
        self._runner = web.AppRunner(self._runner.app, access_log=None)  # a fresh one for every try
        await self._runner.setup()
        self._started = True
        try:
            old = os.umask(0o777 & ~self.mode)  # no window in which the socket is wider open than asked
            try:
                await web.UnixSite(self._runner, self.path).start()
                self._bound = True
            finally:
                os.umask(old)
            os.chmod(self.path, self.mode)
            if self.tcp is not None:
                handler_factory = self._runner.server
                assert handler_factory is not None
                self._tcp_server = await asyncio.get_running_loop().create_server(
                    lambda: _GatedProtocol(handler_factory(), self.gate), self.tcp[0], self.tcp[1],
                    reuse_address=True)
                sockets = list(self._tcp_server.sockets)
                self.tcp_port = sockets[0].getsockname()[1] if sockets else self.tcp[1]
        except BaseException:
            await self.stop()
            raise
        log.info("control socket listening on %s%s", self.path,
                 f" and http://{self.tcp[0]}:{self.tcp_port}" if self.tcp else "")

    async def stop(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._tcp_server is not None:
            self._tcp_server.close()
            self._tcp_server = None
        if self._started:
            self._started = False
            await self._runner.cleanup()
        if self._bound:
            self._bound = False
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISSOCK(os.lstat(self.path).st_mode):
                    os.unlink(self.path)

    async def __aenter__(self) -> ControlServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def serve(get_snapshot: SnapshotSource, path: str, tcp: tuple[str, int] | None = None) -> None:
    """Run a control server until cancelled (handy for a child process that only serves status)."""
    async with ControlServer(get_snapshot, path, tcp=tcp):
        await asyncio.Event().wait()
