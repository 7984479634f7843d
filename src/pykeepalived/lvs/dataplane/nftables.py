"""The nftables data plane: LVS-NAT virtual services as kernel DNAT, for kernels without ip_vs.

One table per address family (``ip pykeepalived`` / ``ip6 pykeepalived``) is owned by us and
nothing else is touched.  Layout::

    map svc_tcp { addr . port : verdict }      VIP:port -> jump vs_N   (svc_udp, svc_sctp alike)
    map svc_fwm { mark : verdict }             fwmark   -> jump vs_N
    chain prerouting / output  (nat hooks)     look the packet up in those maps
    chain vs_N                                 one virtual service:
        ct mark set <saddr> map @persist_N       a persistent client goes back to its destination
        ct mark set <scheduler expression>       numgen over a weighted sequence, or jhash over a table
        update @persist_N { <saddr> : ct mark }  remember the choice (persistence_timeout)
        ct mark @conns dnat to ct mark map @dst_N  count the connection (Conns) and DNAT it:
                                                 destination id -> real server address . port
    map dst_N { mark : addr . port }           destinations, each with a comment "w=20 f=NAT u=0 l=0"
    set conns { mark ; counter }               one element per destination: its Conns
    set traffic { ct_dir . mark ; counter }    original . mark: InPkts/InBytes, reply . mark: Out…
    chain acct_fwd / acct_in / acct_out        filter hooks forward/input/output, one rule:
        ct direction . ct mark @traffic

The conntrack mark of every connection is ``service_id << 16 | destination_id``, so
connection counts per real server come straight from conntrack (ActiveConn/InActConn), and the
``ipvsadm --stats`` counters from the counters of the ``conns`` and ``traffic`` set elements
(``list sets``, one call).  A lookup that matches an element of a set declared with ``counter``
adds the packet to that element's counter (Linux >= 5.12, ``nft_set_elem_update_expr``), so:
nat chains see only a connection's first packet, and the lookup in ``vs_N`` counts
connections; the accounting chains look every packet of a marked connection up once
(forwarded: forward hook; to or from the load balancer itself: input/output), by direction, as
IPVS's InPkts/OutPkts.  Nothing else may look these sets up.  Elements are created with their
destination and deleted with it, in the same transaction; lookups never create any (a
connection to a removed destination is no longer counted, as in IPVS), and a weight change
re-adds existing elements, which keeps their counters.  Set elements, unlike
named counter objects, stay out of the cache nft loads to add a rule, so changing one weight
in a table of 10,000 destinations stays fast.  Rates (``--rate``) are the growth of the
counters between the last two reads, per second.

Settings that nft cannot show back are kept in element comments (the service's in its
``svc_*`` element, each destination's in ``dst_N``), so :meth:`observe` reads the whole
:class:`~pykeepalived.lvs.model.Table` from the kernel: after a restart the reconciler adopts
what is there instead of rebuilding it (established connections never notice).

Observation is incremental: listing a table of 10,000 destinations costs a few hundred ms, so
:meth:`observe` remembers what it read with the ruleset's generation id (``NFT_MSG_GETGEN``, which
the kernel moves on every committed transaction, whoever commits it) and answers from that memory
while the id has not moved; our own transactions move it by exactly one, and the table they leave
is known (what was there plus what we wrote), so only a change someone else made (``nft flush
ruleset``, a hand edit of one element, another program's commit anywhere in the ruleset) costs a
full read, on the next reconcile.  Connection-count schedulers are re-planned only when the counts
of their service changed (:meth:`rebalance`); :meth:`maintenance_counts` reads conntrack alone,
without the counter sets.

Changes are applied per service in one nft transaction; a weight change rewrites one
service's chain and map only.  Existing connections are never affected (NAT is decided on
a connection's first packet), so weight 0 drains and removal stops new connections only.

Not supported here (use the ipvs data plane): DR and TUN forwarding, u/l thresholds
(kept in the model, not enforced), the ``ops`` flag and persistence engines.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import os
import socket
import struct
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ..model import (
    ConnCounts,
    Counters,
    DestCounters,
    Destination,
    DestKey,
    Forward,
    Rates,
    Service,
    ServiceKey,
    Table,
    TableCounters,
)
from ..reconcile import AddDest, AddService, DelDest, DelService, EditDest, EditService, Op, apply_ops
from ..schedulers import SCHEDULER_NAMES
from .contract import Capabilities, normal_form
from .dispatch import Dispatch, plan_dispatch, uses_counts
from .libnft import Nft, NftError

TABLE = "pykeepalived"
PROTOCOLS = ("tcp", "udp", "sctp")
_FAMILIES = {4: ("ip", "ipv4_addr", "ip"), 6: ("ip6", "ipv6_addr", "ip6")}


class UnsupportedByDataplane(ValueError):
    """A configuration the nftables data plane cannot implement (e.g. DR forwarding)."""


#: conntrack counts keyed by (service key, destination key)
Counts = dict[tuple[ServiceKey, DestKey], ConnCounts]
#: cumulative traffic counters (``ipvsadm --stats``) keyed by (service key, destination key)
Traffic = dict[tuple[ServiceKey, DestKey], Counters]
#: per-second rates (``ipvsadm --rate``) keyed by (service key, destination key)
TrafficRates = dict[tuple[ServiceKey, DestKey], Rates]

#: the accounting chains: every packet of a marked connection passes exactly one of them
ACCT_CHAINS = (("acct_fwd", "forward"), ("acct_in", "input"), ("acct_out", "output"))


@dataclass
class _Installed:
    """What we know about one installed service: its id and destination ids."""

    sid: int
    service: Service
    dest_ids: dict[DestKey, int] = field(default_factory=dict)
    #: the connection counts (per destination id, in ``dest_ids`` order) the installed dispatch of a
    #: count-driven service was planned from; None: not known (re-planned on the next rebalance)
    planned_from: tuple[tuple[int, int], ...] | None = None
    #: ``service`` with its destinations in key order (what a full read returns), made once per service
    normal: Service | None = None


def _normal(inst: _Installed) -> Service:
    """``inst``'s service with its destinations in key order, kept until the service changes."""
    if inst.normal is None:
        svc = inst.service
        inst.normal = replace(svc, destinations=tuple(sorted(svc.destinations, key=_dest_order)))
    return inst.normal


def _dest_order(d: Destination) -> tuple[int, int, int]:
    return d.key.sort_key()


class NftablesDataPlane:
    """observe() / apply(ops) / counters() over one nft table per family."""

    name = "nftables"
    capabilities = Capabilities(
        forwarding=frozenset({Forward.NAT}), protocols=frozenset({"tcp", "udp", "sctp", "fwm"}),
        schedulers=frozenset(SCHEDULER_NAMES),
        native_persistence=False, service_counters=False, shared_table=False, needs_root=True,
        count_schedulers=frozenset(n for n in SCHEDULER_NAMES if uses_counts(n)))

    def __init__(self, nft: Nft | None = None, *, table: str = TABLE,
                 conntrack: Callable[[], Iterable[tuple[int, bool]]] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.nft = nft or Nft()
        self.table = table
        self._installed: dict[ServiceKey, _Installed] = {}
        self._conntrack = conntrack or _conntrack_marks
        #: the connection counts dispatch is planned from (set by rebalance), also by mark
        self._counts: Counts = {}
        self._by_mark: dict[int, tuple[int, int]] = {}
        self._tables_missing = False
        self._clock = clock
        #: the last two reads of the traffic counters: (time, counters), newest last
        self._samples: list[tuple[float, dict[tuple[int, int], Counters]]] = []
        #: the table as last read or written, valid while the ruleset's generation is ``_cache_gen``
        self._cache: Table | None = None
        self._cache_gen: int | None = None
        #: observe() calls answered from memory / by a full read (benchmarks and tests look)
        self.reads_skipped = 0
        self.reads_full = 0

    # -- setup / teardown -------------------------------------------------------------------
    def open(self) -> None:
        """Create our tables, maps and hook chains if absent (idempotent, touches nothing else)."""
        batch = []
        for family, (fam, addr_t, _) in _FAMILIES.items():
            batch.append(f"add table {fam} {self.table}")
            for proto in PROTOCOLS:
                batch.append(f"add map {fam} {self.table} svc_{proto} "
                             f"{{ type {addr_t} . inet_service : verdict ; }}")
            batch.append(f"add map {fam} {self.table} svc_fwm {{ type mark : verdict ; }}")
            for chain, hook in (("prerouting", "prerouting"), ("output", "output")):
                batch.append(f"add chain {fam} {self.table} {chain} "
                             f"{{ type nat hook {hook} priority -100 ; policy accept ; }}")
            batch.append(f"flush chain {fam} {self.table} prerouting")
            batch.append(f"flush chain {fam} {self.table} output")
            for chain in ("prerouting", "output"):
                for proto in PROTOCOLS:
                    batch.append(f"add rule {fam} {self.table} {chain} "
                                 f"{_l3(family)} daddr . {proto} dport vmap @svc_{proto}")
                batch.append(f"add rule {fam} {self.table} {chain} meta mark vmap @svc_fwm")
            for name, key_t in (("conns", "mark"), ("traffic", "ct_dir . mark")):
                batch.append(f"add set {fam} {self.table} {name} {{ type {key_t} ; counter ; }}")
            for chain, hook in ACCT_CHAINS:
                batch.append(f"add chain {fam} {self.table} {chain} "
                             f"{{ type filter hook {hook} priority 0 ; policy accept ; }}")
                batch.append(f"flush chain {fam} {self.table} {chain}")
                batch.append(f"add rule {fam} {self.table} {chain} ct direction . ct mark @traffic")
        self._commit(batch)  # services are left as they are

    def release(self, *, everything: bool = False) -> None:
        """Delete our tables (clean stop; ``everything`` is the same: no one else's entries are in them).
        Established connections keep their NAT."""
        for fam, _, _ in _FAMILIES.values():
            try:
                self.nft.run(f"delete table {fam} {self.table}")
            except NftError:  # absent already: nothing to do
                pass
        self._installed.clear()
        self._cache_gen = None

    def close(self) -> None:
        """Nothing held between calls but libnftables' context, which lives as long as this object."""

    def canonical(self, table: Table) -> Table:
        """Stored as given (settings are kept verbatim in each service's map comment)."""
        return normal_form(table)

    # -- observe --------------------------------------------------------------------------------
    def claim(self, keys: Iterable[ServiceKey]) -> None:
        """Nothing to do: every service in our own table is ours (other programs' tables are never read)."""

    def observe(self) -> Table:
        """The services we own as the kernel holds them: from memory while the ruleset's generation
        has not moved since we last read or wrote it, else read back in full (remembering their ids)."""
        gen = self.nft.generation()
        if gen is not None and gen == self._cache_gen and self._cache is not None:
            self.reads_skipped += 1
            return self._cache
        table = self._read()
        self._cache, self._cache_gen = table, gen  # the id from before the read: a commit racing it reads again
        self.reads_full += 1
        return table

    def _read(self) -> Table:
        installed: dict[ServiceKey, _Installed] = {}
        self._tables_missing = False
        try:
            # `list maps`, not `list table`: nft 1.0.6 cannot print our rules' map-update
            # statement as JSON (it warns on stderr), and the maps hold all we need.  One call
            # for both families: nft loads every set's elements for any `list maps`, whatever
            # family it names (the counter sets included), so a second call costs as much again
            objects = self.nft.json("list maps")
        except NftError as e:
            if "Operation not permitted" in str(e):  # no CAP_NET_ADMIN: the ruleset cannot be read at all
                raise PermissionError(errno.EPERM, f"cannot read the nftables ruleset: {e}") from e
            objects = []  # no table yet
        for family, (fam, _, _) in _FAMILIES.items():
            maps = {o["map"]["name"]: o["map"] for o in objects
                    if "map" in o and o["map"].get("table") == self.table and o["map"].get("family") == fam}
            if "svc_fwm" not in maps:
                # our table is gone (someone flushed the ruleset): the next apply recreates it
                self._tables_missing = True
            for map_name, m in maps.items():
                if not map_name.startswith("svc_"):
                    continue
                proto = map_name[4:]
                for elem in m.get("elem", []):
                    key_part, verdict = elem
                    sid = int(verdict["jump"]["target"].removeprefix("vs_"))
                    key_val, comment = _elem_key(key_part)
                    if proto == "fwm":
                        skey = ServiceKey.mark(int(key_val), family)
                    else:
                        addr, port = key_val["concat"]
                        skey = ServiceKey.inet(proto, addr, int(port))
                    settings = _parse_comment(comment)
                    dests, ids = _read_dests(maps.get(f"dst_{sid}", {}))
                    svc = Service(skey, settings.get("s", "wlc"),
                                  frozenset(f for f in settings.get("f", "").split(",") if f),
                                  int(settings.get("p", "0")),
                                  int(settings["m"]) if "m" in settings else None,
                                  tuple(sorted(dests, key=lambda d: d.key)))
                    installed[skey] = _Installed(sid, svc, ids)
                    old = self._installed.get(skey)
                    if old is not None and old.sid == sid and old.dest_ids == ids and old.service == svc:
                        installed[skey].planned_from = old.planned_from  # as we left it: no re-plan
        self._installed = installed
        return self._installed_table()

    def _installed_table(self) -> Table:
        """``_installed`` in the form a full read returns (services and destinations in key order)."""
        installed = self._installed
        return Table(tuple(_normal(installed[key]) for key in sorted(installed, key=ServiceKey.sort_key)))

    def _commit(self, batch: list[str]) -> None:
        """Run ``batch`` as one transaction.  When the ruleset was exactly what we last read or wrote
        and the generation moved by one (our transaction, nobody else's), the kernel now holds
        ``_installed``: remembered, so the next observe() needs no read; anything else reads again."""
        before = self.nft.generation()
        try:
            self.nft.run("\n".join(batch))
        except BaseException:
            self._cache_gen = None  # _installed may be ahead of the kernel: read it again
            raise
        after = self.nft.generation()
        if (before is not None and after is not None and before == self._cache_gen
                and after == (before + 1) & 0xFFFFFFFF):
            self._cache, self._cache_gen = self._installed_table(), after
        else:
            self._cache_gen = None

    # -- apply ---------------------------------------------------------------------------------
    def apply(self, ops: list[Op]) -> None:
        """Apply reconciler operations: one nft transaction for the whole batch."""
        if not ops:
            return
        if self._tables_missing:
            self.open()
            self._tables_missing = False
        touched: list[ServiceKey] = []
        deleted: list[ServiceKey] = []
        for op in ops:
            if isinstance(op, DelService):
                deleted.append(op.key)
            elif isinstance(op, AddService | EditService):
                touched.append(op.service.key)
            elif isinstance(op, AddDest | EditDest | DelDest):
                touched.append(op.service)
        # the services the operations touch, as they will be (a reload touches a few of thousands)
        current = Table(tuple(self._installed[key].service for key in dict.fromkeys(touched) if key in self._installed))
        target = apply_ops(current, ops).service_map()
        batch: list[str] = []
        for key in dict.fromkeys(deleted):
            inst = self._installed.pop(key, None)
            if inst is not None:
                batch.extend(self._delete_service(inst))
        for key in dict.fromkeys(touched):
            if key in target:
                batch.extend(self._write_service(target[key]))
        if batch:
            self._commit(batch)

    def maintain(self, counters: TableCounters) -> None:
        """lc, wlc, sed, nq … are emulated from conntrack's counts: re-weigh their dispatch."""
        self.rebalance(counters.connection_counts())

    def maintenance_counts(self) -> TableCounters:
        """What :meth:`maintain` needs and nothing more: conntrack's counts, without the counter sets,
        and only of destinations that have connections (the others count zero)."""
        by_mark = self._conntrack_by_mark()
        out: dict[tuple[ServiceKey, DestKey], DestCounters] = {}
        if by_mark:
            for inst in self._installed.values():
                for dkey, did in inst.dest_ids.items():
                    c = by_mark.get((inst.sid << 16) | did)
                    if c is not None:
                        out[(inst.service.key, dkey)] = DestCounters(c[0], c[1])
        return TableCounters(out)

    def rebalance(self, counts: Counts | None = None) -> None:
        """Rewrite the dispatch rules of connection-count schedulers (lc, wlc, sed, nq …) whose
        service or counts changed since their dispatch was planned (at rest: nothing to do).
        A destination missing from ``counts`` has no connections."""
        counts = counts if counts is not None else self.connection_counts()
        by_mark: dict[int, tuple[int, int]] = {}
        for (skey, dkey), c in counts.items():
            if c.active or c.inactive:
                inst = self._installed.get(skey)
                did = inst.dest_ids.get(dkey) if inst is not None else None
                if inst is not None and did is not None:
                    by_mark[(inst.sid << 16) | did] = (c.active, c.inactive)
        self._counts, self._by_mark = counts, by_mark
        batch: list[str] = []
        for inst in list(self._installed.values()):
            if uses_counts(inst.service.scheduler) and inst.planned_from != _planned_from(inst, by_mark):
                batch.extend(self._write_service(inst.service, counts))
        if batch:
            self._commit(batch)

    # -- counters ------------------------------------------------------------------------------
    def connection_counts(self) -> Counts:
        """Active (ESTABLISHED) and inactive connections per destination, from conntrack marks."""
        by_mark = self._conntrack_by_mark()
        counts: Counts = {}
        for inst in self._installed.values():
            for dkey, did in inst.dest_ids.items():
                a, i = by_mark.get((inst.sid << 16) | did, (0, 0))
                counts[(inst.service.key, dkey)] = ConnCounts(a, i)
        return counts

    def _conntrack_by_mark(self) -> dict[int, tuple[int, int]]:
        """(active, inactive) per conntrack mark that has connections."""
        by_mark: dict[int, list[int]] = {}
        for mark, established in self._conntrack():
            slot = by_mark.setdefault(mark, [0, 0])
            slot[0 if established else 1] += 1
        return {m: (a, i) for m, (a, i) in by_mark.items()}

    def counters(self) -> TableCounters:
        """Connection counts (conntrack), cumulative counters and rates (since the previous call) of
        every destination; no service line of its own (the status view sums the destinations).

        Worked out by conntrack mark (plain integers), so that a table of 10,000 destinations hashes
        each destination's address once, for the answer."""
        by_mark = self._conntrack_by_mark()
        raw = self._sample()
        rates = self._raw_rates()
        zero_c, zero_r = Counters(), Rates()
        out: dict[tuple[ServiceKey, DestKey], DestCounters] = {}
        for inst in self._installed.values():
            skey, family, base = inst.service.key, inst.service.key.family, inst.sid << 16
            for dkey, did in inst.dest_ids.items():
                mark = base | did
                a, i = by_mark.get(mark, _NO_CONNS)
                out[(skey, dkey)] = DestCounters(a, i, 0, raw.get((family, mark), zero_c),
                                                 rates.get((family, mark), zero_r))
        return TableCounters(out)

    def traffic(self) -> Traffic:
        """Cumulative Conns / InPkts / OutPkts / InBytes / OutBytes per destination (one nft call).

        Also the sample :meth:`rates` works from.  Destinations without counters (a table written
        before counters existed) read as zero.
        """
        return self._by_destination(self._sample(), Counters())

    def traffic_rates(self) -> TrafficRates:
        """Per-second rates over the interval between the last two :meth:`traffic` reads."""
        if len(self._samples) < 2:
            return {}
        return self._by_destination(self._raw_rates(), Rates())

    def _sample(self) -> dict[tuple[int, int], Counters]:
        """Read the counter sets (keyed by family and mark) and keep the read for the rates."""
        try:
            objects = self.nft.json("list sets")
        except NftError:  # no table at all
            objects = []
        raw = parse_counters(objects, self.table)
        self._samples = [*self._samples[-1:], (self._clock(), raw)]
        return raw

    def _raw_rates(self) -> dict[tuple[int, int], Rates]:
        if len(self._samples) < 2:
            return {}
        (t0, before), (t1, after) = self._samples
        return rates_between(before, after, t1 - t0)

    def _by_destination(self, raw: Mapping[tuple[int, int], Any], zero: Any) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for inst in self._installed.values():
            family, base = inst.service.key.family, inst.sid << 16
            for dkey, did in inst.dest_ids.items():
                out[(inst.service.key, dkey)] = raw.get((family, base | did), zero)
        return out

    # -- internals -------------------------------------------------------------------------------
    def _alloc_sid(self) -> int:
        used = {i.sid for i in self._installed.values()}
        sid = 1
        while sid in used:
            sid += 1
        return sid

    def _delete_service(self, inst: _Installed) -> list[str]:
        return delete_service_commands(inst.service, inst.sid, inst.dest_ids, table=self.table)

    def _write_service(self, svc: Service, counts: Counts | None = None) -> list[str]:
        inst = self._installed.get(svc.key)
        if inst is None:
            sid, old_ids, previous = self._alloc_sid(), {}, None
        else:
            sid, old_ids, previous = inst.sid, inst.dest_ids, inst.service
        ids = assign_dest_ids(svc, old_ids)
        lines = service_commands(svc, sid, ids, counts if counts is not None else self._counts,
                                 previous=previous, previous_ids=old_ids, table=self.table)
        if inst is None:
            inst = self._installed[svc.key] = _Installed(sid, svc)
        inst.service, inst.normal = svc, None
        inst.dest_ids = ids
        inst.planned_from = _planned_from(inst, self._by_mark) if uses_counts(svc.scheduler) else None
        return lines


# -- nft text (pure: no kernel, no state) ----------------------------------------------------------

def assign_dest_ids(svc: Service, old_ids: Mapping[DestKey, int]) -> dict[DestKey, int]:
    """Stable destination ids: known destinations keep theirs, new ones get the lowest free id.

    An id freed in this same change is not handed out again at once: connections to the removed
    destination still carry its mark, and a new destination must not inherit them (nor its counters).
    """
    wanted = {d.key for d in svc.destinations}
    ids = {k: v for k, v in old_ids.items() if k in wanted}
    taken = set(old_ids.values())
    free = (i for i in range(1, 0x10000) if i not in taken)
    for d in svc.destinations:
        if d.key not in ids:
            ids[d.key] = next(free)
    return ids


def service_commands(svc: Service, sid: int, dest_ids: Mapping[DestKey, int],
                     counts: Mapping[tuple[ServiceKey, DestKey], ConnCounts] | None = None, *,
                     previous: Service | None = None, previous_ids: Mapping[DestKey, int] | None = None,
                     table: str = TABLE) -> list[str]:
    """The nft batch that installs ``svc`` as service ``sid`` (or rewrites it, given what was there).

    ``dest_ids`` numbers every destination of ``svc`` (mark = ``sid << 16 | id``); ``counts`` feeds
    the count-driven schedulers; ``previous`` / ``previous_ids`` describe the installed service being
    rewritten (None: a fresh one).  Raises :class:`UnsupportedByDataplane` for non-NAT destinations.
    """
    for d in svc.destinations:
        if d.forward is not Forward.NAT:
            raise UnsupportedByDataplane(
                f"{svc.key}: lvs_method {d.forward.value} for {d.key} is not supported by the nftables "
                "data plane (NAT only); use --dataplane ipvs on a kernel with ip_vs")
    family = svc.key.family
    fam, addr_t, l3 = _FAMILIES[family]
    t = f"{fam} {table}"
    fresh = previous is None
    old_ids = dict(previous_ids or {})
    marks = {k: (sid << 16) | v for k, v in dest_ids.items()}
    port_mapped = svc.key.protocol != "fwm" or any(d.key.port for d in svc.destinations)
    data_t = f"{addr_t} . inet_service" if port_mapped else addr_t

    lines: list[str] = []
    lines.append(f"add chain {t} vs_{sid}")
    lines.append(f"flush chain {t} vs_{sid}")
    if previous is not None and _map_type_changed(previous, svc):
        lines.append(f"delete map {t} dst_{sid}")
    lines.append(f"add map {t} dst_{sid} {{ type mark : {data_t} ; }}")
    lines.append(f"flush map {t} dst_{sid}")
    # counters of destinations that are gone (or renumbered) go with them
    gone = sorted((sid << 16) | v for k, v in old_ids.items() if dest_ids.get(k) != v)
    lines.extend(_drop_counters(t, gone))
    if svc.destinations:
        elems = ", ".join(
            f"{marks[d.key]} comment {_q(_dest_comment(d))} : {_dest_data(d, svc, port_mapped)}"
            for d in svc.destinations)
        lines.append(f"add element {t} dst_{sid} {{ {elems} }}")
        # counters: existing elements are left as they are (and keep counting)
        ordered = [marks[d.key] for d in svc.destinations]
        lines.append(f"add element {t} conns {{ {', '.join(str(m) for m in ordered)} }}")
        lines.append(f"add element {t} traffic {{ {_traffic_keys(ordered)} }}")

    saddr = f"{l3} saddr"
    if svc.persistence_netmask is not None:
        saddr = f"{l3} saddr & {_netmask(family, svc.persistence_netmask)}"
    if previous is not None and previous.persistence_timeout \
            and svc.persistence_timeout != previous.persistence_timeout:
        lines.append(f"delete map {t} persist_{sid}")
    if svc.persistence_timeout:
        lines.append(f"add map {t} persist_{sid} {{ type {addr_t} : mark ; flags dynamic,timeout ; "
                     f"timeout {svc.persistence_timeout}s ; }}")

    l4 = _l4_match(svc.key)
    # the @conns lookup counts the connection (this chain sees its first packet only)
    dnat = f"{l4} ct mark @conns dnat {l3} to ct mark map @dst_{sid}"
    if svc.persistence_timeout:
        lines.append(f"add rule {t} vs_{sid} ct mark set {saddr} map @persist_{sid}")
        lines.append(f"add rule {t} vs_{sid} ct mark != 0 {dnat}")
    dispatch = plan_dispatch(svc, counts or {})
    expr = _dispatch_expr(dispatch, svc, l3, marks)
    if expr is not None:
        lines.append(f"add rule {t} vs_{sid} ct mark set {expr}")
        if svc.persistence_timeout:
            lines.append(f"add rule {t} vs_{sid} update @persist_{sid} {{ {saddr} : ct mark }}")
        lines.append(f"add rule {t} vs_{sid} {dnat}")
    # no usable destination: fall through (the packet reaches the VIP itself, as with an
    # IPVS service without destinations the connection is refused or dropped)

    svc_map = _svc_map(svc.key)
    if not fresh:
        lines.append(f"delete element {t} {svc_map} {{ {_svc_elem_key(svc.key)} }}")
    lines.append(f"add element {t} {svc_map} {{ {_svc_elem_key(svc.key)} comment "
                 f"{_q(_svc_comment(svc))} : jump vs_{sid} }}")
    return lines


def delete_service_commands(svc: Service, sid: int, dest_ids: Mapping[DestKey, int], *,
                            table: str = TABLE) -> list[str]:
    """The nft batch that removes installed service ``sid`` with its maps and counters."""
    t = f"{_FAMILIES[svc.key.family][0]} {table}"
    lines = [f"delete element {t} {_svc_map(svc.key)} {{ {_svc_elem_key(svc.key)} }}",
             f"delete chain {t} vs_{sid}",
             f"delete map {t} dst_{sid}"]
    lines.extend(_drop_counters(t, sorted((sid << 16) | v for v in dest_ids.values())))
    if svc.persistence_timeout:
        lines.append(f"delete map {t} persist_{sid}")
    return lines


def _traffic_keys(marks: Iterable[int]) -> str:
    return ", ".join(f"{direction} . {m}" for m in marks for direction in ("original", "reply"))


def _drop_counters(t: str, marks: list[int]) -> list[str]:
    """Delete destinations' counter elements (added first: `add` of an existing element is a
    no-op, and a table written before counters existed has none to delete)."""
    if not marks:
        return []
    conns = ", ".join(str(m) for m in marks)
    traffic = _traffic_keys(marks)
    return [f"add element {t} conns {{ {conns} }}", f"delete element {t} conns {{ {conns} }}",
            f"add element {t} traffic {{ {traffic} }}", f"delete element {t} traffic {{ {traffic} }}"]


def parse_counters(objects: Iterable[Mapping[str, Any]], table: str = TABLE) -> dict[tuple[int, int], Counters]:
    """``list sets`` JSON -> Counters keyed by (address family, destination mark)."""
    conns: dict[tuple[int, int], int] = {}
    traffic: dict[tuple[int, int], dict[str, tuple[int, int]]] = {}
    families = {fam: family for family, (fam, _, _) in _FAMILIES.items()}
    for obj in objects:
        st = obj.get("set")
        if not isinstance(st, Mapping) or st.get("table") != table or st.get("family") not in families:
            continue
        family = families[st["family"]]
        for elem in st.get("elem", ()):
            inner = elem.get("elem") if isinstance(elem, Mapping) else None
            if not isinstance(inner, Mapping):
                continue
            counter = inner.get("counter") or {}
            packets, nbytes = int(counter.get("packets", 0)), int(counter.get("bytes", 0))
            val = inner.get("val")
            if st.get("name") == "conns" and isinstance(val, int):
                conns[(family, val)] = packets
            elif st.get("name") == "traffic" and isinstance(val, Mapping) and "concat" in val:
                direction, mark = val["concat"]
                traffic.setdefault((family, int(mark)), {})[str(direction)] = (packets, nbytes)
    out: dict[tuple[int, int], Counters] = {}
    for key in conns.keys() | traffic.keys():
        t = traffic.get(key, {})
        inpkts, inbytes = t.get("original", (0, 0))
        outpkts, outbytes = t.get("reply", (0, 0))
        out[key] = Counters(conns.get(key, 0), inpkts, outpkts, inbytes, outbytes)
    return out


def rates_between(before: Mapping[Any, Counters], after: Mapping[Any, Counters], seconds: float) -> dict[Any, Rates]:
    """ipvsadm ``--rate`` per key: the counters' growth per second over ``seconds``.

    A key new in ``after``, or whose counters went down (destination removed and added again),
    counts from zero.
    """
    if seconds <= 0:
        return {}
    out: dict[Any, Rates] = {}
    zero = Rates()
    for key, now in after.items():
        then = before.get(key, Counters())
        if now == then:  # at rest: nothing moved
            out[key] = zero
            continue
        if any(getattr(now, f) < getattr(then, f) for f in ("conns", "inpkts", "outpkts", "inbytes", "outbytes")):
            then = Counters()
        out[key] = Rates(round((now.conns - then.conns) / seconds),
                         round((now.inpkts - then.inpkts) / seconds),
                         round((now.outpkts - then.outpkts) / seconds),
                         round((now.inbytes - then.inbytes) / seconds),
                         round((now.outbytes - then.outbytes) / seconds))
    return out


# -- helpers -------------------------------------------------------------------------------------

_NO_CONNS = (0, 0)


def _planned_from(inst: _Installed, by_mark: Mapping[int, tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """The counts an installed service's dispatch depends on: its destinations', by mark (cheap to
    compare on every reconcile: no address hashing)."""
    base = inst.sid << 16
    return tuple(by_mark.get(base | did, _NO_CONNS) for did in inst.dest_ids.values())


def _l3(family: int) -> str:
    return _FAMILIES[family][2]


def _l4_match(key: ServiceKey) -> str:
    if key.protocol == "fwm":
        return "meta l4proto { tcp, udp, sctp }"
    return f"meta l4proto {key.protocol}"


def _addr(addr: Any) -> str:
    return str(addr)


def _dest_data(d: Destination, svc: Service, port_mapped: bool) -> str:
    if not port_mapped:
        return _addr(d.key.addr)
    return f"{_addr(d.key.addr)} . {d.key.port or svc.key.port}"


def _netmask(family: int, prefix: int) -> str:
    net = ipaddress.ip_network(f"{'0.0.0.0' if family == 4 else '::'}/{prefix}")
    return str(net.netmask)


def _q(text: str) -> str:
    return json.dumps(text)


def _svc_map(key: ServiceKey) -> str:
    return "svc_fwm" if key.protocol == "fwm" else f"svc_{key.protocol}"


def _svc_elem_key(key: ServiceKey) -> str:
    if key.protocol == "fwm":
        return str(key.fwmark)
    return f"{key.addr} . {key.port}"


def _svc_comment(svc: Service) -> str:
    parts = [f"s={svc.scheduler}", f"p={svc.persistence_timeout}"]
    if svc.flags:
        parts.append("f=" + ",".join(sorted(svc.flags)))
    if svc.persistence_netmask is not None:
        parts.append(f"m={svc.persistence_netmask}")
    return " ".join(parts)


def _dest_comment(d: Destination) -> str:
    return f"w={d.weight} f={d.forward.value} u={d.u_threshold} l={d.l_threshold}"


def _parse_comment(comment: str | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (comment or "").split():
        k, _, v = part.partition("=")
        out[k] = v
    return out


def _elem_key(key_part: Any) -> tuple[Any, str | None]:
    if isinstance(key_part, dict) and "elem" in key_part:
        return key_part["elem"]["val"], key_part["elem"].get("comment")
    return key_part, None


def _read_dests(m: dict[str, Any]) -> tuple[list[Destination], dict[DestKey, int]]:
    dests: list[Destination] = []
    ids: dict[DestKey, int] = {}
    for elem in m.get("elem", []):
        key_part, data = elem
        mark, comment = _elem_key(key_part)
        if isinstance(data, dict) and "concat" in data:
            addr, port = data["concat"]
        else:
            addr, port = data, 0
        c = _parse_comment(comment)
        dkey = DestKey.of(addr, int(port))
        dests.append(Destination(dkey, int(c.get("w", "1")), Forward(c.get("f", "NAT")),
                                 int(c.get("u", "0")), int(c.get("l", "0"))))
        ids[dkey] = int(mark) & 0xFFFF
    return dests, ids


def _map_type_changed(old: Service, new: Service) -> bool:
    def port_mapped(s: Service) -> bool:
        return s.key.protocol != "fwm" or any(d.key.port for d in s.destinations)

    return port_mapped(old) != port_mapped(new)


def _dispatch_expr(dispatch: Dispatch, svc: Service, l3: str, marks: dict[DestKey, int]) -> str | None:
    """The nft expression choosing a destination mark, or None when nothing is available."""
    if not dispatch.slots:
        return None
    table = ", ".join(f"{i} : {marks[k]}" for i, k in enumerate(dispatch.slots))
    n = len(dispatch.slots)
    if dispatch.kind == "numgen":
        return f"numgen inc mod {n} map {{ {table} }}"
    fields = {"saddr": f"{l3} saddr", "daddr": f"{l3} daddr"}[dispatch.hash_on]
    if dispatch.with_port and svc.key.protocol in PROTOCOLS:
        fields += f" . {svc.key.protocol} sport"
    return f"jhash {fields} mod {n} seed {dispatch.seed:#x} map {{ {table} }}"


# include/uapi/linux/netfilter/nfnetlink_conntrack.h
_NFNL_SUBSYS_CTNETLINK, _IPCTNL_MSG_CT_GET = 1, 1
_CTA_PROTOINFO, _CTA_MARK = 4, 8
_CTA_PROTOINFO_TCP, _CTA_PROTOINFO_TCP_STATE = 1, 1
_TCP_CONNTRACK_ESTABLISHED = 3
_NLMSG_DONE, _NLMSG_ERROR = 3, 2
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_NLA = struct.Struct("=HH")
#: conntrack entries in the calling thread's namespace (net sysctls follow the opener's namespace)
CONNTRACK_COUNT = "/proc/sys/net/netfilter/nf_conntrack_count"
_NLMSG = struct.Struct("=IHHII")


def _conntrack_marks() -> Iterable[tuple[int, bool]]:
    """(ct mark, established?) for every conntrack entry that carries a mark: one ctnetlink dump on a
    socket of the calling thread's namespace, read with a parser of the two attributes it needs (about
    a microsecond an entry; pyroute2's Conntrack costs ~20 ms a call even with nothing to dump).  An empty
    table is not dumped at all: the kernel walks every bucket of the hash table for a dump (tens of ms
    for the default size), and ``nf_conntrack_count`` says zero for free."""
    try:
        with open(CONNTRACK_COUNT, encoding="ascii") as f:
            if int(f.read()) == 0:
                return
    except (OSError, ValueError):  # no such sysctl here: dump anyway
        pass
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC, 12)  # NETLINK_NETFILTER
    try:
        sock.settimeout(5.0)
        body = struct.pack("=BBH", socket.AF_UNSPEC, 0, 0)  # nfgenmsg: every family
        sock.send(_NLMSG.pack(_NLMSG.size + len(body), (_NFNL_SUBSYS_CTNETLINK << 8) | _IPCTNL_MSG_CT_GET,
                              _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0) + body)
        while True:
            data = sock.recv(1 << 16)
            off = 0
            while off + _NLMSG.size <= len(data):
                length, msg_type, _flags, _seq, _pid = _NLMSG.unpack_from(data, off)
                if length < _NLMSG.size:
                    return
                if msg_type == _NLMSG_DONE:
                    return
                if msg_type == _NLMSG_ERROR:
                    (code,) = struct.unpack_from("=i", data, off + _NLMSG.size)
                    if code:
                        raise OSError(-code, f"conntrack dump: {os.strerror(-code)}")
                    return
                entry = _ct_entry(data, off + _NLMSG.size + 4, off + length)
                if entry is not None:
                    yield entry
                off += (length + 3) & ~3
    finally:
        sock.close()


def _ct_entry(data: bytes, pos: int, end: int) -> tuple[int, bool] | None:
    """(mark, established?) of one conntrack message's attributes, None without a mark."""
    mark = 0
    established = False
    while pos + 4 <= end:
        alen, atype = _NLA.unpack_from(data, pos)
        if alen < 4:
            break
        atype &= 0x3FFF
        if atype == _CTA_MARK:
            mark = int.from_bytes(data[pos + 4:pos + 8], "big")
        elif atype == _CTA_PROTOINFO:
            established = _tcp_state(data, pos + 4, pos + alen) == _TCP_CONNTRACK_ESTABLISHED
        pos += (alen + 3) & ~3
    return (mark, established) if mark else None


def _tcp_state(data: bytes, pos: int, end: int) -> int | None:
    """CTA_PROTOINFO -> CTA_PROTOINFO_TCP -> CTA_PROTOINFO_TCP_STATE, if there."""
    while pos + 4 <= end:
        alen, atype = _NLA.unpack_from(data, pos)
        if alen < 4:
            return None
        if atype & 0x3FFF == _CTA_PROTOINFO_TCP:
            inner, inner_end = pos + 4, pos + alen
            while inner + 4 <= inner_end:
                blen, btype = _NLA.unpack_from(data, inner)
                if blen < 4:
                    return None
                if btype & 0x3FFF == _CTA_PROTOINFO_TCP_STATE:
                    return data[inner + 4]
                inner += (blen + 3) & ~3
            return None
        pos += (alen + 3) & ~3
    return None
