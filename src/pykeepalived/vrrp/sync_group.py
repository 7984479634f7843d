"""Sans-I/O ``vrrp_sync_group``: member instances move together (keepalived's ``vrrp_sync.c``).

A member only becomes MASTER when every other member wants MASTER too; a member falling back to BACKUP
pulls the others to BACKUP; the first member to enter FAULT pulls everyone into FAULT, and they stay there
until no member has a fault left.

The group is a coordinator over :class:`~.fsm.Instance` objects: it installs itself as their
:class:`~.fsm.SyncGate`, forwards events, and reacts to the state each member ends up in (keepalived's
``VRRP_TSM`` table). Every action comes back tagged with the name of the instance (or group) it is for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .fsm import (
    PRIO_OWNER,
    Action,
    EntryDeleted,
    Event,
    Instance,
    Log,
    Notify,
    NotifyEvent,
    Start,
    State,
    Stop,
    TimerFired,
)


@dataclass(frozen=True, slots=True)
class GroupNotify:
    """Group state change: ``notify_<state>`` and ``notify ... GROUP name STATE 0`` scripts, FIFO line."""

    group: str
    state: State


Routed = tuple[str, Action | GroupNotify]
"""(instance or group name, action)."""


class SyncGroup:
    """One vrrp_sync_group over its member instances."""

    def __init__(self, name: str, members: Sequence[Instance]) -> None:
        if not members:
            raise ValueError(f"sync group {name} has no members")
        self.name = name
        self.members: dict[str, Instance] = {m.name: m for m in members}
        self.state = State.INIT
        self._notifies_sent: set[str] = set()
        for m in members:
            m.sync = self

    # ----------------------------------------------------------------------------- SyncGate

    def _others(self, inst: Instance) -> Iterable[Instance]:
        return (m for m in self.members.values() if m is not inst)

    def can_goto_master(self, inst: Instance) -> bool:
        """vrrp_sync_can_goto_master: prefer BACKUP until every member wants MASTER (no thrashing)."""
        if self.state is State.MASTER:
            return True
        return all(m.wantstate is State.MASTER for m in self._others(inst))

    def can_leave_fault(self, inst: Instance) -> bool:
        """Members stay in FAULT while any member still has a fault of its own."""
        return not any(m.faults for m in self._others(inst))

    # ----------------------------------------------------------------------------- driving

    def next_deadline(self) -> float | None:
        """The earliest deadline of any member."""
        times = [t for m in self.members.values() if (t := m.next_deadline()) is not None]
        return min(times) if times else None

    def start(self, now: float) -> list[Routed]:
        """vrrp_sync_set_group + vrrp_init_state: pick the group's initial state, then start members."""
        members = list(self.members.values())
        if any(m.faults for m in members):
            self.state = State.FAULT
        elif all(m.wantstate is State.MASTER and m.base_priority == PRIO_OWNER for m in members):
            self.state = State.MASTER
        else:
            self.state = State.BACKUP
        out: list[Routed] = []
        if self.state in (State.FAULT, State.BACKUP):
            out.append((self.name, GroupNotify(self.name, self.state)))
        for m in members:
            out += self._route(m, m.handle(now, Start(group_state=self.state)))
        return out

    def fire_timers(self, now: float) -> list[Routed]:
        """Feed :class:`TimerFired` to every member whose deadline has come."""
        out: list[Routed] = []
        for m in self.members.values():
            deadline = m.next_deadline()
            if deadline is not None and deadline <= now:
                out += self.handle(now, m.name, TimerFired())
        return out

    def stop(self, now: float) -> list[Routed]:
        """Shutdown: every member stops (masters send priority 0), then the group notifies STOP."""
        out: list[Routed] = []
        for m in self.members.values():
            out += self._route(m, m.handle(now, Stop()))
        self.state = State.STOP
        out.append((self.name, GroupNotify(self.name, State.STOP)))
        return out

    def handle(self, now: float, member: str, event: Event) -> list[Routed]:
        """Forward ``event`` to one member, then move the other members as keepalived's TSM table says."""
        inst = self.members[member]
        if isinstance(event, Stop):
            return self._route(inst, inst.handle(now, event))
        if isinstance(event, EntryDeleted):
            # keepalived's set_vrrp_backup: every MASTER member resigns with priority 0, each to come back
            # after its own skew time; then the group is BACKUP
            out: list[Routed] = []
            for m in (inst, *self._others(inst)):
                out += self._route(m, m.handle(now, event))
            if inst.state is State.BACKUP:
                out += self._sync_to(inst, State.BACKUP)
            return out
        prev = inst.state
        had_faults = bool(inst.faults)
        others_faulted = any(m.faults for m in self._others(inst))
        actions = inst.handle(now, event)
        for m in self.members.values():
            m.set_time(now)
        out = self._route(inst, actions)
        if any(isinstance(a, NotifyEvent) and a.event == "MASTER_RX_LOWER_PRI" for a in actions):
            for m in self._others(inst):
                out += self._route(m, m.lower_prio_garps())
        if not had_faults and inst.faults and not others_faulted and prev is not State.INIT:
            out += self._sync_to(inst, State.FAULT)
        elif inst.state is State.MASTER:
            out += self._sync_to(inst, State.MASTER)
        elif inst.state is State.BACKUP and prev in (State.MASTER, State.FAULT):
            out += self._sync_to(inst, State.BACKUP)
        return out

    # ----------------------------------------------------------------------------- internals

    def _sync_to(self, inst: Instance, target: State) -> list[Routed]:
        """vrrp_sync_master / vrrp_sync_backup / vrrp_sync_fault."""
        if self.state is target:
            return []
        if target is State.MASTER and not self.can_goto_master(inst):
            return []
        out: list[Routed] = [
            (self.name, Log(f"VRRP_Group({self.name}) Syncing instances to {target.name} state"))
        ]
        for m in self._others(inst):
            if m.state is not target:
                out += self._route(m, m.sync_force(target))
        self.state = target
        out.append((self.name, GroupNotify(self.name, target)))
        return out

    def _route(self, inst: Instance, actions: list[Action]) -> list[Routed]:
        """Tag actions with the instance; drop a member's notify when the group already announced it."""
        out: list[Routed] = []
        for a in actions:
            if isinstance(a, Notify):
                if inst.name in self._notifies_sent and a.state is self.state:
                    continue
                self._notifies_sent.add(inst.name)
            out.append((inst.name, a))
        return out
