"""Process plumbing every pykeepalived process uses (the supervisor, the VRRP process, the checker process):
logging in keepalived's words and formats, pid files.

Logs keep keepalived's words and, with ``-l``, its console format (``Thu Nov 26 03:42:59 2026:
message``), so operators' greps and alerts keep working; syslog gets keepalived's idents
(``Keepalived``, ``Keepalived_vrrp``, ``Keepalived_healthcheckers``).

Neutral ground: ``daemon`` (the supervisor) and ``vrrp`` (whose process also runs on its own,
``python -m pykeepalived.vrrp.runner``) both import it; it imports neither.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import resource
import stat
import sys
import time
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
