"""The checker process: health checks drive the data plane (keepalived's ``Keepalived_healthcheckers``).

One asyncio loop runs every checker (:class:`pykeepalived.check.runner.Runner`); health changes
turn into a desired :class:`~pykeepalived.lvs.model.Table` (``desired_table``), which the
reconciler compares with what the data plane really holds and applies.  The same reconcile also
runs on a short period, so drift (someone ran ``ipvsadm -C`` or ``nft flush ruleset``) is
repaired, and after a restart the table that is already in the kernel is adopted, not rebuilt.
That period costs little at rest: the data plane answers ``observe()`` from memory while nothing
else changed its table, and counters (a full read of the table's counters) are read when status or
metrics ask for them (at most once per ``counters_interval``), or on every reconcile only as far as
the schedulers the data plane emulates from connection counts need them.

Notifications the checkers produce (``notify_up``/``notify_down``, ``quorum_up``/``quorum_down``,
FIFO lines, SMTP alerts) go through the shared notify modules; the status view is served to the
supervisor on a control socket of this process, with a change signal (status.changes) bumped on every
change of a real server's health or weight or of a virtual server's quorum.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from pykeepalived.announce import Announcer, follow
from pykeepalived.check.bfd_feed import BfdFeed
from pykeepalived.check.ha_suspend_watch import HaSuspendWatcher
from pykeepalived.check.runner import Runner
from pykeepalived.check.state import (
    TABLE_EVENTS,
    Event,
    FifoLine,
    Log,
    MailAlert,
    RunScript,
    Settings,
    VirtualServerState,
    VsId,
    rs_key,
    service_keys,
    vs_id,
)
from pykeepalived.config.model import Config, Script
from pykeepalived.config.model_global import LvsSyncDaemon
from pykeepalived.config.model_lvs import MiscCheck, RealServer, VirtualServer, VirtualServerGroup
from pykeepalived.daemon.runtime import raise_fd_limit
from pykeepalived.daemon.signals import DUMPS, SIGJSON, SIGSTATS_CLEAR, on_signal
from pykeepalived.gcpause import settle_memory
from pykeepalived.lvs.conntrack_watch import ConntrackUse, ConntrackWatch, read_conntrack_use
from pykeepalived.lvs.dataplane.contract import maintenance_counts, needs_counts
from pykeepalived.lvs.dataplane.select import DataPlane, choose_dataplane
from pykeepalived.lvs.model import Destination, DestKey, ServiceKey, Table, TableCounters
from pykeepalived.lvs.overrides import OverrideError, Overrides, format_service, parse_server, parse_service
from pykeepalived.lvs.overrides import apply as apply_overrides
from pykeepalived.lvs.reconcile import diff
from pykeepalived.notify.fifo import FifoWriter
from pykeepalived.notify.scripts import ScriptJob, ScriptQueues
from pykeepalived.notify.security import ScriptPolicy
from pykeepalived.notify.security import Status as SecurityStatus
from pykeepalived.ratelimit import LogLimiter
from pykeepalived.status import dumps
from pykeepalived.status.api import LVS_COMMANDS, ApiError, Caller, Command
from pykeepalived.status.changes import ChangeSignal
from pykeepalived.status.snapshot import (
    CHECK_DURATION_BUCKETS,
    Counters,
    DaemonInfo,
    Health,
    QuorumStatus,
    Rates,
    Snapshot,
    VirtualServiceStatus,
)

from .check_status import check_statuses

log = logging.getLogger("pykeepalived.check")

#: full reconcile period: repairs drift and feeds connection counts to lc-type schedulers
RECONCILE_INTERVAL = 2.0  # also the counters/rates sample period, as IPVS's estimator
#: how old the counters (``--stats``, ``--rate``, connection counts) may be when status or metrics read
#: them; they are read then, not on every reconcile (so ``watch -n1 pykeepalived status`` costs one read
#: a second, a Prometheus scrape every 15 s one read per scrape, and nobody looking nothing)
COUNTERS_INTERVAL = 1.0
#: how long a status request waits for counters being read before answering with the previous ones
COUNTERS_WAIT = 1.0
#: how long shutdown waits for omega notify scripts
STOP_NOTIFY_WAIT = 2.0


@dataclass(frozen=True, slots=True)
class CheckerOptions:
    config_file: str = ""
    dataplane: str = "auto"
    #: keepalived's ``-I``: leave the data plane's table in place on stop
    dont_release_ipvs: bool = False
    reconcile_interval: float = RECONCILE_INTERVAL
    counters_interval: float = COUNTERS_INTERVAL
    #: keepalived's ``-a``: log every address change the netlink watch reports
    address_monitoring: bool = False
    #: the BFD child's event stream, followed for BFD_CHECK once a bfd_instance is configured
    bfd_events_path: str | None = None
    #: this process starts with the daemon (else the supervisor restarted it after it died, or a reload
    #: added it): only then does lvs_flush empty the table, which otherwise holds the health state the new
    #: process takes over (:func:`known_down`)
    daemon_start: bool = True


def without_refused_misc_checks(virtual_servers: Iterable[VirtualServer],
                                policy: ScriptPolicy) -> tuple[VirtualServer, ...]:
    """keepalived's ``check_misc_script_security``: a MISC_CHECK that script security refuses
    (insecure path under enable_script_security, missing, not executable, no such user) is removed, so
    it never runs and its real server is judged by its other checkers."""
    out = []
    for vs in virtual_servers:
        if not any(issubclass(kind, MiscCheck) for kind in {type(c) for rs in vs.real_servers for c in rs.checkers}):
            out.append(vs)  # no MISC_CHECK: nothing to look at (a reload walks every virtual server)
            continue
        servers = []
        for rs in vs.real_servers:
            kept = []
            for c in rs.checkers:
                if isinstance(c, MiscCheck):
                    verdict = policy.verdict(c.misc_path, kind="misc_path")
                    if not verdict.run:
                        command = " ".join(c.misc_path.argv)
                        if verdict.status is SecurityStatus.MISSING:
                            log.info("Disabling misc script %s since not found/accessible", command)
                        elif verdict.status in (SecurityStatus.INSECURE, SecurityStatus.WRONG_TYPE):
                            log.info("Disabling misc script %s due to insecure", command)
                        continue
                kept.append(c)
            servers.append(rs if len(kept) == len(rs.checkers) else replace(rs, checkers=tuple(kept)))
        out.append(vs if all(a is b for a, b in zip(servers, vs.real_servers, strict=True))
                   else replace(vs, real_servers=tuple(servers)))
    return tuple(out)


def known_down(virtual_servers: Iterable[VirtualServer], groups: Mapping[str, VirtualServerGroup],
               observed: Table) -> dict[VsId, set[DestKey]]:
    """Real servers out of the pool in a table this process did not build (a restart after a crash):
    of each configured service found in it, those configured with a weight but absent, or present with
    weight 0 (inhibit_on_failure).  A service not in the table tells nothing (a first start)."""
    by_key = {svc.key: svc for svc in observed.services}
    out: dict[VsId, set[DestKey]] = {}
    for vs in virtual_servers:
        for skey in service_keys(vs, groups):
            svc = by_key.get(skey)
            if svc is None:
                continue
            present = {d.key: d for d in svc.destinations}
            for rs in vs.real_servers:
                d = present.get(rs_key(rs))
                if rs.weight > 0 and (d is None or d.weight == 0):
                    out.setdefault(vs_id(vs), set()).add(rs_key(rs))
    return out


MAX_IN_FLIGHT = 1024
"""Checks in flight at once when descriptors allow (more wait in the runner's queue: lateness, not failure)."""
FD_HEADROOM = 256
"""Descriptors kept for everything else: netlink, the data plane, scripts, FIFOs, mail, the control socket."""


def in_flight_budget(fd_limit: int) -> int:
    """Checks in flight that fit under ``fd_limit`` open descriptors: a check that cannot get a socket
    would be a false failure, one that waits is only late."""
    return max(16, min(MAX_IN_FLIGHT, fd_limit - FD_HEADROOM))


@dataclass
class SettlePolicy:
    """When a reload's :func:`settle_memory` walks everything: once the checkers replaced since the last
    full walk reach ``share`` of those running (their garbage stays frozen until then, so it is bounded by
    that share), and at least every ``every`` reloads.  A reload that changes a few real servers of
    thousands then costs the checks no second-long pause."""

    share: float = 0.1
    every: int = 16
    replaced: int = 0
    reloads: int = 0

    def after_reload(self, replaced: int, running: int) -> bool:
        """Whether this reload's settle is a full one (and if so, start counting again)."""
        self.replaced += replaced
        self.reloads += 1
        full = self.replaced > self.share * max(running, 1) or self.reloads >= self.every
        if full:
            self.replaced = self.reloads = 0
        return full


class CheckerProcess:
    """Runs the checkers of ``config`` and keeps the data plane equal to what they say."""

    def __init__(self, config: Config, options: CheckerOptions, dataplane: DataPlane | None = None,
                 overrides: Overrides | None = None) -> None:
        self.config = config
        #: runtime drain/weight/disable (``pykeepalived ctl``), on top of what the checkers want; a new
        #: process keeps what a reload keeps (not the weights set until reload: keepalived's respawned
        #: checker process reads the configured weights too)
        self.overrides = (overrides or Overrides()).reloaded().prune(configured_servers(config))
        self.options = options
        self.dp = dataplane
        self.dp_reason = ""
        #: bgp_announce: host routes for the routing daemon while the VIPs are served (None: not configured)
        self.announcer = Announcer(config.announce) if config.announce is not None else None
        self.scripts = ScriptQueues()
        #: script security for MISC_CHECK and the notify/quorum scripts (the VRRP process has its own)
        self.policy = ScriptPolicy(config.global_defs)
        self.fifos = FifoWriter()
        self.runner: Runner | None = None
        #: ha_suspend: address events suspend/resume checkers (netlink opened only when a VS needs it)
        self.ha_suspend = HaSuspendWatcher(self._on_events, log_changes=options.address_monitoring)
        self.observed = Table()
        #: connection counts, ``--stats`` and ``--rate`` of the data plane, read when status asks
        #: (:meth:`status`), or on every reconcile by a data plane that does not say which schedulers
        #: need them
        self.counters = TableCounters()
        #: when ``counters`` were read (monotonic), None before the first read
        self.counters_at: float | None = None
        self._counters_task: asyncio.Task[None] | None = None
        self.started_at = time.time()
        #: bumped when a real server's health or weight or a virtual server's quorum changes (``/changes``)
        self.changes = ChangeSignal()
        self._dirty = asyncio.Event()
        self._reconcile_log = LogLimiter(burst=1, interval=60.0)
        self.conntrack = ConntrackWatch()
        #: the table's use at the last reconcile (status and metrics)
        self.conntrack_use: ConntrackUse | None = None
        self._dp_lock = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._mailer: Any = None
        self.reconciles = 0
        #: a reload left garbage (the old configuration, replaced checkers): collected after the reconcile
        self._settle = False
        #: whether that collection walks everything (:class:`SettlePolicy`)
        self._settle_full = True
        self.settle_policy = SettlePolicy()
        #: log lines held back while a reload's table is not applied yet (see reload)
        self._held_logs: list[Log] | None = None
        self.ops_applied = 0
        #: checks in flight at once: each holds a descriptor, so never more than the process may open (run())
        self.max_in_flight = MAX_IN_FLIGHT
        #: writes keepalived_check.data off the event loop
        self.dump_writer = dumps.DumpWriter("check-dumps")
        #: BFD_CHECK's verdicts: the BFD child's event stream
        self.bfd = BfdFeed(options.bfd_events_path) if options.bfd_events_path else None
        #: a reload's restart of the instance-less lvs_sync_daemon (:meth:`_sync_daemons`), awaited at stop
        self._syncd_task: asyncio.Future[None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        if self.dp is None:
            self.dp, self.dp_reason = choose_dataplane(self.options.dataplane)  # logs its choice
        await asyncio.to_thread(self.dp.open)
        self.max_in_flight = in_flight_budget(raise_fd_limit(MAX_IN_FLIGHT + FD_HEADROOM))
        if self.max_in_flight < MAX_IN_FLIGHT:
            log.warning("Open files limited to %d: at most %d checks at once", self.max_in_flight + FD_HEADROOM,
                        self.max_in_flight)
        self._open_fifos()
        self._mailer = _make_mailer(self.config)
        for sig in (signal.SIGTERM, signal.SIGINT):
            on_signal(loop, sig, self._stopping.set)
        self.install_dump_handlers(loop)
        await asyncio.to_thread(self._flush_at_start)
        await asyncio.to_thread(self._sync_daemons, None, self.config.global_defs.lvs_sync_daemon)
        self._start_runner(self.config, known_down=await asyncio.to_thread(self._known_down))
        assert self.runner is not None
        self._apply_ha_suspend(self.runner)
        settle_memory()
        await self.reconcile()
        ticker = loop.create_task(self._tick())
        self._follow_bfd()
        await self._stopping.wait()
        log.info("Stopping")
        ticker.cancel()
        if self.bfd is not None:
            await self.bfd.stop()
        await self.ha_suspend.close()
        if self.runner is not None:
            await self.runner.stop()  # omega: shutdown notifies
        async with self._dp_lock:
            if self.announcer is not None:  # withdrawn before the data plane goes
                await asyncio.to_thread(self.announcer.stop)
                await asyncio.sleep(self.announcer.config.withdraw_delay)
            await asyncio.to_thread(self._release_at_stop)
            if self._syncd_task is not None:
                await asyncio.gather(self._syncd_task, return_exceptions=True)
            await asyncio.to_thread(self._sync_daemons, self.config.global_defs.lvs_sync_daemon, None)
            self.dp.close()
        await self.scripts.drain(STOP_NOTIFY_WAIT)
        await asyncio.to_thread(self.dump_writer.close)
        if self._mailer is not None:
            await self._mailer.close()
        self.fifos.close()
        return 0

    def stop(self) -> None:
        self._stopping.set()

    # -- signal dumps (keepalived's check_print.c) ---------------------------------------------------
    def install_dump_handlers(self, loop: asyncio.AbstractEventLoop) -> None:
        """USR1 writes keepalived_check.data; USR2, JSON and STATS_CLEAR are the VRRP child's business and
        are ignored here, as keepalived's checker child does.  None of them stops the process."""
        on_signal(loop, signal.SIGUSR1, self.write_data)
        for sig in (signal.SIGUSR2, SIGJSON, SIGSTATS_CLEAR):
            signal.signal(sig, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, DUMPS)  # the supervisor spawned us with them blocked

    def write_data(self) -> None:
        """SIGUSR1: the state is rendered now, the file written by the dump thread."""
        log.info("Printing checker data for process(%d) on signal", os.getpid())
        text = self.data_text()
        self.dump_writer.write(dumps.data_file("keepalived_check.data", self.config.global_defs), lambda: text)

    def data_text(self) -> str:
        """keepalived_check.data: global definitions, LVS topology, health checkers."""
        health = self.runner.health if self.runner is not None else {}
        vss: list[dumps.VirtualServerView] = []
        checkers: list[dumps.CheckerView] = []
        for vs in self.config.lvs.virtual_servers:
            st = health.get(vs_id(vs))
            proto = vs.protocol.value if vs.protocol is not None else "TCP"
            rss = []
            for rs in vs.real_servers:
                server = st.servers.get(rs_key(rs)) if st is not None else None
                alive = bool(server.alive) if server is not None else False
                eff = server.effective_weight if server is not None else rs.weight
                rss.append(dumps.RealServerView(
                    ip=str(rs.ip), port=rs.port, weight=rs.weight, effective_weight=eff,
                    forwarding=rs.forwarding.method.name, alpha=rs.alpha, connect_timeout=vs.connect_timeout,
                    delay_loop=vs.delay_loop, inhibit=rs.inhibit_on_failure, smtp_alert=rs.smtp_alert,
                    alive=alive, num_failed=server.num_failed if server is not None else 0, rs_set=alive,
                    notify_up=dumps.cmd_str(rs.notify_up) if rs.notify_up is not None else None,
                    notify_down=dumps.cmd_str(rs.notify_down) if rs.notify_down is not None else None))
                for i, chk in enumerate(rs.checkers):
                    cst = server.checkers[i] if server is not None and i < len(server.checkers) else None
                    conn = getattr(chk, "connection", None)
                    t = getattr(chk, "timing", None)
                    if t is None:  # FILE_CHECK / BFD_CHECK: no connection checker to describe
                        continue
                    dest = f"[{conn.connect_ip}]:{conn.connect_port}" if conn is not None else ""
                    checkers.append(dumps.CheckerView(
                        vs=vs.describe(), rs=f"[{rs.ip}]:{proto.lower()}:{rs.port}", kind=chk.type,
                        enabled=True, up=cst.is_up if cst is not None else not t.alpha,
                        has_run=cst.has_run if cst is not None else False,
                        current_weight=cst.cur_weight if cst is not None else 0, alpha=t.alpha,
                        delay_loop=t.delay_loop, warmup=t.warmup, retries=t.retry,
                        delay_before_retry=t.delay_before_retry,
                        retry_it=cst.retry_it if cst is not None else t.retry,
                        log_all_failures=t.log_all_failures, dest=dest,
                        connect_timeout=conn.connect_timeout if conn is not None else 0.0,
                        bind=str(conn.bindto) if conn is not None and conn.bindto is not None else None))
            vss.append(dumps.VirtualServerView(
                address=str(vs.address) if vs.address is not None else None, port=vs.port, fwmark=vs.fwmark,
                family=vs.ip_family.value, connect_timeout=vs.connect_timeout, delay_loop=vs.delay_loop,
                sched=vs.lvs_sched, protocol=proto, alpha=vs.alpha, omega=vs.omega,
                inhibit=vs.inhibit_on_failure, quorum=vs.quorum, hysteresis=vs.hysteresis,
                smtp_alert=vs.smtp_alert, forwarding=vs.forwarding.method.name,
                alive=st is not None and st.started, quorum_up=bool(st.quorum_up) if st is not None else False,
                persistence_timeout=vs.persistence_timeout, virtualhost=vs.virtualhost,
                real_servers=tuple(rss), flags=vs.sched_flags))
        return dumps.check_data_text(self.config.global_defs, vss, checkers)

    def reload(self, config: Config) -> None:
        """Apply a new configuration: checkers restart only if the LVS part changed."""
        log.info("Reloading")  # keepalived's checker child says so too (reload_check_thread)
        # the lines the reload brings (keepalived's Activating line per checker: 37,298 of them at the largest
        # configurations, a second of logging) are written once the new table is applied, not before it
        if self._held_logs is None:
            self._held_logs = []
        old = self.config
        self.config = config
        self.policy.reload(config.global_defs)
        self._follow_bfd()  # a reload that adds the first bfd_instance: its BFD child just started
        if config.announce != old.announce:
            self._dirty.set()  # the next reconcile follows the new bgp_announce
        reloaded = self.overrides.reloaded()
        if reloaded != self.overrides:  # keepalived 2.2.7: the configured weight again (set_effective_weights)
            log.info("Reload: the weights set until reload (SNMP SET) dropped: the configured weights apply")
        kept = reloaded.prune(configured_servers(config)) if reloaded else reloaded
        if kept != reloaded:
            log.info("Reload: overrides of removed virtual or real servers dropped; kept: %s",
                     kept.to_json() if kept else "none")
        if kept != self.overrides:
            self.overrides = kept
            self._dirty.set()
        if config.global_defs.lvs_sync_daemon != old.global_defs.lvs_sync_daemon:
            self._syncd_task = asyncio.ensure_future(asyncio.to_thread(
                self._sync_daemons, old.global_defs.lvs_sync_daemon, config.global_defs.lvs_sync_daemon))
        if config.lvs == old.lvs and config.global_defs == old.global_defs:
            log.info("Reload: virtual servers unchanged")
            return
        previous = self.runner
        if previous is not None and (config.global_defs, config.lvs.ssl, config.vrrp.track_files) == \
                (old.global_defs, old.lvs.ssl, old.vrrp.track_files):
            # in place: unchanged real servers keep their checkers, state and schedule
            n_kept, built, dropped = previous.reconfigure(
                without_refused_misc_checks(config.lvs.virtual_servers, self.policy),
                config.lvs.virtual_server_groups)
            log.info("Reload: %d health checkers kept, %d started, %d stopped", n_kept, built, dropped)
            self._settle_full = self.settle_policy.after_reload(dropped, n_kept + built)
            self._apply_ha_suspend(previous)
            if self.bfd is not None:
                self.bfd.attach(previous)
        else:
            log.info("Reload: health checkers restart; servers still configured keep their state")
            if previous is not None:
                previous.abandon()
            self._settle_full = True
            self._start_runner(config, previous)
            assert self.runner is not None
            self._apply_ha_suspend(self.runner)
        del previous
        self._settle = True  # after the next reconcile: the table first
        self._dirty.set()

    def _flush_at_start(self) -> None:
        """keepalived's ``lvs_flush``: the daemon's start empties the whole shared table (IPVS), other
        programs' services too, before anything is read or added; not when the supervisor restarts a checker
        process that died (keepalived's would flush then too, dropping every service for a moment)."""
        assert self.dp is not None
        if self.config.global_defs.lvs_flush and self.dp.capabilities.shared_table and self.options.daemon_start:
            log.info("lvs_flush: emptying the whole %s table, other programs' services included", self.dp.name)
            self.dp.release(everything=True)

    def _release_at_stop(self) -> None:
        """On stop, unless ``-I``: what the data plane owns (IPVS: the services claimed), or with
        ``lvs_flush_on_stop`` (without ``VS``) the whole table, as keepalived's clear_services."""
        assert self.dp is not None
        if self.options.dont_release_ipvs:
            return
        self.dp.release(everything=self.config.global_defs.lvs_flush_on_stop == "ALL")

    def _sync_daemons(self, old: LvsSyncDaemon | None, new: LvsSyncDaemon | None) -> None:
        """keepalived's checker side of ``lvs_sync_daemon``: one that names no VRRP instance has the checker
        process run the kernel's master and backup sync threads together, from its start (after stopping
        any left by a previous run) to its stop, restarted by a reload that changes it (``old`` -> ``new``,
        None at start and at stop).  One that names an instance is the VRRP process's (vrrp.syncd)."""
        was = old is not None and old.instance is None
        wanted = new is not None and new.instance is None
        if not (was or wanted) or self.dp is None:
            return
        if self.dp.name != "ipvs":
            if wanted:
                log.warning("lvs_sync_daemon on %s needs the ipvs data plane (this one is %s) - not started",
                            new.interface if new else "", self.dp.name)
            return
        from pykeepalived.lvs.dataplane import ipvs

        cfg = ipvs.SyncDaemonConfig.from_config(new) if wanted and new is not None else None
        try:
            ipvs.run_both_sync_daemons(cfg)
        except ipvs.IpvsError as e:
            log.error("IPVS sync daemon on %s: %s", new.interface if new else old.interface if old else "", e)
            return
        if cfg is not None:
            log.info("Starting IPVS master and backup sync daemons on %s (syncid %d)", cfg.interface, cfg.syncid)
        else:
            log.info("Stopped IPVS master and backup sync daemons")

    def _follow_bfd(self) -> None:
        """Subscribe to the BFD child's events once the configuration has a ``bfd_instance`` (at start or
        on the reload that adds the first one; kept afterwards: the stream reconnects while it is absent)."""
        if self.bfd is not None and not self.bfd.started and self.config.vrrp.bfd_instances:
            self.bfd.start()

    def _known_down(self) -> dict[VsId, set[DestKey]]:
        """Real servers that the data plane's table, found at start, holds out of the pool (a checker
        process restarted after a crash): they stay out until their checks pass (:func:`known_down`)."""
        assert self.dp is not None
        groups = {g.name: g for g in self.config.lvs.virtual_server_groups}
        self.dp.claim(k for vs in self.config.lvs.virtual_servers for k in service_keys(vs, groups))
        try:
            observed = self.dp.observe()
        except Exception as e:  # the table will be read again on the first reconcile
            log.warning("Reading the data plane's table at start failed: %s", e)
            return {}
        down = known_down(self.config.lvs.virtual_servers, groups, observed)
        for vs_key, keys in down.items():
            for key in sorted(keys, key=str):
                log.info("%s of %s is out of the table left by the previous checker process: "
                         "down until its checks pass", key, vs_key[0])
        return down

    def _start_runner(self, config: Config, previous: Runner | None = None,
                      known_down: dict[VsId, set[DestKey]] | None = None) -> None:
        g = config.global_defs
        settings = Settings(router_id=g.router_id or "",
                            no_checker_emails=g.no_checker_emails,
                            rs_init_notifies=g.rs_init_notifies,
                            checker_log_all_failures=g.checker_log_all_failures)
        track_files = {t.name: t for t in config.vrrp.track_files}
        self.runner = Runner(without_refused_misc_checks(config.lvs.virtual_servers, self.policy),
                             on_events=self._on_events, settings=settings,
                             groups=config.lvs.virtual_server_groups, ssl_config=config.lvs.ssl,
                             track_files=track_files, max_in_flight=self.max_in_flight,
                             script_job=lambda script: self.policy.job(script, kind="misc_path"),
                             duration_bounds=CHECK_DURATION_BUCKETS)
        self.runner.start(previous, known_down)
        if self.bfd is not None:
            self.bfd.attach(self.runner)  # BFD_CHECKs: every session's last verdict, then its events

    def _apply_ha_suspend(self, runner: Runner) -> None:
        """ha_suspend for a runner just started (at start and after every reload), before the loop runs
        again: keepalived's Activating/Deactivating line per checker, and checkers of a VS whose
        address is not on this host suspended (the address watch opens only if a VS needs it)."""
        self.ha_suspend.attach(runner)

    async def _tick(self) -> None:
        """Reconcile right after table events (coalesced), and every ``reconcile_interval`` anyway."""
        failing: tuple[str, str] | None = None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dirty.wait(), self.options.reconcile_interval)
            self._dirty.clear()
            try:
                await self.reconcile()
                failing = None
                self._release_logs()
                if self._settle:
                    self._settle = False
                    settle_memory(self._settle_full)
            except Exception as e:  # the data plane refused something: log, keep checking, retry later
                # the same failure every second (out of descriptors, a table someone else holds) is logged
                # with its traceback once, then once a minute, as one line
                key = (type(e).__name__, str(e))
                ok, suppressed = self._reconcile_log.allow(key, asyncio.get_running_loop().time())
                if ok and key != failing:
                    log.exception("Reconcile failed; will retry")
                elif ok:
                    log.error("Reconcile still failing (%s: %s; %d more since the last line); will retry",
                              key[0], key[1], suppressed)
                failing = key
            finally:
                self._release_logs()

    # -- the data plane ------------------------------------------------------------------------------
    def desired(self) -> Table:
        assert self.runner is not None
        assert self.dp is not None
        return self.dp.canonical(apply_overrides(self.runner.desired_table(), self.overrides))

    async def reconcile(self) -> None:
        """Make the data plane hold the desired table (no-op when it already does).

        Data-plane calls are blocking netlink/libnftables calls (and pyroute2's synchronous API
        cannot run inside a running event loop), so they run on a worker thread, one at a time.
        """
        desired = self.desired()
        async with self._dp_lock:
            await asyncio.to_thread(self._reconcile_sync, desired, counters=False)

    def _reconcile_sync(self, desired: Table, *, counters: bool = True) -> None:
        """observe -> diff -> apply -> observe; then counters and upkeep: all counters when ``counters``
        (or when the data plane does not say which schedulers need them), else only the counts that
        connection-count schedulers emulated by the data plane need, while a service uses one."""
        assert self.dp is not None
        self.dp.claim(svc.key for svc in desired.services)
        observed = self.dp.observe()
        ops = diff(desired, observed)
        if ops:
            for op in ops:
                log.info("%s", op)
            self.dp.apply(ops)
            self.ops_applied += len(ops)
            observed = self.dp.observe()
        self.observed = observed
        self.announcer = follow(self.announcer, self.config, self.runner, observed)
        if counters or self.dp.capabilities.count_schedulers is None:
            self._read_counters()
        elif needs_counts(self.dp, observed):
            self.dp.maintain(maintenance_counts(self.dp))
        self.conntrack_use = read_conntrack_use()
        said = self.conntrack.sample(self.conntrack_use)
        if said is not None:
            log.log(*said)
        self.reconciles += 1

    def _read_counters(self) -> None:
        assert self.dp is not None
        self.counters = self.dp.counters()
        self.counters_at = time.monotonic()
        self.dp.maintain(self.counters)

    async def status(self) -> Snapshot:
        """:meth:`snapshot` with counters at most ``counters_interval`` old: read now when older (the
        control socket's ``/status`` and ``/metrics``), waiting at most ``COUNTERS_WAIT`` for them;
        requests that arrive meanwhile share the one read."""
        stale = self.counters_at is None or time.monotonic() - self.counters_at >= self.options.counters_interval
        if self.dp is not None and stale:
            if self._counters_task is None or self._counters_task.done():
                self._counters_task = asyncio.get_running_loop().create_task(self._refresh_counters())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._counters_task), COUNTERS_WAIT)
        return self.snapshot()

    async def _refresh_counters(self) -> None:
        try:
            async with self._dp_lock:
                await asyncio.to_thread(self._read_counters)
        except Exception as e:  # status answers with the previous counters
            log.warning("Reading the data plane's counters failed: %s", e)

    # -- notifications ------------------------------------------------------------------------------
    def _open_fifos(self) -> None:
        g = self.config.global_defs
        for fifo in (g.notify_fifo, g.lvs_notify_fifo):
            if fifo is not None:
                self.fifos.open(fifo.path, fifo.user, fifo.group)

    def _release_logs(self) -> None:
        held, self._held_logs = self._held_logs, None
        for ev in held or ():
            log.info("%s", ev.text)

    def _on_events(self, events: list[Event]) -> None:
        table_changed = False
        held = self._held_logs
        for ev in events:
            if isinstance(ev, Log):
                if held is not None:
                    held.append(ev)
                else:
                    log.info("%s", ev.text)
            elif isinstance(ev, RunScript):
                # one ordered queue for the checker side: notifies reach scripts in event order
                self.scripts.submit("lvs", [self._job(ev.script)])
            elif isinstance(ev, FifoLine):
                self.fifos.write(ev.line)
            elif isinstance(ev, MailAlert) and self._mailer is not None:
                self._mailer.send_alert(ev)
            if isinstance(ev, TABLE_EVENTS):
                table_changed = True
        if table_changed:
            self._dirty.set()
            self.changes.bump()

    def _job(self, script: Script | None) -> ScriptJob | None:
        """notify_up/down, quorum_up/down: only as script security allows, as every other script."""
        return self.policy.job(script)

    # -- status ------------------------------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        """The LVS half of the status view: the data plane's table plus the checkers' verdicts."""
        by_key: dict[ServiceKey, tuple[Any, VirtualServerState | None]] = {}
        if self.runner is not None:
            groups = {g.name: g for g in self.config.lvs.virtual_server_groups}
            for vs in self.config.lvs.virtual_servers:
                st = self.runner.health.get(vs_id(vs))
                for key in service_keys(vs, groups):
                    by_key[key] = (vs, st)
        stats: dict[ServiceKey, dict[DestKey, Counters]] = {}
        rates: dict[ServiceKey, dict[DestKey, Rates]] = {}
        for (skey, dkey), c in self.counters.dests.items():
            stats.setdefault(skey, {})[dkey] = c.stats
            rates.setdefault(skey, {})[dkey] = c.rates
        counts = self.counters.connection_counts()
        checks = check_statuses(self.runner) if self.runner is not None else {}
        statuses = []
        for svc in self.observed.services:
            vs, st = by_key.get(svc.key, (None, None))
            health: dict[DestKey, Health] = {}
            configured = []
            quorum = None
            sorry = None
            if vs is not None and st is not None:
                for rs in vs.real_servers:
                    dkey = rs_key(rs)
                    server = st.servers.get(dkey)
                    alive = bool(server.alive) if server is not None else True
                    health[dkey] = Health.ALIVE if alive else (
                        Health.INHIBITED if rs.inhibit_on_failure else Health.DOWN)
                    configured.append(_configured_dest(rs))
                quorum = QuorumStatus(quorum=vs.quorum, hysteresis=vs.hysteresis,
                                      weight_sum=st.weight_sum(), up=bool(st.quorum_up))
                sorry_cfg = vs.sorry_server
                if sorry_cfg is not None:
                    sorry = DestKey.of(sorry_cfg.ip, sorry_cfg.port or svc.key.port)
            vss = VirtualServiceStatus.build(
                svc, configured=configured, health=health, conn_counts=counts, quorum=quorum,
                sorry_server=sorry,
                stats=stats.get(svc.key), rates=rates.get(svc.key))
            if st is not None and checks:
                vss = replace(vss, destinations=tuple(replace(d, checks=checks.get((st.id, d.key), d.checks))
                                                      for d in vss.destinations))
            if any((svc.key, d.key) in self.overrides.servers for d in vss.destinations):
                vss = replace(vss, destinations=tuple(
                    replace(d, override=self.overrides.server(svc.key, d.key).describe()) for d in vss.destinations))
            if svc.key in self.counters.services:  # the kernel's own service line (outlives removed dests)
                vss = replace(vss, stats=self.counters.services[svc.key][0],
                              rates=self.counters.services[svc.key][1])
            statuses.append(vss)
        return Snapshot(daemon=DaemonInfo(pid=os.getpid(), config_file=self.options.config_file,
                                          dataplane=self.dp.name if self.dp is not None else "none",
                                          started_at=self.started_at),
                        taken_at=time.time(), virtual_services=tuple(statuses),
                        overrides=self.overrides.to_json() if self.overrides else {}, conntrack=self.conntrack_use)

    # -- the runtime API (status.api) -------------------------------------------------------------------
    async def command(self, cmd: Command, caller: Caller) -> dict[str, Any]:
        """drain/undrain/weight/disable/enable/reset: change the overrides, then reconcile before answering,
        so a ``ctl drain`` that returns has reached the data plane."""
        if cmd.name == "reset":
            self.overrides = Overrides()
            message = "every virtual-server override dropped"
        elif cmd.name in LVS_COMMANDS:
            self.overrides, message = self._override(cmd)
        else:
            raise ApiError(400, f"{cmd.name} is not a virtual-server command")
        log.info("Override: %s (asked by %s)", message, caller.describe())
        try:
            await self.reconcile()
        except Exception as e:  # kept: the periodic reconcile retries it
            self._dirty.set()
            message += f"; not applied yet: {e}"
        return {"message": message, "overrides": self.overrides.to_json()}

    def _override(self, cmd: Command) -> tuple[Overrides, str]:
        assert cmd.service is not None
        try:
            service = parse_service(cmd.service)
            server = parse_server(cmd.server) if cmd.server else None
        except OverrideError as e:
            raise ApiError(400, str(e)) from None
        configured = dict(configured_servers(self.config))
        if service not in configured:
            known = ", ".join(format_service(k) for k in sorted(configured)) or "none"
            raise ApiError(404, f"no virtual server {format_service(service)} in the configuration "
                                f"(there are: {known})")
        if server is not None and server not in configured[service]:
            raise ApiError(404, f"{server} is not a real server of {format_service(service)}")
        name = f"{format_service(service)} {server}" if server is not None else format_service(service)
        ov = self.overrides
        if cmd.name in ("disable", "enable") and server is None:
            return ov.with_service(service, cmd.name == "disable"), f"{cmd.name}d {name}"
        if server is None:
            raise ApiError(400, f"{cmd.name}: which real server of {name}?")
        if cmd.name == "drain":
            return ov.with_server(service, server, drained=True), f"drained {name}"
        if cmd.name == "undrain":
            return ov.with_server(service, server, drained=False), f"undrained {name}"
        if cmd.name == "weight" and cmd.until_reload:
            return (ov.with_server(service, server, reload_weight=cmd.weight),
                    f"weight of {name} set to {cmd.weight} until reload")
        if cmd.name == "weight":  # lasting: also ends a weight set until reload
            return (ov.with_server(service, server, weight=cmd.weight, reload_weight=None),
                    f"weight of {name} set to {cmd.weight}")
        return ov.with_server(service, server, disabled=cmd.name == "disable"), f"{cmd.name}d {name}"


def configured_servers(config: Config) -> list[tuple[ServiceKey, list[DestKey]]]:
    """Every data-plane service of the configuration with its real servers: what overrides may name."""
    groups = {g.name: g for g in config.lvs.virtual_server_groups}
    return [(key, [rs_key(rs) for rs in vs.real_servers])
            for vs in config.lvs.virtual_servers for key in service_keys(vs, groups)]


def _configured_dest(rs: RealServer) -> Destination:
    return Destination(rs_key(rs), rs.weight)


def _make_mailer(config: Config) -> Any:
    """The SMTP alerter when mail is configured (notify.mail), else None."""
    from pykeepalived.notify.mail import Mailer, mail_configured

    g = config.global_defs
    return Mailer(g) if mail_configured(g) else None
