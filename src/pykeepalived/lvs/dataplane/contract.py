"""The data-plane contract: everything the checker process may ask of a data plane, and nothing else.

A data plane holds virtual services and their destinations somewhere that forwards traffic (the
kernel's IPVS table, nftables DNAT maps, a userspace proxy).  The checker process drives it through
this protocol only; adding a data plane is one module implementing it plus one line in
:mod:`pykeepalived.lvs.dataplane.select`.  Every implementation passes the same conformance suite
(``tests/conformance``): reconciling any desired table converges, counters count known traffic, a
drained destination keeps its connections, and a new instance adopts the table a previous one left.

The life of a data plane in the checker process::

    dp.open()                          # create what it needs (idempotent); adopt what is there
    dp.claim(keys)                     # the services of the configuration: the only ones it may touch
    ops = diff(dp.canonical(desired), dp.observe()); dp.apply(ops)   # on every reconcile
    c = dp.counters(); dp.maintain(c)  # status and schedulers that need connection counts
    dp.release()                       # on stop, unless -I (dont_release_ipvs)
    dp.close()
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from ..model import Forward, ServiceKey, Table, TableCounters
from ..reconcile import Op


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a data plane can do, so the checker process and ``-t`` can refuse or explain early."""

    #: forwarding methods it implements (IPVS: NAT, DR, TUN; nftables and proxy: NAT)
    forwarding: frozenset[Forward]
    #: ServiceKey protocols it serves: "tcp", "udp", "sctp", "fwm" (firewall-mark services)
    protocols: frozenset[str]
    #: IPVS scheduler names it implements with the kernel's picks
    schedulers: frozenset[str]
    #: persistence (persistence_timeout/netmask) is kept by the data plane itself, not emulated
    native_persistence: bool
    #: it keeps a service line of its own in counters() (else the status view sums destinations)
    service_counters: bool
    #: other programs may hold entries in the same table: claim() decides what it may touch
    shared_table: bool
    #: it needs root (CAP_NET_ADMIN) to run
    needs_root: bool


@runtime_checkable
class DataPlane(Protocol):
    """What every data plane offers the checker process (see the module docstring for the order)."""

    name: str
    capabilities: Capabilities

    def open(self) -> None:
        """Create what the data plane needs (tables, workers); idempotent; keeps what is already there."""

    def claim(self, keys: Iterable[ServiceKey]) -> None:
        """These services are the daemon's: the only ones ``observe``/``apply``/``release`` may touch
        where the table is shared with other programs."""

    def canonical(self, table: Table) -> Table:
        """``table`` as this data plane will read it back (e.g. IPVS stores flags as bits), so that a
        desired table equal to what is programmed diffs to nothing."""

    def observe(self) -> Table:
        """What the data plane holds now (of the claimed services)."""

    def apply(self, ops: list[Op]) -> None:
        """Perform the reconciler's operations, in order; raise on the first refusal."""

    def counters(self) -> TableCounters:
        """Connection counts, cumulative counters and rates of every destination (and service)."""

    def maintain(self, counters: TableCounters) -> None:
        """Periodic upkeep after ``counters``: data planes that emulate a connection-count scheduler
        (lc, wlc, sed, nq …) re-weigh their dispatch here; the others do nothing."""

    def release(self) -> None:
        """Remove everything this data plane owns (on stop, unless ``-I``)."""

    def close(self) -> None:
        """Let go of handles (sockets, workers' control channels); the table stays as it is."""


def normal_form(table: Table) -> Table:
    """The meaning-preserving form every data plane reads back: a persistence netmask is kept only
    where it narrows (not on non-persistent services, not /32 or /128), flags as a frozenset."""
    services = []
    for svc in table.services:
        mask = svc.persistence_netmask
        if not svc.persistence_timeout or mask == (32 if svc.key.family == 4 else 128):
            mask = None
        services.append(replace(svc, flags=frozenset(svc.flags), persistence_netmask=mask))
    return Table(tuple(services))
