"""Where a daemon's runtime files are: shared by the daemon that makes them and the tools that find them.

The defaults are keepalived's (``/run/keepalived.pid``, ``/run/vrrp.pid``, ``/run/checkers.pid``,
``/run/bfd.pid``), so tools that signal keepalived by its pid file keep working; the control socket sits
beside the pid file.
"""

from __future__ import annotations

DEFAULT_PID_FILE = "/run/keepalived.pid"
#: keepalived's children's pid files, used with the default main pid file
DEFAULT_CHILD_PID_FILES = {"vrrp": "/run/vrrp.pid", "checkers": "/run/checkers.pid", "bfd": "/run/bfd.pid"}


def control_path_for(pid_file: str | None) -> str:
    """The control socket lives beside the pid file: ``X.pid`` -> ``X.ctl`` (else ``X`` -> ``X.ctl``).

    One rule for both ends, so ``status -p PIDFILE`` finds the daemon started with ``-p PIDFILE`` even
    when several daemons run on one machine (network namespaces, tests, the lab).
    """
    pid_file = pid_file or DEFAULT_PID_FILE
    stem = pid_file[: -len(".pid")] if pid_file.endswith(".pid") else pid_file
    return stem + ".ctl"
