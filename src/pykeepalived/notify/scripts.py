"""Running notify scripts: argv without a shell, in order per subject, never lost.

keepalived forks notify scripts and forgets them, so two transitions of one VRRP instance (or
one real server) can reach a script out of order.  Here every *subject* (an instance, a sync
group, a real server, a virtual server) has a queue: a notification's scripts start when the
previous notification's scripts of the same subject have exited (or after ``order_wait``
seconds), so scripts see transitions in the order they happened.  Different subjects run
concurrently.

Scripts run as keepalived runs them (keepalived's lib/notify.c: system_call_script()): without a shell, in their
own session (so a timeout can kill the whole group), stdio on /dev/null, ``IFS``,
``LD_PRELOAD`` and ``LD_LIBRARY_PATH`` removed from the environment, as the configured
user/group when we are root.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("pykeepalived.notify")

#: how long one notification's scripts may hold up the next notification of the same subject
ORDER_WAIT = 10.0
#: a notify script still running this long is killed (keepalived never kills one; a hung script would
#: otherwise hold its process and descriptors forever)
NOTIFY_TIMEOUT = 60.0
#: notifications that may wait behind a running one, per subject; beyond it the oldest is dropped
MAX_PENDING = 64
#: the environment variables keepalived unsets before running a script
UNSAFE_ENV = ("IFS", "LD_PRELOAD", "LD_LIBRARY_PATH")


@dataclass(frozen=True, slots=True)
class ScriptJob:
    """One script to run: the full argv (configured argv plus any appended arguments) and who runs it.

    ``uid``/``gid`` come from the script-security verdict (:class:`~pykeepalived.notify.security.ScriptPolicy`);
    ``groups`` is the supplementary group list (None: just ``gid``, as keepalived's ``setgroups(1, &gid)``).
    None ids (the ``</path`` shell form, tests): the daemon's own, with its supplementary groups cleared.
    """

    argv: tuple[str, ...]
    uid: int | None = None
    gid: int | None = None
    groups: tuple[int, ...] | None = None


def privileges(job: ScriptJob) -> dict[str, Any]:
    """Popen arguments that drop all three, uid, gid and supplementary groups (only root can change them)."""
    if os.geteuid() != 0:
        return {}
    gid = job.gid if job.gid is not None else os.getegid()
    kwargs: dict[str, Any] = {"group": gid, "extra_groups": list(job.groups) if job.groups is not None else [gid]}
    if job.uid is not None:
        kwargs["user"] = job.uid
    return kwargs


async def spawn(job: ScriptJob) -> asyncio.subprocess.Process | None:
    """Start one script as keepalived would; None (and a log line) if it cannot start."""
    env = {k: v for k, v in os.environ.items() if k not in UNSAFE_ENV}
    kwargs = privileges(job)
    try:
        return await asyncio.create_subprocess_exec(
            *job.argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL, start_new_session=True, env=env, **kwargs)
    except (OSError, ValueError, KeyError) as e:
        log.error("Unable to run script %s: %s", job.argv[0] if job.argv else "?", e)
        return None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one bounded script run ended: ``status`` is None when it timed out or could not start."""

    status: int | None
    timed_out: bool = False
    started: bool = True

    @property
    def words(self) -> str:
        """keepalived's words for it (``exited with status 1``, ``due to signal 9``, ``timeout``)."""
        if not self.started:
            return "could not be run"
        if self.timed_out or self.status is None:
            return "timeout"
        if self.status < 0:
            return f"due to signal {-self.status}"
        return f"exited with status {self.status}"


async def run_with_timeout(job: ScriptJob, timeout: float, kill_after: float = 2.0) -> Outcome:
    """Run a script to completion within ``timeout`` (vrrp_script, MISC_CHECK).

    On timeout the process group gets SIGTERM, then SIGKILL ``kill_after`` s later, as keepalived
    does; cancelling (stop, reload) kills the group too, and so does a normal end (children the
    script left behind must not accumulate).
    """
    proc = await spawn(job)
    if proc is None:
        return Outcome(None, started=False)
    try:
        try:
            return Outcome(await asyncio.wait_for(proc.wait(), timeout))
        except TimeoutError:
            _kill_group(proc.pid, signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), kill_after)
            except TimeoutError:
                _kill_group(proc.pid, signal.SIGKILL)
                await proc.wait()
            return Outcome(None, timed_out=True)
    except asyncio.CancelledError:
        _kill_group(proc.pid, signal.SIGKILL)
        raise
    finally:
        _kill_group(proc.pid, signal.SIGKILL)


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class ScriptQueues:
    """Per-subject ordered queues of notifications; each notification is a list of scripts.

    Bounded everywhere a hostile or broken script could make it grow: a script still running after
    ``timeout`` seconds is killed (SIGTERM to its process group, SIGKILL ``kill_after`` later, logged and
    counted); a subject's queue holds at most ``max_pending`` notifications, and when it is full the
    oldest waiting one is dropped (counted; a later transition supersedes it).  At shutdown
    (:meth:`drain`) queued notifications are started at once, in order, without waiting behind a
    hung one, so the STOP notifications keepalived sends on its way out are never lost.
    """

    def __init__(self, order_wait: float = ORDER_WAIT, timeout: float = NOTIFY_TIMEOUT,
                 max_pending: int = MAX_PENDING, kill_after: float = 2.0) -> None:
        self.order_wait = order_wait
        self.timeout = timeout
        self.max_pending = max_pending
        self.kill_after = kill_after
        self._queues: dict[str, asyncio.Queue[Sequence[ScriptJob] | None]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        self._draining = asyncio.Event()
        #: every script started, in start order (subject, argv): for tests and the status view
        self.started: list[tuple[str, tuple[str, ...]]] = []
        #: notifications dropped because their subject's queue was full; scripts killed after ``timeout``
        self.dropped = 0
        self.killed = 0

    def submit(self, subject: str, jobs: Iterable[ScriptJob | None]) -> None:
        """Queue one notification's scripts (in the given order) behind ``subject``'s earlier ones."""
        batch = [j for j in jobs if j is not None and j.argv]
        if not batch:
            return
        q = self._queues.get(subject)
        if q is None:
            q = self._queues[subject] = asyncio.Queue()
            self._workers[subject] = asyncio.get_running_loop().create_task(self._work(subject, q))
        if q.qsize() >= self.max_pending:
            q.get_nowait()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                log.warning("Notify queue of %s full (%d waiting behind a running script): oldest dropped "
                            "(%d dropped so far)", subject, self.max_pending, self.dropped)
        q.put_nowait(batch)

    async def _work(self, subject: str, q: asyncio.Queue[Sequence[ScriptJob] | None]) -> None:
        while (batch := await q.get()) is not None:
            procs = []
            for job in batch:
                proc = await spawn(job)
                self.started.append((subject, job.argv))
                if proc is not None:
                    procs.append((job, proc))
                    watcher = asyncio.get_running_loop().create_task(self._watch(job, proc))
                    self._watchers.add(watcher)
                    watcher.add_done_callback(self._watchers.discard)
            for job, proc in procs:
                if self._draining.is_set():
                    break  # shutting down: what is queued starts now
                exited = asyncio.ensure_future(proc.wait())
                draining = asyncio.ensure_future(self._draining.wait())
                done, _ = await asyncio.wait({exited, draining}, timeout=self.order_wait,
                                             return_when=asyncio.FIRST_COMPLETED)
                exited.cancel()
                draining.cancel()
                if not done:
                    log.warning("Notify script %s still running after %.0f s; continuing",
                                job.argv[0], self.order_wait)

    async def _watch(self, job: ScriptJob, proc: asyncio.subprocess.Process) -> None:
        """Kill the script (its whole process group) if it outlives ``timeout``."""
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), self.timeout)
            return
        except TimeoutError:
            pass
        self.killed += 1
        log.warning("Notify script %s (pid %d) still running after %.0f s - killing it", job.argv[0], proc.pid,
                    self.timeout)
        _kill_group(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.shield(proc.wait()), self.kill_after)
        except TimeoutError:
            _kill_group(proc.pid, signal.SIGKILL)

    async def drain(self, timeout: float) -> None:
        """Start every queued notification now, in order (a hung script no longer holds the next up), and
        let them run for up to ``timeout``; then stop the workers.  Scripts still running are left to
        finish, as keepalived leaves its STOP notifications."""
        self._draining.set()
        for q in self._queues.values():
            q.put_nowait(None)
        workers = list(self._workers.values())
        if workers:
            _done, pending = await asyncio.wait(workers, timeout=timeout)
            for t in pending:
                t.cancel()
        running = list(self._watchers)
        if running:
            await asyncio.wait(running, timeout=timeout)
            for t in running:
                t.cancel()
        self._queues.clear()
        self._workers.clear()
