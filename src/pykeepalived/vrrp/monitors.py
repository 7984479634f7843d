"""Tracker monitors of the VRRP process: vrrp_script runs, track_file polls, /proc scans.

Each monitor turns what it watches into one verdict per tracker, keyed ``(kind, name)`` as
:attr:`pykeepalived.vrrp.tracking.TrackerRef.key`: a script's :class:`~.tracking.Status` (after
rise/fall), a file's integer value, a process quorum held or not.  What the verdicts mean for an
instance (priority, FAULT) is :func:`pykeepalived.vrrp.tracking.evaluate`'s; when one changes,
:class:`Monitors` calls back so the runner re-evaluates the instances that track it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Collection
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from pykeepalived.notify.scripts import run_with_timeout

from .tracking import ProcessQuorum, ScriptResult, Status, TrackerState, process_matches

if TYPE_CHECKING:
    from pykeepalived.config.model import Script
    from pykeepalived.config.model_vrrp import TrackFile, TrackProcess, VrrpConfig, VrrpScript

    from .notifier import Notifier

log = logging.getLogger("pykeepalived.vrrp")

TrackerKey = tuple[str, str]

#: how often track_file files are read (keepalived uses inotify; a read is cheap)
TRACK_FILE_POLL = 0.1
#: how often /proc is scanned for vrrp_track_process
TRACK_PROCESS_POLL = 0.2
#: how long a script gets after SIGTERM before SIGKILL (keepalived: 2 s)
SCRIPT_KILL_AFTER = 2.0


def _parse_int(text: str) -> int:
    """strtol-like: leading blanks, optional sign, digits; anything else gives 0."""
    t = text.lstrip()
    end = 1 if t[:1] in "+-" else 0
    while end < len(t) and t[end].isdigit():
        end += 1
    try:
        return int(t[:end])
    except ValueError:
        return 0


def _read_track_file(tf: TrackFile) -> int:
    """The file's integer value; a missing or unreadable file counts as 0."""
    try:
        return _parse_int(Path(tf.file).read_text(errors="replace")[:64])
    except OSError:
        return 0


def _init_track_file(tf: TrackFile) -> None:
    """``init_file [VALUE] [overwrite]``: create the file (or overwrite it) with VALUE."""
    if tf.init_file is None:
        return
    p = Path(tf.file)
    if p.exists() and not tf.init_file_overwrite:
        return
    try:
        p.write_text(f"{tf.init_file}\n")
    except OSError as e:
        log.error("Unable to initialise track_file %s (%s): %s", tf.name, tf.file, e.strerror)


def _scan_processes(full: bool) -> list[tuple[str, list[str]]]:
    """(comm, argv) of every process in /proc; argv only when ``full`` (it costs a second read)."""
    out: list[tuple[str, list[str]]] = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return out
    for pid in entries:
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm", "rb") as f:
                comm = f.read().rstrip(b"\n").decode(errors="replace")
            argv: list[str] = []
            if full:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = [a.decode(errors="replace") for a in f.read().split(b"\0")]
                while argv and argv[-1] == "":
                    argv.pop()
        except OSError:
            continue
        out.append((comm, argv))
    return out


class Monitors:
    """The monitors one VRRP process runs, and their verdicts (:attr:`state`).

    ``changed(key)`` is called when a running monitor's verdict changes; :meth:`sync` fills in
    initial verdicts without calling it.
    """

    def __init__(self, notifier: Notifier, changed: Callable[[TrackerKey], None]) -> None:
        self.notifier = notifier  # script security verdicts and jobs
        self.changed = changed
        self.state: dict[TrackerKey, TrackerState] = {}
        self._script_defs: dict[str, VrrpScript] = {}
        self._script_results: dict[str, ScriptResult] = {}
        self._script_tasks: dict[str, asyncio.Task[None]] = {}
        self._files: dict[str, TrackFile] = {}
        self._files_task: asyncio.Task[None] | None = None
        self._procs: dict[str, TrackProcess] = {}
        self._quorums: dict[str, ProcessQuorum] = {}
        self._procs_task: asyncio.Task[None] | None = None

    def sync(self, config: VrrpConfig, used: Collection[TrackerKey], now: float) -> None:
        """Make the monitors match the config (start-up and reload); ``used``: the trackers
        some instance refers to (the others are not monitored).

        Unchanged vrrp_scripts keep their rise/fall counters and running task; removed or changed
        ones are stopped; new ones get their initial state (INIT, or FAILED with init_fail).
        track_file values and process counts are read at once, so instances start with them.
        """
        scripts = {vs.name: vs for vs in config.vrrp_scripts if ("script", vs.name) in used}
        for name in list(self._script_defs):
            if scripts.get(name) != self._script_defs[name]:
                task = self._script_tasks.pop(name, None)
                if task is not None:
                    task.cancel()
                del self._script_defs[name]
                self._script_results.pop(name, None)
                self.state.pop(("script", name), None)
        for name, vs in list(scripts.items()):
            if name not in self._script_defs and not self.notifier.verdict(_vrrp_script(vs),
                                                                          "vrrp_script").run:
                log.warning("Disabling track script %s since it cannot be run", name)
                del scripts[name]
        for name, vs in scripts.items():
            if name not in self._script_defs:
                self._script_defs[name] = vs
                sr = self._script_results[name] = ScriptResult(vs.rise, vs.fall, vs.init_fail)
                self.state[("script", name)] = sr.status
        files = {tf.name: tf for tf in config.track_files if ("file", tf.name) in used}
        for name in [n for n in self._files if files.get(n) != self._files[n]]:
            del self._files[name]
            self.state.pop(("file", name), None)
        for name, tf in files.items():
            if name not in self._files:
                self._files[name] = tf
                _init_track_file(tf)
                self.state[("file", name)] = _read_track_file(tf)
        # every vrrp_track_process is counted, tracked or not, as keepalived does (SNMP shows them all)
        procs = {tp.name: tp for tp in config.track_processes}
        for name in [n for n in self._procs if procs.get(n) != self._procs[n]]:
            del self._procs[name]
            self._quorums.pop(name, None)
            self.state.pop(("process", name), None)
        fresh = [tp for name, tp in procs.items() if name not in self._procs]
        for tp in fresh:
            self._procs[tp.name] = tp
            fork = tp.fork_delay if tp.fork_delay is not None else (tp.delay or 0.0)
            term = tp.terminate_delay if tp.terminate_delay is not None else (tp.delay or 0.0)
            self._quorums[tp.name] = ProcessQuorum(tp.quorum, tp.quorum_max, fork, term)
        if fresh:
            self._count_processes(now, announce=False)

    def process_counts(self) -> dict[str, tuple[int, bool]]:
        """Each counted vrrp_track_process: (matching processes at the last scan, quorum verdict)."""
        return {name: (q.count, bool(q.ok)) for name, q in self._quorums.items()}

    def start(self) -> None:
        """Start the tasks of monitors that have none running yet."""
        loop = asyncio.get_running_loop()
        for name, vs in self._script_defs.items():
            if name not in self._script_tasks:
                self._script_tasks[name] = loop.create_task(
                    self._script_loop(vs, self._script_results[name]), name=f"vrrp_script {name}")
        if self._files and (self._files_task is None or self._files_task.done()):
            self._files_task = loop.create_task(self._file_loop(), name="track_file")
        if self._procs and (self._procs_task is None or self._procs_task.done()):
            self._procs_task = loop.create_task(self._process_loop(), name="track_process")

    async def stop(self) -> None:
        """Cancel every task (running scripts get SIGTERM) and wait a bounded time for them."""
        tasks = [*self._script_tasks.values(), self._files_task, self._procs_task]
        live = [t for t in tasks if t is not None and not t.done()]
        for t in live:
            t.cancel()
        if live:
            await asyncio.wait(live, timeout=SCRIPT_KILL_AFTER + 1)
        self._script_tasks.clear()

    async def _script_loop(self, vs: VrrpScript, sr: ScriptResult) -> None:
        """Run ``vs`` every interval; skip (and say so) while the previous run is still going."""
        loop = asyncio.get_running_loop()
        interval = vs.interval if vs.interval > 0 else 1.0
        timeout = vs.timeout or interval
        running: asyncio.Task[None] | None = None
        next_at = loop.time()
        try:
            while True:
                if running is not None and not running.done():
                    log.info("Track script %s is already running, expect idle - skipping run", vs.name)
                else:
                    running = loop.create_task(self._run_script(vs, sr, timeout))
                next_at = max(next_at + interval, loop.time())
                await asyncio.sleep(next_at - loop.time())
        finally:
            if running is not None and not running.done():
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running

    async def _run_script(self, vs: VrrpScript, sr: ScriptResult, timeout: float) -> None:
        # as script security allows (``</path`` through /bin/sh, as keepalived's system())
        job = self.notifier.job(_vrrp_script(vs), kind="vrrp_script")
        if job is None:
            return
        outcome = await run_with_timeout(job, timeout, SCRIPT_KILL_AFTER)
        rc, detail = outcome.status, outcome.words
        change = sr.record(rc == 0)
        if change is Status.OK:
            log.info("VRRP_Script(%s) succeeded", vs.name)
        elif change is Status.FAILED:
            if detail == "timeout":
                log.info("VRRP_Script(%s) timed_out", vs.name)
            else:
                log.info("VRRP_Script(%s) failed (%s)", vs.name, detail)
        if change is not None and self._script_results.get(vs.name) is sr:
            self.state[("script", vs.name)] = change
            self.changed(("script", vs.name))

    async def _file_loop(self) -> None:
        while True:
            await asyncio.sleep(TRACK_FILE_POLL)
            for tf in list(self._files.values()):
                value = _read_track_file(tf)
                key = ("file", tf.name)
                if self.state.get(key) != value:
                    log.info("Tracked file %s changed value to %d", tf.name, value)
                    self.state[key] = value
                    self.changed(key)

    async def _process_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(TRACK_PROCESS_POLL)
            self._count_processes(loop.time())

    def _count_processes(self, now: float, announce: bool = True) -> None:
        procs = _scan_processes(full=any(tp.args is not None or tp.full_command or tp.param_match is not None
                                         for tp in self._procs.values()))
        for tp in list(self._procs.values()):
            count = sum(1 for comm, argv in procs if process_matches(tp, comm, argv))
            change = self._quorums[tp.name].observe(now, count)
            if change is None:
                continue
            key = ("process", tp.name)
            self.state[key] = change
            log.info("Quorum %s for tracked process %s", "gained" if change else "lost", tp.name)
            if announce:
                self.changed(key)


def _vrrp_script(vs: VrrpScript) -> Script:
    """The script with the vrrp_script's ``user`` line folded in (for the security verdict)."""
    if vs.user is None:
        return vs.script
    return replace(vs.script, user=vs.user, group=vs.group)
