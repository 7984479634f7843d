"""Rate limits for log lines that a peer on the network can cause (rejected adverts, unknown VRIDs ...).

Every such line is counted where it is caused (the drop counters); the log only gets the first ``burst``
lines per key in each ``interval`` seconds, then one line saying how many were suppressed, so an
attacker sending a flood of bad packets controls neither the log's volume nor the disk it fills.
Pure: the caller passes the time.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

#: lines per key and window, and the window (seconds)
BURST = 5
INTERVAL = 10.0
#: keys remembered at once (the oldest window is forgotten first): a flood of distinct keys stays bounded
MAX_KEYS = 1024


@dataclass(slots=True)
class _Window:
    start: float
    logged: int = 0
    suppressed: int = 0


class LogLimiter:
    """Decides, per key, whether a log line goes out now."""

    def __init__(self, burst: int = BURST, interval: float = INTERVAL, max_keys: int = MAX_KEYS) -> None:
        self.burst = burst
        self.interval = interval
        self.max_keys = max_keys
        self._windows: dict[Hashable, _Window] = {}
        self.suppressed_total = 0

    def allow(self, key: Hashable, now: float) -> tuple[bool, int]:
        """(log this line?, lines suppressed for this key since it last logged, to report first)."""
        w = self._windows.get(key)
        if w is None or now - w.start >= self.interval:
            carried = w.suppressed if w is not None else 0
            if w is None and len(self._windows) >= self.max_keys:
                del self._windows[next(iter(self._windows))]
            self._windows[key] = _Window(now, 1)
            return True, carried
        if w.logged < self.burst:
            w.logged += 1
            return True, 0
        w.suppressed += 1
        self.suppressed_total += 1
        return False, 0
