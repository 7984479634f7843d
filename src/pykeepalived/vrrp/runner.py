"""The VRRP process: every ``vrrp_instance`` of the config on one asyncio loop.

This is the thin I/O adapter; the modules it wires together each do one job:

* ``vrrp.core``: the instances, sync groups, packet routing by VRID, link and tracker state (no I/O;
  the time is an argument), deciding through the state machines of ``vrrp.fsm``;
* ``vrrp.executor``: carries out the state machines' actions through :class:`KernelIO` (adverts sent at
  once; VIP changes and GARP/NA rounds on one ordered queue, paced by ``vrrp.garp``; notifications);
* ``vrrp.reload``: what a reload keeps, removes and adds; ``vrrp.stats``: counters and dump views;
* ``vrrp.instances``: config model → run-time instance; ``vrrp.release``: clean-up after a dead process;
* ``vrrp.notifier``, ``vrrp.monitors`` (vrrp_script, track_file, track_process), ``vrrp.addresses`` and
  ``vrrp.routes`` (netlink), ``vrrp.io`` (VRRP sockets, GARP/NA frames), ``pykeepalived.timer`` (the wake-up).

What stays here is the event loop: sockets opened and read, netlink link events, the one timer armed
at the core's earliest deadline, the monitors' verdicts, signals (TERM/INT stop: priority 0, VIPs
removed, then the static rules, routes and addresses; HUP reload; USR1/USR2/JSON/STATS_CLEAR dumps), all
fed to the core with ``loop.time()``.  The static addresses, routes and rules are set at start, before
the start-up delay.
Every state change and every bad advert keepalived traps bumps :attr:`VrrpProcess.changes`
(``status.changes``), which the control socket serves: the supervisor hears of it at once.

Reload (SIGHUP) re-reads the config file; a file with fatal errors (a keyword missing its
parameter, FATAL problems) is refused and the running config kept.  Otherwise ``vrrp.reload`` plans it
and the core applies it: an unchanged instance keeps its state machine, timers and VIPs.  The
supervisor's VRRP child reads no file: :meth:`VrrpProcess.reload_config` takes the configuration the
supervisor parsed.

``run_vrrp(config, options)`` is the entry for the supervisor (one child process);
``release_vips(config)`` is what the supervisor calls after the child died; ``main`` is the
stand-alone command line ``python -m pykeepalived.vrrp.runner -f CONF``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyroute2.netlink.exceptions import NetlinkError

from pykeepalived import process
from pykeepalived.bfd.watch import BfdWatch
from pykeepalived.signals import DUMPS, HANDLED, SIGJSON, SIGSTATS_CLEAR, ignore_signals, on_signal, run_process
from pykeepalived.status import dumps
from pykeepalived.status.changes import ChangeSignal
from pykeepalived.status.snapshot import BfdTrackStatus, TrackProcessStatus, VrrpScriptStatus
from pykeepalived.timer import DeadlineTimer

from . import stats
from .addresses import AddressWatch, Netlink, RouteGone, VipSpec, address_gone_from, route_gone, watch_links
from .core import VrrpCore
from .executor import Effect, Executor
from .firewall import firewall_for
from .fsm import PRIO_OWNER, Handover, State
from .instances import (
    InstanceRuntime,
    IPAddress,
    SockKey,
    advert_source,
    all_vips,
    build_runtime,
    checks_unicast_source,
    configured_vips,
    socket_family,
)
from .io import Datagram, FrameSender, VrrpSocket
from .monitors import Monitors
from .notifier import Notifier
from .release import release_vips, release_vips_async, resign
from .reload import plan_reload
from .routes import change_routes_rules
from .syncd import TO_STOP, SyncDaemonFollower
from .tracking import Status
from .vmac import Sysctl, VmacManager

if TYPE_CHECKING:
    from pykeepalived.config.model import Config
    from pykeepalived.config.model_global import GlobalDefs
    from pykeepalived.config.model_vrrp import Route, Rule, VrrpInstance

__all__ = [
    "KernelIO", "RunnerOptions", "VrrpProcess", "all_vips", "checks_unicast_source", "configured_vips",
    "ipv6_forwarding", "main", "release_vips", "release_vips_async", "resign", "run_vrrp",
]

log = logging.getLogger("pykeepalived.vrrp")

#: how long shutdown waits for STOP notify scripts (keepalived waits about 1 s, then kills)
STOP_NOTIFY_WAIT = 2.0
#: how long shutdown waits for VIP removal to finish
STOP_EFFECTS_WAIT = 5.0


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
    #: the BFD child's event stream (``pykeepalived.bfd.watch``), followed when bfd_instances are configured
    bfd_events_path: str | None = None


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


class KernelIO:
    """The executor's I/O on this host: the VRRP sockets, raw frames, netlink, /proc, the real clocks."""

    def __init__(self, nl: Netlink, netns: str | None = None) -> None:
        self.nl = nl
        self.netns = netns
        self.sockets: dict[SockKey, VrrpSocket] = {}
        self.frames: dict[str, FrameSender] = {}

    def monotonic(self) -> float:
        return time.monotonic()

    def wall_time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    def advert_socket(self, key: SockKey) -> VrrpSocket | None:
        return self.sockets.get(key)

    def frame_sender(self, ifname: str) -> FrameSender | None:
        fs = self.frames.get(ifname)
        if fs is None:
            try:
                fs = self.frames[ifname] = FrameSender(ifname, self.netns)
            except OSError as e:
                log.error("cannot send gratuitous ARP on %s: %s", ifname, e)
                return None
        return fs

    async def set_vip(self, vip: VipSpec, add: bool) -> None:
        try:
            await (self.nl.add_vip(vip) if add else self.nl.del_vip(vip))
        except NetlinkError as e:  # the executor knows OSError, not pyroute2's errors
            raise OSError(e.code, os.strerror(e.code)) from e

    async def change_routes_rules(self, owner: str, routes: Sequence[Route], rules: Sequence[Rule], add: bool,
                                  replace: bool = False) -> tuple[list[Route], list[Rule]]:
        return await change_routes_rules(self.nl, owner, routes, rules, add=add, replace=replace)

    async def ipv6_forwarding(self, ifname: str) -> bool:
        return await ipv6_forwarding(ifname, self.netns)

    def close(self) -> None:
        for sock in self.sockets.values():
            sock.close()
        for fs in self.frames.values():
            fs.close()


class VrrpProcess:
    """Runs every instance of one config until SIGTERM/SIGINT; see the module docstring."""

    def __init__(self, config: Config, options: RunnerOptions, netns: str | None = None,
                 handed_over: Iterable[str] = ()) -> None:
        self.options = options
        #: instances the operator handed over (``pykeepalived ctl handover``): kept across reloads and
        #: restarts of this process (the supervisor hands them back), dropped by ``restore``/``reset``
        self.handed_over: set[str] = set(handed_over)
        self.netns = netns  # tests may drive a named namespace from one process
        self.nl = Netlink(netns)
        self.io = KernelIO(self.nl, netns)
        self.notifier = Notifier(config.global_defs)
        #: bumped on every state change and every bad advert keepalived traps (served as ``/changes``)
        self.changes = ChangeSignal()
        self.executor = Executor(self.io, self.notifier, dont_release_vrrp=options.dont_release_vrrp,
                                 on_transition=self._on_transition)
        # trackers: vrrp_script, track_file and track_process verdicts by (kind, name)
        self.monitors = Monitors(self.notifier, self._tracker_changed)
        self.core = VrrpCore(config, self.executor, self.notifier, lambda: self.monitors.state)
        self.core.on_error = lambda rt: self.changes.bump()
        #: keepalived's nftables table (no_accept / strict, VMACs) and the VMAC interfaces
        self.firewall = firewall_for(config)
        if self.firewall is not None:
            self.executor.firewall = self.firewall
        self.vmacs = VmacManager(self.nl, Sysctl(netns))
        self._timer: DeadlineTimer | None = None
        self._stopping = asyncio.Event()
        self._links_task: asyncio.Task[None] | None = None
        self._bfd_task: asyncio.Task[None] | None = None
        self._watching: frozenset[str] = frozenset()
        self._reload_task: asyncio.Task[None] | None = None
        self._reload_again = False
        #: the IPVS sync daemon following one instance (global_defs ``lvs_sync_daemon``), if configured
        self.syncd: SyncDaemonFollower | None = None
        #: writes the signal dumps off the event loop
        self.dump_writer = dumps.DumpWriter("vrrp-dumps")

    # what the supervisor's child (status snapshot, readiness) and the dumps read

    @property
    def config(self) -> Config:
        return self.core.config

    @property
    def instances(self) -> dict[str, InstanceRuntime]:
        return self.core.instances

    @property
    def sockets(self) -> dict[SockKey, VrrpSocket]:
        return self.io.sockets

    def script_statuses(self) -> list[VrrpScriptStatus]:
        """Every vrrp_script's verdict, for the status snapshot (keepalived.data, SNMP's vrrpScriptTable)."""
        out = []
        for vs in self.config.vrrp.vrrp_scripts:
            st = self.monitors.state.get(("script", vs.name))
            out.append(VrrpScriptStatus(vs.name, status="GOOD" if st is Status.OK else "BAD",
                                        init_state="init" if st is None or st is Status.INIT else "done"))
        return out

    def process_statuses(self) -> list[TrackProcessStatus]:
        """Every vrrp_track_process's count and verdict, for the status snapshot (SNMP's vrrpProcessTable)."""
        counts = self.monitors.process_counts()
        return [TrackProcessStatus(tp.name, *counts.get(tp.name, (0, False)))
                for tp in self.config.vrrp.track_processes]

    def bfd_statuses(self) -> list[BfdTrackStatus]:
        """Every bfd_instance's state as the BFD process last reported it (SNMP's vrrpBfdTable)."""
        return [BfdTrackStatus(b.name, self.core.bfd_up.get(b.name, False)) for b in self.config.vrrp.bfd_instances]

    def _effect(self, job: Effect) -> None:
        """Queue ``job`` on the ordered VIP/GARP queue (readiness waits for a marker there)."""
        self.executor.effect(job)

    # ------------------------------------------------------------------------------ set-up

    async def _primary(self, inst: VrrpInstance, g: GlobalDefs) -> IPAddress | None:
        # an ipvlan has its own addresses (an IPv6 one without a configured address: its link-local)
        ifname = inst.vmac.ifname if inst.ipvlan and inst.vmac else inst.interface or g.default_interface
        return await advert_source(self.nl, inst, ifname, socket_family(inst))

    async def _build(self) -> None:
        no_vmac = await self._setup_vmacs(self.config.vrrp.instances)
        for inst in self.config.vrrp.instances:
            self.core.add(rt := build_runtime(inst, self.core.g, await self._primary(inst, self.core.g)))
            if inst.name in no_vmac:
                rt.faults.add(f"no VMAC {no_vmac[inst.name]}")
        self.core.make_groups(self.config.vrrp.sync_groups)
        self.core.set_trackers()
        self.syncd = self._make_syncd()

    async def _setup_vmacs(self, instances: Iterable[VrrpInstance]) -> dict[str, str]:
        """Create (or adopt) the VMACs (``vrrp.vmac``); returns the instances that could not have theirs."""
        failed: dict[str, str] = {}
        g = self.core.g
        for inst in instances:
            base = inst.interface or g.default_interface
            v = inst.vmac
            if v is not None and inst.name not in self.vmacs.vmacs:
                if not await self.vmacs.setup(inst.name, v.ifname, base, inst.virtual_router_id, inst.family,
                                              v.mac, v.xmit_base, kind=v.kind, address=v.address,
                                              ipvlan_type=v.ipvlan_type):
                    failed[inst.name] = v.ifname
                elif inst.ipvlan and inst.family == 4 and v.address is None:
                    failed[inst.name] = f"{v.ifname} (IPv4 ipvlan without an address)"
                elif inst.macvlan and self.firewall is not None and (inst.family == 6 or not g.disable_local_igmp):
                    self.firewall.add_vmac(v.ifname, base, inst.family)
        return failed

    def _new_vmac(self, inst: VrrpInstance) -> bool:
        """A reloaded instance whose VMAC is not the one it has (so the old one must go)."""
        old = self.vmacs.vmacs.get(inst.name)
        return old is not None and (inst.vmac is None or inst.vmac.ifname != old.ifname
                                    or inst.vmac.kind != old.kind
                                    or (inst.interface or self.core.g.default_interface) != old.base)

    def _make_syncd(self) -> SyncDaemonFollower | None:
        cfg = self.core.g.lvs_sync_daemon
        # naming no instance: the checker process runs both threads all along (keepalived's checker does)
        if cfg is None or cfg.instance is None:
            return None
        return SyncDaemonFollower(cfg, set(self.instances), self.netns)

    def _on_transition(self, name: str, state: State) -> None:
        self._follow_syncd(name, state)
        self.changes.bump()

    def _follow_syncd(self, name: str, state: State) -> None:
        """The followed instance changed state: its sync-daemon calls, in transition order."""
        if self.syncd is not None:
            self.syncd.submit(self.syncd.transition(name, state))

    def _reload_syncd(self, kept: Sequence[str]) -> None:
        """After a reload: a changed ``lvs_sync_daemon`` (or a followed instance that was replaced)
        stops the old daemons and starts what the followed instance's current state asks for."""
        old = self.syncd
        cfg = self.core.g.lvs_sync_daemon
        if old is not None and old.model == cfg and old.instance in kept:
            return
        if old is not None:
            old.submit(TO_STOP if old.state not in (None, State.STOP) else (), close=True)
        self.syncd = self._make_syncd()
        if self.syncd is not None and old is not None:
            self.syncd.follow(old)
        if self.syncd is not None and self.core.started and self.syncd.instance in self.instances:
            self._follow_syncd(self.syncd.instance, self.instances[self.syncd.instance].fsm.state)

    def _open_sockets(self, rts: Iterable[InstanceRuntime]) -> None:
        for rt in rts:
            key = rt.sock_key
            sock = self.io.sockets.get(key)
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
                self.io.sockets[key] = sock
                sock.start(lambda d, k=key: self._on_datagram(k, d))  # type: ignore[misc]
                kind = "multicast" if rt.group is not None else "unicast"
                log.info("VRRP sockpool: [ifindex(%3d), family(%s), proto(112), %s, address(%s)]",
                         sock.ifindex, "IPv4" if rt.family == socket.AF_INET else "IPv6", kind,
                         key[2] or ",".join(map(str, rt.peers)))
            self.core.register(rt)

    def _close_unused_sockets(self) -> None:
        """Close the sockets no instance uses any more (after a reload removed their instances)."""
        for key in [k for k in self.io.sockets if k not in self.core.by_socket]:
            self.io.sockets.pop(key).close()

    async def _initial_links(self) -> None:
        for rt in self.instances.values():
            for ifname in self.core.watched_ifnames(rt):
                if ifname not in self.core.link_up:
                    try:
                        self.core.link_up[ifname] = await self.nl.link_up(ifname)
                    except LookupError:
                        log.error("(%s) interface %s does not exist", rt.name, ifname)
                        self.core.link_up[ifname] = False

    # ------------------------------------------------------------------------------ running

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        self.install_dump_handlers(loop)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, DUMPS)  # the supervisor spawned us with them blocked
        await self._build()
        if self.syncd is not None:
            await self.syncd.check()  # modprobe ip_vs before anything is timed, as keepalived at start
        await self._initial_links()
        self._open_sockets(self.instances.values())
        await self.notifier.open_fifos()
        self._sync_trackers(loop.time())
        for sig in (signal.SIGTERM, signal.SIGINT):
            on_signal(loop, sig, self._stopping.set)
        on_signal(loop, signal.SIGHUP, self._on_sighup)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
        self.core.set_statics()  # first on the effects queue: before the start-up delay and any instance
        effects = loop.create_task(self.executor.run())
        g = self.core.g
        if g.vrrp_startup_delay > 0:
            log.info("Delaying startup for %g seconds", g.vrrp_startup_delay)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), g.vrrp_startup_delay)
        if not self._stopping.is_set():
            self._reapply_handover(loop.time(), started=False)
            self.core.start(loop.time(), list(self.instances))
            self._rearm()
            self.core.started = True
            self.monitors.start()
            self._restart_link_watcher()
            self._follow_bfd()
            addresses = loop.create_task(self._watch_addresses())
            await self._stopping.wait()
            addresses.cancel()
            if self._bfd_task is not None:
                self._bfd_task.cancel()
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
        if self._timer is not None:
            self._timer.close()
            self._timer = None
        self.core.stop(loop.time())
        self.executor.finish()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(effects, STOP_EFFECTS_WAIT)
        await self.vmacs.close()
        if self.firewall is not None:
            self.firewall.close()
        if self.syncd is not None:
            await self.syncd.drain(STOP_EFFECTS_WAIT)
        await self.notifier.drain(STOP_NOTIFY_WAIT)
        self._close()
        await asyncio.to_thread(self.dump_writer.close)
        return 0

    def _close(self) -> None:
        if self.syncd is not None:
            self.syncd.close()
        self.io.close()

    # ------------------------------------------------------------------------------ events

    def _rearm(self) -> None:
        """One timer for the whole process: the earliest deadline of any instance."""
        if self.core.stopped:
            return
        if self._timer is None:
            self._timer = DeadlineTimer(asyncio.get_running_loop(), self._on_timer)
        self._timer.arm(self.core.next_deadline())

    def _on_timer(self, when: float) -> None:
        # Never earlier than the deadline itself: the loop may wake within its clock resolution.
        self.core.fire_timers(max(asyncio.get_running_loop().time(), when))
        self._rearm()

    def _on_datagram(self, key: SockKey, dg: Datagram) -> None:
        if self.core.on_datagram(asyncio.get_running_loop().time(), key, dg):
            self._rearm()

    def _restart_link_watcher(self) -> None:
        """(Re)start the netlink watcher when the set of interesting interfaces changed."""
        wanted = frozenset(n for rt in self.instances.values() for n in self.core.watched_ifnames(rt))
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
                if self.core.link_event(asyncio.get_running_loop().time(), ev.ifname, ev.up):
                    self._rearm()
        except asyncio.CancelledError:
            raise
        except Exception:  # the watcher must not take the process down; adverts keep flowing
            log.exception("interface watcher failed; interface changes are no longer followed")

    async def _watch_addresses(self) -> None:
        """Addresses and keepalived's routes deleted (RTM_DELADDR, RTM_DELROUTE): a MASTER's VIP or virtual route,
        or a static address or route, deleted by another program is taken back (``VrrpCore.address_deleted``,
        ``route_deleted``, as keepalived's netlink reflector).  An event is checked against the kernel first:
        one read after the entry was set again is stale."""
        loop = asyncio.get_running_loop()
        watch = AddressWatch(self.netns, routes=True)
        try:
            await watch.open()
            async for ch in watch.entries():
                if isinstance(ch, RouteGone):
                    if not any(self.core.route_holders(ch, None, any_dev=True)):
                        continue
                    missing, ifname = await route_gone(ch, self.netns)
                    if missing and self.core.route_deleted(loop.time(), ch, ifname):
                        self._rearm()
                    continue
                if ch.added or not any(self.core.address_holders(ch.address.ip)):
                    continue
                name = await address_gone_from(ch.address.ip, ch.ifindex, self.netns)
                if name is not None and self.core.address_deleted(loop.time(), ch.address.ip, name):
                    self._rearm()
        except asyncio.CancelledError:
            raise
        except Exception:  # the watcher must not take the process down; adverts keep flowing
            log.exception("address watcher failed; entries deleted by other programs are no longer put back")
        finally:
            watch.close()

    def _follow_bfd(self) -> None:
        """track_bfd: the BFD process's verdicts, from the start or from the reload that adds the first
        bfd_instance (its BFD child starts then), as long as the process runs (kept across reloads: a
        bfd_instance a reload adds starts down and the stream's snapshot brings its state)."""
        path = self.options.bfd_events_path
        if self._bfd_task is None and path and self.config.vrrp.bfd_instances:
            self._bfd_task = asyncio.get_running_loop().create_task(self._watch_bfd(path))

    async def _watch_bfd(self, path: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            async for ev in BfdWatch(path, role="vrrp"):
                if self.core.bfd_event(loop.time(), ev.name, ev.up):
                    self._rearm()
        except asyncio.CancelledError:
            raise
        except Exception:  # adverts keep flowing; BFD changes are no longer followed
            log.exception("BFD event watch failed; track_bfd is no longer followed")

    def _tracker_changed(self, key: tuple[str, str]) -> None:
        """A script/file/process verdict changed: re-evaluate every instance that tracks it."""
        if self.core.stopped or not self.core.started:
            return
        self.core.tracker_changed(asyncio.get_running_loop().time(), key)
        self._rearm()

    def _sync_trackers(self, now: float) -> None:
        """Make the monitors match the config and the trackers instances use (start-up, reload)."""
        self.monitors.sync(self.config.vrrp, self.core.used_trackers(), now)

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
        # (the supervisor's child has none: its configurations come from the supervisor, reload_config)
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
        if self.core.stopped:
            return False
        await self.apply_config(result.config)
        log.info("Reload finished")
        return True

    async def reload_config(self, new: Config) -> bool:
        """A configuration loaded elsewhere (the supervisor's, already validated): applied as a reload of
        the file is.  True if applied."""
        if self.core.stopped:
            return False
        log.info("Reloading")
        await self.apply_config(new)
        log.info("Reload finished")
        return True

    async def apply_config(self, new: Config) -> None:
        """Apply a new config to the running process: ``vrrp.reload`` plans, the core applies."""
        loop = asyncio.get_running_loop()
        core = self.core
        self.notifier.reload(new.global_defs)
        plan = plan_reload({n: rt.model for n, rt in self.instances.items()}, new, core.group_of,
                           core.group_models)
        models = {i.name: i for i in new.vrrp.instances}
        primaries = {n: await self._primary(models[n], new.global_defs) for n in (*plan.keep, *plan.add)}
        if self.firewall is None and (fw := firewall_for(new)) is not None:
            self.firewall = fw
            self.executor.firewall = fw
        # VMACs of removed or replaced instances go once their VIPs are off (on the effects queue)
        gone = self.vmacs.forget(n for n in plan.drop if n not in plan.add or self._new_vmac(models[n]))
        no_vmac = await self._setup_vmacs(models[n] for n in plan.add)
        added = core.reconfigure(loop.time(), new, plan, primaries)
        for rt in added:
            if rt.name in no_vmac:
                rt.faults.add(f"no VMAC {no_vmac[rt.name]}")
        if gone:
            self.executor.effect(lambda: self.vmacs.remove_ifs(gone))
        self._close_unused_sockets()
        self._reload_syncd(plan.keep)
        await self._initial_links()
        self._open_sockets(added)
        now = loop.time()
        self._sync_trackers(now)
        core.after_reload(now, plan)
        self._reapply_handover(now, started=core.started)
        if core.started:  # else run() starts every instance once the start-up delay is over
            self.monitors.start()
            self._follow_bfd()
            self._restart_link_watcher()
        if plan.drop or plan.add:
            log.info("Reload: %d instance(s) kept, %d removed, %d added", len(plan.keep), len(plan.drop),
                     len(plan.add))
        self._rearm()

    # ------------------------------------------------------------------------------ hand-over

    def handover(self, target: str, on: bool) -> list[str]:
        """``ctl handover|restore TARGET``: an instance (with the rest of its sync group, which moves as
        one) or a sync group.  Returns the instances changed; KeyError / ValueError say why not."""
        core = self.core
        if target in core.groups:
            names = list(core.groups[target].members)
        elif target in self.instances:
            group = core.group_of.get(target)
            names = list(core.groups[group].members) if group is not None else [target]
        else:
            known = ", ".join(sorted([*self.instances, *core.groups])) or "none"
            raise KeyError(f"no vrrp_instance or vrrp_sync_group {target!r} (there are: {known})")
        owners = [n for n in names if self.instances[n].fsm.base_priority == PRIO_OWNER]
        if owners:
            raise ValueError(f"{', '.join(owners)}: address owner (priority 255), which VRRP always makes "
                             "MASTER; lower its priority in the configuration instead")
        now = asyncio.get_running_loop().time()
        for name in names:  # every member first: those the group moves to BACKUP resign too
            self.instances[name].fsm.mark_handover(on)
        for name in names:
            (self.handed_over.add if on else self.handed_over.discard)(name)
            self._feed_handover(now, name, on, started=core.started)
        self._rearm()
        return names

    def set_priority(self, name: str, priority: int, who: str) -> str:
        """A new base priority (keepalived's SNMP SET of vrrpInstanceBasePriority): the trackers' weights
        stay on top of it; the configured one comes back with a reload.  KeyError: no such instance."""
        rt = self._instance(name)
        old = rt.fsm.base_priority
        log.info("(%s) base priority changed from %d to %d via %s.", name, old, priority, who)
        self.core.set_base_priority(asyncio.get_running_loop().time(), rt, priority)
        self._rearm()
        return f"({name}) base priority {old} -> {priority}"

    def set_preempt(self, name: str, on: bool, who: str) -> str:
        """Preemption on or off (keepalived's SNMP SET of vrrpInstancePreempt), until a reload."""
        rt = self._instance(name)
        log.info("(%s) preemption %s with %s", name, "enabled" if on else "disabled", who)
        self.core.set_preempt(rt, on)
        return f"({name}) preemption {'enabled' if on else 'disabled'}"

    def _instance(self, name: str) -> InstanceRuntime:
        if name not in self.instances:
            known = ", ".join(sorted(self.instances)) or "none"
            raise KeyError(f"no vrrp_instance {name!r} (there are: {known})")
        return self.instances[name]

    def _feed_handover(self, now: float, name: str, on: bool, started: bool) -> None:
        if started:
            self.core.dispatch(now, name, Handover(on))
        else:  # before Start: straight into the state machine, as initial tracking is
            self.instances[name].fsm.handle(now, Handover(on))

    def _reapply_handover(self, now: float, started: bool) -> None:
        """At start and after a reload: instances still configured stay handed over (a no-op for those
        whose state machine was kept), removed ones are forgotten."""
        self.handed_over &= set(self.instances)
        for name in sorted(self.handed_over):
            self._feed_handover(now, name, True, started)

    # ------------------------------------------------------------------------------ dumps

    def _fds(self) -> dict[SockKey, stats.Fds]:
        return {key: (sock.rx.fileno(), sock.tx.fileno()) for key, sock in self.io.sockets.items()}

    def _clock(self) -> tuple[float, float] | None:
        try:
            return asyncio.get_running_loop().time(), time.time()
        except RuntimeError:
            return None

    def data_text(self) -> str:
        """keepalived.data as keepalived 2.2.7's VRRP child writes it on SIGUSR1."""
        return self._data_render()()

    def _data_render(self) -> Callable[[], str]:
        return stats.data_render(self.core, self._fds(), self._clock(),
                                 getattr(self.monitors, "_script_results", {}), self.netns)

    def stats_text(self) -> str:
        """keepalived.stats as keepalived 2.2.7 writes it on SIGUSR2."""
        return stats.stats_text(self.core)

    def json_text(self) -> str:
        """keepalived.json as keepalived 2.2.7 writes it on signal 36 (JSON)."""
        return stats.json_text(self.core, self._fds(), self._clock())

    def clear_stats(self) -> None:
        """STATS_CLEAR: every instance's counters back to zero (after they were written)."""
        stats.clear_stats(self.core)

    def write_data(self) -> None:
        """SIGUSR1 (DATA): the state is taken now, the file written by the dump thread."""
        log.info("Printing VRRP data for process(%d) on signal", os.getpid())
        self.dump_writer.write(dumps.data_file("keepalived.data", self.core.g), self._data_render())

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
        on_signal(loop, signal.SIGUSR1, self.write_data)
        on_signal(loop, signal.SIGUSR2, self.write_stats)
        on_signal(loop, SIGJSON, self.write_json)
        on_signal(loop, SIGSTATS_CLEAR, self.write_stats, True)


# --------------------------------------------------------------------------------------------- entry points


def setup_logging(options: RunnerOptions) -> None:
    """The daemon's logging (:func:`pykeepalived.process.setup_logging`) with the VRRP child's
    syslog ident, ``Keepalived_vrrp``."""
    process.setup_logging("vrrp", console=options.log_console, detail=options.log_detail)


def run_vrrp(config: Config, options: RunnerOptions, netns: str | None = None) -> int:
    """Run the VRRP side of ``config`` until SIGTERM; returns the exit status (0 on a clean stop)."""
    if options.configure_logging:
        setup_logging(options)
    if not config.vrrp.instances:
        log.info("No VRRP instances configured")
    if options.pid_file and not process.write_pid_file(options.pid_file, "VRRP child process",
                                                       running="%s already running (pid %d, %s)"):
        return 1
    try:
        rc = run_process(_run(config, options, netns))
    finally:
        ignore_signals()  # the closed loop put the default (fatal) actions back
        if options.pid_file:
            process.remove_pid_file(options.pid_file)
    log.info("Stopped")
    return rc


async def _run(config: Config, options: RunnerOptions, netns: str | None) -> int:
    return await VrrpProcess(config, options, netns).run()


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
    process.set_process_priorities("vrrp", process.Priorities.of(result.config.global_defs, "vrrp"))
    try:
        return run_vrrp(result.config, RunnerOptions(**{**_asdict(options), "configure_logging": False}))
    finally:
        process.reset_process_priorities()


def _asdict(options: RunnerOptions) -> dict[str, Any]:
    return {f: getattr(options, f) for f in options.__slots__}  # type: ignore[attr-defined]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
