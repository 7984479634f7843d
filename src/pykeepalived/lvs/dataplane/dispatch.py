"""How a kernel data plane without IPVS chooses a destination: a slot table per service.

nftables can pick among destinations in two ways: ``numgen inc mod N map {…}`` (a rotating
counter over N slots) and ``jhash <fields> mod N map {…}`` (a hash of the flow).  Every IPVS
scheduler maps onto one of them, computed by the *same* pure schedulers the userspace proxy
uses (:mod:`pykeepalived.lvs.schedulers`), so one mechanism decides for every data plane:

* rr, wrr: one scheduler cycle (the kernel's weighted sequence) as numgen slots;
* sh, dh, mh (and lblc/lblcr, which are destination-address localities): the scheduler's own
  lookup table as jhash slots, built from the destinations in address order, so every node holds the same
  table for the same set of destinations whatever order they were configured, added or read back in (a real
  server that failed and returned on one node only, a node restarted later): N active nodes behind ECMP send
  a flow to the same real server (docs/scaleout.md: the hash inputs);
* lc, wlc, sed, nq, fo, ovf, twos: the next picks the scheduler would make given the current
  connection counts, as numgen slots; the data plane recomputes them from conntrack counts on
  a short period (``uses_counts``), which tracks the kernel's choice closely for many
  connections.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .. import schedulers as sched
from ..model import DestKey, Service

#: jhash seed shared by every node, so hashing schedulers agree across load balancers
HASH_SEED = 0x6B656570  # "keep"
#: mh table size for nft (a prime from the kernel's list; small keeps the rule compact)
MH_SIZE = 251
#: slots simulated for count-driven schedulers
MAX_SIMULATED = 256

_COUNT_DRIVEN = frozenset({"lc", "wlc", "sed", "nq", "fo", "ovf", "twos"})
_HASHED = frozenset({"sh", "dh", "mh", "lblc", "lblcr"})
#: schedulers whose slots do not depend on connection counts
_FIXED = _HASHED | {"rr", "wrr"}


def uses_counts(scheduler: str) -> bool:
    """Whether :func:`plan_dispatch` weighs connection counts for this scheduler (without planning:
    planning a count-driven service simulates up to ``MAX_SIMULATED`` picks)."""
    return scheduler.lower() not in _FIXED


@dataclass(frozen=True, slots=True)
class Dispatch:
    kind: Literal["numgen", "jhash"]
    slots: tuple[DestKey, ...]
    hash_on: Literal["saddr", "daddr"] = "saddr"
    with_port: bool = False
    seed: int = HASH_SEED
    uses_counts: bool = False


def plan_dispatch(svc: Service, counts: Mapping[tuple[Any, DestKey], Any]) -> Dispatch:
    """The slot table for ``svc`` given connection counts keyed by (service key, dest key)."""
    name = svc.scheduler.lower()
    dests = []
    for d in svc.destinations:
        c = counts.get((svc.key, d.key))
        dests.append(sched.Dest(key=d.key, weight=d.weight,
                                active_conns=getattr(c, "active", 0),
                                inactive_conns=getattr(c, "inactive", 0),
                                u_threshold=d.u_threshold, l_threshold=d.l_threshold,
                                addr=d.key.addr, port=d.key.port))
    available = [d for d in dests if d.weight > 0]
    if not available:
        return Dispatch("numgen", ())

    if name in _HASHED:
        table_name = {"lblc": "dh", "lblcr": "dh"}.get(name, name)
        size = MH_SIZE if table_name == "mh" else None
        table = sched.hash_table(table_name, sorted(dests, key=lambda d: _as_key(d.key)), size)
        hashed = tuple(_as_key(k) for k in table if k is not None)
        port_flag = "mh-port" if table_name == "mh" else "sh-port"
        return Dispatch("jhash", hashed, "daddr" if table_name == "dh" else "saddr",
                        with_port=port_flag in svc.flags)

    if name == "rr":
        return Dispatch("numgen", tuple(_as_key(d.key) for d in available))
    if name == "wrr":
        return Dispatch("numgen", tuple(_as_key(k) for k in sched.weighted_sequence(available)))

    # count-driven: simulate the scheduler forward, adding each pick to its active count
    scheduler = sched.make_scheduler(name if name in _COUNT_DRIVEN else "wlc", svc.flags)
    gcd = sched._positive_gcd(d.weight for d in available) or 1
    picks = min(MAX_SIMULATED, max(len(available), sum(d.weight for d in available) // gcd))
    flow = sched.Flow("0.0.0.0", 0, "0.0.0.0", 0)
    current = list(dests)
    slots: list[DestKey] = []
    scheduler.update(current)
    for _ in range(picks):
        key = scheduler.pick(flow, current)
        if key is None:
            break
        slots.append(_as_key(key))
        current = [dataclasses.replace(d, active_conns=d.active_conns + 1) if d.key == key else d
                   for d in current]
    return Dispatch("numgen", tuple(slots), uses_counts=True)


def _as_key(key: Hashable) -> DestKey:
    assert isinstance(key, DestKey)
    return key
