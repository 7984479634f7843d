"""Labs that outlive the command that built them: ``pykeepalived lab up|down`` and ``lab scaleout up|down``.

A :class:`RunningLab` keeps its configs, logs and pid files in a state directory
(``/run/pykeepalived-lab/<prefix>``) and records every process it starts (PID and start time, in
``state.json``), so that ``down`` — from another process, after ``up`` has exited or a demo was killed —
stops exactly those processes (a PID reused by someone else is left alone), then removes the
namespaces ``<prefix>*`` and the state directory.  Demos use the prefix ``<DEMO_TAG><pid>-``, so
``down`` can tell an interrupted one (its process is gone) and sweep it.

:class:`~pykeepalived.lab.demo.SeedLab` (the seed) and :class:`~pykeepalived.lab.scaleout.ScaleoutLab`
(N nodes behind ECMP) are the two kinds; ``state.json`` names its kind.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pykeepalived.daemon.runtime import pid_alive
from pykeepalived.lab import netns as nsmod
from pykeepalived.lab.topology import Lab

#: where ``up`` keeps configs, logs, pid files and its record of what it started
STATE_ROOT = Path("/run/pykeepalived-lab")

L = TypeVar("L", bound="RunningLab")


# -- processes we start, recorded so another process can stop exactly them ----------------------

def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks (``/proc/PID/stat`` field 22): a PID plus this is unique."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[19])


@dataclass
class Proc:
    """One process the lab started: enough to find it again (pid + start time) from another process."""

    name: str
    node: str
    pid: int
    start: int | None
    log: str
    argv: list[str]

    def alive(self) -> bool:
        return self.start is not None and _start_time(self.pid) == self.start

    def signal(self, sig: int) -> bool:
        """Signal it if it is still the process we started (a reused PID is left alone)."""
        if not self.alive():
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, sig)
            return True
        return False


def _stop_procs(procs: Sequence[Proc], grace: float = 5.0) -> None:
    """SIGTERM, wait up to ``grace`` (daemons release VIPs, routes and tables), then SIGKILL: ours only."""
    for p in procs:
        p.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(p.alive() for p in procs) and time.monotonic() < deadline:
        _reap()
        time.sleep(0.05)
    for p in procs:
        p.signal(signal.SIGKILL)
    _reap()


def pids_in_netns(ns: str) -> list[int]:
    """Processes living in named namespace ``ns`` (a /proc scan that tolerates exiting processes)."""
    try:
        st = os.stat(f"/run/netns/{ns}")
    except OSError:
        return []
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                mine = os.stat(f"/proc/{entry}/ns/net")
            except OSError:
                continue
            if (mine.st_dev, mine.st_ino) == (st.st_dev, st.st_ino):
                out.append(int(entry))
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:120]
    except OSError:
        return "?"


def _in_netns(pid: int, ns: str) -> bool:
    """Whether process ``pid`` lives in named namespace ``ns`` (same inode as /run/netns/NS)."""
    try:
        mine = os.stat(f"/proc/{pid}/ns/net")
        theirs = os.stat(f"/run/netns/{ns}")
    except OSError:
        return False
    return (mine.st_dev, mine.st_ino) == (theirs.st_dev, theirs.st_ino)


def _reap() -> None:
    """Collect our own exited children (zombies keep their start time and would look alive)."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


class AlreadyUp(nsmod.LabError):
    """Namespaces with the lab's prefix exist: ``up`` refuses and leaves them (and their state) alone."""


# -- a lab with a state directory -----------------------------------------------------------------

@dataclass
class RunningLab:
    """Namespaces ``prefix*``, the processes started in them and a state directory that outlives this process.

    Subclasses build their topology in :meth:`up` (after :meth:`prepare`) and start processes with
    :meth:`_popen`; :meth:`down` stops them (the ``FIRST`` ones first: daemons remove what they added),
    removes the namespaces and the directory.
    """

    prefix: str = "pklab-"
    state_root: Path = STATE_ROOT
    lab: Lab | None = None
    procs: dict[str, Proc] = field(default_factory=dict)
    popens: dict[str, subprocess.Popen[Any]] = field(default_factory=dict, repr=False)
    #: what :meth:`down` checked and found in order (for people), and what it found wrong
    notes: list[str] = field(default_factory=list, repr=False)
    problems: list[str] = field(default_factory=list, repr=False)

    #: the kind recorded in state.json ("seed", "scaleout")
    KIND: ClassVar[str] = "lab"
    #: the command that runs this kind ("lab", "lab scaleout"), for messages
    COMMAND: ClassVar[str] = "lab"
    #: ``up`` / ``down`` without ``--prefix``
    DEFAULT_PREFIX: ClassVar[str] = "pklab-"
    #: demos use ``<DEMO_TAG><pid>-``, so ``down`` can tell an interrupted one
    DEMO_TAG: ClassVar[str] = "pkdemo"
    #: processes stopped first, with a longer grace (the load balancers: they withdraw what they added)
    FIRST: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        nsmod.check_prefix(self.prefix)

    # -- files -----------------------------------------------------------------------------
    @property
    def dir(self) -> Path:
        return self.state_root / self.prefix.rstrip("-")

    def log_path(self, name: str) -> Path:
        return self.dir / f"{name}.log"

    def ns(self, node: str) -> str:
        return f"{self.prefix}{node}"

    def _save(self) -> None:
        doc = {"kind": self.KIND, "prefix": self.prefix, "created_by": os.getpid(),
               "procs": [asdict(p) for p in self.procs.values()]}
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        tmp.replace(self.dir / "state.json")

    def failure_logs(self) -> list[Path]:
        """Logs whose last lines help when ``up`` fails (the daemons')."""
        return [self.log_path(name) for name in self.FIRST]

    # -- building --------------------------------------------------------------------------
    def prepare(self) -> None:
        """Refuse if namespaces ``prefix*`` exist (a lab is up); a fresh state directory, root's, 0755
        (``enable_script_security`` accepts scripts in it; FRR's unprivileged daemons can traverse it)."""
        if any(n.startswith(self.prefix) for n in nsmod.list_netns()):
            raise AlreadyUp(f"namespaces {self.prefix}* exist already: a lab is up "
                                 f"('pykeepalived {self.down_command()}' removes it)")
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.dir.mkdir(parents=True, mode=0o755)
        os.chmod(self.state_root, 0o755)
        os.chmod(self.dir, 0o755)
        self._save()

    def down_command(self) -> str:
        return f"{self.COMMAND} down" + ("" if self.prefix == self.DEFAULT_PREFIX else f" --prefix {self.prefix}")

    def _popen(self, name: str, node: str, argv: list[str]) -> Proc:
        """Start ``argv`` in ``node`` (own session, output to ``<name>.log``) and record it."""
        assert self.lab is not None, "lab not built"
        log_path = self.log_path(name)
        with open(log_path, "ab") as log:
            # own session: the terminal's Ctrl-C reaches us only, and we stop them in order
            popen = self.lab.popen(node, argv, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True, cwd=str(self.dir))
        proc = Proc(name, node, popen.pid, _start_time(popen.pid), str(log_path), argv)
        self.procs[name], self.popens[name] = proc, popen
        self._save()
        return proc

    def _stop(self, name: str, grace: float = 5.0) -> None:
        proc = self.procs.pop(name, None)
        popen = self.popens.pop(name, None)
        if proc is not None:
            _stop_procs([proc], grace)
        if popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(grace)
            if self.lab is not None and popen in self.lab.processes:
                self.lab.processes.remove(popen)
        self._save()

    def _forget(self, name: str) -> None:
        """A process that was killed on purpose: wait for it and drop it from the records."""
        popen = self.popens.pop(name, None)
        if popen is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(5)
            if self.lab is not None and popen in self.lab.processes:
                self.lab.processes.remove(popen)
        self.procs.pop(name, None)
        self._save()

    def detach(self) -> None:
        """Leave the namespaces and processes running when this process exits (``up``)."""
        if self.lab is not None:
            self.lab.detach()

    # -- teardown ---------------------------------------------------------------------------
    def stop_processes(self, procs: Sequence[Proc]) -> None:
        """The ``FIRST`` processes (grace 10 s), then the others; subclasses check things in between."""
        _stop_procs([p for p in procs if p.name in self.FIRST], grace=10.0)
        _stop_procs([p for p in procs if p.name not in self.FIRST])

    def down(self) -> list[str]:
        """Stop every process we started, then the namespaces and the state directory.  Returns what was
        removed, for people; :attr:`notes` and :attr:`problems` say what was checked on the way."""
        removed: list[str] = []
        order = sorted(self.procs.values(), key=lambda p: p.name not in self.FIRST)
        self.stop_processes(order)
        for popen in self.popens.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                popen.wait(1)
        removed += [f"process {p.name} (pid {p.pid})" for p in order]
        self.procs.clear()
        self.popens.clear()
        names = [n for n in nsmod.list_netns() if n.startswith(self.prefix)]
        if self.lab is not None:
            self.lab.processes.clear()
            self.lab.close()
        nsmod.cleanup_prefix(self.prefix)
        removed += [f"namespace {n}" for n in names]
        if self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)
            removed.append(f"state directory {self.dir}")
        return removed

    def close(self) -> None:
        self.down()

    def __enter__(self: L) -> L:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @classmethod
    def attach(cls: type[L], prefix: str | None = None, state_root: Path = STATE_ROOT) -> L:
        """The lab a previous ``up`` left running (its processes read back from state.json)."""
        lab = cls(prefix or cls.DEFAULT_PREFIX, state_root)
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
            doc = json.loads((lab.dir / "state.json").read_text())
            lab.procs = {p["name"]: Proc(**p) for p in doc["procs"]}
        return lab

    @classmethod
    def stale_demo_prefixes(cls, state_root: Path = STATE_ROOT) -> list[str]:
        """Prefixes of this kind's demos whose process is gone (interrupted by SIGKILL or a crash): from
        their namespaces and from their state directories."""
        found = nsmod.stale_prefixes(cls.DEMO_TAG)
        if state_root.is_dir():
            for d in sorted(state_root.iterdir()):
                rest = d.name.removeprefix(cls.DEMO_TAG)
                stale = d.name.startswith(cls.DEMO_TAG) and rest.isdigit() and not pid_alive(int(rest))
                if stale and f"{d.name}-" not in found:
                    found.append(f"{d.name}-")
        return found
