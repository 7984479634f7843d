"""A warning before the kernel's connection-tracking table fills up.

A full conntrack table makes the kernel drop every packet that would start a new connection ("nf_conntrack:
table full, dropping packet" in the kernel log, which the daemon does not read): clients' connections through
a NAT virtual server, and the health checks' own connections too, so real servers go down one after another
for no fault of theirs.  The nftables data plane needs conntrack (its NAT is conntrack's), and the checks
alone fill it at scale: an HTTP_GET closes its connection gracefully, as keepalived's does, and conntrack
keeps each closed connection 120 s in TIME_WAIT by default, so 3,000 HTTP checks a second hold some 360,000
entries, past the default ``nf_conntrack_max`` of 262,144 (a TCP_CHECK's RST leaves 10 s of CLOSE).  The
checker process samples the table of its network namespace at each reconcile (two small /proc reads) and
logs once when it passes :data:`HIGH` of its limit, and once when it is back under :data:`LOW`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

#: the share of nf_conntrack_max past which the warning is logged, and the share under which it is re-armed
HIGH = 0.9
LOW = 0.8
#: where the kernel shows the table of the reading thread's network namespace
PROC = Path("/proc/sys/net/netfilter")


@dataclass(frozen=True, slots=True)
class ConntrackUse:
    """Entries in the table and the most it may hold (``nf_conntrack_count``, ``nf_conntrack_max``)."""

    entries: int
    limit: int

    @property
    def share(self) -> float:
        return self.entries / self.limit if self.limit > 0 else 0.0


def read_conntrack_use(proc: Path = PROC) -> ConntrackUse | None:
    """The table's use, or None where conntrack is not loaded (nothing to watch)."""
    try:
        return ConntrackUse(int((proc / "nf_conntrack_count").read_text()),
                            int((proc / "nf_conntrack_max").read_text()))
    except (OSError, ValueError):
        return None


class ConntrackWatch:
    """Hysteresis over the samples: what to log, at most once per crossing (sans-I/O: fed the samples)."""

    def __init__(self, high: float = HIGH, low: float = LOW) -> None:
        self.high, self.low = high, low
        self.warned = False

    def sample(self, use: ConntrackUse | None) -> tuple[int, str] | None:
        """The logging level and line for this sample (a warning when the table passes ``high``, a notice
        when it is back under ``low``), or None."""
        if use is None or use.limit <= 0:
            return None
        if not self.warned and use.share >= self.high:
            self.warned = True
            return logging.WARNING, (
                f"conntrack table at {use.entries} of {use.limit} entries ({use.share:.0%}): when it is full the "
                "kernel drops every new connection, clients' and health checks' alike; raise "
                "net.netfilter.nf_conntrack_max or shorten net.netfilter.nf_conntrack_tcp_timeout_time_wait")
        if self.warned and use.share < self.low:
            self.warned = False
            return logging.INFO, f"conntrack table back to {use.entries} of {use.limit} entries ({use.share:.0%})"
        return None
