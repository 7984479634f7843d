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
        dnat to ct mark map @dst_N               destination id -> real server address . port
    map dst_N { mark : addr . port }           destinations, each with a comment "w=20 f=NAT u=0 l=0"

The conntrack mark of every connection is ``service_id << 16 | destination_id``, so
connection counts per real server come straight from conntrack (ActiveConn/InActConn).

Settings that nft cannot show back are kept in element comments (the service's in its
``svc_*`` element, each destination's in ``dst_N``), so :meth:`observe` reads the whole
:class:`~pykeepalived.lvs.model.Table` from the kernel: after a restart the reconciler adopts
what is there instead of rebuilding it (established connections never notice).

Changes are applied per service in one nft transaction; a weight change rewrites one
service's chain and map only.  Existing connections are never affected (NAT is decided on
a connection's first packet), so weight 0 drains and removal stops new connections only.

Not supported here (use the ipvs data plane): DR and TUN forwarding, u/l thresholds
(kept in the model, not enforced), the ``ops`` flag and persistence engines.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..model import ConnCounts, Destination, DestKey, Forward, Service, ServiceKey, Table
from ..reconcile import AddDest, AddService, DelDest, DelService, EditDest, EditService, Op, apply_ops
from .dispatch import Dispatch, plan_dispatch
from .libnft import Nft, NftError

TABLE = "pykeepalived"
PROTOCOLS = ("tcp", "udp", "sctp")
_FAMILIES = {4: ("ip", "ipv4_addr", "ip"), 6: ("ip6", "ipv6_addr", "ip6")}


class UnsupportedByDataplane(ValueError):
    """A configuration the nftables data plane cannot implement (e.g. DR forwarding)."""


#: conntrack counts keyed by (service key, destination key)
Counts = dict[tuple[ServiceKey, DestKey], ConnCounts]


@dataclass
class _Installed:
    """What we know about one installed service: its id and destination ids."""

    sid: int
    service: Service
    dest_ids: dict[DestKey, int] = field(default_factory=dict)


class NftablesDataPlane:
    """observe() / apply(ops) / counters() over one nft table per family."""

    name = "nftables"

    def __init__(self, nft: Nft | None = None, *, table: str = TABLE,
                 conntrack: Callable[[], Iterable[tuple[int, bool]]] | None = None) -> None:
        self.nft = nft or Nft()
        self.table = table
        self._installed: dict[ServiceKey, _Installed] = {}
        self._conntrack = conntrack or _conntrack_marks
        self._counts: Counts = {}
        self._tables_missing = False

    # -- setup / teardown -------------------------------------------------------------------
    def ensure_tables(self) -> None:
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
        self.nft.run("\n".join(batch))

    def remove_tables(self) -> None:
        """Delete our tables (clean stop). Established connections keep their NAT."""
        for fam, _, _ in _FAMILIES.values():
            try:
                self.nft.run(f"delete table {fam} {self.table}")
            except NftError:  # absent already: nothing to do
                pass
        self._installed.clear()

    # -- observe --------------------------------------------------------------------------------
    def observe(self) -> Table:
        """Read the services we own back from the kernel (and remember their ids)."""
        installed: dict[ServiceKey, _Installed] = {}
        self._tables_missing = False
        for family, (fam, _, _) in _FAMILIES.items():
            try:
                # `list maps`, not `list table`: nft 1.0.6 cannot print our rules' map-update
                # statement as JSON (it warns on stderr), and the maps hold all we need
                objects = self.nft.json(f"list maps {fam}")
            except NftError:  # no table yet
                continue
            maps = {o["map"]["name"]: o["map"] for o in objects
                    if "map" in o and o["map"].get("table") == self.table}
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
        self._installed = installed
        return Table(tuple(i.service for _, i in sorted(installed.items())))

    # -- apply ---------------------------------------------------------------------------------
    def apply(self, ops: list[Op]) -> None:
        """Apply reconciler operations: one nft transaction for the whole batch."""
        if not ops:
            return
        if self._tables_missing:
            self.ensure_tables()
            self._tables_missing = False
        current = Table(tuple(i.service for _, i in sorted(self._installed.items())))
        target = apply_ops(current, ops).service_map()
        touched: list[ServiceKey] = []
        deleted: list[ServiceKey] = []
        for op in ops:
            if isinstance(op, DelService):
                deleted.append(op.key)
            elif isinstance(op, AddService | EditService):
                touched.append(op.service.key)
            elif isinstance(op, AddDest | EditDest | DelDest):
                touched.append(op.service)
        batch: list[str] = []
        for key in dict.fromkeys(deleted):
            inst = self._installed.pop(key, None)
            if inst is not None:
                batch.extend(self._delete_service(inst))
        for key in dict.fromkeys(touched):
            if key in target:
                batch.extend(self._write_service(target[key]))
        if batch:
            self.nft.run("\n".join(batch))

    def rebalance(self, counts: Counts | None = None) -> None:
        """Rewrite the dispatch rules of connection-count schedulers (lc, wlc, sed, nq …)."""
        counts = counts if counts is not None else self.connection_counts()
        batch: list[str] = []
        for inst in self._installed.values():
            if plan_dispatch(inst.service, {}).uses_counts:
                batch.extend(self._write_service(inst.service, counts))
        if batch:
            self.nft.run("\n".join(batch))

    # -- counters ------------------------------------------------------------------------------
    def connection_counts(self) -> Counts:
        """Active (ESTABLISHED) and inactive connections per destination, from conntrack marks."""
        by_mark: dict[int, list[int]] = {}
        for mark, established in self._conntrack():
            slot = by_mark.setdefault(mark, [0, 0])
            slot[0 if established else 1] += 1
        counts: Counts = {}
        for inst in self._installed.values():
            for dkey, did in inst.dest_ids.items():
                a, i = by_mark.get((inst.sid << 16) | did, (0, 0))
                counts[(inst.service.key, dkey)] = ConnCounts(a, i)
        self._counts = counts
        return counts

    # -- internals -------------------------------------------------------------------------------
    def _alloc_sid(self) -> int:
        used = {i.sid for i in self._installed.values()}
        sid = 1
        while sid in used:
            sid += 1
        return sid

    def _delete_service(self, inst: _Installed) -> list[str]:
        fam = _FAMILIES[inst.service.key.family][0]
        t = f"{fam} {self.table}"
        key = inst.service.key
        lines = [f"delete element {t} {_svc_map(key)} {{ {_svc_elem_key(key)} }}",
                 f"delete chain {t} vs_{inst.sid}",
                 f"delete map {t} dst_{inst.sid}"]
        if inst.service.persistence_timeout:
            lines.append(f"delete map {t} persist_{inst.sid}")
        return lines

    def _write_service(self, svc: Service, counts: Counts | None = None) -> list[str]:
        for d in svc.destinations:
            if d.forward is not Forward.NAT:
                raise UnsupportedByDataplane(
                    f"{svc.key}: lvs_method {d.forward.value} for {d.key} is not supported by the nftables "
                    "data plane (NAT only); use --dataplane ipvs on a kernel with ip_vs")
        family = svc.key.family
        fam, addr_t, l3 = _FAMILIES[family]
        t = f"{fam} {self.table}"
        inst = self._installed.get(svc.key)
        lines: list[str] = []
        if inst is None:
            inst = _Installed(self._alloc_sid(), svc)
            self._installed[svc.key] = inst
            fresh = True
        else:
            fresh = False
        sid = inst.sid
        # stable destination ids: keep known ones, give new ones the lowest free id
        ids = {k: v for k, v in inst.dest_ids.items() if any(d.key == k for d in svc.destinations)}
        free = (i for i in range(1, 0xFFFF) if i not in ids.values())
        for d in svc.destinations:
            if d.key not in ids:
                ids[d.key] = next(free)
        port_mapped = svc.key.protocol != "fwm" or any(d.key.port for d in svc.destinations)
        data_t = f"{addr_t} . inet_service" if port_mapped else addr_t

        was_persistent = (not fresh) and bool(inst.service.persistence_timeout)
        lines.append(f"add chain {t} vs_{sid}")
        lines.append(f"flush chain {t} vs_{sid}")
        if not fresh and _map_type_changed(inst.service, svc):
            lines.append(f"delete map {t} dst_{sid}")
        lines.append(f"add map {t} dst_{sid} {{ type mark : {data_t} ; }}")
        lines.append(f"flush map {t} dst_{sid}")
        if svc.destinations:
            elems = ", ".join(
                f"{(sid << 16) | ids[d.key]} comment {_q(_dest_comment(d))} : "
                f"{_dest_data(d, svc, port_mapped)}"
                for d in svc.destinations)
            lines.append(f"add element {t} dst_{sid} {{ {elems} }}")

        saddr = f"{l3} saddr"
        if svc.persistence_netmask is not None:
            saddr = f"{l3} saddr & {_netmask(family, svc.persistence_netmask)}"
        if was_persistent and (not svc.persistence_timeout
                               or svc.persistence_timeout != inst.service.persistence_timeout):
            lines.append(f"delete map {t} persist_{sid}")
        if svc.persistence_timeout:
            lines.append(f"add map {t} persist_{sid} {{ type {addr_t} : mark ; flags dynamic,timeout ; "
                         f"timeout {svc.persistence_timeout}s ; }}")

        l4 = _l4_match(svc.key)
        dnat = f"{l4} dnat {l3} to ct mark map @dst_{sid}"
        if svc.persistence_timeout:
            lines.append(f"add rule {t} vs_{sid} ct mark set {saddr} map @persist_{sid}")
            lines.append(f"add rule {t} vs_{sid} ct mark != 0 {dnat}")
        dispatch = plan_dispatch(svc, counts if counts is not None else self._counts)
        expr = _dispatch_expr(dispatch, svc, l3, {k: (sid << 16) | v for k, v in ids.items()})
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
        inst.service = svc
        inst.dest_ids = ids
        return lines


# -- helpers -------------------------------------------------------------------------------------

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


def _conntrack_marks() -> Iterable[tuple[int, bool]]:
    """(ct mark, established?) for every conntrack entry that carries one of our marks."""
    from pyroute2 import Conntrack  # imported lazily: only the running data plane needs it

    with Conntrack() as ct:
        for entry in ct.dump_entries():
            mark = getattr(entry, "mark", 0) or 0
            if not mark:
                continue
            state = ""
            if entry.protoinfo is not None and hasattr(entry.protoinfo, "state_name"):
                state = entry.protoinfo.state_name()
            yield mark, state == "ESTABLISHED"
