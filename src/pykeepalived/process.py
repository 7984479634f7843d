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

    @classmethod
    def of(cls, global_defs: object, kind: str) -> Priorities:
        """``kind``'s settings (``vrrp``, ``checker``/``checkers``, ``bfd``) read off a GlobalDefs."""
        p = _PROCESS_WORDS[kind][1]
        return cls(getattr(global_defs, f"{p}_priority", None), getattr(global_defs, f"{p}_rt_priority", None),
                   getattr(global_defs, f"{p}_rlimit_rttime", None), bool(getattr(global_defs, f"{p}_no_swap", False)),
                   tuple(getattr(global_defs, f"{p}_cpu_affinity", ()) or ()))


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
    rttime: tuple[int, int] | None = None  # the RLIMIT_RTTIME before ours
    nice: int | None = None  # the nice value before ours
    locked: bool = False
    last: tuple[str, Priorities] | None = None  # the settings last asked for
    rttime_warned: bool = False


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
    if p.rt_priority:
        try:
            os.sched_setscheduler(0, os.SCHED_RR | os.SCHED_RESET_ON_FORK, os.sched_param(p.rt_priority))
        except OSError:
            log.warning("child process: cannot raise priority")
        else:
            _applied.realtime = True
            done.append(f"SCHED_RR {p.rt_priority}")
            rlimit = RT_RLIMIT_DEFAULT if p.rlimit_rttime is None else max(2, p.rlimit_rttime)
            signal.signal(signal.SIGXCPU, _log_sigxcpu(kind))
            before = resource.getrlimit(resource.RLIMIT_RTTIME)
            try:
                resource.setrlimit(resource.RLIMIT_RTTIME, (rlimit // 2, rlimit))
            except (OSError, ValueError):
                log.warning("child process cannot set realtime rlimit")
            else:
                if _applied.rttime is None:
                    _applied.rttime = before
                done.append(f"RLIMIT_RTTIME {rlimit // 2}/{rlimit} us")
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


def reset_process_priorities() -> None:
    """Standard scheduling again, as keepalived's reset_process_priorities (lib/process.c) before a reload and
    in a script's child: SCHED_OTHER with the RLIMIT_RTTIME from before, the nice value from before, memory
    unlocked.  The children also call it before they exit: a Python process's reload or interpreter teardown
    runs far longer than keepalived's 10 ms realtime budget without blocking, and the kernel would SIGKILL it.
    The CPU affinity stays (keepalived leaves it too).  Without CAP_SYS_RESOURCE (some containers) the lowered
    RLIMIT_RTTIME stays: it binds realtime tasks only, so it no longer applies."""
    if _applied.realtime:
        try:
            os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        except OSError:
            log.warning("child process: cannot reset realtime scheduling")
        else:
            _applied.realtime = False
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
