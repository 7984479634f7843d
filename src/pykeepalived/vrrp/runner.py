"""The VRRP process: every ``vrrp_instance`` of the config on one asyncio loop.

This is the thin adapter around the sans-I/O cores.  The state machines (``vrrp.fsm``, grouped by
``vrrp.sync_group``) decide; this module is the event loop that feeds them events and carries out
their actions.  Its helpers: ``vrrp.notifier`` (what a transition notifies), ``vrrp.monitors``
(vrrp_script, track_file, track_process), ``vrrp.addresses`` and ``vrrp.routes`` (netlink),
``vrrp.io`` (VRRP sockets, GARP/NA frames).

* events: received adverts (decoded and validated by ``vrrp.packet`` against each instance's
  ``Expectation``; drops are counted per reason, never raised), interface up/down from netlink
  (FAULT), tracker results (vrrp_script runs, track_file values, vrrp_track_process counts,
  turned into priority changes and FAULT reasons by ``vrrp.tracking``), the earliest deadline of
  any instance (one ``loop.call_at`` handle), SIGTERM/SIGINT, SIGHUP (reload);
* actions: adverts are sent synchronously from the event that produced them (timing matters);
  VIP changes and GARP/NA rounds go through one ordered queue (netlink is async, and a GARP must
  not leave before its VIP exists); notify scripts run through one ordered queue per instance or
  sync group, so a slow script never reorders or loses a transition; FIFO lines are written at
  once, in event order; SMTP alerts are queued to one sender (``notify.mail``).

Reload (SIGHUP) re-reads the config file; a file with fatal errors (a keyword missing its
parameter, FATAL problems) is refused and the running config kept.  Otherwise instances are
matched by name: one whose identity (VRID, interface, family, version, advert interval, unicast
or multicast, sync group) is unchanged keeps its state machine, timers and VIPs, with new
priority, VIPs (added/removed while MASTER), trackers and notify scripts applied in place; a
removed one sends priority 0 if MASTER, drops its VIPs and notifies FAULT (or DELETED with
``notify_deleted``); a new one (or one whose identity changed) starts in BACKUP.

``run_vrrp(config, options)`` is the entry for the supervisor (one child process);
``release_vips(config)`` is what the supervisor calls after the child died; ``main`` is the
stand-alone command line ``python -m pykeepalived.vrrp.runner -f CONF``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pykeepalived.daemon import runtime
from pykeepalived.daemon.signals import DUMPS, HANDLED, SIGJSON, SIGSTATS_CLEAR, ignore_signals, quiet_wakeup_fd
from pykeepalived.ratelimit import LogLimiter
from pykeepalived.status import dumps
from pykeepalived.status.snapshot import VrrpStats

from . import packet as pkt
from .addresses import Netlink, VipSpec, watch_links
from .fsm import (
    Action,
    AddVips,
    AdvertReceived,
    Event,
    FaultCleared,
    FaultSet,
    Instance,
    InstanceParams,
    Log,
    Notify,
    NotifyEvent,
    PriorityChanged,
    RemoveVips,
    SendAdvert,
    SendGarps,
    Start,
    State,
    Stats,
    Stop,
    TimerFired,
)
from .io import Datagram, FrameSender, VrrpSocket
from .monitors import Monitors
from .notifier import Notifier, state_name
from .routes import change_routes_rules
from .sync_group import GroupNotify, SyncGroup
from .syncd import TO_STOP, SyncDaemonFollower
from .tracking import TrackerRef, TrackerState, evaluate, instance_trackers

if TYPE_CHECKING:
    from pykeepalived.config.model import Config
    from pykeepalived.config.model_global import GlobalDefs
    from pykeepalived.config.model_vrrp import SyncGroup as SyncGroupModel
    from pykeepalived.config.model_vrrp import VirtualAddress, VrrpInstance

log = logging.getLogger("pykeepalived.vrrp")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: how long shutdown waits for STOP notify scripts (keepalived waits about 1 s, then kills)
STOP_NOTIFY_WAIT = 2.0
#: how long shutdown waits for VIP removal to finish
STOP_EFFECTS_WAIT = 5.0
#: keepalived re-reads an interface's IPv6 forwarding (NA Router flag) when older than this
GNA_ROUTER_RECHECK = 5.0
#: interface-name tag of the fault reason the interface watcher sets
_IF_FAULT = "interface {} down"


# --------------------------------------------------------------------------------------------- options


@dataclass(frozen=True, slots=True)
class RunnerOptions:
    """What the command line (or the supervisor) tells the VRRP process."""

    pid_file: str | None = None
    log_console: bool = False
    log_detail: bool = False
    #: where SIGUSR2 writes ``keepalived.stats`` (default ``$TMPDIR`` or /tmp, as keepalived)
    stats_file: str | None = None
    #: keepalived's ``-V``: leave VIPs in place on stop
    dont_release_vrrp: bool = False
    #: ``-i``: only used for the log line; the config is already read
    config_id: str | None = None
    #: set up logging handlers (False when the supervisor already did)
    configure_logging: bool = True
    #: the file SIGHUP re-reads (None: reload is refused with a log line)
    config_file: str | None = None


# --------------------------------------------------------------------------------------------- config mapping


def vip_spec(va: VirtualAddress, default_dev: str) -> VipSpec:
    """One virtual_ipaddress line as the netlink layer wants it (dev defaults to the instance's).

    An IPv6 /128 without ``preferred_lft`` gets 0 (deprecated: never picked as a source address),
    as keepalived does; every IPv6 VIP is added without DAD (``VipSpec.nodad``)."""
    preferred = va.preferred_lft
    if preferred is None and va.address.version == 6 and va.address.network.prefixlen == 128:
        preferred = 0
    kwargs: dict[str, Any] = {
        "label": va.label,
        "scope": int(va.scope) if va.scope and va.scope.isdigit() else (va.scope or 0),
        "noprefixroute": va.noprefixroute,
        "home": va.home,
        "mngtmpaddr": va.mngtmpaddr,
        "autojoin": va.autojoin,
        "preferred_lft": preferred,
    }
    if va.broadcast is not None:
        kwargs["broadcast"] = str(va.broadcast)
    return VipSpec(va.address, va.dev or default_dev, **kwargs)


def instance_params(inst: VrrpInstance, primary: IPAddress | None,
                    vips: tuple[VipSpec, ...]) -> InstanceParams:
    """The one place that maps the config model onto the state machine's parameters.

    The model already holds effective values (globals copied in, strict-mode fix-ups applied,
    advert_int rounded per version), so this is a field-by-field copy.
    """
    return InstanceParams(
        name=inst.name,
        vrid=inst.virtual_router_id,
        version=inst.version,
        priority=inst.priority,
        advert_int=inst.advert_int,
        initial_state=State.MASTER if inst.state.upper() == "MASTER" else State.BACKUP,
        nopreempt=inst.nopreempt,
        preempt_delay=inst.preempt_delay,
        primary_address=primary,
        vips=vips,
        garp_master_delay=float(inst.garp_master_delay),
        garp_master_repeat=inst.garp_master_repeat,
        garp_master_refresh=float(inst.garp_master_refresh),
        garp_master_refresh_repeat=inst.garp_master_refresh_repeat,
        garp_lower_prio_delay=float(inst.garp_lower_prio_delay),
        garp_lower_prio_repeat=inst.garp_lower_prio_repeat,
        lower_prio_no_advert=inst.lower_prio_no_advert,
        higher_prio_send_advert=inst.higher_prio_send_advert,
        down_timer_adverts=inst.down_timer_adverts,
        notify_priority_changes=inst.notify_priority_changes,
        strict=inst.strict_mode,
        sync_group=inst.sync_group,
    )


def configured_vips(inst: VrrpInstance,
                    default_interface: str = "eth0") -> tuple[list[VipSpec], list[VipSpec]]:
    """(virtual_ipaddress, virtual_ipaddress_excluded) of one instance as VipSpecs."""
    dev = inst.interface or default_interface
    return ([vip_spec(v, dev) for v in inst.virtual_ipaddress],
            [vip_spec(v, dev) for v in inst.virtual_ipaddress_excluded])


def all_vips(config: Config) -> list[VipSpec]:
    """Every VIP and eVIP of every configured instance."""
    default_if = config.global_defs.default_interface
    specs: list[VipSpec] = []
    for inst in config.vrrp.instances:
        vips, evips = configured_vips(inst, default_if)
        specs += vips + evips
    return specs


async def advert_source(nl: Netlink, inst: VrrpInstance, ifname: str, family: int) -> IPAddress | None:
    """Advert source: unicast_src_ip / mcast_src_ip, else the interface's primary address."""
    chosen = inst.unicast_src_ip if inst.unicast_peer else inst.mcast_src_ip
    if chosen is None:
        chosen = inst.mcast_src_ip or inst.unicast_src_ip
    if chosen is not None:
        return chosen
    try:
        text = (await nl.primary_ipv4(ifname) if family == socket.AF_INET
                else await nl.link_local_ipv6(ifname))
    except LookupError:
        return None
    return ipaddress.ip_address(text) if text else None


def advert_destinations(inst: VrrpInstance, g: GlobalDefs) -> tuple[tuple[IPAddress, ...], IPAddress | None]:
    """(unicast peers, multicast group): adverts go to each peer, or to the group when there is none."""
    peers = tuple(p.address for p in inst.unicast_peer)
    if peers:
        return peers, None
    return peers, inst.mcast_dst_ip or (g.vrrp_mcast_group6 if inst.family == 6 else g.vrrp_mcast_group4)


def advert_auth(inst: VrrpInstance) -> tuple[int, str]:
    """(auth type, password) of a VRRPv2 advert: PASS, or none (AH is not supported: said once)."""
    if inst.authentication is not None and inst.version == 2:
        if inst.authentication.type.upper() == "PASS":
            return pkt.AUTH_PASS, inst.authentication.password
        log.error("(%s) authentication type %s is not supported; sending without authentication",
                  inst.name, inst.authentication.type)
    return pkt.AUTH_NONE, ""


async def resign(nl: Netlink, inst: VrrpInstance, g: GlobalDefs, netns: str | None = None) -> bool:
    """One priority-0 advert on behalf of an instance whose process died while MASTER, as its own stop
    would have sent: the backups take over after Skew_Time instead of Master_Down_Interval."""
    ifname = inst.interface or g.default_interface
    family = socket.AF_INET6 if inst.family == 6 else socket.AF_INET
    src = await advert_source(nl, inst, ifname, family)
    if src is None:
        return False
    vips, _ = configured_vips(inst, g.default_interface)
    auth_type, auth_pass = advert_auth(inst)
    adv = pkt.Advert.build(version=inst.version, vrid=inst.virtual_router_id, priority=0,
                           addresses=tuple(v.address.ip for v in vips if v.address.version == inst.family),
                           adver_int=inst.advert_int, family=inst.family, auth_type=auth_type, auth_pass=auth_pass)
    peers, group = advert_destinations(inst, g)
    try:
        sock = VrrpSocket(ifname, family, group=str(group) if group is not None else None, netns=netns, join=False)
    except OSError as e:
        log.warning("(%s) no priority-0 advert for the dead VRRP process: %s", inst.name, e.strerror or e)
        return False
    try:
        for dst in peers or ((group,) if group is not None else ()):
            if family == socket.AF_INET:
                ttl = (inst.unicast_ttl or pkt.VRRP_TTL) if peers else pkt.VRRP_TTL
                sock.send(pkt.encode_ipv4(adv, src, dst, 0, ttl))
            else:
                sock.send(pkt.encode_payload(adv, src, dst), str(dst), str(src), inst.unicast_ttl if peers else None)
    except OSError as e:
        log.warning("(%s) priority-0 advert for the dead VRRP process failed: %s", inst.name, e.strerror or e)
        return False
    finally:
        sock.close()
    log.info("(%s) sent priority 0 on behalf of the dead VRRP process", inst.name)
    return True


async def release_vips_async(config: Config, netns: str | None = None) -> list[VipSpec]:
    """:func:`release_vips` for a caller that already runs an event loop."""
    async with Netlink(netns) as nl:
        for inst in config.vrrp.instances:  # routes and rules first, as a stopping MASTER does
            routes, rules = await change_routes_rules(nl, inst.name, inst.virtual_routes,
                                                      inst.virtual_rules, add=False)
            for route in routes:
                log.info("(%s) Removed virtual route %s after the VRRP process stopped", inst.name, route.dest)
            for rule in rules:
                log.info("(%s) Removed virtual rule (preference %d) after the VRRP process stopped",
                         inst.name, rule.preference)
        removed = await nl.remove_stale_vips(all_vips(config))
        held = {(v.address, v.dev) for v in removed}
        for inst in config.vrrp.instances:  # an instance whose VIPs were up was MASTER
            vips, evips = configured_vips(inst, config.global_defs.default_interface)
            if any((v.address, v.dev) in held for v in vips + evips):
                await resign(nl, inst, config.global_defs, netns)
    for vip in removed:
        log.info("Removed VIP %s from %s after the VRRP process stopped", vip.address, vip.dev)
    return removed


def release_vips(config: Config, netns: str | None = None) -> list[VipSpec]:
    """Remove every configured VIP and eVIP, virtual_route and virtual_rule of every instance;
    idempotent.

    For the supervisor after the VRRP child died: whatever the child held must not outlive it.
    Returns the addresses that were actually present.
    """
    return asyncio.run(release_vips_async(config, netns))


# --------------------------------------------------------------------------------------------- instances


@dataclass(eq=False)
class _Runtime:
    """One vrrp_instance at run time: model, state machine, where its packets go."""

    model: VrrpInstance
    fsm: Instance
    ifname: str
    family: int
    vips: list[VipSpec]
    evips: list[VipSpec]
    src: IPAddress | None
    group: IPAddress | None  # multicast destination; None for unicast
    peers: tuple[IPAddress, ...]
    expect: pkt.Expectation
    expect_known_master: pkt.Expectation
    advert: pkt.Advert | None = None
    ip_id: int = 0
    drops: pkt.DropCounters = field(default_factory=pkt.DropCounters)
    #: FAULT reasons of the instance's own interface (and socket)
    faults: set[str] = field(default_factory=set)
    #: FAULT reasons from trackers (``vrrp.tracking.evaluate``)
    tracker_faults: set[str] = field(default_factory=set)
    trackers: list[TrackerRef] = field(default_factory=list)
    send_errors: int = 0
    #: wall-clock time of the last state change (keepalived's ``last_transition``)
    last_transition: float = field(default_factory=time.time)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def unicast(self) -> bool:
        return bool(self.peers)

    def next_ip_id(self) -> int:
        """keepalived's per-instance IP id: 1, 2, ... wrapping past 0."""
        self.ip_id = self.ip_id % 0xFFFF + 1
        return self.ip_id


class DeadlineTimer:
    """One re-armable wake-up at an absolute ``loop.time()``, precise to tens of microseconds.

    asyncio's ``call_at`` sleeps in ``epoll_wait``, whose timeout is rounded up to a millisecond
    and gets 0.1 % of the delay as kernel timer slack: a 3.6 s VRRPv2 down timer fired about 5 ms
    late.  A ``timerfd`` on CLOCK_MONOTONIC (the clock of ``loop.time()``) wakes the loop through
    its reader instead, with the default 50 µs slack.  Falls back to ``call_at`` without it.
    """

    _CLOCK_MONOTONIC = 1
    _TFD_NONBLOCK_CLOEXEC = os.O_NONBLOCK | os.O_CLOEXEC
    _TFD_TIMER_ABSTIME = 1

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[float], None]) -> None:
        self.loop = loop
        self.callback = callback
        self.when: float | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._fd = -1
        try:
            import ctypes

            self._libc = ctypes.CDLL(None, use_errno=True)
            fd = self._libc.timerfd_create(self._CLOCK_MONOTONIC, self._TFD_NONBLOCK_CLOEXEC)
            if fd >= 0:
                self._fd = fd
                loop.add_reader(fd, self._on_readable)
        except (OSError, AttributeError):
            self._fd = -1

    def arm(self, when: float | None) -> None:
        """Fire ``callback(when)`` at ``when`` (replacing any earlier arming); None disarms."""
        if when == self.when:
            return
        self.when = when
        if self._fd < 0:
            if self._handle is not None:
                self._handle.cancel()
            self._handle = None if when is None else self.loop.call_at(when, self._fire)
            return
        import ctypes

        value = max(when, 1e-9) if when is not None else 0.0  # all zero disarms
        sec = int(value)
        spec = (ctypes.c_long * 4)(0, 0, sec, round((value - sec) * 1e9))
        if self._libc.timerfd_settime(self._fd, self._TFD_TIMER_ABSTIME, spec, None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    def _on_readable(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            return
        self._fire()

    def _fire(self) -> None:
        when, self.when, self._handle = self.when, None, None
        if when is not None:
            self.callback(when)

    def close(self) -> None:
        self.arm(None)
        if self._fd >= 0:
            self.loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1


SockKey = tuple[str, int, str | None]  # (interface, family, multicast group or None for unicast)


def _sock_key(rt: _Runtime) -> SockKey:
    return (rt.ifname, rt.family, str(rt.group) if rt.group is not None else None)


def _identity(inst: VrrpInstance, default_if: str) -> tuple[object, ...]:
    """What must stay the same for a reloaded instance to keep its state machine."""
    return (inst.virtual_router_id, inst.interface or default_if, inst.family, inst.version,
            inst.advert_int, bool(inst.unicast_peer), inst.priority == 255)


class VrrpProcess:
    """Runs every instance of one config until SIGTERM/SIGINT; see the module docstring."""

    def __init__(self, config: Config, options: RunnerOptions, netns: str | None = None) -> None:
        self.config = config
        self.g = config.global_defs
        self.options = options
        self.netns = netns  # tests may drive a named namespace from one process
        self.notifier = Notifier(self.g)
        self.instances: dict[str, _Runtime] = {}
        self.groups: dict[str, SyncGroup] = {}
        self.group_models: dict[str, SyncGroupModel] = {}
        self.group_of: dict[str, str] = {}
        self.sockets: dict[SockKey, VrrpSocket] = {}
        self.by_socket: dict[SockKey, dict[int, list[_Runtime]]] = {}
        self.frames: dict[str, FrameSender] = {}
        self.link_up: dict[str, bool] = {}
        self.unknown_vrid_drops = 0
        #: log lines a peer can cause (rejected adverts, unknown VRIDs) are rate-limited; drops are counted
        self.reject_log = LogLimiter()
        self._effects: asyncio.Queue[Callable[[], Awaitable[None]] | None] = asyncio.Queue()
        self._timer: DeadlineTimer | None = None
        self._stopping = asyncio.Event()
        self._stopped = False
        self._last_garp: dict[str, float] = {}
        #: IPv6 forwarding of an interface (Router flag of its NAs) and when it was read
        self._gna_router: dict[str, tuple[float, bool]] = {}
        self.nl = Netlink(netns)
        self._started = False
        self._links_task: asyncio.Task[None] | None = None
        self._watching: frozenset[str] = frozenset()
        # trackers: vrrp_script, track_file and track_process verdicts by (kind, name)
        self.monitors = Monitors(self.notifier, self._tracker_changed)
        self._reload_task: asyncio.Task[None] | None = None
        self._reload_again = False
        #: the IPVS sync daemon following one instance (global_defs ``lvs_sync_daemon``), if configured
        self.syncd: SyncDaemonFollower | None = None
        #: writes the signal dumps off the event loop
        self.dump_writer = dumps.DumpWriter("vrrp-dumps")

    # ------------------------------------------------------------------------------ set-up

    async def _primary(self, inst: VrrpInstance, ifname: str, family: int) -> IPAddress | None:
        return await advert_source(self.nl, inst, ifname, family)

    async def _make_runtime(self, inst: VrrpInstance, fsm: Instance | None = None) -> _Runtime:
        """The run-time side of one instance; ``fsm`` is the kept state machine on reload."""
        default_if = self.g.default_interface
        ifname = inst.interface or default_if
        family = socket.AF_INET6 if inst.family == 6 else socket.AF_INET
        vips, evips = configured_vips(inst, default_if)
        fam_v = 4 if family == socket.AF_INET else 6
        adv_vips = tuple(v.address.ip for v in vips if v.address.version == fam_v)
        primary = await self._primary(inst, ifname, family)
        if primary is None:
            log.error("(%s) no source address on %s: no adverts can be sent", inst.name, ifname)
        params = instance_params(inst, primary, tuple(vips))
        if fsm is None:
            fsm = Instance(params)
        else:
            fsm.params = params
            fsm.base_priority = params.priority
        peers, group = advert_destinations(inst, self.g)
        auth_type, auth_pass = advert_auth(inst)
        common: dict[str, Any] = {
            "vrid": inst.virtual_router_id, "version": inst.version, "auth_type": auth_type,
            "auth_pass": auth_pass, "adver_int": inst.advert_int, "vips": adv_vips,
            "unicast": bool(peers), "check_unicast_src": checks_unicast_source(inst),
            "unicast_peers": tuple(pkt.UnicastPeer(p.address, p.min_ttl or 0,
                                                   255 if p.max_ttl is None else p.max_ttl)
                                   for p in inst.unicast_peer),
        }
        rt = _Runtime(
            model=inst, fsm=fsm, ifname=ifname, family=family, vips=vips, evips=evips,
            src=primary, group=group, peers=peers,
            expect=pkt.Expectation(**common),
            expect_known_master=pkt.Expectation(**common, check_vips=not inst.skip_check_adv_addr),
        )
        try:
            rt.advert = pkt.Advert.build(version=inst.version, vrid=inst.virtual_router_id,
                                         priority=inst.priority, addresses=adv_vips,
                                         adver_int=inst.advert_int, family=fam_v,
                                         auth_type=auth_type, auth_pass=auth_pass)
        except ValueError as e:
            log.error("(%s) cannot build adverts: %s", inst.name, e)
        if inst.track.bfds:
            log.warning("(%s) track_bfd is not supported by the VRRP process yet; ignored", inst.name)
        if not inst.accept:
            log.warning("(%s) no_accept is not supported yet; the VIPs accept traffic", inst.name)
        return rt

    async def _build(self) -> None:
        for inst in self.config.vrrp.instances:
            self.instances[inst.name] = await self._make_runtime(inst)
        self._make_groups(self.config.vrrp.sync_groups)
        self._set_trackers()
        self.syncd = self._make_syncd()

    def _make_syncd(self) -> SyncDaemonFollower | None:
        cfg = self.g.lvs_sync_daemon
        return None if cfg is None else SyncDaemonFollower(cfg, set(self.instances), self.netns)

    def _follow_syncd(self, name: str, state: State) -> None:
        """The followed instance changed state: its sync-daemon calls, in transition order."""
        if self.syncd is not None:
            self.syncd.submit(self.syncd.transition(name, state))

    def _reload_syncd(self, kept: Sequence[str]) -> None:
        """After a reload: a changed ``lvs_sync_daemon`` (or a followed instance that was replaced)
        stops the old daemons and starts what the followed instance's current state asks for."""
        old = self.syncd
        cfg = self.g.lvs_sync_daemon
        if old is not None and old.model == cfg and old.instance in kept:
            return
        if old is not None:
            old.submit(TO_STOP if old.state not in (None, State.STOP) else (), close=True)
        self.syncd = self._make_syncd()
        if self.syncd is not None and old is not None:
            self.syncd.follow(old)
        if self.syncd is not None and self._started and self.syncd.instance in self.instances:
            self._follow_syncd(self.syncd.instance, self.instances[self.syncd.instance].fsm.state)

    def _make_groups(self, models: Sequence[SyncGroupModel]) -> None:
        """SyncGroup coordinators over the (already built) member instances."""
        for gm in models:
            members = [self.instances[n].fsm for n in gm.group if n in self.instances]
            if not members:
                continue
            self.groups[gm.name] = SyncGroup(gm.name, members)
            self.group_models[gm.name] = gm
            for m in members:
                self.group_of[m.name] = gm.name

    def _set_trackers(self) -> None:
        """Each instance's tracker references: its own blocks plus its sync group's."""
        for rt in self.instances.values():
            gname = self.group_of.get(rt.name)
            rt.trackers = instance_trackers(rt.model, self.group_models.get(gname) if gname else None)

    def _open_sockets(self, rts: Iterable[_Runtime]) -> None:
        for rt in rts:
            key = _sock_key(rt)
            sock = self.sockets.get(key)
            if sock is None:
                try:
                    sock = VrrpSocket(rt.ifname, rt.family, group=key[2], netns=self.netns,
                                      join=rt.group is not None,
                                      rcvbuf=rt.model.kernel_rx_buf_size or None,
                                      unicast_hop_limit=None)  # keepalived: the interface's default
                except (OSError, ValueError) as e:
                    log.error("(%s) cannot open VRRP socket on %s: %s", rt.name, rt.ifname, e)
                    rt.faults.add(f"no socket on {rt.ifname}")
                    continue
                self.sockets[key] = sock
                self.by_socket[key] = {}
                sock.start(lambda d, k=key: self._on_datagram(k, d))  # type: ignore[misc]
                kind = "multicast" if rt.group is not None else "unicast"
                log.info("VRRP sockpool: [ifindex(%3d), family(%s), proto(112), %s, address(%s)]",
                         sock.ifindex, "IPv4" if rt.family == socket.AF_INET else "IPv6", kind,
                         key[2] or ",".join(map(str, rt.peers)))
            self.by_socket[key].setdefault(rt.model.virtual_router_id, []).append(rt)

    def _unregister(self, rt: _Runtime) -> None:
        """Forget a removed instance's packets; close its socket when nobody else uses it."""
        key = _sock_key(rt)
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
            sock = self.sockets.pop(key, None)
            if sock is not None:
                sock.close()

    async def _initial_links(self) -> None:
        for rt in self.instances.values():
            for ifname in self._watched_ifnames(rt):
                if ifname not in self.link_up:
                    try:
                        self.link_up[ifname] = await self.nl.link_up(ifname)
                    except LookupError:
                        log.error("(%s) interface %s does not exist", rt.name, ifname)
                        self.link_up[ifname] = False

    def _watched_ifnames(self, rt: _Runtime) -> list[str]:
        names = [] if rt.model.dont_track_primary else [rt.ifname]
        return names + [t.name for t in rt.trackers if t.kind == "interface"]

    # ------------------------------------------------------------------------------ running

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.install_dump_handlers(loop)
        quiet_wakeup_fd()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, DUMPS)  # the supervisor spawned us with them blocked
        await self._build()
        if self.syncd is not None:
            await self.syncd.check()  # modprobe ip_vs before anything is timed, as keepalived at start
        await self._initial_links()
        self._open_sockets(self.instances.values())
        await self.notifier.open_fifos()
        self._sync_trackers(loop.time())
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
        quiet_wakeup_fd()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
        effects = loop.create_task(self._effects_worker())
        if self.g.vrrp_startup_delay > 0:
            log.info("Delaying startup for %g seconds", self.g.vrrp_startup_delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.g.vrrp_startup_delay)
        if not self._stopping.is_set():
            self._start_instances(loop.time(), list(self.instances))
            self._started = True
            self.monitors.start()
            self._restart_link_watcher()
            await self._stopping.wait()
        log.info("Stopping")
        # A second SIGTERM while stopping (a supervisor's or a test's stop()) must not kill us with
        # VIPs still set: once the loop closes, asyncio would restore the default action.
        loop.remove_signal_handler(signal.SIGTERM)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if self._reload_task is not None:
            self._reload_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reload_task
        if self._links_task is not None:
            self._links_task.cancel()
        await self.monitors.stop()
        self._stop_all(loop.time())
        self._effects.put_nowait(None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(effects, STOP_EFFECTS_WAIT)
        if self.syncd is not None:
            await self.syncd.drain(STOP_EFFECTS_WAIT)
        await self.notifier.drain(STOP_NOTIFY_WAIT)
        self._close()
        await asyncio.to_thread(self.dump_writer.close)
        return 0

    def _start_instances(self, now: float, names: Sequence[str]) -> None:
        """Start instances (and sync groups whose members are all among them) in BACKUP or FAULT."""
        todo = set(names)
        for name in names:
            rt = self.instances[name]
            if not rt.model.dont_track_primary and not self.link_up.get(rt.ifname, False):
                rt.faults.add(_IF_FAULT.format(rt.ifname))
            for reason in sorted(rt.faults):
                rt.fsm.handle(now, FaultSet(reason))
            self._apply_tracking(now, rt, initial=True)
        for group in self.groups.values():
            if all(m in todo for m in group.members) and group.state is State.INIT:
                self._execute(group.start(now))
                todo -= set(group.members)
        for name in names:
            if name in todo and name not in self.group_of:
                rt = self.instances[name]
                self._execute([(rt.name, a) for a in rt.fsm.handle(now, Start())])
        self._rearm()

    def _stop_all(self, now: float) -> None:
        if self._timer is not None:
            self._timer.close()
            self._timer = None
        self._stopped = True
        for group in self.groups.values():
            self._execute(group.stop(now), stopping=True)
        for rt in self.instances.values():
            if rt.name not in self.group_of:
                self._execute([(rt.name, a) for a in rt.fsm.handle(now, Stop())], stopping=True)

    def _close(self) -> None:
        if self.syncd is not None:
            self.syncd.close()
        for sock in self.sockets.values():
            sock.close()
        for fs in self.frames.values():
            fs.close()

    # ------------------------------------------------------------------------------ events

    def dispatch(self, now: float, name: str, event: Event) -> None:
        """Feed one event to an instance (through its sync group) and carry out the actions."""
        if self._stopped or name not in self.instances:
            return
        gname = self.group_of.get(name)
        if gname is not None:
            routed = self.groups[gname].handle(now, name, event)
        else:
            routed = [(name, a) for a in self.instances[name].fsm.handle(now, event)]
        self._execute(routed)
        self._rearm()

    def _rearm(self) -> None:
        """One timer for the whole process: the earliest deadline of any instance."""
        if self._stopped:
            return
        deadlines = [d for rt in self.instances.values() if (d := rt.fsm.next_deadline()) is not None]
        if self._timer is None:
            self._timer = DeadlineTimer(asyncio.get_running_loop(), self._on_timer)
        self._timer.arm(min(deadlines) if deadlines else None)

    def _on_timer(self, when: float) -> None:
        # Never earlier than the deadline itself: the loop may wake within its clock resolution.
        now = max(asyncio.get_running_loop().time(), when)
        due = [rt for rt in self.instances.values()
               if (d := rt.fsm.next_deadline()) is not None and d <= now]
        for rt in due:
            if not self._stopped:
                self.dispatch(now, rt.name, TimerFired())
        self._rearm()

    def _on_datagram(self, key: SockKey, dg: Datagram) -> None:
        """Route a packet to its instance by VRID, validate it there, feed it if it passed."""
        now = asyncio.get_running_loop().time()
        if dg.family == socket.AF_INET:
            ihl = (dg.data[0] & 0x0F) * 4
            vrid = dg.data[ihl + 1] if len(dg.data) > ihl + 1 else None
        else:
            vrid = dg.data[1] if len(dg.data) > 1 else None
        candidates = self.by_socket.get(key, {}).get(vrid, []) if vrid is not None else []
        if not candidates:
            self.unknown_vrid_drops += 1
            if self.g.log_unknown_vrids and self._may_log(("unknown_vrid", key[0]), now):
                log.info("Unknown VRID(%s) received on interface(%s). ignoring...", vrid, key[0])
            return
        src = ipaddress.ip_address(dg.src) if dg.src else None
        received = pkt.Received(dg.data, 4 if dg.family == socket.AF_INET else 6, src,
                                ipaddress.ip_address(dg.dst) if dg.dst else None,
                                dg.ttl if dg.ttl >= 0 else None)
        for rt in list(candidates):
            if rt.fsm.state not in (State.BACKUP, State.MASTER):
                continue  # keepalived ignores packets in FAULT/INIT without counting them
            known = src is not None and src == rt.fsm.master_address
            result = pkt.validate(received, rt.expect_known_master if known else rt.expect)
            if isinstance(result, pkt.Rejected):
                rt.drops.record(result)
                if not result.reason.silent and self._may_log((rt.name, result.reason), now):
                    log.info("(%s) %s", rt.name, result.detail)
                continue
            self.dispatch(now, rt.name, AdvertReceived(
                src=result.src or (src if src is not None else ipaddress.IPv4Address(0)),
                priority=result.priority, max_adver_int=result.adver_int, addresses=result.addresses))

    def _may_log(self, key: tuple[Any, ...], now: float) -> bool:
        """Whether a line a peer caused may be logged now (:class:`~pykeepalived.ratelimit.LogLimiter`)."""
        ok, suppressed = self.reject_log.allow(key, now)
        if ok and suppressed:
            log.info("%s: %d similar messages suppressed in the last %g s", "/".join(map(str, key)), suppressed,
                     self.reject_log.interval)
        return ok

    def _restart_link_watcher(self) -> None:
        """(Re)start the netlink watcher when the set of interesting interfaces changed."""
        wanted = frozenset(n for rt in self.instances.values() for n in self._watched_ifnames(rt))
        if wanted == self._watching and self._links_task is not None and not self._links_task.done():
            return
        if self._links_task is not None:
            self._links_task.cancel()
        self._watching = wanted
        self._links_task = asyncio.get_running_loop().create_task(self._watch_links(wanted))

    async def _watch_links(self, wanted: frozenset[str]) -> None:
        if not wanted:
            return
        try:
            async for ev in watch_links(self.netns, wanted, initial=True):
                if self.link_up.get(ev.ifname) == ev.up:
                    continue
                self.link_up[ev.ifname] = ev.up
                log.info("Netlink reports %s %s", ev.ifname, "up" if ev.up else "down")
                self._link_changed(asyncio.get_running_loop().time(), ev.ifname)
        except asyncio.CancelledError:
            raise
        except Exception:  # the watcher must not take the process down; adverts keep flowing
            log.exception("interface watcher failed; interface changes are no longer followed")

    def _link_changed(self, now: float, ifname: str) -> None:
        for rt in list(self.instances.values()):
            if not rt.model.dont_track_primary and rt.ifname == ifname:
                self._set_fault(now, rt, _IF_FAULT.format(ifname), not self.link_up[ifname])
            if any(t.kind == "interface" and t.name == ifname for t in rt.trackers):
                self._apply_tracking(now, rt)

    def _set_fault(self, now: float, rt: _Runtime, reason: str, on: bool) -> None:
        if on and reason not in rt.faults:
            rt.faults.add(reason)
            self.dispatch(now, rt.name, FaultSet(reason))
        elif not on and reason in rt.faults:
            rt.faults.discard(reason)
            self.dispatch(now, rt.name, FaultCleared(reason))

    # ------------------------------------------------------------------------------ tracking

    def _tracker_states(self) -> dict[tuple[str, str], TrackerState]:
        states: dict[tuple[str, str], TrackerState] = dict(self.monitors.state)
        for ifname, up in self.link_up.items():
            states[("interface", ifname)] = up
        return states

    def _apply_tracking(self, now: float, rt: _Runtime, initial: bool = False) -> None:
        """Priority and FAULT reasons from every tracker (vrrp.tracking), fed to the state machine.

        ``initial``: before Start, straight into the state machine (nothing to announce yet).
        """
        ev = evaluate(rt.fsm.base_priority, rt.trackers, self._tracker_states())
        if ev.total != rt.fsm.total_priority:
            if initial:
                rt.fsm.handle(now, PriorityChanged(ev.total))
            else:
                self.dispatch(now, rt.name, PriorityChanged(ev.total))
        for reason in sorted(ev.faults - rt.tracker_faults):
            rt.tracker_faults.add(reason)
            if initial:
                rt.fsm.handle(now, FaultSet(reason))
            else:
                self.dispatch(now, rt.name, FaultSet(reason))
        for reason in sorted(rt.tracker_faults - ev.faults):
            rt.tracker_faults.discard(reason)
            if initial:
                rt.fsm.handle(now, FaultCleared(reason))
            else:
                self.dispatch(now, rt.name, FaultCleared(reason))

    def _tracker_changed(self, key: tuple[str, str]) -> None:
        """A script/file/process verdict changed: re-evaluate every instance that tracks it."""
        if self._stopped or not self._started:
            return
        now = asyncio.get_running_loop().time()
        for rt in list(self.instances.values()):
            if any(r.key == key for r in rt.trackers):
                self._apply_tracking(now, rt)

    def _used_trackers(self) -> set[tuple[str, str]]:
        return {r.key for rt in self.instances.values() for r in rt.trackers}

    def _sync_trackers(self, now: float) -> None:
        """Make the monitors match the config and the trackers instances use (start-up, reload)."""
        self.monitors.sync(self.config.vrrp, self._used_trackers(), now)

    # ------------------------------------------------------------------------------ reload

    def _on_sighup(self) -> None:
        if self._reload_task is not None and not self._reload_task.done():
            log.info("Reload already in progress - queueing another")
            self._reload_again = True
            return
        self._reload_task = asyncio.get_running_loop().create_task(self._reload_loop())

    async def _reload_loop(self) -> None:
        while True:
            self._reload_again = False
            try:
                await self.reload()
            except asyncio.CancelledError:
                raise
            except Exception:  # a reload must never take the running instances down
                log.exception("Reload failed; keeping what is running")
            if not self._reload_again or self._stopping.is_set():
                return

    async def reload(self) -> bool:
        """SIGHUP: re-read the config file; apply it unless it has fatal errors. True if applied."""
        path = self.options.config_file
        if path is None:
            log.warning("Reload requested but the configuration file is not known; ignoring SIGHUP")
            return False
        log.info("Reloading")
        from pykeepalived.config import load_config
        from pykeepalived.config.errors import ErrClass

        loop = asyncio.get_running_loop()
        if not os.path.exists(path):
            log.error("Reload of %s failed: the file does not exist - keeping the running configuration",
                      path)
            return False
        result = await loop.run_in_executor(None, lambda: load_config(path, config_id=self.options.config_id))
        fatal = [d for d in result.diagnostics
                 if d.cls in (ErrClass.MISSING_PARAMETER, ErrClass.FATAL) and not d.info]
        for d in result.diagnostics:
            log.warning("%s", d)
        if result.config is None or fatal:
            why = str(fatal[0]) if fatal else "it could not be read"
            log.error("Reload of %s failed (%s) - keeping the running configuration", path, why)
            return False
        if self._stopped:
            return False
        await self.apply_config(result.config)
        log.info("Reload finished")
        return True

    def _same_group(self, name: str, new: Config) -> bool:
        """Same sync group with the same members before and after (or in none both times)."""
        names = {i.name for i in new.vrrp.instances}
        new_gm = next((g for g in new.vrrp.sync_groups if name in g.group), None)
        old_name = self.group_of.get(name)
        if new_gm is None or old_name is None:
            return new_gm is None and old_name is None
        old_gm = self.group_models[old_name]
        return (old_gm.name == new_gm.name and {n for n in old_gm.group if n in self.instances}
                == {n for n in new_gm.group if n in names})

    async def apply_config(self, new: Config) -> None:
        """Apply a new config to the running process (see the module docstring)."""
        loop = asyncio.get_running_loop()
        self.config, self.g = new, new.global_defs
        self.notifier.reload(new.global_defs)
        models = {i.name: i for i in new.vrrp.instances}
        keep = [n for n, rt in self.instances.items()
                if n in models and _identity(rt.model, self.g.default_interface)
                == _identity(models[n], self.g.default_interface) and self._same_group(n, new)]
        drop = [n for n in self.instances if n not in keep]
        add = [n for n in models if n not in keep]
        now = loop.time()
        for name in drop:
            self._remove_instance(now, self.instances[name])
        for gname in [g for g, grp in self.groups.items() if not any(m in self.instances for m in grp.members)]:
            del self.groups[gname]
            self.group_models.pop(gname, None)
            self.notifier.alerts.forget(gname)
        for name in keep:
            await self._update_instance(self.instances[name], models[name])
        for gm in new.vrrp.sync_groups:
            if gm.name in self.groups:
                self.group_models[gm.name] = gm
        for name in add:
            self.instances[name] = await self._make_runtime(models[name])
        self._make_groups([gm for gm in new.vrrp.sync_groups if gm.name not in self.groups])
        self._set_trackers()
        self._reload_syncd(keep)
        await self._initial_links()
        self._open_sockets([self.instances[n] for n in add])
        now = loop.time()
        self._sync_trackers(now)
        if self._started:  # else run() starts every instance once the start-up delay is over
            self._start_instances(now, add)
            for name in keep:
                self._apply_tracking(now, self.instances[name])
            self.monitors.start()
            self._restart_link_watcher()
        if drop or add:
            log.info("Reload: %d instance(s) kept, %d removed, %d added", len(keep), len(drop), len(add))
        self._rearm()

    def _remove_instance(self, now: float, rt: _Runtime) -> None:
        """An instance gone from the config (or replaced): priority 0 if MASTER, VIPs and routes
        removed, FAULT notified (DELETED with ``notify_deleted``), its packets no longer routed."""
        prio = rt.fsm.effective_priority
        n = rt.model.notify
        actions = rt.fsm.handle(now, Stop())
        self._execute([(rt.name, a) for a in actions if isinstance(a, (SendAdvert, RemoveVips, Log))])
        self.notifier.instance_state(rt.model, "DELETED" if n.deleted_state or n.deleted else "FAULT", prio)
        self.notifier.alerts.forget(rt.name)
        self._unregister(rt)
        del self.instances[rt.name]
        self.group_of.pop(rt.name, None)

    async def _update_instance(self, old: _Runtime, model: VrrpInstance) -> None:
        """Same identity: keep the state machine (state, timers); take the new settings.

        While MASTER, VIPs/routes/rules no longer configured are removed and new ones added (with
        a GARP round); the ones in both stay untouched.
        """
        rt = await self._make_runtime(model, fsm=old.fsm)
        rt.faults, rt.tracker_faults = old.faults, old.tracker_faults
        rt.ip_id, rt.drops, rt.send_errors = old.ip_id, old.drops, old.send_errors
        key = _sock_key(old)
        same = self.by_socket.get(key, {}).get(old.model.virtual_router_id, [])
        if old in same:
            same[same.index(old)] = rt
        self.instances[rt.name] = rt
        if not rt.fsm.vips_set:
            return
        old_addrs, new_addrs = old.vips + old.evips, rt.vips + rt.evips
        gone = [v for v in old_addrs if v not in new_addrs]
        added = [v for v in new_addrs if v not in old_addrs]
        gone_routes = [r for r in old.model.virtual_routes if r not in model.virtual_routes]
        gone_rules = [r for r in old.model.virtual_rules if r not in model.virtual_rules]
        new_routes = [r for r in model.virtual_routes if r not in old.model.virtual_routes]
        new_rules = [r for r in model.virtual_rules if r not in old.model.virtual_rules]
        if gone or added or gone_routes or gone_rules or new_routes or new_rules:
            log.info("(%s) reload: %d VIP(s) removed, %d added", rt.name, len(gone), len(added))

            async def change() -> None:
                await change_routes_rules(self.nl, rt.name, gone_routes, gone_rules, add=False)
                for vip in gone:
                    await self._vip(rt, vip, add=False)
                for vip in added:
                    await self._vip(rt, vip, add=True)
                await change_routes_rules(self.nl, rt.name, new_routes, new_rules, add=True)

            self._effect(change)
            if added:
                self._effect(lambda: self._garps(rt, 1, added))

    # ------------------------------------------------------------------------------ actions

    def _execute(self, routed: Sequence[tuple[str, Action | GroupNotify]], stopping: bool = False) -> None:
        for name, action in routed:
            if isinstance(action, GroupNotify):
                log.info("VRRP_Group(%s) Entering %s STATE", action.group, state_name(action.state))
                self.notifier.group_state(self.group_models[action.group], action.state)
                continue
            rt = self.instances.get(name)
            if isinstance(action, Log):
                log.info("%s", action.message)
            elif rt is None:
                continue
            elif isinstance(action, SendAdvert):
                self._send_advert(rt, action.priority)
            elif isinstance(action, AddVips):
                log.info("(%s) setting VIPs.", rt.name)
                self._effect(lambda rt=rt: self._add_vips(rt))  # type: ignore[misc]
            elif isinstance(action, RemoveVips):
                log.info("(%s) removing VIPs.", rt.name)
                if not (stopping and self.options.dont_release_vrrp):
                    self._effect(lambda rt=rt: self._del_vips(rt))  # type: ignore[misc]
            elif isinstance(action, SendGarps):
                self._effect(lambda rt=rt, a=action: self._garps(  # type: ignore[misc]
                    rt, a.rounds, becoming_master=a.reason == "master"))
            elif isinstance(action, Notify):
                rt.last_transition = time.time()
                self.notifier.instance_state(rt.model, action.state, action.priority)
                self._follow_syncd(rt.name, action.state)
            elif isinstance(action, NotifyEvent):
                self.notifier.instance_event(rt.model, action.event, action.priority)

    def _send_advert(self, rt: _Runtime, priority: int) -> None:
        """Build and send now, one packet per destination (the group, or each unicast peer)."""
        if rt.advert is None or rt.src is None:
            return
        sock = self.sockets.get((rt.ifname, rt.family, str(rt.group) if rt.group is not None else None))
        if sock is None:
            return
        adv = rt.advert if priority == rt.advert.priority else _with_priority(rt.advert, priority)
        dsts: tuple[IPAddress, ...] = rt.peers if rt.peers else ((rt.group,) if rt.group is not None else ())
        ttl = (rt.model.unicast_ttl or pkt.VRRP_TTL) if rt.peers else pkt.VRRP_TTL
        for dst in dsts:
            try:
                if rt.family == socket.AF_INET:
                    sock.send(pkt.encode_ipv4(adv, rt.src, dst, rt.next_ip_id(), ttl))
                else:
                    sock.send(pkt.encode_payload(adv, rt.src, dst), str(dst), str(rt.src),
                              rt.model.unicast_ttl if rt.peers else None)
            except OSError as e:
                rt.send_errors += 1
                if rt.send_errors <= 3 or rt.send_errors % 100 == 0:
                    log.warning("(%s) sending advert to %s failed: %s", rt.name, dst, e.strerror or e)

    def _effect(self, job: Callable[[], Awaitable[None]]) -> None:
        self._effects.put_nowait(job)

    async def _effects_worker(self) -> None:
        """VIP changes and GARP rounds, strictly in the order the state machines asked for them."""
        while (job := await self._effects.get()) is not None:
            try:
                await job()
            except Exception:
                log.exception("address change failed")

    async def _add_vips(self, rt: _Runtime) -> None:
        """VIPs and eVIPs, then virtual_routes and virtual_rules (which may need the VIPs)."""
        for vip in rt.vips + rt.evips:
            await self._vip(rt, vip, add=True)
        await change_routes_rules(self.nl, rt.name, rt.model.virtual_routes, rt.model.virtual_rules, add=True)

    async def _del_vips(self, rt: _Runtime) -> None:
        """The reverse of :meth:`_add_vips`: rules and routes first, then the addresses."""
        await change_routes_rules(self.nl, rt.name, rt.model.virtual_routes, rt.model.virtual_rules, add=False)
        for vip in rt.vips + rt.evips:
            await self._vip(rt, vip, add=False)

    async def _vip(self, rt: _Runtime, vip: VipSpec, add: bool) -> None:
        try:
            await (self.nl.add_vip(vip) if add else self.nl.del_vip(vip))
        except (OSError, LookupError) as e:
            log.error("(%s) cannot %s %s %s %s: %s", rt.name, "add" if add else "remove", vip.address,
                      "to" if add else "from", vip.dev, e)

    async def _garps(self, rt: _Runtime, rounds: int, only: Sequence[VipSpec] | None = None,
                     becoming_master: bool = False) -> None:
        """GARP / unsolicited NA rounds, paced per interface by vrrp_garp_interval / vrrp_gna_interval.

        NAs carry the Router flag when the interface forwards IPv6 (re-read on becoming MASTER)."""
        targets = list(only) if only is not None else rt.vips + rt.evips
        for vip in targets:
            kind = "gratuitous ARPs" if vip.address.version == 4 else "unsolicited neighbour advertisements"
            log.info("(%s) Sending/queueing %s on %s for %s", rt.name, kind, vip.dev, vip.address.ip)
        for dev in {v.dev for v in targets if v.address.version == 6}:
            await self._refresh_gna_router(dev, force=becoming_master)
        for _ in range(rounds):
            for vip in targets:
                if self._stopped and rt.fsm.state is not State.MASTER:
                    return
                fs = self._frame_sender(vip.dev)
                if fs is None:
                    continue
                v4 = vip.address.version == 4
                interval = self.g.vrrp_garp_interval if v4 else self.g.vrrp_gna_interval
                if interval > 0:
                    wait = self._last_garp.get(vip.dev, 0.0) + interval - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                if not v4:
                    await self._refresh_gna_router(vip.dev)
                frame = (pkt.build_garp(fs.mac, vip.address.ip) if v4  # type: ignore[arg-type]
                         else pkt.build_unsolicited_na(fs.mac, vip.address.ip,  # type: ignore[arg-type]
                                                       router=self._gna_router[vip.dev][1]))
                try:
                    fs.send(frame)
                except OSError as e:
                    log.warning("(%s) GARP on %s failed: %s", rt.name, vip.dev, e.strerror)
                self._last_garp[vip.dev] = time.monotonic()

    async def _refresh_gna_router(self, ifname: str, force: bool = False) -> None:
        """Whether ``ifname`` forwards IPv6, hence sets the Router flag in its NAs.

        keepalived (vrrp_ndisc.c) reads ``net.ipv6.conf.IF.forwarding`` when an instance becomes
        MASTER and again before an NA when the last reading is over 5 s old.
        """
        now = time.monotonic()
        last = self._gna_router.get(ifname)
        if last is not None and not force and now - last[0] < GNA_ROUTER_RECHECK:
            return
        self._gna_router[ifname] = (now, await ipv6_forwarding(ifname, self.netns))

    def _frame_sender(self, ifname: str) -> FrameSender | None:
        fs = self.frames.get(ifname)
        if fs is None:
            try:
                fs = self.frames[ifname] = FrameSender(ifname, self.netns)
            except OSError as e:
                log.error("cannot send gratuitous ARP on %s: %s", ifname, e)
                return None
        return fs

    # ------------------------------------------------------------------------------ dumps

    def _counters(self, rt: _Runtime) -> VrrpStats:
        return VrrpStats.collect(rt.fsm.stats, rt.drops.keepalived_stats())

    def _instance_view(self, rt: _Runtime) -> dumps.InstanceView:
        m, f = rt.model, rt.fsm
        deadline = f.next_deadline()
        read_timeout = None
        if deadline is not None:
            with contextlib.suppress(RuntimeError):
                read_timeout = time.time() + deadline - asyncio.get_running_loop().time()
        scripts = {s.name: s for s in self.config.vrrp.vrrp_scripts}
        notify = m.notify
        labels = (("Backup", notify.backup), ("Master", notify.master), ("Fault", notify.fault),
                  ("Stop", notify.stop), ("Deleted", notify.deleted), ("Generic", notify.generic),
                  ("Master rx lower pri", notify.master_rx_lower_pri))
        sock = self.sockets.get((rt.ifname, rt.family, str(rt.group) if rt.group is not None else None))
        return dumps.InstanceView(
            name=rt.name, version=m.version, state=int(f.state), wantstate=int(f.wantstate),
            interface=rt.ifname, vrid=m.virtual_router_id, base_priority=f.base_priority,
            effective_priority=f.effective_priority, total_priority=f.total_priority,
            adver_int=f.adver_int / 1_000_000, master_adver_int=f.master_adver_int / 1_000_000,
            ms_down_timer=f.ms_down_timer, last_transition=rt.last_transition, read_timeout=read_timeout,
            src_ip=str(rt.src) if rt.src is not None else None,
            src_from_config=(m.unicast_src_ip if m.unicast_peer else m.mcast_src_ip) is not None,
            mcast_group=str(rt.group) if rt.group is not None else None,
            unicast_peers=tuple(_peer_text(p) for p in m.unicast_peer) if rt.peers else (),
            unicast_ttl=m.unicast_ttl,
            check_unicast_src=m.check_unicast_src, family=4 if rt.family == socket.AF_INET else 6,
            sync_group=self.group_of.get(rt.name),
            master_router=str(f.master_address) if f.master_address is not None else None,
            master_priority=f.master_priority, num_faults=len(f.faults),
            garp_delay=m.garp_master_delay, garp_rep=m.garp_master_repeat, garp_refresh=m.garp_master_refresh,
            garp_refresh_rep=m.garp_master_refresh_repeat, garp_lower_prio_delay=m.garp_lower_prio_delay,
            garp_lower_prio_rep=m.garp_lower_prio_repeat, down_timer_adverts=m.down_timer_adverts,
            lower_prio_no_advert=m.lower_prio_no_advert, higher_prio_send_advert=m.higher_prio_send_advert,
            accept=m.accept, nopreempt=m.nopreempt, preempt_delay=m.preempt_delay,
            promote_secondaries=m.promote_secondaries, dont_track_primary=m.dont_track_primary,
            skip_check_adv_addr=m.skip_check_adv_addr, strict_mode=m.strict_mode,
            auth_pass=(m.authentication.password if m.authentication is not None and m.version == 2
                       and m.authentication.type.upper() == "PASS" else None),
            vips=tuple(_vip_text(v, f.vips_set) for v in rt.vips),
            evips=tuple(_vip_text(v, f.vips_set) for v in rt.evips),
            fds=(sock.rx.fileno(), sock.tx.fileno()) if sock is not None else None,
            tracked_interfaces=tuple((t.name, t.weight) for t in m.track.interfaces),
            tracked_scripts=tuple((t.name, t.weight, dumps.cmd_str(scripts[t.name].script))
                                  for t in m.track.scripts if t.name in scripts),
            smtp_alert=m.smtp_alert, notify_deleted=notify.deleted_state,
            notify_scripts=tuple((label, dumps.cmd_str(sc)) for label, sc in labels if sc is not None),
            notify_priority_changes=m.notify_priority_changes, vipset=f.vips_set, stats=self._counters(rt))

    def _script_views(self) -> list[dumps.ScriptView]:
        out = []
        results = getattr(self.monitors, "_script_results", {})
        for sc in self.config.vrrp.vrrp_scripts:
            res = results.get(sc.name)
            tracking = tuple((rt.name, t.weight) for rt in self.instances.values()
                             for t in rt.model.track.scripts if t.name == sc.name)
            out.append(dumps.ScriptView(
                name=sc.name, command=dumps.cmd_str(sc.script), interval=sc.interval,
                timeout=sc.timeout or 0, weight=sc.weight, weight_reverse=sc.weight_reverse, rise=sc.rise,
                fall=sc.fall, result=res.result if res is not None else (0 if sc.init_fail else sc.rise - 1),
                insecure=False, init_state="unknown" if res is not None else "INIT", uid=0, gid=0,
                tracking=tracking))
        return out

    def _data_render(self) -> Callable[[], str]:
        """Take keepalived.data's snapshot now (on the loop); the returned function reads the interfaces
        and renders it (on the dump thread)."""
        views = [self._instance_view(rt) for rt in self.instances.values()]
        sockets = []
        for key, sock in self.sockets.items():
            members = [(rt.name, rt.model.virtual_router_id) for by_vrid in self.by_socket.get(key, {}).values()
                       for rt in by_vrid]
            sockets.append(dumps.SocketView(fds=(sock.rx.fileno(), sock.tx.fileno()), interface=key[0],
                                            family=4 if key[1] == socket.AF_INET else 6, unicast=key[2] is None,
                                            instances=tuple(members)))
        tracking: dict[str, list[tuple[str, int]]] = {}
        for rt in self.instances.values():
            if not rt.model.dont_track_primary:
                tracking.setdefault(rt.ifname, []).append((rt.name, 0))
            for t in rt.model.track.interfaces:
                tracking.setdefault(t.name, []).append((rt.name, t.weight))
        default_if = self.g.default_interface
        static = [_vip_text(vip_spec(a, default_if), False) for a in self.config.vrrp.static_ipaddress]
        groups = []
        for name, m in self.group_models.items():
            n = m.notify
            labels = (("Backup", n.backup), ("Master", n.master), ("Fault", n.fault), ("Stop", n.stop),
                      ("Generic", n.generic))
            running = self.groups.get(name)
            groups.append(dumps.SyncGroupView(
                name=name, state=int(running.state) if running is not None else 0, members=tuple(m.group),
                tracking_weight=m.sync_group_tracking_weight, smtp_alert=bool(m.smtp_alert),
                notify_priority_changes=m.notify_priority_changes,
                notify_scripts=tuple((label, dumps.cmd_str(sc)) for label, sc in labels if sc is not None)))
        scripts = self._script_views()
        g, netns = self.g, self.netns
        return lambda: dumps.vrrp_data_text(g, views, sockets, scripts, dumps.read_interfaces(tracking, netns),
                                            groups, static)

    def data_text(self) -> str:
        """keepalived.data as keepalived 2.2.7's VRRP child writes it on SIGUSR1."""
        return self._data_render()()

    def stats_text(self) -> str:
        """keepalived.stats as keepalived 2.2.7 writes it on SIGUSR2 (keepalived-behaviour.md §6.2)."""
        return dumps.stats_text((rt.name, self._counters(rt)) for rt in self.instances.values())

    def json_text(self) -> str:
        """keepalived.json as keepalived 2.2.7 writes it on signal 36 (JSON)."""
        return dumps.json_text([self._instance_view(rt) for rt in self.instances.values()])

    def clear_stats(self) -> None:
        """STATS_CLEAR: every instance's counters back to zero (after they were written)."""
        for rt in self.instances.values():
            rt.fsm.stats = Stats()
            rt.drops.clear()

    def write_data(self) -> None:
        """SIGUSR1 (DATA): the state is taken now, the file written by the dump thread."""
        log.info("Printing VRRP data for process(%d) on signal", os.getpid())
        self.dump_writer.write(dumps.data_file("keepalived.data", self.g), self._data_render())

    def write_stats(self, clear: bool = False) -> None:
        """SIGUSR2 (STATS), or signal 63 (STATS_CLEAR) with ``clear``: written as they were, then zeroed."""
        log.info("Printing %sVRRP stats for process(%d) on signal", "and clearing " if clear else "", os.getpid())
        path = Path(self.options.stats_file) if self.options.stats_file else dumps.tmp_file("keepalived.stats")
        text = self.stats_text()
        self.dump_writer.write(path, lambda: text)
        if clear:
            self.clear_stats()

    def write_json(self) -> None:
        """Signal 36 (JSON); nothing when there are no instances, as keepalived."""
        log.info("Printing VRRP as json for process(%d) on signal", os.getpid())
        if self.instances:
            text = self.json_text()
            self.dump_writer.write(dumps.tmp_file("keepalived.json"), lambda: text)

    def install_dump_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        """USR1, USR2, JSON (36) and STATS_CLEAR (63) write their files; none of them ever stops us."""
        loop.add_signal_handler(signal.SIGUSR1, self.write_data)
        loop.add_signal_handler(signal.SIGUSR2, self.write_stats)
        loop.add_signal_handler(SIGJSON, self.write_json)
        loop.add_signal_handler(SIGSTATS_CLEAR, self.write_stats, True)


_SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}


def _peer_text(p: Any) -> str:
    """dump_unicast_peer()."""
    return f"{p.address} min_ttl {p.min_ttl or 0} max_ttl {255 if p.max_ttl is None else p.max_ttl}"


def _vip_text(v: VipSpec, is_set: bool) -> str:
    scope = v.scope if isinstance(v.scope, str) else _SCOPES.get(v.scope, str(v.scope))
    brd = v.broadcast
    if brd == "+":
        brd = str(v.address.network.broadcast_address)
    elif brd == "-":
        brd = str(v.address.network.network_address)
    extra = [name for name, on in (("home", v.home), ("mngtmpaddr", v.mngtmpaddr),
                                   ("noprefixroute", v.noprefixroute), ("autojoin", v.autojoin)) if on]
    return dumps.format_vip(v.address, v.dev, scope=scope, brd=brd, label=v.label,
                            nodad=v.nodad and v.address.version == 6, preferred_lft=v.preferred_lft,
                            is_set=is_set, extra=extra)


async def ipv6_forwarding(ifname: str, netns: str | None = None) -> bool:
    """``net.ipv6.conf.IFNAME.forwarding`` in our namespace (or in ``netns``, through ``ip netns exec``:
    /proc/sys/net shows the namespace of whoever opens it); False when it cannot be read."""
    path = f"/proc/sys/net/ipv6/conf/{ifname}/forwarding"
    try:
        if netns is None:
            text = Path(path).read_text()
        else:
            proc = await asyncio.create_subprocess_exec(
                "ip", "netns", "exec", netns, "cat", path,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
            out, _ = await proc.communicate()
            text = out.decode()
    except OSError:
        return False
    return text.strip() not in ("", "0")


def _with_priority(adv: pkt.Advert, priority: int) -> pkt.Advert:
    return replace(adv, priority=priority)


def checks_unicast_source(inst: VrrpInstance) -> bool:
    """keepalived's VRRP_FLAG_CHECK_UNICAST_SRC: ``check_unicast_src`` (or the global
    ``vrrp_check_unicast_src``), and also any ``unicast_peer`` given a ``min_ttl`` or ``max_ttl``: a TTL
    range means nothing unless adverts are matched to their peer."""
    return inst.check_unicast_src or any(p.min_ttl is not None or p.max_ttl is not None for p in inst.unicast_peer)


# --------------------------------------------------------------------------------------------- entry points


def setup_logging(options: RunnerOptions) -> None:
    """The daemon's logging (:func:`pykeepalived.daemon.runtime.setup_logging`) with the VRRP child's
    syslog ident, ``Keepalived_vrrp``."""
    runtime.setup_logging("vrrp", console=options.log_console, detail=options.log_detail)


def run_vrrp(config: Config, options: RunnerOptions, netns: str | None = None) -> int:
    """Run the VRRP side of ``config`` until SIGTERM; returns the exit status (0 on a clean stop)."""
    if options.configure_logging:
        setup_logging(options)
    if not config.vrrp.instances:
        log.info("No VRRP instances configured; nothing to do")
    if options.pid_file and not runtime.write_pid_file(options.pid_file, "VRRP child process",
                                                       running="%s already running (pid %d, %s)"):
        return 1
    try:
        rc = asyncio.run(VrrpProcess(config, options, netns).run())
    finally:
        ignore_signals()  # the closed loop put the default (fatal) actions back
        if options.pid_file:
            runtime.remove_pid_file(options.pid_file)
    log.info("Stopped")
    return rc


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m pykeepalived.vrrp.runner", allow_abbrev=False,
                                description="pykeepalived's VRRP process on its own (keepalived -P)")
    p.add_argument("-f", "--use-file", dest="config_file", default="/etc/keepalived/keepalived.conf")
    p.add_argument("-i", "--config-id", dest="config_id", default=None)
    p.add_argument("-r", "--vrrp_pid", dest="pid_file", default=None)
    p.add_argument("-l", "--log-console", action="store_true")
    p.add_argument("-D", "--log-detail", action="store_true")
    p.add_argument("-V", "--dont-release-vrrp", action="store_true")
    p.add_argument("--stats-file", default=None, help="SIGUSR2 dump path (default $TMPDIR or /tmp)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    ignore_signals()  # HUP and the dump signals never stop us, also before the event loop handles them
    args = _parser().parse_args(argv)
    options = RunnerOptions(pid_file=args.pid_file, log_console=args.log_console, log_detail=args.log_detail,
                            stats_file=args.stats_file, dont_release_vrrp=args.dont_release_vrrp,
                            config_id=args.config_id, config_file=args.config_file)
    setup_logging(options)
    from pykeepalived.config import load_config

    log.info("Starting VRRP child process, pid=%d", os.getpid())
    result = load_config(args.config_file, config_id=args.config_id)
    for d in result.diagnostics:
        log.warning("%s", d)
    if result.config is None:
        log.error("Configuration file %s could not be used", args.config_file)
        return 1
    return run_vrrp(result.config, RunnerOptions(**{**_asdict(options), "configure_logging": False}))


def _asdict(options: RunnerOptions) -> dict[str, Any]:
    return {f: getattr(options, f) for f in options.__slots__}  # type: ignore[attr-defined]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
