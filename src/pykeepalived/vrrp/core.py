"""Every ``vrrp_instance`` of one config, without I/O: events in (with the time), actions out.

:class:`VrrpCore` holds the instances (``vrrp.instances``), their sync groups (``vrrp.sync_group``),
which instance a packet on a given socket is for, the interfaces' link state and the tracker
verdicts.  The I/O loop (``vrrp.runner``) feeds it what happened and when:

* a received datagram (:meth:`on_datagram`): routed by VRID, validated by ``vrrp.packet`` against the
  instance's ``Expectation`` (drops counted per reason, never raised), fed as ``AdvertReceived``;
* the earliest deadline of any instance passed (:meth:`fire_timers`; :meth:`next_deadline` says when);
* a link went up or down (:meth:`link_event`), a tracker's verdict changed (:meth:`tracker_changed`):
  priority changes and FAULT reasons through ``vrrp.tracking``;
* start, stop, and a reload's plan (:meth:`reconfigure`, planned by ``vrrp.reload``), with the static
  addresses, routes and rules (:meth:`set_statics` at start, before the instances; ``vrrp.reload``'s
  :func:`~.reload.static_changes` around the instances' changes on reload, after them at stop).

The state machines' actions go to the :class:`~.executor.Executor`.  Nothing here reads a clock or
touches a socket: tests drive it with a virtual clock and a recording fake of the executor's I/O.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import socket
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pykeepalived.ratelimit import LogLimiter

from . import packet as pkt
from .executor import Executor
from .fsm import (
    Action,
    AdvertReceived,
    EntryDeleted,
    Event,
    FaultCleared,
    FaultSet,
    Log,
    PriorityChanged,
    RemoveVips,
    SendAdvert,
    Start,
    State,
    Stop,
    TimerFired,
)
from .instances import InstanceRuntime, IPAddress, SockKey, build_runtime, tracked_vips
from .io import Datagram
from .reload import EntryChanges, ReloadPlan, address_changes, static_addresses, static_changes
from .routes import route_identity
from .sync_group import GroupNotify, SyncGroup
from .tracking import PRIO_OWNER, TrackerState, evaluate, instance_trackers

if TYPE_CHECKING:
    from pykeepalived.config.model import Config
    from pykeepalived.config.model_vrrp import Route
    from pykeepalived.config.model_vrrp import SyncGroup as SyncGroupModel

    from .addresses import RouteGone, VipSpec
    from .notifier import Notifier

log = logging.getLogger("pykeepalived.vrrp")

#: the FAULT reason the interface watcher sets
IF_FAULT = "interface {} down"

TrackerKey = tuple[str, str]


class VrrpCore:
    """The instances of one config and the rules that route events to them (see the module docstring)."""

    def __init__(self, config: Config, executor: Executor, notifier: Notifier,
                 monitor_states: Callable[[], Mapping[TrackerKey, TrackerState]] = dict) -> None:
        self.config = config
        self.g = config.global_defs
        self.executor = executor
        self.notifier = notifier
        #: verdicts of the vrrp_scripts, track_files and track_processes (``vrrp.monitors``)
        self.monitor_states = monitor_states
        self.instances: dict[str, InstanceRuntime] = {}
        self.groups: dict[str, SyncGroup] = {}
        self.group_models: dict[str, SyncGroupModel] = {}
        self.group_of: dict[str, str] = {}
        #: the instances each open socket's packets go to, by VRID
        self.by_socket: dict[SockKey, dict[int, list[InstanceRuntime]]] = {}
        #: link state of every interface an instance watches
        self.link_up: dict[str, bool] = {}
        #: the BFD sessions' verdicts (``track_bfd``), from the BFD process's events; down until it says Up
        #: (keepalived starts every tracked bfd down: a weight-0 track_bfd is FAULT until the session is Up)
        self.bfd_up: dict[str, bool] = {}
        self._declare_bfds()
        self.unknown_vrid_drops = 0
        #: log lines a peer can cause (rejected adverts, unknown VRIDs) are rate-limited; drops are counted
        self.reject_log = LogLimiter()
        #: called with the instance when it recorded a bad advert keepalived sends a trap for (the process
        #: bumps its change signal: the SNMP subagent traps each one as it comes)
        self.on_error: Callable[[InstanceRuntime], None] | None = None
        self.started = False
        self.stopped = False
        self._set_garp_intervals()

    def _set_garp_intervals(self) -> None:
        self.executor.pacer.garp_interval = self.g.vrrp_garp_interval
        self.executor.pacer.gna_interval = self.g.vrrp_gna_interval

    # ------------------------------------------------------------------------------ set-up

    def add(self, rt: InstanceRuntime) -> None:
        self.instances[rt.name] = rt

    def make_groups(self, models: Sequence[SyncGroupModel]) -> None:
        """SyncGroup coordinators over the (already added) member instances."""
        for gm in models:
            members = [self.instances[n].fsm for n in gm.group if n in self.instances]
            if not members:
                continue
            self.groups[gm.name] = SyncGroup(gm.name, members)
            self.group_models[gm.name] = gm
            for m in members:
                self.group_of[m.name] = gm.name

    def set_trackers(self) -> None:
        """Each instance's tracker references: its own blocks plus its sync group's."""
        for rt in self.instances.values():
            gname = self.group_of.get(rt.name)
            gm = self.group_models.get(gname) if gname else None
            owner = gm is not None and any(self.instances[n].model.priority == PRIO_OWNER
                                           for n in gm.group if n in self.instances)
            rt.trackers = instance_trackers(rt.model, gm, group_has_owner=owner)

    def register(self, rt: InstanceRuntime) -> None:
        """Route the packets of ``rt``'s (open) socket with its VRID to it."""
        self.by_socket.setdefault(rt.sock_key, {}).setdefault(rt.model.virtual_router_id, []).append(rt)

    def unregister(self, rt: InstanceRuntime) -> None:
        """Forget a removed instance's packets; its socket's key goes when nobody else uses it."""
        key = rt.sock_key
        vrids = self.by_socket.get(key)
        if vrids is None:
            return
        same = vrids.get(rt.model.virtual_router_id, [])
        if rt in same:
            same.remove(rt)
        if not same:
            vrids.pop(rt.model.virtual_router_id, None)
        if not vrids:
            del self.by_socket[key]

    def watched_ifnames(self, rt: InstanceRuntime) -> list[str]:
        """The interfaces whose link state matters to ``rt``: its own (unless dont_track_primary) and
        its track_interfaces."""
        names = [] if rt.model.dont_track_primary else [rt.ifname]
        return names + [t.name for t in rt.trackers if t.kind == "interface"]

    def used_trackers(self) -> set[TrackerKey]:
        return {r.key for rt in self.instances.values() for r in rt.trackers}

    # ------------------------------------------------------------------------------ start / stop

    def start(self, now: float, names: Sequence[str]) -> None:
        """Start instances (and sync groups whose members are all among them) in BACKUP or FAULT."""
        todo = set(names)
        for name in names:
            rt = self.instances[name]
            if not rt.model.dont_track_primary and not self.link_up.get(rt.ifname, False):
                rt.faults.add(IF_FAULT.format(rt.ifname))
            for reason in sorted(rt.faults):
                rt.fsm.handle(now, FaultSet(reason))
            self.apply_tracking(now, rt, initial=True)
        for group in self.groups.values():
            if all(m in todo for m in group.members) and group.state is State.INIT:
                self.execute(group.start(now))
                todo -= set(group.members)
        for name in names:
            if name in todo and name not in self.group_of:
                rt = self.instances[name]
                self.execute([(rt.name, a) for a in rt.fsm.handle(now, Start())])

    def stop(self, now: float) -> None:
        """Every instance stops: a MASTER sends priority 0 and releases its VIPs; then the static rules,
        routes and addresses go."""
        self.stopped = self.executor.stopped = True
        for group in self.groups.values():
            self.execute(group.stop(now), stopping=True)
        for rt in self.instances.values():
            if rt.name not in self.group_of:
                self.execute([(rt.name, a) for a in rt.fsm.handle(now, Stop())], stopping=True)
        self._statics(static_changes(self.config, None, dont_release=self.executor.dont_release_vrrp))

    def set_statics(self) -> None:
        """At start, before any instance (and any ``vrrp_startup_delay``): an earlier run's static rules
        (and with ``-V`` addresses) out, the static addresses, routes and rules in."""
        self._statics(static_changes(None, self.config, dont_release=self.executor.dont_release_vrrp))

    def _statics(self, changes: EntryChanges, *, remove: bool = True, add: bool = True) -> None:
        """Queue the removals and/or the additions of ``changes`` on the executor's effects queue."""
        if not changes:
            return
        if remove:
            self.executor.effect(lambda: self.executor.remove_entries(None, changes))
        if add:
            self.executor.effect(lambda: self.executor.add_entries(None, changes))

    # ------------------------------------------------------------------------------ events

    def address_holders(self, ip: IPAddress, ifname: str | None = None) -> tuple[list[str], list[VipSpec]]:
        """Who holds ``ip`` on ``ifname`` (None: on any interface) as keepalived watches it: the MASTER instances
        with it among their tracked VIPs and eVIPs (``instances.tracked_vips``), and the static addresses this
        process set (not ``no_track``)."""
        owners = [rt.name for rt in self.instances.values()
                  if rt.fsm.state is State.MASTER and rt.fsm.vips_set
                  and any(v.address.ip == ip and ifname in (None, v.dev) for v in tracked_vips(rt))]
        statics = [v for v, va in zip(static_addresses(self.config), self.config.vrrp.static_ipaddress, strict=True)
                   if v.address.ip == ip and ifname in (None, v.dev) and not va.no_track
                   and (None, v) in self.executor.set_flags]
        return owners, statics

    def address_deleted(self, now: float, ip: IPAddress, ifname: str) -> bool:
        """Another program deleted ``ip`` from ``ifname`` (the runner saw it gone from the kernel), as keepalived
        2.2.7's netlink reflector: a MASTER holding it leaves MASTER and takes it back after its skew time
        (``fsm.EntryDeleted``); a static address is restored.  True if some instance changed."""
        if self.stopped:
            return False
        owners, statics = self.address_holders(ip, ifname)
        for name in owners:
            log.info("(%s) %s was deleted from %s by another program: leaving MASTER to set the VIPs again",
                     name, ip, ifname)
            self.dispatch(now, name, EntryDeleted())
        for vip in statics:
            self.executor.effect(lambda vip=vip: self.executor.restore_static(vip))  # type: ignore[misc]
        return bool(owners)

    def route_holders(self, gone: RouteGone, ifname: str | None, *, any_dev: bool = False
                      ) -> tuple[list[str], list[Route]]:
        """Whose route ``gone`` was (``ifname``: its interface's name; ``any_dev``: not known yet, any), as
        keepalived's ``route_is_ours``: the MASTER instances with it among their virtual_routes (family,
        destination, tos, metric, table and device equal), and the static routes this process set (family,
        destination, tos and table equal); neither ``no_track``."""
        def virtual(r: Route) -> bool:
            family, dst, dst_len, tos, metric, table, dev = route_identity(r)
            return ((family, dst, dst_len, tos, metric, table) == (gone.family, gone.dst, gone.dst_len, gone.tos,
                                                                    gone.metric, gone.table)
                    and (any_dev or dev in (None, ifname)))

        def static(r: Route) -> bool:
            family, dst, dst_len, tos, _, table, _ = route_identity(r)
            return (family, dst, dst_len, tos, table) == (gone.family, gone.dst, gone.dst_len, gone.tos, gone.table)

        owners = [rt.name for rt in self.instances.values()
                  if rt.fsm.state is State.MASTER and rt.fsm.vips_set
                  and any(not r.no_track and (rt.name, r) in self.executor.set_flags and virtual(r)
                          for r in rt.model.virtual_routes)]
        statics = [r for r in self.config.vrrp.static_routes
                   if not r.no_track and (None, r) in self.executor.set_flags and static(r)]
        return owners, statics

    def route_deleted(self, now: float, gone: RouteGone, ifname: str | None) -> bool:
        """Another program deleted a route of keepalived's protocol (the runner saw it gone from the kernel): a
        MASTER's virtual route makes it leave MASTER and come back (``fsm.EntryDeleted``), a static route is
        restored, as keepalived 2.2.7's netlink reflector.  True if some instance changed."""
        if self.stopped:
            return False
        owners, statics = self.route_holders(gone, ifname)
        for name in owners:
            log.info("(%s) a virtual route to %s/%d was deleted by another program: leaving MASTER to set it again",
                     name, gone.dst, gone.dst_len)
            self.dispatch(now, name, EntryDeleted())
        for route in statics:
            self.executor.effect(lambda route=route: self.executor.restore_static_route(route))  # type: ignore[misc]
        return bool(owners)

    def dispatch(self, now: float, name: str, event: Event) -> None:
        """Feed one event to an instance (through its sync group) and carry out the actions."""
        if self.stopped or name not in self.instances:
            return
        gname = self.group_of.get(name)
        if gname is not None:
            routed = self.groups[gname].handle(now, name, event)
        else:
            routed = [(name, a) for a in self.instances[name].fsm.handle(now, event)]
        self.execute(routed)

    def execute(self, routed: Sequence[tuple[str, Action | GroupNotify]], stopping: bool = False) -> None:
        for name, action in routed:
            if isinstance(action, GroupNotify):
                self.executor.group_notify(self.group_models[action.group], action)
            else:
                self.executor.perform(self.instances.get(name), action, stopping)

    def next_deadline(self) -> float | None:
        """The earliest deadline of any instance (the I/O loop's one timer), or None."""
        if self.stopped:
            return None
        deadlines = [d for rt in self.instances.values() if (d := rt.fsm.next_deadline()) is not None]
        return min(deadlines) if deadlines else None

    def fire_timers(self, now: float) -> None:
        """The timer went off at ``now``: every instance whose deadline has passed gets TimerFired."""
        due = [rt for rt in self.instances.values()
               if (d := rt.fsm.next_deadline()) is not None and d <= now]
        for rt in due:
            self.dispatch(now, rt.name, TimerFired())

    def on_datagram(self, now: float, key: SockKey, dg: Datagram) -> bool:
        """Route a packet to its instance by VRID, validate it there, feed it if it passed.

        True when some instance was fed (its deadline may have moved); a dropped packet costs no more."""
        if dg.family == socket.AF_INET:
            ihl = (dg.data[0] & 0x0F) * 4
            vrid = dg.data[ihl + 1] if len(dg.data) > ihl + 1 else None
        else:
            vrid = dg.data[1] if len(dg.data) > 1 else None
        candidates = self.by_socket.get(key, {}).get(vrid, []) if vrid is not None else []
        if not candidates:
            self.unknown_vrid_drops += 1
            if self.g.log_unknown_vrids and self.may_log(("unknown_vrid", key[0]), now):
                log.info("Unknown VRID(%s) received on interface(%s). ignoring...", vrid, key[0])
            return False
        src: IPAddress | None = ipaddress.ip_address(dg.src) if dg.src else None
        received = pkt.Received(dg.data, 4 if dg.family == socket.AF_INET else 6, src,
                                ipaddress.ip_address(dg.dst) if dg.dst else None,
                                dg.ttl if dg.ttl >= 0 else None)
        fed = False
        for rt in list(candidates):
            if rt.fsm.state not in (State.BACKUP, State.MASTER):
                continue  # keepalived ignores packets in FAULT/INIT without counting them
            known = src is not None and src == rt.fsm.master_address
            result = pkt.validate(received, rt.expect_known_master if known else rt.expect)
            if isinstance(result, pkt.Rejected):
                rt.drops.record(result)
                if rt.errors.record(result, src) and self.on_error is not None:
                    self.on_error(rt)
                if not result.reason.silent and self.may_log((rt.name, result.reason), now):
                    log.info("(%s) %s", rt.name, result.detail)
                continue
            self.dispatch(now, rt.name, AdvertReceived(
                src=result.src or (src if src is not None else ipaddress.IPv4Address(0)),
                priority=result.priority, max_adver_int=result.adver_int, addresses=result.addresses))
            fed = True
        return fed

    def may_log(self, key: tuple[Any, ...], now: float) -> bool:
        """Whether a line a peer caused may be logged now (:class:`~pykeepalived.ratelimit.LogLimiter`)."""
        ok, suppressed = self.reject_log.allow(key, now)
        if ok and suppressed:
            log.info("%s: %d similar messages suppressed in the last %g s", "/".join(map(str, key)), suppressed,
                     self.reject_log.interval)
        return ok

    def link_event(self, now: float, ifname: str, up: bool) -> bool:
        """Netlink says ``ifname`` is up or down; False when that is no change."""
        if self.link_up.get(ifname) == up:
            return False
        self.link_up[ifname] = up
        log.info("Netlink reports %s %s", ifname, "up" if up else "down")
        for rt in list(self.instances.values()):
            if not rt.model.dont_track_primary and rt.ifname == ifname:
                self.set_fault(now, rt, IF_FAULT.format(ifname), not up)
            if any(t.kind == "interface" and t.name == ifname for t in rt.trackers):
                self.apply_tracking(now, rt)
        return True

    def set_fault(self, now: float, rt: InstanceRuntime, reason: str, on: bool) -> None:
        if on and reason not in rt.faults:
            rt.faults.add(reason)
            self.dispatch(now, rt.name, FaultSet(reason))
        elif not on and reason in rt.faults:
            rt.faults.discard(reason)
            self.dispatch(now, rt.name, FaultCleared(reason))

    # ------------------------------------------------------------------------------ tracking

    def tracker_states(self) -> dict[TrackerKey, TrackerState]:
        states: dict[TrackerKey, TrackerState] = dict(self.monitor_states())
        for ifname, up in self.link_up.items():
            states[("interface", ifname)] = up
        for name, up in self.bfd_up.items():
            states[("bfd", name)] = up
        return states

    def _declare_bfds(self) -> None:
        """One verdict per configured bfd_instance: kept across a reload, down for a new one."""
        names = {b.name for b in self.config.vrrp.bfd_instances}
        self.bfd_up = {name: self.bfd_up.get(name, False) for name in sorted(names)}

    def bfd_event(self, now: float, name: str, up: bool) -> bool:
        """A BFD session went up or down (keepalived's ``vrrp_handle_bfd_event``): every instance tracking
        it is told and re-evaluated.  Returns whether anything changed."""
        if name not in self.bfd_up or self.bfd_up[name] is up:
            return False
        self.bfd_up[name] = up
        key = ("bfd", name)
        for rt in self.instances.values():
            if any(r.key == key for r in rt.trackers):
                log.info("VRRP_Instance(%s) Tracked BFD instance %s is %s", rt.name, name, "UP" if up else "DOWN")
        self.tracker_changed(now, key)
        return True

    def apply_tracking(self, now: float, rt: InstanceRuntime, initial: bool = False) -> None:
        """Priority and FAULT reasons from every tracker (vrrp.tracking), fed to the state machine.

        ``initial``: before Start, straight into the state machine (nothing to announce yet).
        """
        ev = evaluate(rt.fsm.base_priority, rt.trackers, self.tracker_states())

        def feed(event: Event) -> None:
            if initial:
                rt.fsm.handle(now, event)
            else:
                self.dispatch(now, rt.name, event)

        if ev.total != rt.fsm.total_priority:
            feed(PriorityChanged(ev.total))
        for reason in sorted(ev.faults - rt.tracker_faults):
            rt.tracker_faults.add(reason)
            feed(FaultSet(reason))
        for reason in sorted(rt.tracker_faults - ev.faults):
            rt.tracker_faults.discard(reason)
            feed(FaultCleared(reason))

    def set_base_priority(self, now: float, rt: InstanceRuntime, priority: int) -> None:
        """keepalived's SNMP SET of vrrpInstanceBasePriority: a new base priority with the trackers' weights
        on top of it, the effective priority following at once.  It lasts until a reload (whose kept
        instances take the configured priority again: ``instances.build_runtime``), as keepalived's."""
        rt.fsm.base_priority = priority
        self.apply_tracking(now, rt, initial=not self.started)

    def set_preempt(self, rt: InstanceRuntime, on: bool) -> None:
        """keepalived's SNMP SET of vrrpInstancePreempt: ``nopreempt`` cleared or set, until a reload."""
        rt.fsm.params = dataclasses.replace(rt.fsm.params, nopreempt=not on)

    def tracker_changed(self, now: float, key: TrackerKey) -> None:
        """A script/file/process verdict changed: re-evaluate every instance that tracks it."""
        if self.stopped or not self.started:
            return
        for rt in list(self.instances.values()):
            if any(r.key == key for r in rt.trackers):
                self.apply_tracking(now, rt)

    # ------------------------------------------------------------------------------ reload

    def reconfigure(self, now: float, new: Config, plan: ReloadPlan,
                    primaries: Mapping[str, IPAddress | None]) -> list[InstanceRuntime]:
        """Apply a reload's plan (``vrrp.reload``); ``primaries``: the advert source of every kept or
        added instance.  Returns the added instances (not started, their sockets not open yet).

        The static addresses, routes and rules no longer configured go first, the new ones are added
        last, as keepalived orders them around its instances' changes."""
        statics = static_changes(self.config, new)
        self._statics(statics, add=False)
        self.config, self.g = new, new.global_defs
        self._set_garp_intervals()
        self._declare_bfds()
        models = {i.name: i for i in new.vrrp.instances}
        for name in plan.drop:
            self.remove(now, self.instances[name])
        for gname in [g for g, grp in self.groups.items() if not any(m in self.instances for m in grp.members)]:
            del self.groups[gname]
            self.group_models.pop(gname, None)
            self.notifier.alerts.forget(gname)
        for name in plan.keep:
            self.update(self.instances[name], build_runtime(models[name], self.g, primaries.get(name),
                                                            fsm=self.instances[name].fsm))
        for gm in new.vrrp.sync_groups:
            if gm.name in self.groups:
                self.group_models[gm.name] = gm
        added = [build_runtime(models[name], self.g, primaries.get(name)) for name in plan.add]
        for rt in added:
            self.add(rt)
        self.make_groups([gm for gm in new.vrrp.sync_groups if gm.name not in self.groups])
        self.set_trackers()
        self._statics(statics, remove=False)
        return added

    def after_reload(self, now: float, plan: ReloadPlan) -> None:
        """Once the added instances' sockets are open: start them, and re-evaluate the kept ones'
        trackers (their tracker set may have changed).  Nothing to do before the first start."""
        if not self.started:
            return
        self.start(now, list(plan.add))
        for name in plan.keep:
            self.apply_tracking(now, self.instances[name])

    def remove(self, now: float, rt: InstanceRuntime) -> None:
        """An instance gone from the config (or replaced): priority 0 if MASTER, VIPs and routes
        removed, FAULT notified (DELETED with ``notify_deleted``), its packets no longer routed."""
        prio = rt.fsm.effective_priority
        n = rt.model.notify
        actions = rt.fsm.handle(now, Stop())
        self.execute([(rt.name, a) for a in actions if isinstance(a, (SendAdvert, RemoveVips, Log))])
        self.notifier.instance_state(rt.model, "DELETED" if n.deleted_state or n.deleted else "FAULT", prio)
        self.notifier.alerts.forget(rt.name)
        self.unregister(rt)
        del self.instances[rt.name]
        self.group_of.pop(rt.name, None)

    def update(self, old: InstanceRuntime, rt: InstanceRuntime) -> None:
        """Same identity: ``rt`` (built over ``old``'s state machine) takes ``old``'s place, keeping its
        FAULT reasons and counters.

        While MASTER, its VIPs, routes and rules change as ``vrrp.reload.address_changes`` plans (those no
        longer configured removed, routes of the same key replaced in place, equal addresses and rules left
        alone, new ones added with a GARP round).
        """
        rt.faults, rt.tracker_faults = old.faults, old.tracker_faults
        rt.ip_id, rt.drops, rt.send_errors, rt.errors = old.ip_id, old.drops, old.send_errors, old.errors
        rt.last_transition = old.last_transition
        same = self.by_socket.get(old.sock_key, {}).get(old.model.virtual_router_id, [])
        if old in same:
            same[same.index(old)] = rt
        self.instances[rt.name] = rt
        if not rt.fsm.vips_set:
            return
        changes = address_changes(old.vips + old.evips, rt.vips + rt.evips, old.model, rt.model)
        if changes or (old.model.accept, old.model.dont_track_primary) != (rt.model.accept,
                                                                            rt.model.dont_track_primary):
            self.executor.effect(lambda: self.executor.change_addresses(old, rt, changes))
