"""keepalived's signals: moved to :mod:`pykeepalived.signals` (shared by ``daemon`` and ``vrrp``); kept for
existing importers."""

from pykeepalived.signals import (  # noqa: F401
    DUMPS,
    HANDLED,
    SIGJSON,
    SIGNALS,
    SIGSTATS_CLEAR,
    ignore_signals,
    on_signal,
    quiet_wakeup_fd,
    release_signals,
    run_process,
    signum,
)
