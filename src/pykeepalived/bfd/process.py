"""The BFD process: runs the configured ``bfd_instance``\\ s (keepalived's BFD child, bfd/bfd_daemon.c).

The asyncio adapter around :mod:`pykeepalived.bfd.session`: one listening socket per address family on
UDP 3784 (:mod:`pykeepalived.bfd.io`), one sending socket per session, one timer (a timerfd on the earliest
of the sessions' deadlines, re-armed after every event), and the :class:`~pykeepalived.bfd.watch.EventHub` that
tells the VRRP and checker processes when a session goes up or down.  Logs keep keepalived's wording:
``(NAME) Entering Up state``, ``(NAME) Entering Down state (Local diagnostic - ..., Remote diagnostic -
...)``, ``(NAME) Expired after N ms (M usec overdue)``, ``Detection time is N us (was M us)``.

On reload a session whose name, neighbour, source, ttl and max_hops are unchanged keeps its state and
discriminators (keepalived's bfd_copy_state); changed intervals or multiplier are applied with a Poll
Sequence.  Other sessions are replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pykeepalived.config.model_vrrp import BfdInstance
from pykeepalived.timer import DeadlineTimer

from . import io
from .packet import CONTROL_PORT, State
from .session import (
    Action,
    ChangeParameters,
    DetectionTimeChanged,
    SendPacket,
    Session,
    SessionConfig,
    Sessions,
    Start,
    StateChanged,
    TimerFired,
)
from .watch import EventHub

log = logging.getLogger("pykeepalived")

#: keepalived's defaults (bfd.h): ms
MIN_RX_DEFAULT = 10
MIN_TX_DEFAULT = 10
IDLE_TX_DEFAULT = 1000
MULTIPLIER_DEFAULT = 5
#: keepalived's default TTL / hop limit when the block sets none (BFD_CONTROL_TTL / BFD_CONTROL_HOPLIMIT)
TTL_DEFAULT_V4 = 255
HOPLIMIT_DEFAULT_V6 = 64


def _us(ms: float | None, default: int) -> int:
    return round((default if ms is None else ms) * 1000)


def session_config(inst: BfdInstance, local_discr: int) -> SessionConfig:
    """A bfd_instance with keepalived 2.2.7's defaults filled in (bfd/bfd_data.c: alloc_bfd(),
    bfd/bfd_parser.c: bfd_end_handler())."""
    assert inst.neighbor_ip is not None
    v6 = inst.neighbor_ip.version == 6
    ttl = inst.ttl or (HOPLIMIT_DEFAULT_V6 if v6 else TTL_DEFAULT_V4)
    max_hops = inst.max_hops if inst.max_hops is not None else 0
    if max_hops < 0:  # keepalived stores -1 in a uint8_t: 255, no TTL check
        max_hops = 255
    elif max_hops > ttl:
        max_hops = ttl
    return SessionConfig(
        name=inst.name, local_discr=local_discr, min_rx=_us(inst.min_rx, MIN_RX_DEFAULT),
        min_tx=_us(inst.min_tx, MIN_TX_DEFAULT), idle_tx=_us(inst.idle_tx, IDLE_TX_DEFAULT),
        multiplier=inst.multiplier or MULTIPLIER_DEFAULT, passive=inst.passive, ttl=ttl, max_hops=max_hops,
    )


def reports_to(inst: BfdInstance) -> tuple[bool, bool]:
    """(to VRRP, to checkers): both unless the block names one (keepalived's ``vrrp`` / ``checker``)."""
    if not inst.vrrp and not inst.checker:
        return True, True
    return inst.vrrp, inst.checker


@dataclass
class _Peer:
    instance: BfdInstance
    session: Session
    sock: socket.socket | None = None
    send_error: bool = False


@dataclass
class BfdOptions:
    events_path: str
    #: the port sessions send to and listen on (3784; another only for tests on loopback)
    port: int = CONTROL_PORT
    #: the address the listeners bind (all by default)
    listen_v4: str = ""
    listen_v6: str = ""
    rng: random.Random = field(default_factory=random.SystemRandom)
    #: called on every state change with (session, change, now): for tests, benchmarks and ``python -m``
    on_change: Callable[[Session, StateChanged, float], None] | None = None


class BfdProcess:
    def __init__(self, instances: Iterable[BfdInstance], options: BfdOptions) -> None:
        self.options = options
        self.sessions = Sessions()
        self.peers: dict[str, _Peer] = {}
        self.hub = EventHub(options.events_path)
        self._listeners: dict[socket.AddressFamily, socket.socket] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: DeadlineTimer | None = None
        self._stopped = asyncio.Event()
        self._instances = [i for i in instances if i.neighbor_ip is not None]

    # -- life cycle ------------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._timer = DeadlineTimer(self._loop, lambda _when: self._fire())
        await self.hub.start()
        self._apply(self._instances)

    async def run(self) -> int:
        await self.start()
        try:
            await self.wait()
        finally:
            await self.close()
        return 0

    async def wait(self) -> None:
        """Until :meth:`stop`."""
        await self._stopped.wait()

    def stop(self) -> None:
        self._stopped.set()

    async def close(self) -> None:
        if self._timer is not None:
            self._timer.close()
            self._timer = None
        for name in list(self.peers):
            self._remove(name)
        for fam, sock in list(self._listeners.items()):
            if self._loop is not None:
                self._loop.remove_reader(sock.fileno())
            sock.close()
            del self._listeners[fam]
        await self.hub.stop()

    def reload(self, instances: Iterable[BfdInstance]) -> None:
        log.info("Reloading")
        self._apply([i for i in instances if i.neighbor_ip is not None])

    # -- sessions --------------------------------------------------------------------------------------
    def _new_discr(self) -> int:
        used = {p.session.config.local_discr for p in self.peers.values()}
        while True:
            d = self.options.rng.randint(1, 0xFFFFFFFF)
            if d not in used:
                return d

    def _apply(self, instances: list[BfdInstance]) -> None:
        now = self._now()
        wanted = {i.name: i for i in instances}
        for name in [n for n in self.peers if n not in wanted]:
            self._remove(name)
        for inst in instances:
            old = self.peers.get(inst.name)
            if old is not None:
                same_path = (old.instance.neighbor_ip, old.instance.source_ip, old.instance.ttl,
                             old.instance.max_hops, old.instance.passive) == (
                    inst.neighbor_ip, inst.source_ip, inst.ttl, inst.max_hops, inst.passive)
                if same_path:
                    cfg = session_config(inst, old.session.config.local_discr)
                    self._execute(old, old.session.handle(now, ChangeParameters(
                        min_tx=cfg.min_tx, min_rx=cfg.min_rx, multiplier=cfg.multiplier)))
                    old.instance = inst
                    vrrp, checker = reports_to(inst)
                    self.hub.declare(inst.name, up=old.session.up, state=old.session.state.label, vrrp=vrrp,
                                     checker=checker)
                    continue
                self._remove(inst.name)
            self._add(inst, now)
        self._rearm()

    def _add(self, inst: BfdInstance, now: float) -> None:
        assert inst.neighbor_ip is not None
        cfg = session_config(inst, self._new_discr())
        session = Session(cfg, rng=self.options.rng)
        neighbor = str(inst.neighbor_ip)
        source = str(inst.source_ip) if inst.source_ip is not None else None
        peer = _Peer(inst, session)
        try:
            self._listen(io.family_of(neighbor))
            peer.sock = io.open_sender(neighbor, source, cfg.ttl, rng=self.options.rng)
        except OSError as e:
            log.error("(%s) Unable to open output socket, disabling instance (%s)", inst.name, e.strerror or e)
            return
        self.sessions.add(session, neighbor, source)
        self.peers[inst.name] = peer
        vrrp, checker = reports_to(inst)
        self.hub.declare(inst.name, up=False, state=session.state.label, vrrp=vrrp, checker=checker)
        self._execute(peer, session.handle(now, Start()))

    def _remove(self, name: str) -> None:
        peer = self.peers.pop(name, None)
        if peer is None:
            return
        self.sessions.remove(name)
        self.hub.forget(name)
        if peer.sock is not None:
            peer.sock.close()

    def _listen(self, family: socket.AddressFamily) -> None:
        if family in self._listeners:
            return
        address = self.options.listen_v6 if family == socket.AF_INET6 else self.options.listen_v4
        sock = io.open_listener(family, self.options.port, address)
        self._listeners[family] = sock
        assert self._loop is not None
        self._loop.add_reader(sock.fileno(), self._readable, sock)

    # -- events ----------------------------------------------------------------------------------------
    def _now(self) -> float:
        return self._loop.time() if self._loop is not None else 0.0

    def _readable(self, sock: socket.socket) -> None:
        for _ in range(64):  # bounded per wake-up: timers run between bursts
            got = io.receive(sock)
            if got is None:
                break
            data, source, local, ttl = got
            routed = self.sessions.receive(self._now(), data, source, local, ttl)
            if routed.session is not None:
                self._execute(self.peers[routed.session.config.name], routed.actions)
        self._rearm()

    def _fire(self) -> None:
        now = self._now()
        for peer in list(self.peers.values()):
            deadline = peer.session.next_deadline()
            if deadline is not None and deadline <= now:
                self._execute(peer, peer.session.handle(now, TimerFired()))
        self._rearm()

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.arm(self.sessions.next_deadline())

    def _execute(self, peer: _Peer, actions: list[Action]) -> None:
        name = peer.session.config.name
        for action in actions:
            if isinstance(action, SendPacket):
                self._send(peer, action)
            elif isinstance(action, StateChanged):
                self._state_changed(peer, action)
            elif isinstance(action, DetectionTimeChanged):
                log.info("%*s Detection time is %d us (was %d us)", len(name) + 2, "", action.new, action.old)

    def _send(self, peer: _Peer, action: SendPacket) -> None:
        if peer.sock is None:
            return
        try:
            peer.sock.sendto(action.packet.encode(), (str(peer.instance.neighbor_ip), self.options.port))
            peer.send_error = False
        except OSError as e:
            if not peer.send_error:
                log.error("(%s) Error sending packet (%s)", peer.instance.name, e.strerror or e)
                peer.send_error = True

    def _state_changed(self, peer: _Peer, change: StateChanged) -> None:
        s = peer.session
        name = s.config.name
        if change.new is State.DOWN and change.old is State.UP:
            if change.diag.value == 1 and s.last_rx is not None:  # Control Detection Time Expired
                dead = self._now() - s.last_rx
                log.warning("(%s) Expired after %d ms (%d usec overdue)", name, dead * 1000,
                            max(0, round(dead * 1e6) - s.detection_time))
            log.warning("(%s) Entering %s state (Local diagnostic - %s, Remote diagnostic - %s)", name,
                        change.new.label, change.diag.label, s.remote_diag.label)
        elif change.new is State.UP:
            log.info("(%s) Entering %s state", name, change.new.label)
        elif change.new is State.ADMIN_DOWN:
            log.warning("(%s) Entering %s state", name, change.new.label)
        else:
            log.debug("(%s) Entering %s state", name, change.new.label)
        if self.options.on_change is not None:
            self.options.on_change(s, change, self._now())
        was_up = change.old is State.UP
        now_up = change.new is State.UP
        if was_up == now_up:
            # Down <-> Init, or a neighbour's AdminDown (not a path failure: keepalived sends no event)
            return
        if change.remote_admin_down:
            return
        self.hub.publish(name, up=now_up, state=change.new.label, diag=change.diag.label)

    def status(self) -> list[dict[str, object]]:
        return [p.session.status() for p in self.peers.values()]

    def data_text(self) -> str:
        """keepalived_bfd.data's BFD sections (keepalived's bfd/bfd_data.c: dump_bfd_data), for SIGUSR1."""
        out = ["------< BFD Data >------"]
        for fam, sock in self._listeners.items():
            out.append(f" fd_in = {sock.fileno()} ({'IPv6' if fam == socket.AF_INET6 else 'IPv4'})")
        if self.peers:
            out.append("------< BFD Topology >------")
        now = self._now()
        for p in self.peers.values():
            s, c, inst = p.session, p.session.config, p.instance
            vrrp, checker = reports_to(inst)
            out += [f" BFD Instance = {c.name}", f"   Neighbor IP = {inst.neighbor_ip}"]
            if inst.source_ip is not None:
                out.append(f"   Source IP = {inst.source_ip}")
            out += [
                f"   Required min RX interval = {s.min_rx} us", f"   Desired min TX interval = {s.min_tx} us",
                f"   Desired idle TX interval = {c.idle_tx} us", f"   Detection multiplier = {s.multiplier}",
                f"   {'TTL' if inst.neighbor_ip and inst.neighbor_ip.version == 4 else 'hoplimit'} = {c.ttl}",
                f"   max_hops = {c.max_hops}", f"   passive = {'true' if c.passive else 'false'}",
                f"   send event to VRRP process = {'Yes' if vrrp else 'No'}",
                f"   send event to checker process = {'Yes' if checker else 'No'}",
                f"   fd_out {p.sock.fileno() if p.sock is not None else -1}",
                f"   send error = {'true' if p.send_error else 'false'}",
                f"   local state = {s.state.label}", f"   remote state = {s.remote_state.label}",
                f"   local discriminator = 0x{c.local_discr:x}", f"   remote discriminator = 0x{s.remote_discr:x}",
                f"   local diag = {s.local_diag.label}", f"   remote diag = {s.remote_diag.label}",
                f"   remote min tx intv = {s.remote_min_tx} us", f"   remote min rx intv = {s.remote_min_rx} us",
                f"   remote detect multiplier = {s.remote_mult}", f"   {'' if s.poll else '!'}poll",
                f"   local tx intv = {s.tx_interval or 0} us", f"   local detection time = {s.detection_time} us",
                "   last_seen = [never]" if s.last_rx is None else f"   last seen = {now - s.last_rx:.6f} s ago",
                f"   packets sent = {s.sent}, received = {s.received}, dropped = {sum(s.drops.values())}",
            ]
        dropped = sum(self.sessions.drops.values())
        if dropped:
            out.append(" dropped before a session was found: " + ", ".join(
                f"{r.name.lower()} {n}" for r, n in self.sessions.drops.items()))
        return "\n".join(out) + "\n"


async def run_bfd(instances: Iterable[BfdInstance], options: BfdOptions) -> int:
    """Run until cancelled or :meth:`BfdProcess.stop`; the child's entry point wraps this."""
    proc = BfdProcess(instances, options)
    with contextlib.suppress(asyncio.CancelledError):
        return await proc.run()
    return 0
