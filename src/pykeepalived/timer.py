"""One precise wake-up per process, a re-armable deadline on the event loop's clock: the VRRP process's
timers and the BFD process's (at 3 x 10 ms a detection must not come up to a millisecond late)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable


class DeadlineTimer:
    """One re-armable wake-up at an absolute ``loop.time()``, precise to tens of microseconds.

    asyncio's ``call_at`` sleeps in ``epoll_wait``, whose timeout is rounded up to a millisecond
    and gets 0.1 % of the delay as kernel timer slack: a 3.6 s VRRPv2 down timer fired about 5 ms
    late.  A ``timerfd`` on CLOCK_MONOTONIC (the clock of ``loop.time()``) wakes the loop through
    its reader instead, with the default 50 µs slack.  Falls back to ``call_at`` without it.
    """

    _CLOCK_MONOTONIC = 1
    _TFD_NONBLOCK_CLOEXEC = os.O_NONBLOCK | os.O_CLOEXEC
    _TFD_TIMER_ABSTIME = 1

    def __init__(self, loop: asyncio.AbstractEventLoop, callback: Callable[[float], None]) -> None:
        self.loop = loop
        self.callback = callback
        self.when: float | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._fd = -1
        try:
            import ctypes

            self._libc = ctypes.CDLL(None, use_errno=True)
            fd = self._libc.timerfd_create(self._CLOCK_MONOTONIC, self._TFD_NONBLOCK_CLOEXEC)
            if fd >= 0:
                self._fd = fd
                loop.add_reader(fd, self._on_readable)
        except (OSError, AttributeError):
            self._fd = -1

    def arm(self, when: float | None) -> None:
        """Fire ``callback(when)`` at ``when`` (replacing any earlier arming); None disarms."""
        if when == self.when:
            return
        self.when = when
        if self._fd < 0:
            if self._handle is not None:
                self._handle.cancel()
            self._handle = None if when is None else self.loop.call_at(when, self._fire)
            return
        import ctypes

        value = max(when, 1e-9) if when is not None else 0.0  # all zero disarms
        sec = int(value)
        spec = (ctypes.c_long * 4)(0, 0, sec, round((value - sec) * 1e9))
        if self._libc.timerfd_settime(self._fd, self._TFD_TIMER_ABSTIME, spec, None) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))

    def _on_readable(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:
            return
        self._fire()

    def _fire(self) -> None:
        when, self.when, self._handle = self.when, None, None
        if when is not None:
            self.callback(when)

    def close(self) -> None:
        self.arm(None)
        if self._fd >= 0:
            self.loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
