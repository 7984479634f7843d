"""keepalived 2.2.7's signals: the names `--signum` knows, their numbers, and what each asks for.

Shared by every process (the supervisor in ``daemon``, the VRRP process in ``vrrp``, the checker process),
so it lives beside them rather than inside one of them.

The two real-time ones are keepalived's SIGRTMIN+2 and SIGRTMAX-1, i.e. 36 and 63 with glibc on Linux,
which is what `keepalived --signum=JSON` and `--signum=STATS_CLEAR` print.

What each process does (keepalived 2.2.7's core/main.c propagate_signal, vrrp_daemon.c, check_daemon.c;
the files are :mod:`pykeepalived.status.dumps`'):

=============  =====================================  ================================  ======================
signal         supervisor (parent)                    VRRP child                        checker child
=============  =====================================  ================================  ======================
HUP            validate, reload: each child gets its  logged and ignored (the parent's   the same
               part of the loaded configuration       config comes over its feed)
TERM, INT      stop both children, exit               stop (priority 0, VIPs removed)   stop
USR1           forward to both, keepalived_parent     keepalived.data                   keepalived_check.data
               .data
USR2           forward to the VRRP child only         keepalived.stats                  ignored
36 (JSON)      forward to the VRRP child only         keepalived.json                   ignored
63 (S_CLEAR)   forward to the VRRP child only         keepalived.stats, then zeroed     ignored
=============  =====================================  ================================  ======================

Children start with HUP and the dump signals blocked and ignore them until their event loop handles
them (keepalived's signal_handler_child_init), so none of these can kill or restart a child.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

SIGJSON = 36
SIGSTATS_CLEAR = 63

# keepalived's get_signum(): exact, case-sensitive names; anything else is "Unknown sigfunc X".
SIGNALS: dict[str, int] = {
    "STOP": int(signal.SIGTERM),
    "RELOAD": int(signal.SIGHUP),
    "DATA": int(signal.SIGUSR1),
    "STATS": int(signal.SIGUSR2),
    "JSON": SIGJSON,
    "STATS_CLEAR": SIGSTATS_CLEAR,
}

# Signals every pykeepalived process (supervisor, VRRP child, checker child) handles itself, so that
# none of them can kill or restart a child: keepalived's set, plus INT which it treats as TERM.
HANDLED: tuple[int, ...] = (
    int(signal.SIGHUP),
    int(signal.SIGINT),
    int(signal.SIGTERM),
    int(signal.SIGUSR1),
    int(signal.SIGUSR2),
    SIGJSON,
    SIGSTATS_CLEAR,
)

# Signals a process answers by writing (or clearing) status, never by stopping.
DUMPS: tuple[int, ...] = (int(signal.SIGUSR1), int(signal.SIGUSR2), SIGJSON, SIGSTATS_CLEAR)


def signum(name: str) -> int | None:
    """keepalived's number for a --signum name (STOP 15, RELOAD 1, DATA 10, STATS 12, JSON 36, STATS_CLEAR 63)."""
    return SIGNALS.get(name)


def ignore_signals() -> None:
    """Ignore HUP and the dump signals (keepalived's signal_handler_child_init for a child, and the
    time around a process's event loop): while nothing handles them they must not stop the process."""
    for sig in (signal.SIGHUP, *DUMPS):
        signal.signal(sig, signal.SIG_IGN)


def run_process(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` for a daemon process's main coroutine, with its signal handlers released before the loop
    closes (:func:`release_signals`)."""
    with asyncio.Runner() as runner:
        try:
            return runner.run(main)
        finally:
            release_signals(runner.get_loop())


def release_signals(loop: asyncio.AbstractEventLoop) -> None:
    """Before a loop closes: no wakeup fd, no handler of the loop's; HUP and the dump signals ignored, TERM and
    INT back to their defaults.  asyncio's close() shuts its self-pipe first and removes the handlers after, so a
    signal in between was written to a closed pipe: "Exception ignored when trying to write to the signal wakeup
    fd: BrokenPipeError" (the fault suite's long run counted it as a crash; 98 of 300 runs under a USR1 flood)."""
    signal.set_wakeup_fd(-1)
    quiet = [sig for sig in HANDLED if sig not in (signal.SIGTERM, signal.SIGINT)]
    # blocked meanwhile: remove_signal_handler puts the default (fatal) action back before SIG_IGN is set
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, quiet)
    try:
        for sig in HANDLED:
            if loop.remove_signal_handler(sig) and sig in quiet:
                signal.signal(sig, signal.SIG_IGN)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def on_signal(loop: asyncio.AbstractEventLoop, sig: int, callback: Callable[..., object], *args: object) -> None:
    """``loop.add_signal_handler`` with the wakeup fd kept quiet: asyncio sets the wakeup fd again on every
    call, which turns the full-buffer warning back on (the fault suite saw its traceback after a HUP handler
    was added once a child was ready)."""
    loop.add_signal_handler(sig, callback, *args)
    quiet_wakeup_fd()


def quiet_wakeup_fd() -> None:
    """Call after the event loop's signal handlers are installed (main thread).  A burst of signals can
    fill asyncio's wakeup pipe; the extra ones are then coalesced, as the kernel coalesces standard
    signals, instead of each printing an "Exception ignored ... wakeup fd" traceback to stderr."""
    fd = signal.set_wakeup_fd(-1)
    if fd != -1:
        signal.set_wakeup_fd(fd, warn_on_full_buffer=False)
