"""Process plumbing every pykeepalived process uses (the supervisor, the VRRP process, the checker process):
logging in keepalived's words and formats, pid files, file limits, and the children's scheduling priorities,
memory locking and CPU affinity (``vrrp_rt_priority`` & co: :func:`set_process_priorities`).

Logs keep keepalived's words and, with ``-l``, its console format (``Thu Nov 26 03:42:59 2026:
message``), so operators' greps and alerts keep working; syslog gets keepalived's idents
(``Keepalived``, ``Keepalived_vrrp``, ``Keepalived_healthcheckers``).

Neutral ground: ``daemon`` (the supervisor) and ``vrrp`` (whose process also runs on its own,
``python -m pykeepalived.vrrp.runner``) both import it; it imports neither.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import logging.handlers
import os
import resource
import signal
import stat
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pykeepalived.files import write_private

log = logging.getLogger("pykeepalived")

SYSLOG_IDENTS = {"parent": "Keepalived", "vrrp": "Keepalived_vrrp", "checkers": "Keepalived_healthcheckers"}


class _CtimeFormatter(logging.Formatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.ctime(record.created)


def setup_logging(kind: str, *, console: bool, detail: bool, facility: int | None = None,
                  syslog: bool = True) -> None:
    """Console (``-l``) and syslog (unless ``-G``, with ``-S``'s facility) handlers for process ``kind``."""
    root = logging.getLogger("pykeepalived")
    root.setLevel(logging.DEBUG if detail else logging.INFO)
    root.propagate = False
    for h in list(root.handlers):
        root.removeHandler(h)
    if console:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_CtimeFormatter("%(asctime)s: %(message)s"))
        root.addHandler(handler)
    if syslog and os.path.exists("/dev/log"):
        with contextlib.suppress(OSError):
            sh = logging.handlers.SysLogHandler(
                "/dev/log", facility=(facility >> 3) if facility is not None
                else logging.handlers.SysLogHandler.LOG_DAEMON)
            ident = SYSLOG_IDENTS.get(kind, "Keepalived")
            sh.setFormatter(logging.Formatter(f"{ident}[%(process)d]: %(message)s"))
            root.addHandler(sh)
    if not root.handlers:
        root.addHandler(logging.NullHandler())


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a running process.  A zombie is not: a daemon killed with SIGKILL stays one until
    whoever inherited it reaps it, which a container's init may do late or never, and a restart must not
    refuse to start because of it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: trust kill()
    return state not in ("Z", "X")


def write_pid_file(path: str, what: str = "daemon", *,
                   running: str = "%s is already running (pid %d, %s)") -> bool:
    """Write our pid; refuse (False, logged) if the file names another live process.

    ``running`` is the refusal's message, given ``what``, the other pid and ``path``.
    """
    old = read_pid_file(path)
    if old and old != os.getpid() and pid_alive(old):
        log.error(running, what, old, path)
        return False
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_private(path, f"{os.getpid()}\n", 0o644)  # a link planted at the name is replaced, not followed
    except OSError as e:  # e.g. ENOSPC, EROFS: refuse to start, as keepalived, but say why
        log.error("Unable to write pid file %s: %s", path, e.strerror or e)
        return False
    return True


def read_pid_file(path: str) -> int:
    """The pid a pid file names (0: none, unreadable, or not a plain file: a link is not followed)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return 0
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return 0
        return int(os.read(fd, 64).decode("ascii", "replace").strip() or 0)
    except (OSError, ValueError):
        return 0
    finally:
        os.close(fd)


def remove_pid_file(path: str) -> None:
    """Remove the pid file if it is still ours."""
    if read_pid_file(path) == os.getpid():
        with contextlib.suppress(OSError):
            os.unlink(path)


def raise_fd_limit(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE to ``wanted`` if it is lower (root may raise the hard limit too, as
    keepalived's ``set_max_file_limit`` does); returns the soft limit in force afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return wanted if soft == resource.RLIM_INFINITY else soft
    for new_hard in (max(hard, wanted) if hard != resource.RLIM_INFINITY else hard, hard):
        new_soft = wanted if new_hard == resource.RLIM_INFINITY else min(wanted, new_hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, new_hard))
        except (ValueError, OSError):
            continue
        return new_soft
    return soft


# -- process names (global_defs process_names, process_name, <kind>_process_name) ---------------------------

_PR_SET_NAME, _PR_GET_NAME = 15, 16
#: the global_defs field naming each process
_NAME_FIELDS = {"parent": "process_name", "vrrp": "vrrp_process_name", "checkers": "checker_process_name",
                "bfd": "bfd_process_name"}


@dataclass(slots=True)
class _Named:
    own: bytes | None = None  # the name the process had before the first one set
    last: str | None = None  # the name set last (None: its own)


_named = _Named()


def process_name_of(kind: str, global_defs: object) -> str | None:
    """The name ``global_defs`` gives process ``kind`` (parent, vrrp, checkers, bfd), or None."""
    name = getattr(global_defs, _NAME_FIELDS[kind], None)
    return name if isinstance(name, str) else None


def name_process(name: str | None) -> None:
    """keepalived's ``set_process_name`` (prctl PR_SET_NAME: what ps, top and pgrep show), at start and after each
    reload, when the configured name differs from the one set last; None puts back the process's own name
    (keepalived puts "keepalived")."""
    if name == _named.last:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if _named.own is None:
        buf = ctypes.create_string_buffer(16)
        if libc.prctl(_PR_GET_NAME, buf, 0, 0, 0) == 0:
            _named.own = buf.value
    value = name.encode() if name is not None else (_named.own or b"pykeepalived")
    if libc.prctl(_PR_SET_NAME, ctypes.c_char_p(value[:15]), 0, 0, 0) != 0:
        log.info("Failed to set process name '%s'", value.decode(errors="replace"))
        return
    _named.last = name


# -- process priorities (keepalived's lib/process.c set_process_priorities, set_process_cpu_affinity) --------

#: the RLIMIT_RTTIME (µs) a realtime child gets unless ``<kind>_rlimit_rttime`` says: 1 s, where keepalived's
#: RT_RLIMIT_DEFAULT is 10 ms.  The limit is CPU time run without blocking; Python's event loop spends longer than
#: 10 ms in one turn (a status dump, a reconcile, a garbage collection) and the kernel SIGKILLs the process at the
#: hard limit (measured: tests/integration/test_realtime_children.py, the checker child killed after a reload).
#: A runaway realtime child still loses its CPU after a second; SIGXCPU at half of it is logged as keepalived's.
RT_RLIMIT_DEFAULT = 1_000_000
#: keepalived 2.2.7's own default, for comparison
KEEPALIVED_RT_RLIMIT_DEFAULT = 10000
_MCL_CURRENT, _MCL_FUTURE, _MCL_ONFAULT = 1, 2, 4
#: keepalived's default ``min_auto_priority_delay`` (µs): a process a second late raises its priority
MIN_AUTO_PRIORITY_DELAY = 1_000_000
#: the process names of keepalived's SIGXCPU line (lib/signals.c log_sigxcpu) and keywords' prefixes
_PROCESS_WORDS = {"vrrp": ("VRRP", "vrrp"), "checkers": ("Checker", "checker"), "checker": ("Checker", "checker"),
                  "bfd": ("BFD", "bfd")}


@dataclass(frozen=True, slots=True)
class Priorities:
    """One child's ``<kind>_priority`` (nice), ``_rt_priority`` (SCHED_RR), ``_rlimit_rttime`` (µs),
    ``_no_swap`` (mlockall) and ``_cpu_affinity`` from global_defs."""

    nice: int | None = None
    rt_priority: int | None = None
    rlimit_rttime: int | None = None
    no_swap: bool = False
    cpu_affinity: tuple[int, ...] = ()
    #: ``max_auto_priority``: the realtime priority a late process may raise itself to (0: never raised; -1,
    #: keepalived's "no notice at start", is 0 here too); ``min_auto_priority_delay``: how late is late (µs)
    max_auto_priority: int = 0
    min_auto_priority_delay: int = MIN_AUTO_PRIORITY_DELAY

    @classmethod
    def of(cls, global_defs: object, kind: str) -> Priorities:
        """``kind``'s settings (``vrrp``, ``checker``/``checkers``, ``bfd``) read off a GlobalDefs."""
        p = _PROCESS_WORDS[kind][1]
        delay = getattr(global_defs, "min_auto_priority_delay", None)
        return cls(getattr(global_defs, f"{p}_priority", None), getattr(global_defs, f"{p}_rt_priority", None),
                   getattr(global_defs, f"{p}_rlimit_rttime", None), bool(getattr(global_defs, f"{p}_no_swap", False)),
                   tuple(getattr(global_defs, f"{p}_cpu_affinity", ()) or ()),
                   max(0, getattr(global_defs, "max_auto_priority", None) or 0),
                   MIN_AUTO_PRIORITY_DELAY if delay is None else delay)


def _mlockall() -> str | None:
    """mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) (MCL_ONFAULT dropped on kernels before 4.4); the
    error text, or None."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    err = 0
    for flags in (_MCL_CURRENT | _MCL_FUTURE | _MCL_ONFAULT, _MCL_CURRENT | _MCL_FUTURE):
        if libc.mlockall(flags) == 0:
            return None
        err = ctypes.get_errno()
        if err != errno.EINVAL:
            break
    return os.strerror(err)


def _log_sigxcpu(kind: str) -> Callable[[int, object], None]:
    name, word = _PROCESS_WORDS[kind]

    def handler(signum: int, frame: object) -> None:
        log.info("%s process has used too much CPU time, %s_rlimit_rttime may need to be increased", name, word)

    return handler


@dataclass(slots=True)
class _Applied:
    """What :func:`set_process_priorities` changed, so :func:`reset_process_priorities` can put it back."""

    realtime: bool = False
    rt_priority: int = 0  # the SCHED_RR priority while realtime
    rlimit_set: bool = False  # RLIMIT_RTTIME set by us while realtime
    rttime: tuple[int, int] | None = None  # the RLIMIT_RTTIME before ours
    nice: int | None = None  # the nice value before ours
    locked: bool = False
    last: tuple[str, Priorities] | None = None  # the settings last asked for
    rttime_warned: bool = False
    generation: int = 0
    reloading: bool = False  # between a reset and the next set


_applied = _Applied()


def set_process_priorities(kind: str, p: Priorities) -> list[str]:
    """Apply ``p`` to this process as keepalived's children do at start (set_process_priorities, then
    set_process_cpu_affinity), logging keepalived's lines on failure; returns what was applied.

    * ``rt_priority``: SCHED_RR at that priority, with SCHED_RESET_ON_FORK (scripts and helper threads do not
      inherit it); then RLIMIT_RTTIME soft ``rlimit/2`` (SIGXCPU, logged), hard ``rlimit`` (default 1 s:
      keepalived's 10 ms is no budget for Python, see :data:`RT_RLIMIT_DEFAULT`);
    * else ``nice``: setpriority (the realtime policy wins: keepalived ignores the nice value then);
    * ``no_swap``: mlockall;  ``cpu_affinity``: sched_setaffinity (an empty set: left alone).
    """
    done: list[str] = []
    _applied.last = (kind, p)
    _applied.generation += 1
    _applied.reloading = False
    if p.rt_priority:
        done += _go_realtime(kind, p.rt_priority, p.rlimit_rttime)
    elif p.nice:
        before_nice = os.getpriority(os.PRIO_PROCESS, 0)
        try:
            os.setpriority(os.PRIO_PROCESS, 0, p.nice)
        except OSError as e:
            log.info("Unable to set process priority to %d - %s", p.nice, e.strerror or e)
        else:
            if _applied.nice is None:
                _applied.nice = before_nice
            done.append(f"nice {p.nice}")
    if p.no_swap:
        err = _mlockall()
        if err is not None:
            log.info("Unable to lock process in memory - %s", err)
        else:
            _applied.locked = True
            done.append("mlockall")
    if p.cpu_affinity:
        try:
            os.sched_setaffinity(0, p.cpu_affinity)
        except (OSError, ValueError) as e:
            log.warning("unable to set cpu affinity to %s process (%s)", _PROCESS_WORDS[kind][1],
                        getattr(e, "strerror", None) or e)
        else:
            done.append("cpus " + " ".join(map(str, p.cpu_affinity)))
    return done


def _go_realtime(kind: str, priority: int, rlimit_rttime: int | None) -> list[str]:
    """SCHED_RR at ``priority`` (SCHED_RESET_ON_FORK), then, unless set already, RLIMIT_RTTIME soft half, hard
    ``rlimit_rttime`` (None: :data:`RT_RLIMIT_DEFAULT`) with SIGXCPU logged; returns what was applied."""
    try:
        os.sched_setscheduler(0, os.SCHED_RR | os.SCHED_RESET_ON_FORK, os.sched_param(priority))
    except OSError:
        log.warning("child process: cannot raise priority")
        return []
    _applied.realtime, _applied.rt_priority = True, priority
    done = [f"SCHED_RR {priority}"]
    if _applied.rlimit_set:
        return done
    rlimit = RT_RLIMIT_DEFAULT if rlimit_rttime is None else max(2, rlimit_rttime)
    signal.signal(signal.SIGXCPU, _log_sigxcpu(kind))
    before = resource.getrlimit(resource.RLIMIT_RTTIME)
    try:
        resource.setrlimit(resource.RLIMIT_RTTIME, (rlimit // 2, rlimit))
    except (OSError, ValueError):
        log.warning("child process cannot set realtime rlimit")
    else:
        _applied.rlimit_set = True
        if _applied.rttime is None:
            _applied.rttime = before
        done.append(f"RLIMIT_RTTIME {rlimit // 2}/{rlimit} us")
    return done


def next_auto_priority(current: int, maximum: int) -> int | None:
    """keepalived's ``increment_process_priority``: the SCHED_RR priority a late process goes to -- the lowest
    (1) from standard scheduling, else one more -- or None (``max_auto_priority`` 0, or reached)."""
    if not maximum or (current and current >= maximum):
        return None
    return current + 1 if current else os.sched_get_priority_min(os.SCHED_RR)


def lateness_period() -> float:
    """How often a child samples its event loop's lateness: a quarter of ``min_auto_priority_delay``, within
    5 ms and 250 ms (so a stall longer than the delay plus a quarter of it is always seen)."""
    delay = _applied.last[1].min_auto_priority_delay if _applied.last is not None else MIN_AUTO_PRIORITY_DELAY
    return min(0.25, max(0.005, delay / 4e6))


def priorities_generation() -> int | None:
    """Bumped by every :func:`reset_process_priorities` (a reload begins) and :func:`set_process_priorities` (it
    ends); None in between.  Lateness measured across or during a reload is the reload's own work, not the
    machine's."""
    return None if _applied.reloading else _applied.generation


def raise_priority_when_late(lateness: float) -> int | None:
    """The process's timers ran ``lateness`` seconds late: past ``min_auto_priority_delay`` that is logged as
    keepalived logs it and, up to ``max_auto_priority``, the process goes one realtime priority up (keepalived's
    scheduler, lib/scheduler.c, and ``increment_process_priority``).  Returns the priority set, if any."""
    if _applied.last is None:
        return None
    kind, p = _applied.last
    if lateness * 1e6 <= p.min_auto_priority_delay:
        return None
    us = round(lateness * 1e6)
    log.info("A thread timer expired %d.%06d seconds ago", us // 1_000_000, us % 1_000_000)
    prio = next_auto_priority(_applied.rt_priority if _applied.realtime else 0, p.max_auto_priority)
    if prio is None or not _go_realtime(kind, prio, p.rlimit_rttime):
        return None
    log.info("Set realtime priority %d", prio)
    return prio


def reset_process_priorities() -> None:
    """Standard scheduling again, as keepalived's reset_process_priorities (lib/process.c) before a reload and
    in a script's child: SCHED_OTHER with the RLIMIT_RTTIME from before, the nice value from before, memory
    unlocked.  The children also call it before they exit: a Python process's reload or interpreter teardown
    runs far longer than keepalived's 10 ms realtime budget without blocking, and the kernel would SIGKILL it.
    The CPU affinity stays (keepalived leaves it too).  Without CAP_SYS_RESOURCE (some containers) the lowered
    RLIMIT_RTTIME stays: it binds realtime tasks only, so it no longer applies."""
    _applied.generation += 1
    _applied.reloading = True
    if _applied.realtime:
        try:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        except OSError:
            log.warning("child process: cannot reset realtime scheduling")
        else:
            _applied.realtime, _applied.rt_priority, _applied.rlimit_set = False, 0, False
            if _applied.rttime is not None:
                try:
                    resource.setrlimit(resource.RLIMIT_RTTIME, _applied.rttime)
                except (OSError, ValueError):  # raising the hard limit needs CAP_SYS_RESOURCE
                    if not _applied.rttime_warned:  # harmless at SCHED_OTHER: said once, not on every reload
                        log.warning("child process cannot reset realtime rlimit")
                        _applied.rttime_warned = True
                else:
                    _applied.rttime = None
    if _applied.nice is not None:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, _applied.nice)
        _applied.nice = None
    if _applied.locked:
        import ctypes

        ctypes.CDLL(None).munlockall()
        _applied.locked = False


def reapply_process_priorities() -> None:
    """The settings last given to :func:`set_process_priorities` again (after a reload that was refused)."""
    if _applied.last is not None:
        set_process_priorities(*_applied.last)
