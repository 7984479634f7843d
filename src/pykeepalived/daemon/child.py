"""Entry of the supervisor's children: ``python -m pykeepalived.daemon.child vrrp|checkers|bfd OPTIONS_JSON``.

Each child is its own process with its own event loop (VRRP adverts never wait for a health
check), runs the configuration the supervisor parsed (its part of it, handed over at start and after
each reload by :mod:`.config_feed`: unlike keepalived's children, it never parses the file again),
writes its pid file, and serves its half of the status view on its own control socket for the
supervisor to merge, with its change signal (``/changes``, status.changes) that the supervisor follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from pykeepalived.config import load_config
from pykeepalived.config.errors import ErrClass
from pykeepalived.config.model import Config
from pykeepalived.gcpause import settle_memory
from pykeepalived.process import (
    Priorities,
    lateness_period,
    name_process,
    priorities_generation,
    process_name_of,
    raise_priority_when_late,
    reapply_process_priorities,
    reset_process_priorities,
    set_process_priorities,
)
from pykeepalived.status.api import ApiError, Caller, Command
from pykeepalived.status.server import ControlServer
from pykeepalived.status.snapshot import DaemonInfo, Snapshot, VrrpInstanceStatus

from .config_feed import ConfigFeed
from .options import DaemonOptions
from .runtime import remove_pid_file, setup_logging, write_pid_file
from .sdnotify import hide_ready_fd, report_ready
from .signals import HANDLED, ignore_signals, on_signal, run_process

log = logging.getLogger("pykeepalived")

#: exit status telling the supervisor not to respawn (keepalived's KEEPALIVED_EXIT_CONFIG)
EXIT_CONFIG = 2
_FATAL = (ErrClass.MISSING_PARAMETER,)


def load_usable(options: DaemonOptions) -> Config | None:
    """The configuration, or None when it cannot be run (logged with file:line)."""
    result = load_config(options.config_file, config_id=options.config_id, all_config=options.all_config)
    for d in result.diagnostics:
        if not d.info:
            log.debug("%s", d)
    if result.config is None or result.diagnostics.missing_parameter:
        for d in result.diagnostics:
            if d.cls in _FATAL:
                log.error("%s", d)
        return None
    return result.config


#: the environment variable naming the descriptor holding the runtime overrides (JSON) a restarted child
#: must keep (the configuration comes over :mod:`.config_feed`)
OVERRIDES_FD_ENV = "PYKEEPALIVED_OVERRIDES_FD"
#: "1" for a child started with the daemon, "0" for one restarted after it died or added by a reload
DAEMON_START_ENV = "PYKEEPALIVED_DAEMON_START"


def inherited_overrides() -> dict[str, Any]:
    """The runtime overrides the supervisor handed over (a child restarted after a crash keeps a drained
    server drained), or {}."""
    value = os.environ.pop(OVERRIDES_FD_ENV, "")
    if not value.isdigit():
        return {}
    try:
        with os.fdopen(int(value), "rb") as f:
            data = json.loads(f.read(1 << 24))
    except (OSError, ValueError) as e:
        log.warning("The runtime overrides handed over by the parent could not be read (%s): none kept", e)
        return {}
    return data if isinstance(data, dict) else {}


def ignore_hup(kind: str) -> None:
    """SIGHUP sent to a child: the supervisor reloads (it parses the file once and sends each child its
    part over the configuration channel), so a child never reads the file again."""
    log.info("SIGHUP to the %s child ignored: reload is the parent's (send SIGHUP to pid %d)", kind, os.getppid())


def vrrp_snapshot(proc: object, options: DaemonOptions, started: float) -> Snapshot:
    instances = []
    for rt in getattr(proc, "instances", {}).values():
        errors = rt.drops.keepalived_stats() if hasattr(rt.drops, "keepalived_stats") else None
        garp_delay = getattr(getattr(rt, "model", None), "garp_master_delay", None)
        instances.append(VrrpInstanceStatus.from_fsm(
            rt.fsm, interface=rt.ifname, vips=[getattr(v, "address", v) for v in rt.vips],
            errors=dict(errors) if errors else None,
            last_transition=getattr(rt, "last_transition", None),
            excluded_vips=[f"{v.address} dev {v.dev}" if hasattr(v, "dev") else v for v in getattr(rt, "evips", ())],
            garp_delay=None if garp_delay is None else int(garp_delay),
            packet_errors=getattr(rt, "errors", None)))
    scripts = getattr(proc, "script_statuses", None)  # the vrrp_scripts' Status/State, once the process has them
    processes = getattr(proc, "process_statuses", None)
    bfds = getattr(proc, "bfd_statuses", None)
    return Snapshot(daemon=DaemonInfo(pid=os.getpid(), config_file=options.config_file, dataplane="none",
                                      started_at=started),
                    taken_at=time.time(), vrrp=tuple(instances),
                    vrrp_scripts=tuple(scripts()) if callable(scripts) else (),
                    track_processes=tuple(processes()) if callable(processes) else (),
                    bfds=tuple(bfds()) if callable(bfds) else (),
                    overrides=_vrrp_overrides(proc))


def _vrrp_overrides(proc: object) -> dict[str, Any]:
    handed = sorted(getattr(proc, "handed_over", ()))
    return {"instances": handed} if handed else {}


def raise_priorities(kind: str, config: Config) -> None:
    """The configuration's priorities, memory locking and CPU affinity (``vrrp_rt_priority`` & co), set once
    the child is ready.  keepalived sets them at its children's start; a Python child's start (imports, the
    first netlink dumps, the first reconcile) runs far longer than the 10 ms a realtime task may run without
    blocking (RLIMIT_RTTIME), and the kernel would SIGKILL it there.  From ready on, the event loop blocks
    between events."""
    applied = set_process_priorities(kind, Priorities.of(config.global_defs, kind))
    if applied:
        log.debug("%s child process: %s", kind, ", ".join(applied))
    global _lateness_watch
    if _lateness_watch is None:
        _lateness_watch = asyncio.get_running_loop().create_task(watch_lateness())


_lateness_watch: asyncio.Task[None] | None = None


async def watch_lateness() -> None:
    """keepalived's scheduler checks, each time it wakes, how late its earliest timer ran; past
    ``min_auto_priority_delay`` it logs it and raises the process's priority up to ``max_auto_priority``
    (``process.raise_priority_when_late``).  Here a timer of the child's own event loop samples that lateness
    (``process.lateness_period``); a sample during or across a reload or a memory settle (the process's own
    deliberate work) is not counted."""
    from pykeepalived import gcpause

    loop = asyncio.get_running_loop()
    while True:
        period, generation, settles = lateness_period(), priorities_generation(), gcpause.settles
        due = loop.time() + period
        await asyncio.sleep(period)
        if generation is not None and priorities_generation() == generation and gcpause.settles == settles:
            raise_priority_when_late(loop.time() - due)


def follow_reloads(feed: ConfigFeed | None, kind: str, apply: Callable[[Config], object],
                   options: DaemonOptions) -> None:
    """Reloads: each configuration the supervisor sends over ``feed`` (``apply`` may be a coroutine
    function), with SIGHUP ignored; without a feed (a child started by hand) SIGHUP reads the file and
    ``apply`` must be a plain function.  Each runs at standard scheduling, as keepalived's reloads do."""
    loop = asyncio.get_running_loop()
    process_kind = {"VRRP": "vrrp", "Healthcheck": "checkers", "BFD": "bfd"}[kind]

    async def apply_at_standard_priority(new: Config) -> None:
        # keepalived's reload_*_thread: standard scheduling while reloading (a Python reload runs far longer
        # than the realtime budget without blocking), then the new configuration's priorities
        reset_process_priorities()
        try:
            result = apply(new)
            if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
                await result
        finally:
            set_process_priorities(process_kind, Priorities.of(new.global_defs, process_kind))
            name_process(process_name_of(process_kind, new.global_defs))

    if feed is not None:
        feed.follow(apply_at_standard_priority)
        on_signal(loop, signal.SIGHUP, ignore_hup, kind)
        return

    reloading: set[asyncio.Task[None]] = set()

    def reload() -> None:
        reset_process_priorities()  # parsing is no realtime work either
        new = load_usable(options)
        if new is None:
            log.error("Reload: configuration unusable - keeping the running configuration")
            reapply_process_priorities()
            return
        task = loop.create_task(apply_at_standard_priority(new))
        reloading.add(task)
        task.add_done_callback(reloading.discard)

    on_signal(loop, signal.SIGHUP, reload)


async def run_vrrp_child(config: Config, options: DaemonOptions, feed: ConfigFeed | None = None) -> int:
    from pykeepalived.vrrp.runner import RunnerOptions, VrrpProcess

    # with a feed the supervisor's configurations come over it: the process itself never reads the file
    ropts = RunnerOptions(pid_file=None, log_console=options.log_console, log_detail=options.log_detail,
                          dont_release_vrrp=options.dont_release_vrrp, config_id=options.config_id,
                          configure_logging=False, config_file=None if feed is not None else options.config_file,
                          bfd_events_path=options.bfd_events_path)
    handed = inherited_overrides().get("instances", [])
    proc = VrrpProcess(config, ropts, handed_over=[n for n in handed if isinstance(n, str)])
    started = time.time()

    async def commands(cmd: Command, caller: Caller) -> dict[str, Any]:
        """The VRRP child's part of the runtime API: handover / restore / priority / preempt / reset."""
        if cmd.name == "reset":
            names = sorted(proc.handed_over)
            for name in names:
                proc.handover(name, False)
            message = f"hand-over ended for {', '.join(names)}" if names else ""
        elif cmd.name in ("handover", "restore"):
            assert cmd.instance is not None
            try:
                names = proc.handover(cmd.instance, cmd.name == "handover")
            except KeyError as e:
                raise ApiError(404, str(e.args[0])) from None
            except ValueError as e:
                raise ApiError(409, str(e)) from None
            message = (f"handed over {', '.join(names)}: priority held at 1, mastership given away"
                       if cmd.name == "handover" else f"restored {', '.join(names)}: configured priority")
            log.info("%s (asked by %s)", message, caller.describe())
        elif cmd.name in ("priority", "preempt"):
            assert cmd.instance is not None
            try:
                if cmd.priority is not None:
                    message = proc.set_priority(cmd.instance, cmd.priority, caller.describe())
                else:
                    message = proc.set_preempt(cmd.instance, bool(cmd.preempt), caller.describe())
            except KeyError as e:
                raise ApiError(404, str(e.args[0])) from None
        else:
            raise ApiError(400, f"{cmd.name} is not a VRRP command")
        return {"message": message, "overrides": _vrrp_overrides(proc) or {"instances": []}}

    server = ControlServer(lambda: vrrp_snapshot(proc, options, started), options.child_control_path("vrrp"),
                           commands=commands, changes=proc.changes)
    await server.start_or_retry()
    async def reload(new: Config) -> None:
        await proc.reload_config(new)
        settle_memory()

    async def when_ready() -> None:
        await vrrp_ready(proc, config)
        settle_memory()
        raise_priorities("vrrp", proc.config)
        if feed is not None:  # (run() set its own HUP handler, replaced here: queued reloads wait until now)
            follow_reloads(feed, "VRRP", reload, options)
        if report_ready():
            log.debug("Ready: told the supervisor")

    ready = asyncio.get_running_loop().create_task(when_ready())
    try:
        return await proc.run()
    finally:
        ready.cancel()
        if feed is not None:
            await feed.close()
        await server.stop()


async def run_checker_child(config: Config, options: DaemonOptions, feed: ConfigFeed | None = None) -> int:
    from pykeepalived.lvs.overrides import OverrideError, Overrides

    from .checker import CheckerOptions, CheckerProcess

    try:
        overrides = Overrides.from_json(inherited_overrides())
    except (OverrideError, KeyError, TypeError, ValueError) as e:
        log.warning("The runtime overrides handed over by the parent are malformed (%s): none kept", e)
        overrides = Overrides()
    proc = CheckerProcess(config, CheckerOptions(config_file=options.config_file, dataplane=options.dataplane,
                                                 dont_release_ipvs=options.dont_release_ipvs,
                                                 address_monitoring=options.address_monitoring,
                                                 bfd_events_path=options.bfd_events_path,
                                                 daemon_start=os.environ.pop(DAEMON_START_ENV, "1") == "1"),
                          overrides=overrides)
    loop = asyncio.get_running_loop()
    # until the first reconcile a HUP waits (blocked), as do the configurations queued on the feed
    on_signal(loop, signal.SIGHUP, ignore_hup, "Healthcheck")
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
    server = ControlServer(proc.status, options.child_control_path("checkers"), commands=proc.command,
                           changes=proc.changes)
    await server.start_or_retry()

    async def when_ready() -> None:
        await checkers_ready(proc)
        raise_priorities("checkers", proc.config)
        follow_reloads(feed, "Healthcheck", proc.reload, options)
        if report_ready():
            log.debug("Ready: told the supervisor")

    ready = loop.create_task(when_ready())
    try:
        return await proc.run()
    finally:
        ready.cancel()
        if feed is not None:
            await feed.close()
        await server.stop()


async def run_bfd_child(config: Config, options: DaemonOptions, feed: ConfigFeed | None = None) -> int:
    """keepalived's BFD child (bfd/bfd_daemon.c): the configured bfd_instances, their up/down told to the
    VRRP and checker children through the event stream at ``options.bfd_events_path``
    (:mod:`pykeepalived.bfd.watch`).  HUP reloads, TERM/INT stop, USR1 writes keepalived_bfd.data; the
    other dump signals are the VRRP child's business and are ignored here."""
    from pykeepalived.bfd.process import BfdOptions, BfdProcess
    from pykeepalived.signals import SIGJSON, SIGSTATS_CLEAR
    from pykeepalived.status import dumps

    proc = BfdProcess(config.vrrp.bfd_instances, BfdOptions(events_path=options.bfd_events_path))
    loop = asyncio.get_running_loop()
    current = [config]

    def reload(new: Config) -> None:
        current[0] = new
        proc.reload(new.vrrp.bfd_instances)
        settle_memory()

    def write_data() -> None:
        log.info("Printing BFD data for process(%d) on signal", os.getpid())
        path = dumps.data_file("keepalived_bfd.data", current[0].global_defs)
        try:
            dumps.write_private(path, proc.data_text())
        except OSError as e:
            log.error("Can't open dump file %s (%d: %s)", path, e.errno or 0, e.strerror)

    on_signal(loop, signal.SIGTERM, proc.stop)
    on_signal(loop, signal.SIGINT, proc.stop)
    on_signal(loop, signal.SIGUSR1, write_data)
    for sig in (signal.SIGUSR2, SIGJSON, SIGSTATS_CLEAR):
        signal.signal(sig, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED)
    await proc.start()
    settle_memory()
    raise_priorities("bfd", current[0])
    follow_reloads(feed, "BFD", reload, options)
    if report_ready():
        log.debug("Ready: told the supervisor")
    try:
        await proc.wait()
    finally:
        if feed is not None:
            await feed.close()
        await proc.close()
    return 0


# -- readiness (the supervisor tells systemd READY=1 once both children are ready) -----------------------

READY_POLL = 0.01


async def vrrp_ready(proc: Any, config: Config, poll: float = READY_POLL) -> None:
    """Returns once every configured instance has reached its initial state, with its VIPs in place.

    Every instance starts in BACKUP (or FAULT); one that wants MASTER leaves BACKUP when its first
    master-down timer expires unless a better master speaks first, so that timer (taken when the instance
    starts) bounds the wait.  The VIPs are added on the process's ordered effects queue: a marker queued
    after them runs once they are in place.
    """
    from pykeepalived.vrrp.fsm import State

    loop = asyncio.get_running_loop()
    wanted = [inst.name for inst in config.vrrp.instances]

    def started() -> bool:
        rts = proc.instances
        return all(n in rts and rts[n].fsm.state is not State.INIT for n in wanted)

    def becoming_master() -> list[Any]:
        return [rt for rt in proc.instances.values()
                if rt.fsm.wantstate is State.MASTER and rt.fsm.state is State.BACKUP]

    while not started():
        await asyncio.sleep(poll)
    deadlines = [d for rt in becoming_master() if (d := rt.fsm.next_deadline()) is not None]
    bound = max(deadlines, default=loop.time()) + 2 * poll
    while becoming_master() and loop.time() < bound:
        await asyncio.sleep(poll)
    queue_effect = getattr(proc, "_effect", None)  # VrrpProcess's ordered VIP/GARP queue
    if queue_effect is not None:
        done: asyncio.Future[None] = loop.create_future()

        async def marker() -> None:
            if not done.done():
                done.set_result(None)

        queue_effect(marker)
        await done


async def checkers_ready(proc: Any, poll: float = READY_POLL) -> None:
    """Returns once the checker process has reconciled the data plane once (its table is in place)."""
    while not proc.reconciles:
        await asyncio.sleep(poll)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    # HUP and the dump signals arrive blocked (supervisor._die_with_parent); ignored until the event loop
    # handles them, as keepalived's children ignore them until their own handlers are set
    ignore_signals()
    kind = args[0]
    options = DaemonOptions(**json.loads(args[1]))
    setup_logging(kind, console=options.log_console, detail=options.log_detail, facility=options.log_facility,
                  syslog=not options.no_syslog)
    hide_ready_fd()
    pid_file = options.child_pid_file(kind)
    # the supervisor's configuration (the one it runs, maybe no longer the file's); by hand: the file
    feed = ConfigFeed.inherited()
    config = (feed.first() if feed is not None else None) or load_usable(options)
    if config is None:
        return EXIT_CONFIG
    if not write_pid_file(pid_file, f"{kind} child process"):
        return EXIT_CONFIG
    name_process(process_name_of(kind, config.global_defs))
    try:
        if kind == "vrrp":
            return run_process(run_vrrp_child(config, options, feed))
        if kind == "bfd":
            return run_process(run_bfd_child(config, options, feed))
        return run_process(run_checker_child(config, options, feed))
    except KeyboardInterrupt:
        return 0
    finally:
        reset_process_priorities()  # the teardown is no realtime work (and would outlast RLIMIT_RTTIME)
        ignore_signals()  # the closed loop put the default (fatal) actions back
        remove_pid_file(pid_file)
        with contextlib.suppress(OSError):
            os.unlink(options.child_control_path(kind))


def options_json(options: DaemonOptions) -> str:
    return json.dumps(asdict(options))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
