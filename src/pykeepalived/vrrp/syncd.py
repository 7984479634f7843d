"""The IPVS connection-sync daemon following one VRRP instance (``lvs_sync_daemon`` in global_defs).

keepalived (vrrp.c, ipvswrapper.c) starts the kernel's *master* sync thread when the instance named by
``lvs_sync_daemon IF [inst] NAME`` becomes MASTER (``ipvs_syncd_master``: stop backup, start master),
the *backup* thread when it leaves MASTER or starts up in BACKUP/FAULT (``ipvs_syncd_backup``: stop
master, start backup), and stops both when the VRRP process stops.  BACKUP <-> FAULT changes nothing.
``lvs_sync_daemon IF`` naming no instance is not the VRRP process's: keepalived's checker process runs the
master and backup threads together then (several active nodes), and so does pykeepalived's
(``daemon.checker``, ``lvs.dataplane.ipvs.run_both_sync_daemons``).

:func:`sync_daemon_calls` is that decision, pure: which kernel calls a transition makes.
:class:`SyncDaemonFollower` carries them out through ``lvs.dataplane.ipvs`` (generic netlink, blocking,
so in a worker thread) — when the kernel has ip_vs.  When it has not (this machine's kernel), it logs
once that the sync daemon needs ip_vs and the VRRP process carries on without it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
from typing import TYPE_CHECKING, Any, Literal

from .fsm import State

if TYPE_CHECKING:
    from pykeepalived.config.model_global import LvsSyncDaemon

log = logging.getLogger("pykeepalived.vrrp")

Verb = Literal["start", "stop"]
Role = Literal["master", "backup"]
Call = tuple[Verb, Role]

#: keepalived's ipvs_syncd_master / ipvs_syncd_backup / the shutdown stop of both
TO_MASTER: tuple[Call, ...] = (("stop", "backup"), ("start", "master"))
TO_BACKUP: tuple[Call, ...] = (("stop", "master"), ("start", "backup"))
TO_STOP: tuple[Call, ...] = (("stop", "master"), ("stop", "backup"))


def sync_daemon_calls(old: State | None, new: State) -> tuple[Call, ...]:
    """The sync-daemon calls for the followed instance going from ``old`` (None: not started) to ``new``.

    * anything -> MASTER: stop the backup thread, start the master thread;
    * MASTER -> BACKUP/FAULT, and start-up (INIT) into BACKUP/FAULT: stop master, start backup;
    * BACKUP <-> FAULT: nothing (the backup thread keeps running);
    * -> STOP: stop both.
    """
    if new == old:
        return ()
    if new is State.MASTER:
        return TO_MASTER
    if new in (State.BACKUP, State.FAULT):
        return TO_BACKUP if old in (None, State.INIT, State.MASTER, State.STOP) else ()
    if new is State.STOP:
        return TO_STOP
    return ()


class SyncDaemonFollower:
    """Runs :func:`sync_daemon_calls` for the instance ``lvs_sync_daemon`` names, against the kernel.

    :meth:`submit` chains the calls of each transition after the previous ones (one task at a
    time, in transition order), apart from the VIP/GARP queue so that a slow netlink call or
    modprobe never delays a VIP.  :meth:`check` (at start-up) finds out whether the kernel has
    ip_vs.  ``netns`` (tests driving a named namespace from one process) is not supported by the
    IPVS socket, which lives in the thread's namespace: there the follower stays off, with a log
    line.
    """

    def __init__(self, cfg: LvsSyncDaemon, instance_names: set[str] | frozenset[str],
                 netns: str | None = None) -> None:
        from pykeepalived.lvs.dataplane.ipvs import SyncDaemonConfig

        self.model = cfg
        self.cfg = SyncDaemonConfig.from_config(cfg)
        self.instance = cfg.instance
        self.state: State | None = None
        #: None: not checked yet; then whether the kernel has ip_vs
        self.usable: bool | None = None
        #: calls made (verb, role), for tests and the log
        self.done: list[Call] = []
        self._sock: Any = None
        self._last: asyncio.Task[None] | None = None
        if self.instance is None:
            log.error("lvs_sync_daemon %s names no VRRP instance to follow - the sync daemon is not "
                      "started", cfg.interface)
            self.usable = False
        elif self.instance not in instance_names:
            log.error("lvs_sync_daemon: VRRP instance %s not found - the sync daemon is not started",
                      self.instance)
            self.usable = False
        elif netns is not None:
            log.warning("lvs_sync_daemon is not followed by a VRRP process driving namespace %s", netns)
            self.usable = False

    def transition(self, name: str, new: State) -> tuple[Call, ...]:
        """Record instance ``name`` entering ``new``; the calls to make (empty if none, or not ours)."""
        if name != self.instance or self.usable is False:
            return ()
        calls = sync_daemon_calls(self.state, new)
        self.state = new
        return calls

    def submit(self, calls: tuple[Call, ...], *, close: bool = False) -> None:
        """Run ``calls`` (then close the socket when ``close``) after everything submitted before."""
        if not calls and not close:
            return
        prev = self._last

        async def job() -> None:
            if prev is not None:
                with contextlib.suppress(Exception):
                    await prev
            try:
                await self.run(calls)
            finally:
                if close:
                    self.close()

        self._last = asyncio.get_running_loop().create_task(job())

    def follow(self, previous: SyncDaemonFollower) -> None:
        """Start after ``previous`` (the follower a reload replaced) has finished its calls."""
        self._last = previous._last

    async def drain(self, timeout: float) -> None:
        """Wait (bounded) for the submitted calls, e.g. the STOP calls at shutdown."""
        if self._last is not None:
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(asyncio.shield(self._last), timeout)

    async def check(self) -> bool:
        """Whether the kernel has ip_vs (``modprobe ip_vs`` tried once, in a worker thread)."""
        if self.usable is None:
            await asyncio.get_running_loop().run_in_executor(None, self._check_blocking)
        return bool(self.usable)

    def _check_blocking(self) -> None:
        from pykeepalived.lvs.dataplane import ipvs

        if self.usable is not None:
            return
        avail = ipvs.available()
        self.usable = avail.ok
        if not avail.ok:
            log.warning("lvs_sync_daemon on %s (following %s) needs the kernel's ip_vs: %s - "
                        "carrying on without the IPVS sync daemon", self.cfg.interface, self.instance,
                        avail.reason)

    async def run(self, calls: tuple[Call, ...]) -> None:
        """Carry out ``calls`` now, in a worker thread (generic netlink is blocking)."""
        if not calls or self.usable is False:
            return
        await asyncio.get_running_loop().run_in_executor(None, self._run_blocking, calls)

    def _run_blocking(self, calls: tuple[Call, ...]) -> None:
        from pykeepalived.lvs.dataplane import ipvs

        self._check_blocking()
        if not self.usable:
            return
        if self._sock is None:
            self._sock = ipvs.IpvsSocket()
        states = {"master": ipvs.SYNC_MASTER, "backup": ipvs.SYNC_BACKUP}
        for verb, role in calls:
            try:
                if verb == "start":
                    ipvs.start_sync_daemon(states[role], self.cfg, self._sock)
                    log.info("Starting IPVS %s sync daemon on %s (syncid %d)", role, self.cfg.interface,
                             self.cfg.syncid)
                else:
                    if ipvs.stop_sync_daemon(states[role], self._sock):
                        log.info("Stopped IPVS %s sync daemon", role)
                self.done.append((verb, role))
            except ipvs.IpvsError as e:
                if verb == "start" and e.code == errno.EEXIST:  # already running
                    self.done.append((verb, role))
                    continue
                log.error("IPVS sync daemon: %s", e)
            except OSError as e:
                log.error("IPVS sync daemon: cannot %s the %s thread: %s", verb, role, e)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
