"""Notify FIFOs: one line per state change, as keepalived writes them
(keepalived's vrrp/vrrp_notify.c: notify_fifo(); lib/notify.c: notify_fifo_open()).

keepalived creates the FIFO if it is missing, opens it read-write and non-blocking (so a
missing reader never blocks the daemon) and drops a line when the FIFO is full.  A
``*_fifo_script`` is started with the FIFO path appended as its last argument, to read it.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import logging
import os
import pwd
import stat
import time
from collections.abc import Callable

log = logging.getLogger("pykeepalived.notify")

#: first and longest wait (seconds) before trying again a FIFO that could not be opened
RETRY_FIRST, RETRY_MAX = 1.0, 60.0


class FifoWriter:
    """Writes each line to every opened FIFO (each path once).

    Opened as keepalived does (created 0644 when missing and chowned to the configured ``user [group]``,
    opened read-write, non-blocking, never through a symbolic link), and more strictly: an existing
    path must be a FIFO owned by us or by the configured user, so a FIFO another user planted at a
    well-known path never receives the daemon's state lines.  A FIFO the writer created is removed
    when it closes, as keepalived's ``fifo_close``.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._fifos: list[tuple[str, int]] = []
        self._created: list[str] = []
        #: FIFOs that could not be opened: path -> (user, group, next try, wait after that); tried again
        #: before a later write, so a FIFO whose directory appears later (a tmpfs mounted late) is used
        self._retry: dict[str, tuple[str | None, str | None, float, float]] = {}
        self._clock = clock

    @property
    def paths(self) -> list[str]:
        return [p for p, _ in self._fifos]

    def open(self, path: str, user: str | None = None, group: str | None = None) -> bool:
        """Create (if needed) and open ``path``; False (logged, and tried again before later writes with
        a growing wait) when that is impossible or unsafe."""
        if path in self.paths:
            return True
        if self._open(path, user, group):
            self._retry.pop(path, None)
            return True
        wait = min(self._retry[path][3] * 2, RETRY_MAX) if path in self._retry else RETRY_FIRST
        self._retry[path] = (user, group, self._clock() + wait, wait)
        return False

    def _open(self, path: str, user: str | None, group: str | None) -> bool:
        uid, gid = _owner(user, group)
        try:
            os.mkfifo(path, 0o644)
        except FileExistsError:
            created = False
        except OSError as e:
            log.error("Unable to create notify fifo %s: %s", path, e.strerror)
            return False
        else:
            created = True
            self._created.append(path)
            if uid is not None or gid is not None:
                try:
                    os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
                except OSError:
                    log.info("Failed to set uid:gid for fifo %s", path)
        try:
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as e:
            log.error("Unable to open notify fifo %s: %s", path, e.strerror)
            return False
        st = os.fstat(fd)
        allowed = {os.geteuid()} | ({uid} if uid is not None else set())
        problem = ("is not a FIFO" if not stat.S_ISFIFO(st.st_mode)
                   else f"is owned by uid {st.st_uid}, not by us" if st.st_uid not in allowed
                   else "is writable by others" if not created and st.st_mode & stat.S_IWOTH else "")
        if problem:
            os.close(fd)
            log.error("notify FIFO %s %s - not using it", path, problem)
            return False
        self._fifos.append((path, fd))
        return True

    def write(self, line: str) -> None:
        """One line to every FIFO now; a full FIFO drops it (keepalived: EAGAIN).

        ``line`` may or may not end with its newline (the checker's ``FifoLine`` events carry
        keepalived's ``\\n``, the VRRP notifier's lines do not): exactly one is written.
        """
        if self._retry:
            now = self._clock()
            for path, (user, group, due, _wait) in list(self._retry.items()):
                if due <= now:
                    self.open(path, user, group)
        data = (line.rstrip("\n") + "\n").encode()
        for path, fd in self._fifos:
            try:
                os.write(fd, data)
            except OSError as e:
                if e.errno != errno.EAGAIN:
                    log.warning("Write to notify FIFO %s failed: %s", path, e.strerror)

    def close(self) -> None:
        for _path, fd in self._fifos:
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fifos.clear()
        for path in self._created:  # first, so a reader that loops reopening it cannot reopen it
            with contextlib.suppress(OSError):
                os.unlink(path)
        self._created.clear()


def _owner(user: str | None, group: str | None) -> tuple[int | None, int | None]:
    """uid/gid of the FIFO's configured ``user [group]`` (None where not configured or unknown)."""
    uid = gid = None
    if user:
        try:
            pw = pwd.getpwnam(user)
            uid, gid = pw.pw_uid, pw.pw_gid
        except KeyError:
            log.warning("notify FIFO user %s does not exist", user)
    if group:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            log.warning("notify FIFO group %s does not exist", group)
    return uid, gid
