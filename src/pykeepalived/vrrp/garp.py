"""Pacing of gratuitous ARPs and unsolicited neighbour advertisements, as a pure object.

keepalived spaces the GARP / NA frames it sends out of one interface by ``vrrp_garp_interval`` (IPv4)
and ``vrrp_gna_interval`` (IPv6): a frame waits until that long after the previous frame on the same
interface (keepalived 2.2.7's ``garp_delay`` of the interface: ``garp_next_time`` in ``vrrp_arp.c``,
``gna_next_time`` in ``vrrp_ndisc.c``; here both kinds share one last-sent time per interface).  The rounds themselves
(how many, and the ``garp_master_delay`` round) come from the state machine's ``SendGarps`` actions.

Its NAs carry the Router flag when the interface forwards IPv6: keepalived reads
``net.ipv6.conf.IF.forwarding`` when an instance becomes MASTER and again before an NA when the last
reading is older than 5 s (``vrrp_ndisc.c``).

No clock in here: every method takes ``now`` (seconds on the monotonic clock of whoever drives it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: keepalived re-reads an interface's IPv6 forwarding (NA Router flag) when older than this
GNA_ROUTER_RECHECK = 5.0


@dataclass
class GarpPacer:
    """When the next GARP (IPv4) or NA (IPv6) may leave an interface."""

    #: global_defs ``vrrp_garp_interval``, seconds between two GARPs on one interface (0: no spacing)
    garp_interval: float = 0.0
    #: global_defs ``vrrp_gna_interval``, the same for NAs
    gna_interval: float = 0.0
    _last: dict[str, float] = field(default_factory=dict)

    def interval(self, v4: bool) -> float:
        return self.garp_interval if v4 else self.gna_interval

    def wait(self, dev: str, v4: bool, now: float) -> float:
        """Seconds to wait from ``now`` before the next GARP (``v4``) or NA on ``dev``; 0 when it may go."""
        interval = self.interval(v4)
        if interval <= 0:
            return 0.0
        return max(0.0, self._last.get(dev, 0.0) + interval - now)

    def sent(self, dev: str, now: float) -> None:
        """A frame left ``dev`` at ``now`` (GARPs and NAs share the interface's last-sent time)."""
        self._last[dev] = now


@dataclass
class RouterFlags:
    """The Router flag of each interface's NAs (its IPv6 forwarding) and when it was read."""

    _read: dict[str, tuple[float, bool]] = field(default_factory=dict)

    def stale(self, ifname: str, now: float, force: bool = False) -> bool:
        """Whether the forwarding setting must be (re-)read before an NA at ``now``."""
        last = self._read.get(ifname)
        return force or last is None or now - last[0] >= GNA_ROUTER_RECHECK

    def update(self, ifname: str, now: float, forwarding: bool) -> None:
        self._read[ifname] = (now, forwarding)

    def router(self, ifname: str) -> bool:
        last = self._read.get(ifname)
        return last is not None and last[1]
