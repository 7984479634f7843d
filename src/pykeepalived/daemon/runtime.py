"""Process plumbing of the daemon's processes: file limits, network namespaces, core dumps.

Logging and pid files live in :mod:`pykeepalived.process` (the VRRP process uses them too) and are
re-exported here for existing importers.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import resource

from pykeepalived.files import write_private  # noqa: F401  (re-exported)
from pykeepalived.process import (  # noqa: F401  (re-exported)
    SYSLOG_IDENTS,
    pid_alive,
    raise_fd_limit,
    read_pid_file,
    remove_pid_file,
    setup_logging,
    write_pid_file,
)

log = logging.getLogger("pykeepalived")


_CLONE_NEWNET = 0x40000000


def enter_netns(name: str) -> None:
    """Move the calling thread (the whole process, when called before any other thread starts) into the
    network namespace ``name`` (``/run/netns/NAME``, as ``ip netns`` makes).  Python 3.11 has no
    ``os.setns``: libc's."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({name}): {os.strerror(err)}")
    finally:
        os.close(fd)


CORE_PATTERN = "/proc/sys/kernel/core_pattern"


def allow_core_dumps() -> None:
    """``-m``: no limit on core file size for this process and its children (keepalived's core_dump_init)."""
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    except (ValueError, OSError):
        log.info("Failed to set core file size")


def set_core_pattern(pattern: str, path: str = CORE_PATTERN) -> str | None:
    """``-M``: write ``pattern`` to the kernel's core_pattern; returns the value it had, to put back on exit
    (None: it could not be read or written, logged)."""
    try:
        with open(path, encoding="utf-8") as f:
            old = f.read().rstrip("\n")
        with open(path, "w", encoding="utf-8") as f:
            f.write(pattern)
    except OSError as e:
        log.info("Unable to set core_pattern to %s: %s", pattern, e.strerror)
        return None
    return old
