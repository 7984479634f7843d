"""The parent process: starts, watches and restarts the VRRP and checker children.

As keepalived's parent does (keepalived's core/main.c; vrrp/vrrp_daemon.c: vrrp_respawn_thread()): it
validates the configuration, writes the main pid file, starts one child per subsystem that has configuration
(``-P`` VRRP only, ``-C`` checkers only), forwards signals (HUP reload, TERM stop, the dump signals of
``daemon.signals``) and restarts a child that died, with back-off. Before restarting a dead VRRP child it
removes the VIPs that child may have held, so a crash never leaves a VIP behind on two hosts.

A reload (SIGHUP) parses and validates first; a configuration that cannot run (a keyword missing
its parameter, an unreadable file) keeps the running one, with the reason logged.  The children never
parse: each gets its part of what the supervisor loaded, at start and on every reload (:mod:`.config_feed`).

The supervisor also serves the control socket: ``pykeepalived status`` talks to it, and it merges
the children's halves (VRRP instances; virtual servers) into one snapshot.  It follows each child's change
signal (``/changes`` on the child's socket, status.changes) and bumps its own, :attr:`Supervisor.changes`,
when one moves: the SNMP subagent takes a snapshot then (traps at the moment of the change), reading again
only the children whose signal moved (:meth:`Supervisor.snapshot` with ``changed_only``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pykeepalived import __version__
from pykeepalived.config import load_config
from pykeepalived.config.block_cache import BlockCache
from pykeepalived.config.loader import LoadResult
from pykeepalived.config.model import Config
from pykeepalived.process import name_process, process_name_of
from pykeepalived.status import dumps
from pykeepalived.status.api import LVS_COMMANDS, VRRP_COMMANDS, Access, ApiError, Caller, Command
from pykeepalived.status.changes import ChangeSignal, follow
from pykeepalived.status.client import fetch, post
from pykeepalived.status.dashboard import DashboardOptions
from pykeepalived.status.server import ControlServer, parse_listen
from pykeepalived.status.snapshot import DaemonInfo, Snapshot

from . import config_feed
from .child import DAEMON_START_ENV, EXIT_CONFIG, OVERRIDES_FD_ENV, options_json
from .options import DaemonOptions
from .runtime import remove_pid_file, write_pid_file, write_private

if TYPE_CHECKING:
    from pykeepalived.snmp.writes import Write
from .sdnotify import Notifier, ReadyWatch
from .signals import DUMPS, ignore_signals, on_signal, run_process

log = logging.getLogger("pykeepalived")

#: keepalived's child_wait_time default: how long stop waits for children
CHILD_WAIT = 5.0
#: a child that ran this long is restarted at once; one that died sooner waits, the wait doubling up to
#: MAX_RESTART_DELAY (keepalived's calc_restart_delay)
STABLE_RUN, MAX_RESTART_DELAY = 60.0, 60.0
#: the children serving a status half (and a change signal) on their control socket
STATUS_KINDS = ("vrrp", "checkers")


def restart_delay(ran_for: float, pending: float) -> tuple[float, float]:
    """keepalived's ``calc_restart_delay``: (how long to wait before this restart, the wait the next quick
    death will get).  0, 1, 2, 4 … 32, then 60 s for a child that keeps dying within a minute."""
    if ran_for >= STABLE_RUN:
        return 0.0, 0.0
    following = 1.0 if pending == 0 else (MAX_RESTART_DELAY if pending > 30 else pending * 2)
    return pending, following


@dataclass
class Child:
    kind: str  # "vrrp" | "checkers" | "bfd"
    proc: asyncio.subprocess.Process | None = None
    #: the wait before the next restart if this run ends quickly (restart_delay)
    next_delay: float = 0.0
    started_at: float = 0.0
    waiter: asyncio.Task[int] | None = field(default=None, repr=False)
    #: the supervisor's end of the child's configuration channel (:mod:`.config_feed`)
    feed: socket.socket | None = field(default=None, repr=False)
    #: the part of the configuration last sent on ``feed`` and its generation: the next one is sent against it
    sent: Config | None = field(default=None, repr=False)
    sent_generation: int = 0
    respawn: asyncio.Task[None] | None = field(default=None, repr=False)

    @property
    def title(self) -> str:
        return {"vrrp": "VRRP", "bfd": "BFD"}.get(self.kind, "Healthcheck")


def wanted_children(config: Config, options: DaemonOptions) -> list[str]:
    kinds = []
    vrrp = config.vrrp
    # keepalived runs its VRRP process for a static_* block alone too (its have_vrrp_config)
    if not options.check_only and (vrrp.instances or vrrp.static_ipaddress or vrrp.static_routes
                                   or vrrp.static_rules or options.run_all):
        kinds.append("vrrp")
    if not options.vrrp_only and (config.lvs.virtual_servers or options.run_all):
        kinds.append("checkers")
    # keepalived's running_bfd(): -P and -C leave it running; -B stops it
    if not options.no_bfd and (config.vrrp.bfd_instances or options.run_all):
        kinds.append("bfd")
    return kinds


class Supervisor:
    def __init__(self, config: Config, options: DaemonOptions, notifier: Notifier | None = None, *,
                 blocks: BlockCache | None = None) -> None:
        self.config = config
        self.options = options
        #: the blocks of the last load, which a reload takes when it did not change them (config.block_cache)
        self.blocks = blocks if blocks is not None else BlockCache()
        self.children: dict[str, Child] = {}
        self.started_at = time.time()
        self._stopping = asyncio.Event()
        self._exited: asyncio.Queue[Child] = asyncio.Queue()
        self.dataplane = "none"
        #: systemd (Type=notify): READY once the children are, RELOADING/READY around a reload, STOPPING
        self.notifier = notifier if notifier is not None else Notifier.from_environ()
        self.ready_watch = ReadyWatch()
        #: the runtime overrides each child last reported (handed to it again when it restarts)
        self.overrides: dict[str, dict[str, Any]] = {}
        #: who may read and write on the control socket and the --listen port (status.api)
        self.access = Access.configure(options.control_read_group, options.control_write_group,
                                       options.listen_token_file)
        #: the AgentX subagent (-x, enable_snmp_*), fed by :meth:`snapshot`
        self.snmp: Any = None
        #: each child's part of ``config`` and its pickle (:mod:`.config_feed`): made once per configuration
        self._parts: dict[str, tuple[Config, bytes]] = {}
        #: the generation of ``config``: one more at every reload that takes a new one
        self.generation = 1
        self._resends: set[asyncio.Task[None]] = set()
        self._reload_lock = asyncio.Lock()
        #: bumped when a child's change signal moves (or a child stops answering): status.changes
        self.changes = ChangeSignal()
        #: one follower of each child's change signal (by kind: the socket's path is the kind's)
        self._followers: dict[str, asyncio.Task[None]] = {}
        #: each child's last status half, and the kinds whose signal moved since it was read
        self._halves: dict[str, Snapshot] = {}
        self._moved: set[str] = set(STATUS_KINDS)

    # -- children -------------------------------------------------------------------------------------
    async def _spawn(self, child: Child, *, at_start: bool = False) -> None:
        argv = [sys.executable, "-m", "pykeepalived.daemon.child", child.kind, options_json(self.options)]
        ready_fd, env = self.ready_watch.open(child.kind)
        # the running configuration, not the file (maybe broken since), queued before the child starts
        self._close_feed(child)
        child.feed, feed_end = config_feed.channel()
        await self._send_full(child)
        asyncio.get_running_loop().add_reader(child.feed.fileno(), self._feed_readable, child, child.feed)
        # the runtime overrides a (re)started child must keep: a crash never undrains a server
        overrides_fd = config_feed.data_memfd("pykeepalived-overrides",
                                              json.dumps(self.overrides.get(child.kind, {})).encode())
        env = {**env, config_feed.CONFIG_FD_ENV: str(feed_end.fileno()), OVERRIDES_FD_ENV: str(overrides_fd),
               DAEMON_START_ENV: "1" if at_start else "0"}
        try:
            child.proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.DEVNULL,
                                                              preexec_fn=_die_with_parent,
                                                              pass_fds=(ready_fd, feed_end.fileno(), overrides_fd),
                                                              env=env)
        finally:
            os.close(ready_fd)
            feed_end.close()
            os.close(overrides_fd)
        child.started_at = time.monotonic()
        log.info("Starting %s child process, pid=%d", child.title, child.proc.pid)
        self._follow(child.kind)
        child.waiter = asyncio.get_running_loop().create_task(self._wait(child))

    def _follow(self, kind: str) -> None:
        """Follow child ``kind``'s change signal (once per kind: the follower outlives the child's restarts)."""
        task = self._followers.get(kind)
        if kind in STATUS_KINDS and (task is None or task.done()):
            self._followers[kind] = asyncio.get_running_loop().create_task(
                follow(self.options.child_control_path(kind), lambda: self._child_changed(kind)),
                name=f"follow-{kind}")

    def _unfollow(self, kind: str) -> None:
        task = self._followers.pop(kind, None)
        if task is not None:
            task.cancel()
        self._halves.pop(kind, None)

    def _child_changed(self, kind: str) -> None:
        self._moved.add(kind)
        self.changes.bump()

    async def _part(self, kind: str) -> tuple[Config, bytes]:
        """Child ``kind``'s part of the running configuration, and pickled whole (on a thread: ~0.3 s for the
        LVS part of 37,000 real servers)."""
        config = self.config
        got = self._parts.get(kind)
        if got is None:
            part = config_feed.part_for(kind, config)
            got = part, await asyncio.to_thread(config_feed.encode, part)
            if config is self.config:
                self._parts[kind] = got
        return got

    async def _send_full(self, child: Child) -> None:
        """The running configuration, whole (a child starting, or one that asked for it)."""
        assert child.feed is not None
        generation = self.generation
        part, data = await self._part(child.kind)
        config_feed.send(child.feed, data, generation)
        child.sent, child.sent_generation = part, generation

    async def _send_config(self, child: Child) -> None:
        """A reload's configuration, pickled against the one the child got last (only what changed)."""
        if child.feed is None or child.proc is None or child.proc.returncode is not None:
            return  # restarting: it gets the running configuration when it starts
        generation = self.generation
        part = config_feed.part_for(child.kind, self.config)
        base = child.sent
        data = (await asyncio.to_thread(config_feed.encode, part, base) if base is not None
                else (await self._part(child.kind))[1])
        try:
            config_feed.send(child.feed, data, generation, child.sent_generation if base is not None else 0)
        except OSError as e:
            log.warning("The new configuration could not be sent to the %s child (%s); it keeps the one it runs",
                        child.kind, e)
            return
        child.sent, child.sent_generation = part, generation

    def _feed_readable(self, child: Child, feed: socket.socket) -> None:
        """A child asking for the whole configuration (it could not use one sent against its last)."""
        asked, closed = config_feed.read_requests(feed)
        if closed:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(feed.fileno())
        if asked and feed is child.feed:
            task = asyncio.get_running_loop().create_task(self._resend_full(child, feed))
            self._resends.add(task)
            task.add_done_callback(self._resends.discard)

    async def _resend_full(self, child: Child, feed: socket.socket) -> None:
        async with self._reload_lock:  # in order with the reloads' messages
            if feed is not child.feed:
                return
            log.info("The %s child asked for the whole configuration: sending it", child.kind)
            try:
                await self._send_full(child)
            except OSError as e:
                log.warning("The configuration could not be sent to the %s child (%s)", child.kind, e)

    def _close_feed(self, child: Child) -> None:
        if child.feed is not None:
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(child.feed.fileno())
            child.feed.close()
            child.feed, child.sent = None, None

    async def _wait(self, child: Child) -> int:
        assert child.proc is not None
        rc = await child.proc.wait()
        self._exited.put_nowait(child)
        return rc

    async def _on_exit(self, child: Child) -> None:
        assert child.proc is not None
        rc = child.proc.returncode
        if self._stopping.is_set():
            return
        log.warning("%s child process(%d) exited with status %s", child.kind, child.proc.pid, rc)
        if child.kind == "vrrp" and not self.options.dont_release_vrrp:
            await self._release_vips()
        if rc == EXIT_CONFIG:
            log.error("%s child exited with a configuration error. Terminating", child.kind)
            self._stopping.set()
            return
        if self.options.dont_respawn:
            log.error("%s child died and --dont-respawn is set. Terminating", child.kind)
            self._stopping.set()
            return
        delay, child.next_delay = restart_delay(time.monotonic() - child.started_at, child.next_delay)
        if delay:
            log.info("Restart of %s process delayed %g seconds to limit respawn rate", child.title, delay)
        # the wait runs on its own: the other child's exit is handled (its VIPs released) meanwhile
        child.respawn = asyncio.get_running_loop().create_task(self._respawn_later(child, delay))

    async def _respawn_later(self, child: Child, delay: float) -> None:
        if delay:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
        if not self._stopping.is_set() and self.children.get(child.kind) is child:
            await self._spawn(child)

    async def _release_vips(self) -> None:
        from pykeepalived.vrrp.release import release_vips_async

        try:
            removed = await release_vips_async(self.config)
            if removed:
                log.info("Removed %d VIP(s) left by the dead VRRP child", len(removed))
        except Exception:
            log.exception("Removing the VIPs of the dead VRRP child failed")

    def _signal_children(self, sig: int) -> None:
        for child in self.children.values():
            if child.proc is not None and child.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(sig)

    def _on_dump_signal(self, sig: int) -> None:
        """keepalived's propagate_signal(): USR1 goes to both children and the parent writes its own
        keepalived_parent.data; USR2, JSON and STATS_CLEAR go to the VRRP child only, which alone
        writes them (status.dumps)."""
        for child in self.children.values():
            if (child.kind == "vrrp" or sig == signal.SIGUSR1) and child.proc is not None \
                    and child.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(sig)
        if sig == signal.SIGUSR1:
            log.info("Printing parent data for process(%d) on signal", os.getpid())
            path = dumps.data_file("keepalived_parent.data", self.config.global_defs)
            try:
                dumps.write_private(path, dumps.parent_data_text(self.config.global_defs))
            except OSError as e:
                log.error("Can't open dump file %s (%d: %s)", path, e.errno or 0, e.strerror)

    # -- reload ---------------------------------------------------------------------------------------
    async def reload(self) -> tuple[bool, str]:
        """SIGHUP (and the API's ``reload``): (loaded, what happened)."""
        async with self._reload_lock:  # one at a time: the children get the configurations in order
            return await self._reload()

    async def _reload(self) -> tuple[bool, str]:
        log.info("Reloading")
        self.notifier.reloading()
        result = await asyncio.to_thread(load_config, self.options.config_file, config_id=self.options.config_id,
                                         all_config=self.options.all_config, block_cache=self.blocks)
        if result.config is None or result.diagnostics.missing_parameter:
            for d in result.diagnostics:
                if not d.info:
                    log.error("%s", d)
            log.error("Reload aborted: the new configuration cannot be used - keeping the running configuration")
            self.notifier.reloaded("Reload aborted: the running configuration is kept")
            problems = "; ".join(str(d) for d in result.diagnostics if not d.info)
            return False, f"reload aborted, the running configuration is kept: {problems}"
        if self.blocks.reused:
            log.info("%d virtual servers unchanged: taken as last loaded", self.blocks.reused)
        self.config = result.config
        self.generation += 1
        self._parts = {}
        name_process(process_name_of("parent", self.config.global_defs))
        if self.snmp is not None:
            self.snmp.config = self.config
        if self.options.dump_conf:
            dump_config(self.config)
        wanted = wanted_children(self.config, self.options)
        for kind in list(self.children):
            if kind not in wanted:
                child = self.children.pop(kind)
                self._unfollow(kind)
                if child.proc is not None and child.proc.returncode is None:
                    child.proc.terminate()
        # each running child gets its part, the VRRP child's first (a few hundred bytes); no child parses
        for kind in sorted(self.children, key=lambda k: k != "vrrp"):
            await self._send_config(self.children[kind])
        for kind in wanted:
            if kind not in self.children:
                self.children[kind] = Child(kind)
                await self._spawn(self.children[kind])
        self.notifier.reloaded("Reloaded")
        return True, f"reloaded {self.options.config_file}"

    # -- the runtime API (status.api) -------------------------------------------------------------------
    async def command(self, cmd: Command, caller: Caller) -> dict[str, Any]:
        """``reload`` here; virtual-server commands go to the checker child, VRRP ones to the VRRP child,
        ``reset`` to both.  The overrides each child answers with are kept here for its restarts."""
        if cmd.name == "reload":
            ok, message = await self.reload()
            if not ok:
                raise ApiError(409, message)
            return {"message": message}
        kinds = ["checkers"] if cmd.name in LVS_COMMANDS else ["vrrp"] if cmd.name in VRRP_COMMANDS else [
            k for k in ("checkers", "vrrp") if k in self.children]
        messages: list[str] = []
        overrides: dict[str, Any] = {}
        for kind in kinds:
            if kind not in self.children:
                what = "virtual_server" if kind == "checkers" else "vrrp_instance"
                raise ApiError(404, f"no {kind} process runs (the configuration has no {what})")
            try:
                status, body = await asyncio.to_thread(post, self.options.child_control_path(kind),
                                                       "/api/v1/command", json.dumps(cmd.to_json()).encode())
                reply = json.loads(body)
            except (OSError, ValueError) as e:
                raise ApiError(503, f"the {kind} process did not answer ({e}); is it restarting?") from None
            if status != 200:
                raise ApiError(status, str(reply.get("error", reply)))
            self.overrides[kind] = reply.get("overrides", {})
            overrides.update(self.overrides[kind])
            messages.append(str(reply.get("message", "")))
        return {"message": "; ".join(m for m in messages if m), "overrides": overrides}

    async def _announce_ready(self) -> None:
        """READY=1 to systemd once every child has said it is ready (readiness pipe, sdnotify.ReadyWatch)."""
        await self.ready_watch.wait(list(self.children))
        log.info("Ready: %s", ", ".join(self.children) or "nothing to run")
        self.notifier.ready(f"Running: {', '.join(self.children) or 'nothing to run'}")

    # -- status ---------------------------------------------------------------------------------------
    async def snapshot(self, *, changed_only: bool = False) -> Snapshot:
        """Merge the children's status halves (whichever answer) into one view.  ``changed_only``: read
        again only the children whose change signal moved since their half was last read (the others'
        last halves are merged as they were): what the SNMP subagent asks on a change, so that a VRRP
        failover's traps do not wait for the checker child's table of thousands of servers."""
        vrrp: tuple = ()
        scripts: tuple = ()
        processes: tuple = ()
        bfds: tuple = ()
        services: tuple = ()
        conntrack = None
        dataplane = "none"
        overrides: dict[str, Any] = {}
        for kind in self.children:
            if kind not in STATUS_KINDS:
                continue
            part = self._halves.get(kind) if changed_only and kind not in self._moved else None
            if part is None:
                self._moved.discard(kind)  # a change from now on asks for a newer half than this one
                part = await self._read_half(kind)
            if part is None:
                continue
            overrides.update(part.overrides)
            if kind == "vrrp":
                vrrp = part.vrrp
                scripts = part.vrrp_scripts
                processes, bfds = part.track_processes, part.bfds
            else:
                services = part.virtual_services
                dataplane = part.daemon.dataplane
                conntrack = part.conntrack
        info = DaemonInfo(pid=os.getpid(), config_file=self.options.config_file, dataplane=dataplane,
                          started_at=self.started_at, version=__version__, pid_file=self.options.pid_file,
                          control_socket=self.options.control_path)
        return Snapshot(daemon=info, taken_at=time.time(), vrrp=vrrp, virtual_services=services,
                        vrrp_scripts=scripts, track_processes=processes, bfds=bfds, overrides=overrides,
                        conntrack=conntrack)

    async def _read_half(self, kind: str) -> Snapshot | None:
        """Child ``kind``'s status half, or None (kept for :meth:`snapshot`'s ``changed_only``)."""
        try:
            status, body = await asyncio.to_thread(fetch, self.options.child_control_path(kind), "/status", 2.0)
            part = Snapshot.from_json(body) if status == 200 else None
        except Exception:  # a child restarting: show what the other knows
            part = None
        if part is None:
            self._halves.pop(kind, None)
            self._moved.add(kind)
        else:
            self._halves[kind] = part
        return part

    def _start_snmp(self) -> list[asyncio.Task[None]]:
        """The AgentX subagent when -x or an enable_snmp_* keyword asks for it (keepalived's snmp_agent_init)."""
        from pykeepalived.snmp.service import SnmpService, parts

        if not parts(self.config, self.options.snmp).any:
            return []
        self.snmp = SnmpService(self.config, self.snapshot, snmp_option=self.options.snmp,
                                socket=self.options.snmp_socket, apply=self._snmp_set, changes=self.changes,
                                changed_snapshot=lambda: self.snapshot(changed_only=True))
        return [asyncio.get_running_loop().create_task(self.snmp.run())]

    async def _snmp_set(self, write: Write) -> None:
        """A committed SNMP SET, as the runtime API's priority / preempt / weight command to the child."""
        caller = Caller("snmp")
        if write.what == "priority":
            await self.command(Command("priority", instance=write.instance, priority=write.value), caller)
        elif write.what == "preempt":
            await self.command(Command("preempt", instance=write.instance, preempt=bool(write.value)), caller)
        else:
            for service in write.services:
                # until the next reload, as keepalived's: its reload puts the configured weight back
                await self.command(Command("weight", service=service, server=write.server, weight=write.value,
                                           until_reload=True), caller)

    # -- main loop ------------------------------------------------------------------------------------
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            on_signal(loop, sig, self._stopping.set)
        on_signal(loop, signal.SIGHUP, lambda: loop.create_task(self.reload()))
        for dump_sig in DUMPS:
            on_signal(loop, dump_sig, self._on_dump_signal, dump_sig)

        tcp = parse_listen(self.options.listen) if self.options.listen else None
        server = ControlServer(self.snapshot, self.options.control_path, tcp=tcp, commands=self.command,
                               access=self.access, dashboard=DashboardOptions.configure(
                                   self.options.dashboard_name, self.options.dashboard_peers),
                               changes=self.changes)
        await server.start_or_retry()
        for kind in wanted_children(self.config, self.options):
            self.children[kind] = Child(kind)
            await self._spawn(self.children[kind], at_start=True)
        if not self.children:
            log.warning("Nothing to run: the configuration has no vrrp_instance and no virtual_server")
        if "vrrp" in self.children and not self.options.dont_release_vrrp:
            # the release path imported now, off the loop: imported when the child dies, it cost 0.3-0.7 s
            # (pyroute2) before the VIPs went and the priority-0 advert left, longer than a backup's
            # Master_Down_Interval with short adverts (it then took over by timeout, not by the advert)
            preload = loop.run_in_executor(None, _preload_release)
            preload.add_done_callback(lambda f: f.cancelled() or f.exception())
        systemd = [loop.create_task(self._announce_ready()), loop.create_task(self.notifier.run_watchdog())]
        systemd += self._start_snmp()

        stop_task = loop.create_task(self._stopping.wait())
        while not self._stopping.is_set():
            exit_task = loop.create_task(self._exited.get())
            done, _ = await asyncio.wait({stop_task, exit_task}, return_when=asyncio.FIRST_COMPLETED)
            if exit_task in done:
                child = exit_task.result()
                if self.children.get(child.kind) is child:
                    await self._on_exit(child)
            else:
                exit_task.cancel()

        log.info("Stopping")
        self.notifier.stopping()
        for task in systemd:
            task.cancel()
        for kind in list(self._followers):
            self._unfollow(kind)
        self._signal_children(signal.SIGTERM)
        waiters = [c.waiter for c in self.children.values() if c.waiter is not None]
        if waiters:
            _done, pending = await asyncio.wait(waiters, timeout=CHILD_WAIT)
            if pending:
                self._signal_children(signal.SIGKILL)
                await asyncio.wait(pending, timeout=2.0)
                if "vrrp" in self.children and not self.options.dont_release_vrrp:
                    await self._release_vips()
        for child in self.children.values():  # a child that did not stop cleanly (e.g. killed by the kernel)
            if child.proc is not None and child.proc.returncode not in (0, None, -signal.SIGTERM):
                log.warning("%s child process(%d) exited with status %s while stopping", child.kind,
                            child.proc.pid, child.proc.returncode)
        await server.stop()
        self.ready_watch.close()
        log.info("Stopped pykeepalived %s", __version__)
        return 0


def _preload_release() -> None:
    """Import what :meth:`Supervisor._release_vips` runs, so a dead VRRP child's VIPs go at once."""
    import pykeepalived.vrrp.release  # noqa: F401


def dump_config(config: Config) -> None:
    """``-d``: the effective configuration to the log, one JSON line per log line (keepalived dumps its
    internal structures in its own layout; this is ``pykeepalived config show``'s)."""
    import json

    from pykeepalived.config.model import to_jsonable

    log.info("------< Global definitions and configuration (JSON) >------")
    for line in json.dumps(to_jsonable(config), indent=2).splitlines():
        log.info("%s", line)


def _die_with_parent() -> None:
    """Children get SIGTERM when the supervisor dies (keepalived's PR_SET_PDEATHSIG), and start with
    HUP and the dump signals blocked: one arriving before the child's handlers exist waits for them
    instead of killing the child (each child unblocks them once its handlers are installed)."""
    import ctypes

    signal.pthread_sigmask(signal.SIG_BLOCK, (signal.SIGHUP, *DUMPS))

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _daemonize(pid_file: str) -> bool:
    """Fork into the background (keepalived without ``-n``); True in the daemon, False in the caller."""
    if os.fork() > 0:
        return False
    os.setsid()
    if os.fork() > 0:
        os._exit(0)
    fd = os.open(os.devnull, os.O_RDWR)
    for std in (0, 1, 2):
        os.dup2(fd, std)
    os.close(fd)
    write_private(pid_file, f"{os.getpid()}\n", 0o644)
    return True


def run_daemon(options: DaemonOptions, *, detach: bool = False) -> int:
    """``pykeepalived -f FILE …``: validate, write the pid file, supervise. Returns the exit status."""
    from .runtime import allow_core_dumps, enter_netns, set_core_pattern, setup_logging

    if options.umask is not None:
        os.umask(options.umask)
    ignore_signals()  # until the supervisor's loop handles them: a dump signal never stops the daemon
    setup_logging("parent", console=options.log_console, detail=options.log_detail,
                  facility=options.log_facility, syslog=not options.no_syslog)
    log.info("Starting pykeepalived %s", __version__)
    notifier = Notifier.from_environ()  # its socket made before -s: an @abstract address is per namespace
    log.info("Configuration file %s", options.config_file)
    blocks = BlockCache()

    def load() -> LoadResult:
        return load_config(options.config_file, config_id=options.config_id, all_config=options.all_config,
                           block_cache=blocks)

    def enter(namespace: str) -> bool:
        try:
            enter_netns(namespace)  # before any thread or child: they all inherit it
        except OSError as e:
            log.error("Unable to set network namespace %s - exiting (%s)", namespace, e.strerror)
            return False
        return True

    # -s first, so that the configuration's interfaces are looked up where the daemon will run
    if options.namespace and not enter(options.namespace):
        return 1
    result = load()
    configured_ns = result.config.global_defs.net_namespace if result.config is not None else None
    if configured_ns and options.namespace:
        log.info("Overriding config net_namespace '%s' with command line namespace '%s'",
                 configured_ns, options.namespace)
    elif configured_ns:
        if not enter(configured_ns):
            return 1
        result = load()
    for d in result.diagnostics:
        if not d.info:
            log.warning("%s", d)
    if result.config is None or result.diagnostics.missing_parameter:
        log.error("The configuration cannot be used; not starting")
        return EXIT_CONFIG
    if options.dump_conf:
        dump_config(result.config)
    try:  # an unknown group or an unsafe token file stops the start, with the reason
        Access.configure(options.control_read_group, options.control_write_group, options.listen_token_file)
    except ValueError as e:
        log.error("Control socket access: %s; not starting", e)
        return 1
    if not write_pid_file(options.pid_file, "pykeepalived"):
        return 1
    if detach and not _daemonize(options.pid_file):
        return 0  # the parent of the fork: the daemon carries on in the background
    name_process(process_name_of("parent", result.config.global_defs))
    if not result.config.global_defs.max_auto_priority:  # keepalived's line (None or 0; -1 silences it)
        log.info("NOTICE: setting config option max_auto_priority should result in better keepalived performance")
    if options.core_dump:
        allow_core_dumps()
    old_pattern = set_core_pattern(options.core_dump_pattern) if options.core_dump_pattern else None
    try:
        return run_process(Supervisor(result.config, replace(options), notifier, blocks=blocks).run())
    finally:
        ignore_signals()  # the closed loop put the default (fatal) actions back
        if old_pattern is not None:
            set_core_pattern(old_pattern)
        remove_pid_file(options.pid_file)
