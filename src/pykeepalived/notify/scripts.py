"""Running notify scripts: argv without a shell, in order per subject, never lost.

keepalived forks notify scripts and forgets them, so two transitions of one VRRP instance (or
one real server) can reach a script out of order.  Here every *subject* (an instance, a sync
group, a real server, a virtual server) has a queue: a notification's scripts start when the
previous notification's scripts of the same subject have exited (or after ``order_wait``
seconds), so scripts see transitions in the order they happened.  Different subjects run
concurrently.

Scripts run as keepalived runs them (keepalived-behaviour.md §5.3): without a shell, in their
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
    """Per-subject ordered queues of notifications; each notification is a list of scripts."""

    def __init__(self, order_wait: float = ORDER_WAIT) -> None:
        self.order_wait = order_wait
        self._queues: dict[str, asyncio.Queue[Sequence[ScriptJob] | None]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        #: every script started, in start order (subject, argv): for tests and the status view
        self.started: list[tuple[str, tuple[str, ...]]] = []

    def submit(self, subject: str, jobs: Iterable[ScriptJob | None]) -> None:
        """Queue one notification's scripts (in the given order) behind ``subject``'s earlier ones."""
        batch = [j for j in jobs if j is not None and j.argv]
        if not batch:
            return
        q = self._queues.get(subject)
        if q is None:
            q = self._queues[subject] = asyncio.Queue()
            self._workers[subject] = asyncio.get_running_loop().create_task(self._work(subject, q))
        q.put_nowait(batch)

    async def _work(self, subject: str, q: asyncio.Queue[Sequence[ScriptJob] | None]) -> None:
        while (batch := await q.get()) is not None:
            procs = []
            for job in batch:
                proc = await spawn(job)
                self.started.append((subject, job.argv))
                if proc is not None:
                    procs.append((job, proc))
            for job, proc in procs:
                try:
                    await asyncio.wait_for(asyncio.shield(proc.wait()), self.order_wait)
                except TimeoutError:
                    log.warning("Notify script %s still running after %.0f s; continuing",
                                job.argv[0], self.order_wait)

    async def drain(self, timeout: float) -> None:
        """Let queued notifications run (bounded by ``timeout``), then stop the workers."""
        for q in self._queues.values():
            q.put_nowait(None)
        workers = list(self._workers.values())
        if workers:
            _done, pending = await asyncio.wait(workers, timeout=timeout)
            for t in pending:
                t.cancel()
        self._queues.clear()
        self._workers.clear()
