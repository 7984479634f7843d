"""The ``bgp_announce`` block: which virtual-server addresses this node announces, and through what.

An extension (keepalived has no such block; keepalived warns about it and goes on): N active nodes behind
ECMP each announce a VIP by BGP through their own routing daemon only while they can serve it
(:mod:`pykeepalived.announce`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .lines import Location

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: the tether device's default name (a tun device held open by the checker process)
DEFAULT_DEVICE = "pka0"
#: the kernel route protocol of tether routes (``ip route … proto 252``, unassigned in rt_protos)
DEFAULT_PROTO = 252


@dataclass(frozen=True, slots=True)
class AnnounceConfig:
    #: the tun device the announced routes point at; it exists only while the checker process holds it
    device: str = DEFAULT_DEVICE
    #: addresses to announce (host routes); empty: every IP virtual server's address
    prefixes: tuple[IPNetwork, ...] = ()
    #: kernel route protocol number of the routes (what the routing daemon may match on)
    proto: int = DEFAULT_PROTO
    #: seconds between the withdrawal and the data plane's release at stop (the router converges first)
    withdraw_delay: float = 0.0
    loc: Location | None = None
