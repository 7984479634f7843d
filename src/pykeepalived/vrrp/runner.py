"""The VRRP process: every ``vrrp_instance`` of the config on one asyncio loop.

This is the thin adapter around the sans-I/O cores.  The state machines (``vrrp.fsm``, grouped by
``vrrp.sync_group``) decide; this module only feeds them events and carries out their actions:

* events: received adverts (decoded and validated by ``vrrp.packet`` against each instance's
  ``Expectation``; drops are counted per reason, never raised), interface up/down from netlink
  (FAULT), the earliest deadline of any instance (one ``loop.call_at`` handle), SIGTERM/SIGINT;
* actions: adverts are sent synchronously from the event that produced them (timing matters);
  VIP changes and GARP/NA rounds go through one ordered queue (netlink is async, and a GARP must
  not leave before its VIP exists); notify scripts run through one ordered queue per instance or
  sync group, so a slow script never reorders or loses a transition; FIFO lines are written at
  once, in event order.

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
import logging.handlers
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pykeepalived.notify.fifo import FifoWriter
from pykeepalived.notify.scripts import ScriptJob, ScriptQueues, spawn

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
    Stop,
    TimerFired,
)
from .io import Datagram, FrameSender, VrrpSocket
from .sync_group import GroupNotify, SyncGroup

if TYPE_CHECKING:
    from pykeepalived.config.model import Config, Script
    from pykeepalived.config.model_global import Fifo, GlobalDefs
    from pykeepalived.config.model_vrrp import SyncGroup as SyncGroupModel
    from pykeepalived.config.model_vrrp import VirtualAddress, VrrpInstance

log = logging.getLogger("pykeepalived.vrrp")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: how long one notify script may hold up the next notification of the same instance
NOTIFY_ORDER_WAIT = 10.0
#: how long shutdown waits for STOP notify scripts (keepalived waits about 1 s, then kills)
STOP_NOTIFY_WAIT = 2.0
#: how long shutdown waits for VIP removal to finish
STOP_EFFECTS_WAIT = 5.0
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


def dump_path(name: str) -> Path:
    """keepalived's dump location: ``$TMPDIR`` when it is an existing directory, else /tmp."""
    tmp = os.environ.get("TMPDIR")
    base = Path(tmp) if tmp and Path(tmp).is_dir() else Path("/tmp")
    return base / name


# --------------------------------------------------------------------------------------------- config mapping


def vip_spec(va: VirtualAddress, default_dev: str) -> VipSpec:
    """One virtual_ipaddress line as the netlink layer wants it (dev defaults to the instance's)."""
    kwargs: dict[str, Any] = {
        "label": va.label,
        "scope": int(va.scope) if va.scope and va.scope.isdigit() else (va.scope or 0),
        "noprefixroute": va.noprefixroute,
        "home": va.home,
        "mngtmpaddr": va.mngtmpaddr,
        "autojoin": va.autojoin,
        "preferred_lft": va.preferred_lft,
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


async def release_vips_async(config: Config, netns: str | None = None) -> list[VipSpec]:
    """:func:`release_vips` for a caller that already runs an event loop."""
    async with Netlink(netns) as nl:
        removed = await nl.remove_stale_vips(all_vips(config))
    for vip in removed:
        log.info("Removed VIP %s from %s after the VRRP process stopped", vip.address, vip.dev)
    return removed


def release_vips(config: Config, netns: str | None = None) -> list[VipSpec]:
    """Remove every configured VIP and eVIP of every instance; idempotent.

    For the supervisor after the VRRP child died: whatever the child held must not outlive it.
    Returns the addresses that were actually present.
    """
    return asyncio.run(release_vips_async(config, netns))


# --------------------------------------------------------------------------------------------- notifications


def script_job(script: Script | None, global_defs: GlobalDefs, *extra: str) -> ScriptJob | None:
    """The job for a configured script plus appended arguments (None when not configured)."""
    if script is None or not script.argv:
        return None
    return ScriptJob((*script.argv, *extra), script.user or global_defs.script_user,
                     script.group or global_defs.script_group)


class Notifier:
    """VRRP notifications (keepalived-behaviour.md §5): scripts in per-instance order, FIFO lines.

    Ordering and execution are :class:`~pykeepalived.notify.scripts.ScriptQueues`' (one queue per
    instance or sync group); FIFO writing is :class:`~pykeepalived.notify.fifo.FifoWriter`'s.
    This class only knows which scripts and lines a VRRP transition produces.
    """

    def __init__(self, global_defs: GlobalDefs) -> None:
        self.g = global_defs
        self.scripts = ScriptQueues(NOTIFY_ORDER_WAIT)
        self.fifos = FifoWriter()
        self._fifo_readers: list[asyncio.subprocess.Process] = []

    async def open_fifos(self) -> None:
        """notify_fifo and vrrp_notify_fifo (once if both name the same path), plus their readers."""
        pairs: list[tuple[Fifo | None, Script | None]] = [
            (self.g.notify_fifo, self.g.notify_fifo_script),
            (self.g.vrrp_notify_fifo, self.g.vrrp_notify_fifo_script),
        ]
        for fifo, script in pairs:
            if fifo is None or fifo.path in self.fifos.paths or not self.fifos.open(fifo.path):
                continue
            job = script_job(script, self.g, fifo.path)
            if job is not None:
                proc = await spawn(job)
                if proc is not None:
                    self._fifo_readers.append(proc)

    def fifo_line(self, line: str) -> None:
        self.fifos.write(line)

    def instance_state(self, inst: VrrpInstance, state: State, priority: int) -> None:
        n = inst.notify
        name = _state_name(state)
        specific = {State.MASTER: n.master, State.BACKUP: n.backup, State.FAULT: n.fault,
                    State.STOP: n.stop}.get(state)
        self.scripts.submit(inst.name, [script_job(specific, self.g),
                                        script_job(n.generic, self.g, "INSTANCE", inst.name, name,
                                                   str(priority))])
        self.fifo_line(f'INSTANCE "{inst.name}" {name} {priority}')

    def group_state(self, group: SyncGroupModel, state: State) -> None:
        n = group.notify
        name = _state_name(state)
        specific = {State.MASTER: n.master, State.BACKUP: n.backup, State.FAULT: n.fault,
                    State.STOP: n.stop}.get(state)
        self.scripts.submit("group:" + group.name,
                            [script_job(specific, self.g),
                             script_job(n.generic, self.g, "GROUP", group.name, name, "0")])
        self.fifo_line(f'GROUP "{group.name}" {name} 0')

    def instance_event(self, inst: VrrpInstance, event: str, priority: int) -> None:
        if event == "MASTER_RX_LOWER_PRI":
            self.scripts.submit(inst.name, [script_job(inst.notify.master_rx_lower_pri, self.g)])
        self.fifo_line(f'INSTANCE "{inst.name}" {event} {priority}')

    async def drain(self, timeout: float) -> None:
        """Let queued notifications run (bounded), then stop the FIFO readers and close the FIFOs."""
        await self.scripts.drain(timeout)
        for proc in self._fifo_readers:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        self.fifos.close()


def _state_name(state: State) -> str:
    return "STOP" if state is State.STOP else state.name


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
    faults: set[str] = field(default_factory=set)
    send_errors: int = 0

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
        self._effects: asyncio.Queue[Callable[[], Awaitable[None]] | None] = asyncio.Queue()
        self._timer: DeadlineTimer | None = None
        self._stopping = asyncio.Event()
        self._stopped = False
        self._last_garp: dict[str, float] = {}
        self.nl = Netlink(netns)

    # ------------------------------------------------------------------------------ set-up

    async def _primary(self, inst: VrrpInstance, ifname: str, family: int) -> IPAddress | None:
        """Advert source: unicast_src_ip / mcast_src_ip, else the interface's primary address."""
        chosen = inst.unicast_src_ip if inst.unicast_peer else inst.mcast_src_ip
        if chosen is None:
            chosen = inst.mcast_src_ip or inst.unicast_src_ip
        if chosen is not None:
            return chosen
        try:
            text = (await self.nl.primary_ipv4(ifname) if family == socket.AF_INET
                    else await self.nl.link_local_ipv6(ifname))
        except LookupError:
            return None
        return ipaddress.ip_address(text) if text else None

    async def _build(self) -> None:
        default_if = self.g.default_interface
        for inst in self.config.vrrp.instances:
            ifname = inst.interface or default_if
            family = socket.AF_INET6 if inst.family == 6 else socket.AF_INET
            vips, evips = configured_vips(inst, default_if)
            fam_v = 4 if family == socket.AF_INET else 6
            adv_vips = tuple(v.address.ip for v in vips if v.address.version == fam_v)
            primary = await self._primary(inst, ifname, family)
            if primary is None:
                log.error("(%s) no source address on %s: no adverts can be sent", inst.name, ifname)
            params = instance_params(inst, primary, tuple(vips))
            peers = tuple(p.address for p in inst.unicast_peer)
            group: IPAddress | None = None
            if not peers:
                group = inst.mcast_dst_ip or (self.g.vrrp_mcast_group4 if family == socket.AF_INET
                                              else self.g.vrrp_mcast_group6)
            auth_type, auth_pass = pkt.AUTH_NONE, ""
            if inst.authentication is not None and inst.version == 2:
                if inst.authentication.type.upper() == "PASS":
                    auth_type, auth_pass = pkt.AUTH_PASS, inst.authentication.password
                else:
                    log.error("(%s) authentication type %s is not supported; sending without authentication",
                              inst.name, inst.authentication.type)
            common: dict[str, Any] = {
                "vrid": inst.virtual_router_id, "version": inst.version, "auth_type": auth_type,
                "auth_pass": auth_pass, "adver_int": inst.advert_int, "vips": adv_vips,
                "unicast": bool(peers), "check_unicast_src": inst.check_unicast_src,
                "unicast_peers": tuple(pkt.UnicastPeer(p.address, p.min_ttl or 0,
                                                       255 if p.max_ttl is None else p.max_ttl)
                                       for p in inst.unicast_peer),
            }
            rt = _Runtime(
                model=inst, fsm=Instance(params), ifname=ifname, family=family, vips=vips, evips=evips,
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
            if inst.virtual_routes or inst.virtual_rules:
                log.warning("(%s) virtual_routes / virtual_rules are not supported yet; ignored", inst.name)
            if inst.track.scripts or inst.track.files or inst.track.processes or inst.track.bfds:
                log.warning("(%s) track_script / track_file / track_process / track_bfd are not supported "
                            "by the VRRP process yet; ignored", inst.name)
            if not inst.accept:
                log.warning("(%s) no_accept is not supported yet; the VIPs accept traffic", inst.name)
            self.instances[inst.name] = rt
        for gm in self.config.vrrp.sync_groups:
            members = [self.instances[n].fsm for n in gm.group if n in self.instances]
            if not members:
                continue
            self.groups[gm.name] = SyncGroup(gm.name, members)
            self.group_models[gm.name] = gm
            for m in members:
                self.group_of[m.name] = gm.name

    def _open_sockets(self) -> None:
        for rt in self.instances.values():
            key: SockKey = (rt.ifname, rt.family, str(rt.group) if rt.group is not None else None)
            sock = self.sockets.get(key)
            if sock is None:
                try:
                    sock = VrrpSocket(rt.ifname, rt.family, group=key[2], netns=self.netns,
                                      join=rt.group is not None,
                                      rcvbuf=rt.model.kernel_rx_buf_size or None)
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
        return names + [t.name for t in rt.model.track.interfaces]

    # ------------------------------------------------------------------------------ running

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        await self._build()
        await self._initial_links()
        self._open_sockets()
        await self.notifier.open_fifos()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._stopping.set)
        loop.add_signal_handler(signal.SIGUSR2, self.write_stats)
        loop.add_signal_handler(signal.SIGHUP, log.warning, "Reload is not supported yet; ignoring SIGHUP")
        effects = loop.create_task(self._effects_worker())
        if self.g.vrrp_startup_delay > 0:
            log.info("Delaying startup for %g seconds", self.g.vrrp_startup_delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.g.vrrp_startup_delay)
        links: asyncio.Task[None] | None = None
        if not self._stopping.is_set():
            self._start_all(loop.time())
            links = loop.create_task(self._watch_links())
            await self._stopping.wait()
        log.info("Stopping")
        if links is not None:
            links.cancel()
        self._stop_all(loop.time())
        self._effects.put_nowait(None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(effects, STOP_EFFECTS_WAIT)
        await self.notifier.drain(STOP_NOTIFY_WAIT)
        self._close()
        return 0

    def _start_all(self, now: float) -> None:
        for rt in self.instances.values():
            for ifname in self._watched_ifnames(rt):
                if not self.link_up.get(ifname, False):
                    rt.faults.add(_IF_FAULT.format(ifname))
            for reason in rt.faults:
                rt.fsm.handle(now, FaultSet(reason))
            self._apply_track_weights(now, rt, initial=True)
        for group in self.groups.values():
            self._execute(group.start(now))
        for rt in self.instances.values():
            if rt.name not in self.group_of:
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
        for sock in self.sockets.values():
            sock.close()
        for fs in self.frames.values():
            fs.close()

    # ------------------------------------------------------------------------------ events

    def dispatch(self, now: float, name: str, event: Event) -> None:
        """Feed one event to an instance (through its sync group) and carry out the actions."""
        if self._stopped:
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
            if self.g.log_unknown_vrids:
                log.info("Unknown VRID(%s) received on interface(%s). ignoring...", vrid, key[0])
            return
        src = ipaddress.ip_address(dg.src) if dg.src else None
        received = pkt.Received(dg.data, 4 if dg.family == socket.AF_INET else 6, src,
                                ipaddress.ip_address(dg.dst) if dg.dst else None,
                                dg.ttl if dg.ttl >= 0 else None)
        for rt in candidates:
            if rt.fsm.state not in (State.BACKUP, State.MASTER):
                continue  # keepalived ignores packets in FAULT/INIT without counting them
            known = src is not None and src == rt.fsm.master_address
            result = pkt.validate(received, rt.expect_known_master if known else rt.expect)
            if isinstance(result, pkt.Rejected):
                rt.drops.record(result)
                if not result.reason.silent:
                    log.info("(%s) %s", rt.name, result.detail)
                continue
            self.dispatch(now, rt.name, AdvertReceived(
                src=result.src or (src if src is not None else ipaddress.IPv4Address(0)),
                priority=result.priority, max_adver_int=result.adver_int, addresses=result.addresses))

    async def _watch_links(self) -> None:
        wanted = {n for rt in self.instances.values() for n in self._watched_ifnames(rt)}
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
        for rt in self.instances.values():
            if not rt.model.dont_track_primary and rt.ifname == ifname:
                self._set_fault(now, rt, _IF_FAULT.format(ifname), not self.link_up[ifname])
            if any(t.name == ifname for t in rt.model.track.interfaces):
                self._apply_track_weights(now, rt)

    def _set_fault(self, now: float, rt: _Runtime, reason: str, on: bool) -> None:
        if on and reason not in rt.faults:
            rt.faults.add(reason)
            self.dispatch(now, rt.name, FaultSet(reason))
        elif not on and reason in rt.faults:
            rt.faults.discard(reason)
            self.dispatch(now, rt.name, FaultCleared(reason))

    def _apply_track_weights(self, now: float, rt: _Runtime, initial: bool = False) -> None:
        """track_interface: weight 0 -> FAULT, else priority +/- weight (keepalived-behaviour.md §2.4)."""
        total = rt.fsm.base_priority
        for t in rt.model.track.interfaces:
            up = self.link_up.get(t.name, False)
            if t.weight == 0:
                reason = f"tracked interface {t.name} down"
                failed = up if t.reverse else not up
                if initial:
                    if failed:
                        rt.faults.add(reason)
                else:
                    self._set_fault(now, rt, reason, failed)
            elif t.weight > 0:
                total += (-t.weight if t.reverse else t.weight) if up else 0
            else:
                total += 0 if up else (-t.weight if t.reverse else t.weight)
        if total != rt.fsm.total_priority:
            if initial:
                rt.fsm.handle(now, PriorityChanged(total))
            else:
                self.dispatch(now, rt.name, PriorityChanged(total))

    # ------------------------------------------------------------------------------ actions

    def _execute(self, routed: Sequence[tuple[str, Action | GroupNotify]], stopping: bool = False) -> None:
        for name, action in routed:
            if isinstance(action, GroupNotify):
                log.info("VRRP_Group(%s) Entering %s STATE", action.group, _state_name(action.state))
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
                self._effect(lambda rt=rt, a=action: self._garps(rt, a.rounds))  # type: ignore[misc]
            elif isinstance(action, Notify):
                self.notifier.instance_state(rt.model, action.state, action.priority)
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
                    sock.send(pkt.encode_payload(adv, rt.src, dst), str(dst))
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
        for vip in rt.vips + rt.evips:
            try:
                await self.nl.add_vip(vip)
            except (OSError, LookupError) as e:
                log.error("(%s) cannot add %s to %s: %s", rt.name, vip.address, vip.dev, e)

    async def _del_vips(self, rt: _Runtime) -> None:
        for vip in rt.vips + rt.evips:
            try:
                await self.nl.del_vip(vip)
            except (OSError, LookupError) as e:
                log.error("(%s) cannot remove %s from %s: %s", rt.name, vip.address, vip.dev, e)

    async def _garps(self, rt: _Runtime, rounds: int) -> None:
        """GARP / unsolicited NA rounds, paced per interface by vrrp_garp_interval / vrrp_gna_interval."""
        targets = rt.vips + rt.evips
        for vip in targets:
            kind = "gratuitous ARPs" if vip.address.version == 4 else "unsolicited neighbour advertisements"
            log.info("(%s) Sending/queueing %s on %s for %s", rt.name, kind, vip.dev, vip.address.ip)
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
                frame = (pkt.build_garp(fs.mac, vip.address.ip) if v4          # type: ignore[arg-type]
                         else pkt.build_unsolicited_na(fs.mac, vip.address.ip))  # type: ignore[arg-type]
                try:
                    fs.send(frame)
                except OSError as e:
                    log.warning("(%s) GARP on %s failed: %s", rt.name, vip.dev, e.strerror)
                self._last_garp[vip.dev] = time.monotonic()

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

    def stats_text(self) -> str:
        """keepalived.stats as keepalived 2.2.7 writes it on SIGUSR2 (keepalived-behaviour.md §6.2)."""
        out: list[str] = []
        for rt in self.instances.values():
            s, d = rt.fsm.stats, rt.drops
            out += [
                f"VRRP Instance: {rt.name}",
                "  Advertisements:",
                f"    Received: {s.advert_rcvd}",
                f"    Sent: {s.advert_sent}",
                f"  Became master: {s.become_master}",
                f"  Released master: {s.release_master}",
                "  Packet Errors:",
                f"    Length: {d.packet_len_err}",
                f"    TTL: {d.ip_ttl_err}",
                f"    Invalid Type: {d.invalid_type_rcvd}",
                f"    Advertisement Interval: {d.advert_interval_err}",
                f"    Address List: {d.addr_list_err}",
                "  Authentication Errors:",
                f"    Invalid Type: {d.invalid_authtype}",
                f"    Type Mismatch: {d.authtype_mismatch}",
                f"    Failure: {d.auth_failure}",
                "  Priority Zero:",
                f"    Received: {s.pri_zero_rcvd}",
                f"    Sent: {s.pri_zero_sent}",
            ]
        return "\n".join(out) + "\n"

    def write_stats(self) -> None:
        path = Path(self.options.stats_file) if self.options.stats_file else dump_path("keepalived.stats")
        log.info("Printing VRRP stats for process(%d) on signal", os.getpid())
        try:
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(self.stats_text())
            tmp.replace(path)
        except OSError as e:
            log.error("Unable to write %s: %s", path, e.strerror)


def _with_priority(adv: pkt.Advert, priority: int) -> pkt.Advert:
    return replace(adv, priority=priority)


# --------------------------------------------------------------------------------------------- entry points


class _CtimeFormatter(logging.Formatter):
    """keepalived's ``-l`` console format: ``Thu Nov 26 03:42:59 2026: message``."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.ctime(record.created)


def setup_logging(options: RunnerOptions) -> None:
    root = logging.getLogger("pykeepalived")
    root.setLevel(logging.DEBUG if options.log_detail else logging.INFO)
    root.propagate = False
    for h in list(root.handlers):
        root.removeHandler(h)
    if options.log_console:
        console = logging.StreamHandler(sys.stderr)
        console.setFormatter(_CtimeFormatter("%(asctime)s: %(message)s"))
        root.addHandler(console)
    if os.path.exists("/dev/log"):
        sh = logging.handlers.SysLogHandler("/dev/log", facility=logging.handlers.SysLogHandler.LOG_DAEMON)
        sh.setFormatter(logging.Formatter("Keepalived_vrrp[%(process)d]: %(message)s"))
        root.addHandler(sh)
    if not root.handlers:
        root.addHandler(logging.NullHandler())


def _write_pid(path: str) -> bool:
    p = Path(path)
    try:
        old = int(p.read_text().strip())
    except (OSError, ValueError):
        old = 0
    if old and old != os.getpid():
        try:
            os.kill(old, 0)
        except ProcessLookupError:
            pass
        except PermissionError:
            log.error("VRRP child process already running (pid %d, %s)", old, path)
            return False
        else:
            log.error("VRRP child process already running (pid %d, %s)", old, path)
            return False
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(f"{os.getpid()}\n")
    return True


def run_vrrp(config: Config, options: RunnerOptions, netns: str | None = None) -> int:
    """Run the VRRP side of ``config`` until SIGTERM; returns the exit status (0 on a clean stop)."""
    if options.configure_logging:
        setup_logging(options)
    if not config.vrrp.instances:
        log.info("No VRRP instances configured; nothing to do")
    if options.pid_file and not _write_pid(options.pid_file):
        return 1
    try:
        rc = asyncio.run(VrrpProcess(config, options, netns).run())
    finally:
        if options.pid_file:
            with contextlib.suppress(OSError):
                if Path(options.pid_file).read_text().strip() == str(os.getpid()):
                    os.unlink(options.pid_file)
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
    args = _parser().parse_args(argv)
    options = RunnerOptions(pid_file=args.pid_file, log_console=args.log_console, log_detail=args.log_detail,
                            stats_file=args.stats_file, dont_release_vrrp=args.dont_release_vrrp,
                            config_id=args.config_id)
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
