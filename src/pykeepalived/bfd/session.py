"""BFD sessions as pure objects (RFC 5880 asynchronous mode, single hop as RFC 5881): fed ``(now, event)``,
they return actions (send this packet, the state changed); nothing here reads a clock or touches a socket.

:class:`Session` is one ``bfd_instance``: the state machine of RFC 5880 §6.2/§6.8.6, the timers of §6.8.2
(transmit interval), §6.8.4 (detection time: the remote Detect Mult × max(our Required Min RX, the remote's
last Desired Min TX)) and §6.8.7 (jitter: each interval reduced by 0-25 %, by 10-25 % when our Detect Mult
is 1), the Poll/Final sequence of §6.5/§6.8.3 on a change of our intervals, and the 1 s floor while not Up
(keepalived's ``idle_tx``).  The adapter sleeps until :meth:`Session.next_deadline` and feeds
:class:`TimerFired`.

:class:`Sessions` is the receive side's table: decodes a datagram, picks the session by Your
Discriminator or, when that is zero, by the addresses (§6.8.6), and counts every dropped packet by
:class:`~pykeepalived.bfd.packet.Reason`.

Where keepalived 2.2.7 (bfd/bfd_scheduler.c) and the RFC part, this follows the RFC and says so: the
detection timer is restarted by every valid packet in Init as well as Up (keepalived only in Up); a
Poll-Final exchange lets an increased Desired Min TX take effect only once it has completed.  As
keepalived does: an Up→Down caused by the neighbour's AdminDown is not a path failure
(:attr:`StateChanged.remote_admin_down`; keepalived sends no event to VRRP/checker for it), received TTLs are
checked as ``ttl + max_hops >= configured ttl`` (``max_hops`` 255 turns the check off), and no
authentication is supported (packets with the A bit are dropped).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

from .packet import ControlPacket, Diag, Reason, Rejected, State, decode

IPKey = str  # addresses as text: the table needs only equality


class Uniform(Protocol):
    def uniform(self, a: float, b: float) -> float: ...


@dataclass(frozen=True, slots=True)
class SessionConfig:
    """A session's parameters; intervals in microseconds.  Defaults are keepalived 2.2.7's (bfd.h)."""

    name: str
    local_discr: int
    min_rx: int = 10_000
    min_tx: int = 10_000
    idle_tx: int = 1_000_000
    multiplier: int = 5
    passive: bool = False
    ttl: int = 255
    max_hops: int = 0


# -- events -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Start:
    """The session exists: Down, sending (unless passive)."""


@dataclass(frozen=True, slots=True)
class PacketReceived:
    packet: ControlPacket
    #: the received TTL / hop limit (None: the socket did not say; not checked, as keepalived)
    ttl: int | None = None


@dataclass(frozen=True, slots=True)
class TimerFired:
    """The deadline the adapter slept for (or any later time) has come."""


@dataclass(frozen=True, slots=True)
class AdminDown:
    """Operator: take the session administratively down (RFC 5880 §6.8.16)."""


@dataclass(frozen=True, slots=True)
class AdminUp:
    pass


@dataclass(frozen=True, slots=True)
class ChangeParameters:
    """New intervals (µs) or multiplier; a session Up runs a Poll Sequence for them (§6.8.3)."""

    min_tx: int | None = None
    min_rx: int | None = None
    multiplier: int | None = None


Event = Start | PacketReceived | TimerFired | AdminDown | AdminUp | ChangeParameters


# -- actions ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendPacket:
    packet: ControlPacket


@dataclass(frozen=True, slots=True)
class StateChanged:
    old: State
    new: State
    diag: Diag
    #: Down because the neighbour said AdminDown: not a failure of the path (RFC 5882 §3.2; keepalived
    #: sends no down event to its VRRP and checker processes for it)
    remote_admin_down: bool = False
    #: the detection time (µs) in force just before the change (the bound an expiry is measured against)
    detection_time: int = field(default=0, compare=False)


@dataclass(frozen=True, slots=True)
class DetectionTimeChanged:
    """keepalived logs ``Detection time is N us (was M us)``."""

    new: int
    old: int


@dataclass(frozen=True, slots=True)
class Dropped:
    reason: Reason


Action = SendPacket | StateChanged | DetectionTimeChanged | Dropped


def _us(seconds_from_now: float, interval_us: float) -> float:
    return seconds_from_now + interval_us / 1_000_000


@dataclass
class Session:
    """One BFD session (RFC 5880 §6.8.1's state variables under their RFC names, in µs)."""

    config: SessionConfig
    rng: Uniform = field(default_factory=random.SystemRandom)

    state: State = State.DOWN
    remote_state: State = State.DOWN
    remote_discr: int = 0
    local_diag: Diag = Diag.NO_DIAG
    remote_diag: Diag = Diag.NO_DIAG
    remote_min_rx: int = 1  # bfd.RemoteMinRxInterval starts at 1 (§6.8.1)
    remote_min_tx: int = 0  # the remote's last Desired Min TX
    remote_mult: int = 0
    remote_demand: bool = False
    poll: bool = False
    #: counters: packets sent / received (valid, for this session) / dropped by reason
    sent: int = 0
    received: int = 0
    drops: Counter[Reason] = field(default_factory=Counter)
    last_rx: float | None = None

    def __post_init__(self) -> None:
        c = self.config
        self.multiplier = c.multiplier
        self.min_tx = c.min_tx  # bfd.DesiredMinTxInterval once Up
        self.min_rx = c.min_rx  # bfd.RequiredMinRxInterval
        # the values in use while a Poll Sequence runs (§6.8.3): an increased Desired Min TX, a reduced
        # Required Min RX only once it has completed
        self._tx_in_use = c.idle_tx
        self._rx_in_use = c.min_rx
        self._tx_at: float | None = None
        self._detect_at: float | None = None
        self._admin_tx_until: float | None = None
        self._final_due = False
        self._detect_time = 0

    # -- derived values ---------------------------------------------------------------------------------
    @property
    def desired_min_tx(self) -> int:
        """bfd.DesiredMinTxInterval as advertised: idle_tx (at least 1 s) unless Up (§6.8.3)."""
        return self.min_tx if self.state is State.UP else max(self.config.idle_tx, 1_000_000)

    @property
    def tx_interval(self) -> int | None:
        """The negotiated transmit interval (§6.8.2): max(our Desired Min TX in use, the remote's Required
        Min RX); None when the remote asked for no packets (Required Min RX 0)."""
        if self.remote_min_rx == 0:
            return None
        return max(self._tx_in_use, self.remote_min_rx)

    @property
    def detection_time(self) -> int:
        """§6.8.4, asynchronous mode: the remote's Detect Mult × max(our Required Min RX, the remote's
        Desired Min TX); 0 until a packet has been received."""
        return self.remote_mult * max(self._rx_in_use, self.remote_min_tx)

    def next_deadline(self) -> float | None:
        times = [t for t in (self._tx_at, self._detect_at) if t is not None]
        return min(times) if times else None

    @property
    def up(self) -> bool:
        return self.state is State.UP

    # -- the event entry point --------------------------------------------------------------------------
    def handle(self, now: float, event: Event) -> list[Action]:
        if isinstance(event, PacketReceived):
            return self._receive(now, event)
        if isinstance(event, TimerFired):
            return self._timers(now)
        if isinstance(event, Start):
            return self._start(now)
        if isinstance(event, ChangeParameters):
            return self._change(now, event)
        if isinstance(event, AdminDown):
            return self._admin_down(now)
        if isinstance(event, AdminUp):
            return self._admin_up(now)
        raise TypeError(f"not a BFD session event: {event!r}")

    # -- transmission -----------------------------------------------------------------------------------
    def _may_send(self, now: float) -> bool:
        """§6.8.7: not while passive with no remote discriminator, not periodically when the remote's
        Required Min RX is 0 or the remote runs Demand mode with both Up; in AdminDown for one detection
        time of the remote's (then it stops, §6.8.16)."""
        if self.config.passive and self.remote_discr == 0:
            return False
        if self.tx_interval is None:
            return False
        if self.remote_demand and self.state is State.UP and self.remote_state is State.UP:
            return False
        if self.state is State.ADMIN_DOWN:
            return self._admin_tx_until is not None and now < self._admin_tx_until
        return True

    def _jittered(self, interval: int) -> float:
        """§6.8.7: the interval reduced by a random 0-25 % (10-25 % when our Detect Mult is 1), in µs."""
        low = 0.10 if self.multiplier == 1 else 0.0
        return interval * (1.0 - self.rng.uniform(low, 0.25))

    def _schedule_tx(self, now: float, *, reschedule: bool = False) -> None:
        interval = self.tx_interval
        if not self._may_send(now) or interval is None:
            self._tx_at = None
            return
        at = _us(now, self._jittered(interval))
        if self._tx_at is None or (reschedule and at < self._tx_at):
            self._tx_at = at

    def _packet(self, *, final: bool = False) -> ControlPacket:
        return ControlPacket(
            state=self.state, my_discr=self.config.local_discr, your_discr=self.remote_discr,
            diag=self.local_diag, detect_mult=self.multiplier, desired_min_tx=self.desired_min_tx,
            required_min_rx=self.min_rx, poll=self.poll and not final, final=final,
        )

    def _send(self, *, final: bool = False) -> SendPacket:
        self.sent += 1
        return SendPacket(self._packet(final=final))

    # -- state changes ----------------------------------------------------------------------------------
    def _set_state(self, now: float, new: State, diag: Diag, *, remote_admin_down: bool = False) -> list[Action]:
        old = self.state
        was_tx = self.desired_min_tx
        detection_time = self.detection_time
        self.state = new
        self.local_diag = diag
        actions: list[Action] = [StateChanged(old, new, diag, remote_admin_down, detection_time)]
        if new is State.UP:
            # Desired Min TX drops from idle_tx to min_tx: a change while Up, so a Poll Sequence (§6.8.3);
            # a decrease takes effect at once
            if self.min_tx != was_tx:
                self.poll = True
            self._tx_in_use = min(self._tx_in_use, self.min_tx)
        else:
            # not Up: idle_tx (>= 1 s) at once, no poll pending; detection only runs in Init and Up
            self.poll = False
            self._tx_in_use = self.desired_min_tx
            self._rx_in_use = self.min_rx
        if new not in (State.INIT, State.UP):
            self._detect_at = None
        self._schedule_tx(now, reschedule=True)
        return actions

    def _start(self, now: float) -> list[Action]:
        self.state = State.DOWN
        self._tx_in_use = self.desired_min_tx
        actions: list[Action] = []
        if self._may_send(now):
            actions.append(self._send())
            self._schedule_tx(now)
        return actions

    def _admin_down(self, now: float) -> list[Action]:
        if self.state is State.ADMIN_DOWN:
            return []
        interval = self.tx_interval or self.desired_min_tx
        self._admin_tx_until = _us(now, self.multiplier * interval)
        self._tx_at = None
        actions = self._set_state(now, State.ADMIN_DOWN, Diag.ADMIN_DOWN)
        actions.append(self._send())
        return actions

    def _admin_up(self, now: float) -> list[Action]:
        if self.state is not State.ADMIN_DOWN:
            return []
        self._admin_tx_until = None
        self._tx_at = None
        actions = self._set_state(now, State.DOWN, Diag.NO_DIAG)
        if self._may_send(now):
            actions.append(self._send())
        return actions

    def _change(self, now: float, event: ChangeParameters) -> list[Action]:
        old_detect = self.detection_time
        if event.multiplier is not None:
            self.multiplier = event.multiplier
        changed = False
        if event.min_tx is not None and event.min_tx != self.min_tx:
            self.min_tx, changed = event.min_tx, True
            if self.state is State.UP:
                self._tx_in_use = min(self._tx_in_use, event.min_tx)  # an increase waits for the Final
        if event.min_rx is not None and event.min_rx != self.min_rx:
            self.min_rx, changed = event.min_rx, True
            if self.state is not State.UP or event.min_rx > self._rx_in_use:
                self._rx_in_use = event.min_rx  # a reduction waits for the Final
        if self.state is not State.UP:
            self._tx_in_use = self.desired_min_tx
        actions: list[Action] = []
        if changed and self.state is State.UP:
            self.poll = True
        self._reschedule_detect(old_detect, actions)
        self._schedule_tx(now, reschedule=True)
        return actions

    def _reschedule_detect(self, old_detect: int, actions: list[Action]) -> None:
        new = self.detection_time
        if new != old_detect:
            actions.append(DetectionTimeChanged(new, old_detect))
        if self._detect_at is not None and self.last_rx is not None:
            self._detect_at = _us(self.last_rx, new)

    # -- timers -----------------------------------------------------------------------------------------
    def _timers(self, now: float) -> list[Action]:
        actions: list[Action] = []
        if self._detect_at is not None and now >= self._detect_at:
            # §6.8.4: no valid packet for a Detection Time; bfd.RemoteDiscr goes back to 0 (§6.8.1)
            self._detect_at = None
            self.remote_discr = 0
            if self.state in (State.INIT, State.UP):
                actions += self._set_state(now, State.DOWN, Diag.TIME_EXPIRED)
        if self.state is State.ADMIN_DOWN and not self._may_send(now):
            self._tx_at = None
        if self._tx_at is not None and now >= self._tx_at:
            self._tx_at = None
            actions.append(self._send())
            self._schedule_tx(now)
        return actions

    # -- reception (§6.8.6 from "If the Your Discriminator field is nonzero" on) -------------------------
    def accepts_ttl(self, ttl: int | None) -> bool:
        """GTSM (RFC 5881 §5), extended as keepalived by ``max_hops`` (255: no check)."""
        c = self.config
        return ttl is None or c.max_hops == 255 or ttl + c.max_hops >= c.ttl

    def _drop(self, reason: Reason) -> list[Action]:
        self.drops[reason] += 1
        return [Dropped(reason)]

    def _receive(self, now: float, event: PacketReceived) -> list[Action]:
        pkt = event.packet
        if not self.accepts_ttl(event.ttl):
            return self._drop(Reason.TTL)
        if pkt.auth:
            return self._drop(Reason.AUTH)
        if self.state is State.ADMIN_DOWN:
            return self._drop(Reason.ADMIN_DOWN)
        self.received += 1
        old_detect = self.detection_time
        old_interval = self.tx_interval
        self.remote_discr = pkt.my_discr
        self.remote_state = pkt.state
        self.remote_diag = pkt.diag
        self.remote_demand = pkt.demand
        self.remote_min_rx = pkt.required_min_rx
        self.remote_min_tx = pkt.desired_min_tx
        self.remote_mult = pkt.detect_mult
        if pkt.final and self.poll:
            # the Poll Sequence is over: the new intervals are in use (§6.8.3)
            self.poll = False
            self._tx_in_use = self.desired_min_tx
            self._rx_in_use = self.min_rx
        self.last_rx = now
        actions: list[Action] = []
        self._reschedule_detect(old_detect, actions)

        # the state machine (§6.2, §6.8.6)
        if pkt.state is State.ADMIN_DOWN:
            if self.state is not State.DOWN:
                actions += self._set_state(now, State.DOWN, Diag.NEIGHBOR_DOWN, remote_admin_down=True)
        elif self.state is State.DOWN:
            if pkt.state is State.DOWN:
                actions += self._set_state(now, State.INIT, Diag.NO_DIAG)
            elif pkt.state is State.INIT:
                actions += self._set_state(now, State.UP, Diag.NO_DIAG)
        elif self.state is State.INIT:
            if pkt.state in (State.INIT, State.UP):
                actions += self._set_state(now, State.UP, Diag.NO_DIAG)
        elif pkt.state is State.DOWN:  # Up
            actions += self._set_state(now, State.DOWN, Diag.NEIGHBOR_DOWN)

        if self.state in (State.INIT, State.UP):
            self._detect_at = _us(now, self.detection_time)
        new_interval = self.tx_interval
        if not self._may_send(now):
            self._tx_at = None
        else:
            shorter = old_interval is None or (new_interval is not None and new_interval < old_interval)
            self._schedule_tx(now, reschedule=shorter)
        if pkt.poll:
            # §6.5: the Final goes out at once, whatever the transmit timer says
            actions.append(self._send(final=True))
        return actions

    def status(self) -> dict[str, object]:
        """Plain data for status views and logs."""
        return {
            "name": self.config.name, "state": self.state.label, "remote_state": self.remote_state.label,
            "local_diag": self.local_diag.label, "remote_diag": self.remote_diag.label,
            "local_discr": self.config.local_discr, "remote_discr": self.remote_discr,
            "tx_interval_us": self.tx_interval, "detection_time_us": self.detection_time,
            "desired_min_tx_us": self.desired_min_tx, "required_min_rx_us": self.min_rx,
            "remote_min_tx_us": self.remote_min_tx, "remote_min_rx_us": self.remote_min_rx,
            "remote_multiplier": self.remote_mult, "multiplier": self.multiplier,
            "sent": self.sent, "received": self.received,
            "drops": {r.name.lower(): n for r, n in self.drops.items()},
        }


@dataclass(frozen=True, slots=True)
class Routed:
    """What :meth:`Sessions.receive` made of a datagram: the session it went to (or None) and its actions."""

    session: Session | None
    actions: list[Action]


class Sessions:
    """The receive side's demultiplexer (§6.8.6): by Your Discriminator, else by (neighbour, local address)."""

    def __init__(self) -> None:
        self.by_name: dict[str, Session] = {}
        self._by_discr: dict[int, Session] = {}
        self._by_addr: dict[tuple[IPKey, IPKey | None], Session] = {}
        #: drops before a session was found (the codec's reasons and NO_SESSION)
        self.drops: Counter[Reason] = Counter()

    def add(self, session: Session, neighbor: IPKey, local: IPKey | None = None) -> None:
        name = session.config.name
        if name in self.by_name or session.config.local_discr in self._by_discr:
            raise ValueError(f"BFD session {name} (discriminator {session.config.local_discr}) already present")
        self.by_name[name] = session
        self._by_discr[session.config.local_discr] = session
        self._by_addr[(neighbor, local)] = session

    def remove(self, name: str) -> Session | None:
        session = self.by_name.pop(name, None)
        if session is not None:
            self._by_discr.pop(session.config.local_discr, None)
            for key in [k for k, s in self._by_addr.items() if s is session]:
                del self._by_addr[key]
        return session

    def __iter__(self) -> Iterator[Session]:
        return iter(self.by_name.values())

    def __len__(self) -> int:
        return len(self.by_name)

    def lookup(self, pkt: ControlPacket, source: IPKey, local: IPKey | None) -> Session | None:
        if pkt.your_discr:
            return self._by_discr.get(pkt.your_discr)
        return self._by_addr.get((source, local)) or self._by_addr.get((source, None))

    def receive(self, now: float, data: bytes, source: IPKey, local: IPKey | None = None,
                ttl: int | None = None) -> Routed:
        decoded = decode(data)
        if isinstance(decoded, Rejected):
            self.drops[decoded.reason] += 1
            return Routed(None, [Dropped(decoded.reason)])
        session = self.lookup(decoded, source, local)
        if session is None:
            self.drops[Reason.NO_SESSION] += 1
            return Routed(None, [Dropped(Reason.NO_SESSION)])
        return Routed(session, session.handle(now, PacketReceived(decoded, ttl)))

    def next_deadline(self) -> float | None:
        times = [t for s in self.by_name.values() if (t := s.next_deadline()) is not None]
        return min(times) if times else None
