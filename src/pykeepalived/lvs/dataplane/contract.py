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

Cost at rest.  The checker process reconciles every 2 s and after every health change, so
``observe()`` must be cheap when nothing changed: a data plane may answer it from what it last read
or wrote, as long as it can tell that nothing else changed the table since (nftables: the ruleset's
generation id; IPVS: a fingerprint of ``/proc/net/ip_vs`` and a full read on a slower period) — the
answer is still what the kernel holds.  ``counters()`` may cost a full read of the table's counters,
so the checker calls it only when status or metrics ask (at most once per counters period), and on
every reconcile only for the schedulers ``capabilities.count_schedulers`` names, through
:func:`maintenance_counts` (what :meth:`DataPlane.maintain` needs, which may be cheaper).

Optional calls (a data plane may leave them out; the default is what the module functions here do):

* ``maintenance_counts() -> TableCounters``: the counts ``maintain()`` needs (default: ``counters()``);
* ``Capabilities.count_schedulers``: schedulers ``maintain()`` re-weighs from connection counts
  (default None: unknown, so the checker reads ``counters()`` and calls ``maintain()`` on every
  reconcile, as before incremental observation).
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
    #: schedulers whose dispatch maintain() re-weighs from connection counts (nftables: lc, wlc …;
    #: IPVS: none, the kernel counts); while a service uses one, the checker feeds maintain() on every
    #: reconcile.  None (the default): not said, so counters() and maintain() run on every reconcile.
    count_schedulers: frozenset[str] | None = None


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
        """What the data plane holds now (of the claimed services).  May come from what it last read
        or wrote when it can tell nothing else changed the table since (see the module docstring);
        a change made by anyone else shows on the next call."""

    def apply(self, ops: list[Op]) -> None:
        """Perform the reconciler's operations, in order; raise on the first refusal."""

    def counters(self) -> TableCounters:
        """Connection counts, cumulative counters and rates of every destination (and service)."""

    def maintain(self, counters: TableCounters) -> None:
        """Periodic upkeep after ``counters``: data planes that emulate a connection-count scheduler
        (lc, wlc, sed, nq …) re-weigh their dispatch here; the others do nothing."""

    def release(self, *, everything: bool = False) -> None:
        """Remove everything this data plane owns (on stop, unless ``-I``).  ``everything``: where the table
        is shared (``capabilities.shared_table``), other programs' entries too (keepalived's ``lvs_flush`` at
        start and ``lvs_flush_on_stop`` at stop, asked for explicitly by the operator); elsewhere the data
        plane's own table is all there is, and it is removed as without it."""

    def close(self) -> None:
        """Let go of handles (sockets, workers' control channels); the table stays as it is."""


def maintenance_counts(dp: DataPlane) -> TableCounters:
    """The counters :meth:`DataPlane.maintain` needs: the data plane's own ``maintenance_counts()``
    where it has one (e.g. nftables: conntrack's counts without its counter sets), else ``counters()``."""
    own = getattr(dp, "maintenance_counts", None)
    return own() if own is not None else dp.counters()


def needs_counts(dp: DataPlane, table: Table) -> bool:
    """Whether ``maintain()`` needs connection counts on every reconcile for the services of ``table``."""
    schedulers = dp.capabilities.count_schedulers
    if schedulers is None:
        return True
    return any(svc.scheduler.lower() in schedulers for svc in table.services)


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
