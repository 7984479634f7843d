"""Sans-I/O VRRP state machine for one ``vrrp_instance``.

The rules follow what keepalived 2.2.7 does (``vrrp.c``, ``vrrp_scheduler.c``, ``vrrp_track.c``), which
differs from the RFC in a few places (v2 skew in seconds, equal priority accepted by a backup, priority-0
adverts twice on entering FAULT, ...).

Nothing here touches a socket or a clock: :meth:`Instance.handle` takes the current time and an event and
returns the actions to perform; :meth:`Instance.next_deadline` says when the adapter must feed
:class:`TimerFired`. Internally every time is an integer number of microseconds, as in keepalived, so
the timer arithmetic (``Master down timer = 3257812 usecs``) comes out exactly.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address
from typing import Protocol

IPAddress = IPv4Address | IPv6Address

TIMER_HZ = 1_000_000
"""Microseconds per second: keepalived's time unit."""

TIMER_CENTI_HZ = 10_000
"""Microseconds per centisecond: VRRPv3's interval unit."""

PRIO_OWNER = 255
PRIO_STOP = 0


class State(enum.IntEnum):
    """keepalived's instance states, with its numeric values (they appear in dumps)."""

    INIT = 0
    BACKUP = 1
    MASTER = 2
    FAULT = 3
    STOP = 98


# --------------------------------------------------------------------------------------------- params


@dataclass(frozen=True, slots=True)
class InstanceParams:
    """The configuration of one instance, as resolved by the config layer (defaults already applied).

    Times are seconds (floats); they are converted to microseconds once. ``vips`` is opaque to the state
    machine and only handed back in actions.
    """

    name: str
    vrid: int
    version: int = 2
    priority: int = 100
    advert_int: float = 1.0
    initial_state: State = State.BACKUP
    nopreempt: bool = False
    preempt_delay: float = 0.0
    primary_address: IPAddress | None = None
    vips: tuple[object, ...] = ()
    garp_master_delay: float = 5.0
    garp_master_repeat: int = 5
    garp_master_refresh: float = 0.0
    garp_master_refresh_repeat: int = 1
    garp_lower_prio_delay: float = 5.0
    garp_lower_prio_repeat: int = 5
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = False
    down_timer_adverts: int = 3
    notify_priority_changes: bool = False
    strict: bool = False
    sync_group: str | None = None

    def __post_init__(self) -> None:
        if self.version not in (2, 3):
            raise ValueError(f"VRRP version must be 2 or 3, not {self.version}")
        if not 1 <= self.priority <= PRIO_OWNER:
            raise ValueError(f"priority must be 1..255, not {self.priority}")
        if not 1 <= self.vrid <= 255:
            raise ValueError(f"virtual_router_id must be 1..255, not {self.vrid}")
        if self.initial_state not in (State.MASTER, State.BACKUP):
            raise ValueError("initial state must be MASTER or BACKUP")
        if self.advert_int <= 0:
            raise ValueError("advert_int must be positive")
        if self.down_timer_adverts < 1:
            raise ValueError("down_timer_adverts must be at least 1")


def _usecs(seconds: float) -> int:
    return round(seconds * TIMER_HZ)


def _adver_int_usecs(version: int, seconds: float) -> int:
    """The advert interval as keepalived stores it: whole seconds for v2, centiseconds for v3."""
    if version == 2:
        return max(1, round(seconds)) * TIMER_HZ
    return max(1, round(seconds * 100)) * TIMER_CENTI_HZ


# --------------------------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Start:
    """Begin running (after any ``vrrp_startup_delay``).

    ``group_state`` is the sync group's state at start-up (set by :class:`SyncGroup`); it decides whether
    an owner may go master at once and whether a ``state MASTER`` member gets the short first down timer.
    """

    group_state: State | None = None


@dataclass(frozen=True, slots=True)
class AdvertReceived:
    """A valid advertisement for this VRID (the codec has already checked it)."""

    src: IPAddress
    priority: int
    max_adver_int: float = 1.0
    addresses: tuple[object, ...] = ()


@dataclass(frozen=True, slots=True)
class TimerFired:
    """The adapter's wake-up at (or after) :meth:`Instance.next_deadline`."""


@dataclass(frozen=True, slots=True)
class PriorityChanged:
    """Base priority plus the current sum of tracking weights; clamped to 1..254, ignored for an owner."""

    total: int


@dataclass(frozen=True, slots=True)
class FaultSet:
    """A reason for FAULT appeared (interface down, unweighted tracker failed, ...)."""

    reason: str


@dataclass(frozen=True, slots=True)
class FaultCleared:
    """A reason for FAULT went away; the instance leaves FAULT when none is left."""

    reason: str


@dataclass(frozen=True, slots=True)
class Stop:
    """Shutdown (SIGTERM)."""


@dataclass(frozen=True, slots=True)
class Handover:
    """The operator gives mastership away (``pykeepalived ctl handover``), or takes the hand-over back
    (``restore``).  Handed over, the effective priority is held at 1 whatever the trackers say, and a
    MASTER resigns at once with a priority-0 advert (its peers take over after their skew time, whatever
    their preempt setting) and goes BACKUP.  Restored, the priority is the configured one with its
    trackers again, and VRRP's own rules (preempt) decide whether it takes mastership back.  Not for an
    address owner (priority 255), which VRRP always makes MASTER."""

    on: bool


@dataclass(frozen=True, slots=True)
class EntryDeleted:
    """One of a MASTER's tracked VIPs, eVIPs or virtual routes was deleted by another program (``ip addr del``,
    a network manager flushing the interface).  keepalived (``set_vrrp_backup``, core/keepalived_netlink.c)
    leaves MASTER with a priority-0 advert, its VIPs removed, and as BACKUP waits only its skew time: unless a
    router advertises meanwhile it is MASTER again, with every VIP and route set and the VIPs announced."""


Event = (Start | AdvertReceived | TimerFired | PriorityChanged | FaultSet | FaultCleared | Stop | Handover
         | EntryDeleted)


# --------------------------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class SendAdvert:
    """Send one advertisement (to the multicast group or every unicast peer) with this priority."""

    priority: int


@dataclass(frozen=True, slots=True)
class AddVips:
    """Install VIPs (and eVIPs, routes, rules, accept-mode rules)."""

    vips: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class RemoveVips:
    """Remove VIPs (and everything :class:`AddVips` installed)."""

    vips: tuple[object, ...]


@dataclass(frozen=True, slots=True)
class SendGarps:
    """Send ``rounds`` rounds of gratuitous ARP / unsolicited NA, one per VIP per round.

    ``reason`` is one of ``master``, ``master-delayed``, ``refresh``, ``lower-prio``, ``lower-prio-delayed``.
    """

    vips: tuple[object, ...]
    rounds: int
    reason: str


@dataclass(frozen=True, slots=True)
class Notify:
    """A state change to announce (notify scripts, FIFO, SMTP) with the effective priority."""

    state: State
    priority: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class NotifyEvent:
    """A non-state notification: ``MASTER_RX_LOWER_PRI``, ``MASTER_PRIORITY``, ``BACKUP_PRIORITY``."""

    event: str
    priority: int


@dataclass(frozen=True, slots=True)
class Log:
    """A log line in keepalived's words. ``detail`` lines are only logged with ``-D``."""

    message: str
    detail: bool = False


Action = SendAdvert | AddVips | RemoveVips | SendGarps | Notify | NotifyEvent | Log


# --------------------------------------------------------------------------------------------- state


@dataclass(slots=True)
class Stats:
    """The counters keepalived keeps per instance (``keepalived.stats``)."""

    advert_rcvd: int = 0
    advert_sent: int = 0
    become_master: int = 0
    release_master: int = 0
    pri_zero_rcvd: int = 0
    pri_zero_sent: int = 0


class SyncGate(Protocol):
    """What a sync group lets its members do (implemented by :class:`~.sync_group.SyncGroup`)."""

    def can_goto_master(self, inst: Instance) -> bool: ...

    def can_leave_fault(self, inst: Instance) -> bool: ...


def compare_addresses(a: IPAddress | None, b: IPAddress | None) -> int:
    """-1/0/1 numeric comparison; 0 when either is unknown or the families differ (as keepalived)."""
    if a is None or b is None or a.version != b.version:
        return 0
    ia, ib = int(a), int(b)
    return (ia > ib) - (ia < ib)


@dataclass(order=True, slots=True)
class _DelayedGarp:
    at: int
    seq: int
    rounds: int = field(compare=False)
    reason: str = field(compare=False)


class Instance:
    """One vrrp_instance: knows keepalived's VRRP rules, nothing about sockets or time sources."""

    def __init__(self, params: InstanceParams) -> None:
        self.params = params
        self.state = State.INIT
        self.wantstate = params.initial_state
        self.base_priority = params.priority
        self.total_priority = params.priority
        self.effective_priority = params.priority
        self.adver_int = _adver_int_usecs(params.version, params.advert_int)
        self.master_adver_int = self.adver_int
        self.ms_down_timer = 0
        self.master_address: IPAddress | None = None
        self.master_priority = 0
        self.vips_set = False
        self.stats = Stats()
        #: handed over by the operator (Handover): priority held at 1 until restored
        self.handed_over = False
        self.sync: SyncGate | None = None
        self._faults: set[str] = set()
        self._now = 0
        self._sands: int | None = None
        self._preempt_time: int | None = None
        self._garp_refresh_at: int | None = None
        self._delayed_garps: list[_DelayedGarp] = []
        self._seq = 0
        self.ms_down_timer = self._full_down_timer()

    # ----------------------------------------------------------------------------- public interface

    @property
    def name(self) -> str:
        return self.params.name

    @property
    def faults(self) -> frozenset[str]:
        return frozenset(self._faults)

    @property
    def lower_prio_no_advert(self) -> bool:
        return self.params.lower_prio_no_advert or self.params.strict

    @property
    def higher_prio_send_advert(self) -> bool:
        return self.params.higher_prio_send_advert and not self.params.strict

    @property
    def garp_lower_prio_repeat(self) -> int:
        return 0 if self.params.strict else self.params.garp_lower_prio_repeat

    @property
    def garp_lower_prio_delay(self) -> int:
        return 0 if self.params.strict else _usecs(self.params.garp_lower_prio_delay)

    @property
    def down_timer_adverts(self) -> int:
        return 3 if self.params.strict else self.params.down_timer_adverts

    def skew(self, prio_val: int | None = None) -> int:
        """VRRP_TIMER_SKEW in µs: v2 (256-prio)/256 s; v3 (256-prio)*Master_Adver_Interval/256."""
        if prio_val is None:
            prio = PRIO_OWNER if self.base_priority == PRIO_OWNER else self.effective_priority
            prio_val = 256 - prio
        if self.params.version == 3:
            return (prio_val * (self.master_adver_int // TIMER_CENTI_HZ) * 625) // 16
        return prio_val * TIMER_HZ // 256

    def _full_down_timer(self) -> int:
        return self.down_timer_adverts * self.master_adver_int + self.skew()

    def next_deadline(self) -> float | None:
        """Seconds at which :class:`TimerFired` is due, or None when nothing is scheduled."""
        us = self._next_deadline_us()
        return None if us is None else us / TIMER_HZ

    def _next_deadline_us(self) -> int | None:
        times = [g.at for g in self._delayed_garps]
        if self._sands is not None:
            times.append(self._sands)
        return min(times) if times else None

    def handle(self, now: float, event: Event) -> list[Action]:
        """Apply one event at time ``now`` (seconds, monotonic) and return the actions to perform."""
        self._now = max(self._now, _usecs(now))
        if self.state is State.STOP:
            return []
        match event:
            case Start():
                return self._start(event.group_state) if self.state is State.INIT else []
            case TimerFired():
                return self._timer_fired()
            case AdvertReceived():
                return self._advert(event)
            case PriorityChanged():
                return self._priority_changed(event.total)
            case FaultSet():
                return self._fault_set(event.reason)
            case FaultCleared():
                return self._fault_cleared(event.reason)
            case Stop():
                return self._stop()
            case Handover():
                return self._handover(event.on)
            case EntryDeleted():
                return self._entry_deleted()
        raise TypeError(f"unknown event {event!r}")

    # ----------------------------------------------------------------------------- helpers

    def _log(self, text: str, detail: bool = False) -> Log:
        return Log(f"({self.params.name}) {text}", detail)

    def _send_advert(self, priority: int) -> SendAdvert:
        self.stats.advert_sent += 1
        return SendAdvert(priority)

    def _garps(self, rounds: int, reason: str) -> list[Action]:
        """vrrp_send_link_update: nothing unless the VIPs are set."""
        if not self.vips_set or rounds <= 0 or not self.params.vips:
            return []
        return [SendGarps(self.params.vips, rounds, reason)]

    def _schedule_garp(self, delay: int, rounds: int, reason: str) -> None:
        self._seq += 1
        self._delayed_garps.append(_DelayedGarp(self._now + delay, self._seq, rounds, reason))

    def _init_sands(self) -> None:
        """vrrp_init_instance_sands: re-arm the advert (MASTER) or down (BACKUP) timer from now."""
        if self.state is State.MASTER:
            self._sands = self._now + self.adver_int
        elif self.state is State.BACKUP:
            self._sands = self._now + self.ms_down_timer
        else:
            self._sands = None

    def _notify(self, reason: str) -> Notify:
        return Notify(self.state, self.effective_priority, reason)

    # ----------------------------------------------------------------------------- start / stop

    def _start(self, group_state: State | None) -> list[Action]:
        out: list[Action] = []
        if self.params.vips:
            out.append(RemoveVips(self.params.vips))
        if self._faults:
            self.wantstate = State.FAULT
        in_group = self.params.sync_group is not None
        new_state = (group_state or State.BACKUP) if in_group else self.wantstate
        if (
            not self._faults
            and new_state is State.MASTER
            and self.base_priority == PRIO_OWNER
            and self.wantstate is State.MASTER
        ):
            # The owner times out of BACKUP after 1µs, i.e. becomes master at once.
            self.state = State.BACKUP
            self.ms_down_timer = 1
            self._init_sands()
            return out
        if new_state is State.BACKUP and self.wantstate is State.MASTER:
            # One advert interval to be sure there is no other master (sync-group members).
            self.ms_down_timer = self.master_adver_int + self.skew(1)
        else:
            self.ms_down_timer = self._full_down_timer()
        if not self._faults and new_state is not State.FAULT:
            self.state = State.BACKUP
            out += [self._log("Entering BACKUP STATE (init)"), self._notify("init")]
        else:
            self.state = State.FAULT
            out.append(self._log("Entering FAULT STATE (init)"))
            if self._faults:
                out.append(self._notify("init"))
        self._init_sands()
        return out

    def _stop(self) -> list[Action]:
        out: list[Action] = []
        if self.state is State.MASTER:
            out += self._restore_interface(adv_f=True)
        self.state = State.STOP
        self._sands = None
        self._delayed_garps.clear()
        self._garp_refresh_at = None
        out.append(self._notify("stop"))
        return out

    # ----------------------------------------------------------------------------- timers

    def _timer_fired(self) -> list[Action]:
        out: list[Action] = []
        while True:
            due_garps = [g for g in self._delayed_garps if g.at <= self._now]
            sands_due = self._sands is not None and self._sands <= self._now
            if not due_garps and not sands_due:
                return out
            first = min(due_garps) if due_garps else None
            if first is not None and (not sands_due or (self._sands is not None and first.at < self._sands)):
                self._delayed_garps.remove(first)
                out += self._garps(first.rounds, first.reason)
                continue
            if self.state is State.BACKUP:
                out.append(self._log("Receive advertisement timeout", detail=True))
                self.wantstate = State.MASTER
                out += self._goto_master("timeout")
            elif self.state is State.MASTER:
                out += self._master_tx()
            # Re-armed from now, never from the old deadline: a late wake-up does not send a burst.
            self._init_sands()

    # ----------------------------------------------------------------------------- transitions

    def goto_master(self, reason: str = "sync") -> list[Action]:
        """vrrp_state_goto_master (also used by a sync group to pull members up)."""
        self.wantstate = State.MASTER
        return self._goto_master(reason)

    def _goto_master(self, reason: str) -> list[Action]:
        if self.sync is not None and not self.sync.can_goto_master(self):
            # Wait for the other members: the timer value does not matter much.
            self.ms_down_timer = self._full_down_timer()
            self._init_sands()
            return []
        self.state = State.MASTER
        self._init_sands()
        return self._master_tx(reason)

    def _master_tx(self, reason: str = "timeout") -> list[Action]:
        """vrrp_state_master_tx: the advert goes first so the old master drops its VIPs before our GARPs."""
        out: list[Action] = [self._send_advert(self.effective_priority)]
        if not self.vips_set:
            out.append(self._log("Entering MASTER STATE"))
            out += self._become_master(reason)
            if self.params.garp_master_delay > 0:
                self._schedule_garp(
                    _usecs(self.params.garp_master_delay), self.params.garp_master_repeat, "master-delayed"
                )
        elif self._garp_refresh_at is not None and self._now >= self._garp_refresh_at:
            # keepalived only looks at the refresh timer when it sends an advert.
            out += self._garps(self.params.garp_master_refresh_repeat, "refresh")
            self._garp_refresh_at = self._now + _usecs(self.params.garp_master_refresh)
        return out

    def _become_master(self, reason: str) -> list[Action]:
        self.stats.become_master += 1
        self.master_adver_int = self.adver_int
        self.master_address = self.params.primary_address
        self.master_priority = self.effective_priority
        self.vips_set = True
        out: list[Action] = [AddVips(self.params.vips)]
        out += self._garps(self.params.garp_master_repeat, "master")
        if self.params.garp_master_refresh > 0:
            self._garp_refresh_at = self._now + _usecs(self.params.garp_master_refresh)
        out.append(self._notify(reason))
        return out

    def _restore_interface(self, adv_f: bool) -> list[Action]:
        """vrrp_restore_interface: optional priority-0 advert, then drop the VIPs."""
        out: list[Action] = []
        if adv_f:
            out.append(self._send_advert(PRIO_STOP))
            self.stats.pri_zero_sent += 1
            out.append(self._log("sent 0 priority", detail=True))
        self._delayed_garps.clear()
        if self.vips_set:
            out.append(RemoveVips(self.params.vips))
            self.vips_set = False
        self._garp_refresh_at = None
        return out

    def leave_master(self, adv_f: bool = False, reason: str = "") -> list[Action]:
        """vrrp_state_leave_master towards ``wantstate`` (BACKUP or FAULT)."""
        out: list[Action] = []
        if self.wantstate is State.BACKUP:
            out.append(self._log("Entering BACKUP STATE"))
            self._preempt_time = None
        elif self.wantstate is State.FAULT:
            out.append(self._log("Entering FAULT STATE"))
            out.append(self._send_advert(PRIO_STOP))
        else:
            return [self._log(f"vrrp_state_leave_master called with invalid wantstate {int(self.wantstate)}")]
        out += self._restore_interface(adv_f)
        self.state = self.wantstate
        out.append(self._notify(reason))
        self.ms_down_timer = self._full_down_timer()
        self._init_sands()
        self.stats.release_master += 1
        return out

    def leave_fault(self, reason: str = "") -> list[Action]:
        """vrrp_state_leave_fault towards ``wantstate`` (also entering FAULT from BACKUP)."""
        out: list[Action] = []
        if self.wantstate is State.MASTER:
            out += self._goto_master(reason)
        else:
            if self.state is not self.wantstate:
                name = "BACKUP" if self.wantstate is State.BACKUP else "FAULT"
                out.append(self._log(f"Entering {name} STATE"))
            if self.wantstate is State.FAULT and self.state is State.MASTER:
                out.append(self._send_advert(PRIO_STOP))
                out += self._restore_interface(adv_f=False)
            self.state = self.wantstate
            out.append(self._notify(reason))
            if self.state is State.BACKUP:
                self._preempt_time = None
        self.master_adver_int = self.adver_int
        self.ms_down_timer = self._full_down_timer()
        self._init_sands()
        return out

    # ----------------------------------------------------------------------------- adverts

    def _advert(self, ev: AdvertReceived) -> list[Action]:
        if self.state not in (State.BACKUP, State.MASTER):
            return []  # ignored in FAULT/INIT, not even counted
        self.stats.advert_rcvd += 1
        if ev.priority == PRIO_STOP:
            self.stats.pri_zero_rcvd += 1
        if self.state is State.BACKUP:
            out = self._backup_rx(ev)
            self._init_sands()
            return out
        out, leave = self._master_rx(ev)
        if leave:
            out += self.leave_master(adv_f=False, reason="higher_priority")
        elif not self.lower_prio_no_advert:
            self._init_sands()
        return out

    def _adopt_interval(self, ev: AdvertReceived) -> None:
        if self.params.version == 3:
            centis = round(ev.max_adver_int * 100) & 0x0FFF
            if centis:
                self.master_adver_int = centis * TIMER_CENTI_HZ

    def _backup_rx(self, ev: AdvertReceived) -> list[Action]:
        """vrrp_state_backup: the caller re-arms the down timer from ``ms_down_timer``."""
        if ev.priority == PRIO_STOP:
            self.ms_down_timer = self.skew()
            return [self._log("Backup received priority 0 advertisement", detail=True)]
        out: list[Action] = []
        p = self.params
        delay_running = self._preempt_time is None or self._preempt_time > self._now
        if p.nopreempt or ev.priority >= self.effective_priority or (p.preempt_delay > 0 and delay_running):
            self._adopt_interval(ev)
            self.ms_down_timer = self._full_down_timer()
            self.master_address = ev.src
            self.master_priority = ev.priority
            if p.preempt_delay > 0:
                if ev.priority >= self.effective_priority:
                    if self._preempt_time is not None:
                        out.append(self._log("stop preempt delay", detail=True))
                        self._preempt_time = None
                elif self._preempt_time is None:
                    out.append(self._log(f"start preempt delay ({p.preempt_delay:.6f})", detail=True))
                    self._preempt_time = self._now + _usecs(p.preempt_delay)
            self.wantstate = State.BACKUP
            return out
        out.append(self._log(f"received lower priority ({ev.priority}) advert from {ev.src} - discarding"))
        self.master_address = ev.src
        # Keep the running down timer: what is left of it becomes ms_down_timer.
        assert self._sands is not None
        self.ms_down_timer = max(0, self._sands - self._now)
        return out

    def _master_rx(self, ev: AdvertReceived) -> tuple[list[Action], bool]:
        """vrrp_state_master_rx: returns the actions and whether to leave MASTER for BACKUP."""
        out: list[Action] = []
        addr_cmp = compare_addresses(ev.src, self.params.primary_address)
        ours = self.effective_priority
        higher = ev.priority > ours or (ev.priority == ours and addr_cmp > 0)
        if ev.priority == PRIO_STOP or (self.higher_prio_send_advert and higher):
            out.append(self._send_advert(self.effective_priority))
            if ev.priority == PRIO_STOP:
                out.append(self._log("Master received priority 0 message", detail=True))
                return out, False
        if ev.priority == ours:
            if addr_cmp == 0:
                out.append(
                    self._log(
                        "WARNING - equal priority advert received from remote host with our IP address."
                    )
                )
            elif ours == PRIO_OWNER:
                out.append(
                    self._log(
                        "CONFIGURATION ERROR: local instance and a remote instance are both configured as "
                        "address owner, please fix - reducing local priority"
                    )
                )
                self.effective_priority = self.base_priority = self.total_priority = PRIO_OWNER - 1
                ours = self.effective_priority
        if ev.priority < ours or (ev.priority == ours and addr_cmp < 0):
            suffix = "" if self.lower_prio_no_advert else ", forcing new election"
            out.append(
                self._log(
                    f"Received advert from {ev.src} with lower priority {ev.priority}, ours {ours}{suffix}"
                )
            )
            if not self.lower_prio_no_advert:
                out.append(self._send_advert(ours))
            out += self.lower_prio_garps()
            out.append(NotifyEvent("MASTER_RX_LOWER_PRI", ours))
            return out, False
        if ev.priority > ours or (ev.priority == ours and addr_cmp > 0):
            if ev.priority > ours:
                text = f"Master received advert from {ev.src} with higher priority {ev.priority}, ours {ours}"
            else:
                text = (
                    f"Master received advert from {ev.src} with same priority {ev.priority} "
                    "but higher IP address than ours"
                )
            out.append(self._log(text))
            self._adopt_interval(ev)
            self.master_address = ev.src
            self.master_priority = ev.priority
            self.wantstate = State.BACKUP
            return out, True
        return out, False

    def lower_prio_garps(self) -> list[Action]:
        """GARP rounds after a lower-priority advert (also sent for the other members of a sync group)."""
        rounds = self.garp_lower_prio_repeat
        if not rounds or not self.vips_set:
            return []
        out = self._garps(rounds, "lower-prio")
        if self.garp_lower_prio_delay:
            self._schedule_garp(self.garp_lower_prio_delay, rounds, "lower-prio-delayed")
        return out

    # ----------------------------------------------------------------------------- priority / faults

    def mark_handover(self, on: bool) -> None:
        """Set the hand-over flag without acting on it: the process marks every member of a sync group
        first, so that the members the group moves to BACKUP also resign with priority 0."""
        if self.base_priority != PRIO_OWNER:
            self.handed_over = on

    def _handover(self, on: bool) -> list[Action]:
        if self.base_priority == PRIO_OWNER:
            return []
        out: list[Action] = []
        if on != self.handed_over or (on and self.effective_priority != 1):
            out.append(self._log("Handed over by the operator: priority held at 1" if on
                                 else "Hand-over ended: configured priority again"))
        self.handed_over = on
        out += self._priority_changed(self.total_priority)
        if on and self.state is State.INIT:
            self.wantstate = State.BACKUP  # a restarted process handed over never starts as MASTER
        if on and self.state is State.MASTER:
            self.wantstate = State.BACKUP
            out += self.leave_master(adv_f=True, reason="handover")
        return out

    def _entry_deleted(self) -> list[Action]:
        """set_vrrp_backup: out of MASTER with a priority-0 advert, back after the skew time (see EntryDeleted)."""
        if self.state is not State.MASTER:
            return []
        self.wantstate = State.BACKUP
        out = self.leave_master(adv_f=True, reason="vip_deleted")
        self.ms_down_timer = self.skew()  # "We want a quick transition back to master"
        self._init_sands()
        return out

    def _priority_changed(self, total: int) -> list[Action]:
        """vrrp_set_effective_priority: clamp, log, and shift a BACKUP's down timer by the skew change."""
        if self.base_priority == PRIO_OWNER:
            return []
        self.total_priority = total
        new_prio = 1 if self.handed_over else min(max(total, 1), PRIO_OWNER - 1)
        if new_prio == self.effective_priority:
            return []
        out: list[Action] = [
            self._log(f"Changing effective priority from {self.effective_priority} to {new_prio}")
        ]
        self.effective_priority = new_prio
        old_down_timer = self.ms_down_timer
        self.ms_down_timer = self._full_down_timer()
        if self.state is State.BACKUP and self._sands is not None:
            # keepalived moves the expiry by the difference from the *stored* down timer.
            self._sands = max(self._sands + self.ms_down_timer - old_down_timer, self._now)
        if self.params.notify_priority_changes:
            event = "MASTER_PRIORITY" if self.state is State.MASTER else "BACKUP_PRIORITY"
            out.append(NotifyEvent(event, new_prio))
        return out

    def _fault_set(self, reason: str) -> list[Action]:
        """down_instance: the first fault reason moves the instance to FAULT."""
        first = not self._faults
        self._faults.add(reason)
        if not first or self.state is State.INIT:
            return []
        self.wantstate = State.FAULT
        if self.state is State.MASTER:
            return self.leave_master(adv_f=True, reason="fault")
        return self.leave_fault(reason="fault")

    def _fault_cleared(self, reason: str) -> list[Action]:
        """try_up_instance: leave FAULT once no reason is left (and the sync group allows it)."""
        if reason not in self._faults:
            return []
        self._faults.discard(reason)
        if self._faults or self.state is not State.FAULT:
            return []
        if not (self.wantstate is State.MASTER and self.base_priority == PRIO_OWNER):
            self.wantstate = State.BACKUP
        self.master_adver_int = self.adver_int
        self.ms_down_timer = self._full_down_timer()
        if self.sync is not None:
            if not self.sync.can_leave_fault(self):
                return []
            if self.wantstate is State.MASTER and not self.sync.can_goto_master(self):
                self.wantstate = State.BACKUP
        return self.leave_fault(reason="fault_cleared")

    def sync_force(self, target: State) -> list[Action]:
        """Move with the sync group (vrrp_sync_master / _backup / _fault) at the last ``handle`` time."""
        if self.state in (State.STOP, target):
            return []
        if target is State.MASTER:
            return self.goto_master("sync")
        self.wantstate = target
        if target is State.BACKUP:
            if self.state in (State.FAULT, State.INIT):
                return self.leave_fault(reason="sync")
            # a member handed over resigns with priority 0 too, so its peer need not wait its down timer
            return self.leave_master(adv_f=self.handed_over, reason="sync")
        if self.state is State.MASTER:
            return self.leave_master(adv_f=False, reason="sync")
        self.state = State.FAULT
        return self.leave_fault(reason="sync")

    def set_time(self, now: float) -> None:
        """Advance the internal clock without an event (used by a sync group before forcing members)."""
        self._now = max(self._now, _usecs(now))
