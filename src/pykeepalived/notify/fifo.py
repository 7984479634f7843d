"""Notify FIFOs: one line per state change, as keepalived writes them (keepalived-behaviour.md §5.2).

keepalived creates the FIFO if it is missing, opens it read-write and non-blocking (so a
missing reader never blocks the daemon) and drops a line when the FIFO is full.  A
``*_fifo_script`` is started with the FIFO path appended as its last argument, to read it.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat

log = logging.getLogger("pykeepalived.notify")


class FifoWriter:
    """Writes each line to every opened FIFO (each path once)."""

    def __init__(self) -> None:
        self._fifos: list[tuple[str, int]] = []

    @property
    def paths(self) -> list[str]:
        return [p for p, _ in self._fifos]

    def open(self, path: str) -> bool:
        """Create (if needed) and open ``path``; False (logged) when that is impossible."""
        if path in self.paths:
            return True
        try:
            if not os.path.exists(path):
                os.mkfifo(path, 0o600)
            elif not stat.S_ISFIFO(os.stat(path).st_mode):
                log.error("notify FIFO %s exists and is not a FIFO", path)
                return False
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
        except OSError as e:
            log.error("Unable to open notify FIFO %s: %s", path, e.strerror)
            return False
        self._fifos.append((path, fd))
        return True

    def write(self, line: str) -> None:
        """One line to every FIFO now; a full FIFO drops it (keepalived: EAGAIN).

        ``line`` may or may not end with its newline (the checker's ``FifoLine`` events carry
        keepalived's ``\\n``, the VRRP notifier's lines do not): exactly one is written.
        """
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
