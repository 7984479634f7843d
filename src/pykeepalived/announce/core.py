"""Which prefixes a node announces: a pure function of what the checker process knows.

A node announces a virtual-server address (a host route: /32 or /128) only while it can serve it:

* not stopping (a stop withdraws first, then releases the data plane);
* every service on that address is programmed in the data plane (its key is in the table the data plane
  read back after the last apply), and
* every virtual server on that address has quorum (keepalived's quorum/hysteresis, as the checkers hold it).

"Every" rather than "any": a node that serves port 80 of a VIP but not port 443 would black-hole the share of
443 flows ECMP sends it; it is better that the node leaves the VIP to the others.  Fwmark services carry no
address and announce nothing (announce their addresses with ``prefix``, and they then count as served).
With ``prefix`` lines, only those are announced, each while every service inside it is served (a prefix with no
service inside is announced while the node runs: an operator's explicit choice).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from pykeepalived.config.model_announce import AnnounceConfig, IPNetwork
from pykeepalived.lvs.model import IPAddress


@dataclass(frozen=True, slots=True)
class ServiceView:
    """One data-plane service of a virtual server, as the checker process sees it."""

    address: IPAddress | None  # None: fwmark service
    programmed: bool
    quorum_up: bool

    @property
    def serving(self) -> bool:
        return self.programmed and self.quorum_up


def host_prefix(addr: IPAddress) -> IPNetwork:
    return ipaddress.ip_network(f"{addr}/{addr.max_prefixlen}")


def wanted(config: AnnounceConfig, services: Iterable[ServiceView], *, stopping: bool = False) -> frozenset[IPNetwork]:
    """The prefixes to announce now."""
    if stopping:
        return frozenset()
    by_addr: dict[IPAddress, bool] = {}
    for s in services:
        if s.address is None:
            continue
        by_addr[s.address] = by_addr.get(s.address, True) and s.serving
    if not config.prefixes:
        return frozenset(host_prefix(a) for a, ok in by_addr.items() if ok)
    out = set()
    for net in config.prefixes:
        inside = [ok for a, ok in by_addr.items() if a.version == net.version and a in net]
        if all(inside):
            out.add(net)
    return frozenset(out)


@dataclass(frozen=True, slots=True)
class Plan:
    announce: tuple[IPNetwork, ...]
    withdraw: tuple[IPNetwork, ...]

    def __bool__(self) -> bool:
        return bool(self.announce or self.withdraw)


def plan(current: Iterable[IPNetwork], want: Iterable[IPNetwork]) -> Plan:
    """Withdrawals first (sorted), then announcements: a prefix that stops being served leaves before anything
    else happens."""
    cur, new = set(current), set(want)
    key = _sort_key
    return Plan(announce=tuple(sorted(new - cur, key=key)), withdraw=tuple(sorted(cur - new, key=key)))


def _sort_key(n: IPNetwork) -> tuple[int, int, int]:
    return (n.version, int(n.network_address), n.prefixlen)
