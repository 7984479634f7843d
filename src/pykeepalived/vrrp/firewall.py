"""keepalived's nftables table for ``no_accept`` (and ``vrrp_strict``) instances and for VMACs.

keepalived 2.2.7 (``vrrp_nftables.c``, built with NFTABLES as Debian's is) keeps one table per family,
``ip keepalived`` and ``ip6 keepalived`` (global_defs ``nftables [NAME]``), with base chains ``in`` and
``out`` at priority ``nftables_priority`` (default -1):

* while an instance that is not the address owner and has no accept mode (``no_accept``, the default
  in strict mode) holds its VIPs (MASTER), its VIPs are in the set ``vips``: traffic to them is
  dropped on input, from them on output (RFC 5798's non-accept mode: a master answers ARP/ND for
  them but accepts nothing addressed to them);  IPv6 link-local VIPs go to ``vips_link_local``
  (address . interface index), or ``vips_link_local_name`` (address . interface name) for a
  ``dont_track_primary`` instance unless ``nftables_ifindex``; Neighbour Discovery is always let
  through;
* a VMAC interface goes into the map ``vmac_map`` (vmac -> base interface): IGMP reports (IPv6: MLD
  reports) leaving a macvlan are sent out of its base interface instead, and for IPv6 router
  solicitations from a VMAC (``vmac_set``) are dropped;
* ``nftables_counters`` gives every rule a counter.

Everything is created lazily, the first time it is needed, in keepalived's order (so ``nft list
table`` shows the same table), and never removed until the process stops, when the whole table goes.
Elements are added and removed one transaction per change, so counters survive state changes.

:func:`commands` is pure (the nft text of one change); :class:`Firewall` keeps what exists and runs the
text through libnftables in the process's own network namespace.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .instances import InstanceRuntime, blocks_vips

if TYPE_CHECKING:
    from pykeepalived.config.model import Config
    from pykeepalived.config.model_vrrp import VrrpInstance

log = logging.getLogger("pykeepalived.vrrp")

DEFAULT_TABLE = "keepalived"
DEFAULT_PRIORITY = -1

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class BlockedAddress:
    """One VIP of a non-accept instance: the address, its interface, and whether the link-local
    set keyed by interface *name* is the one it goes to (keepalived's ``vips_link_local_name``)."""

    address: IPAddress
    ifname: str
    by_name: bool = False

    @property
    def link_local(self) -> bool:
        return self.address.version == 6 and self.address.is_link_local

    @property
    def set_name(self) -> str:
        if not self.link_local:
            return "vips"
        return "vips_link_local_name" if self.by_name else "vips_link_local"

    @property
    def element(self) -> str:
        if not self.link_local:
            return str(self.address)
        return f'{self.address} . "{self.ifname}"'


@dataclass
class Tables:
    """What has been created so far in the two tables (keepalived's ``ipv4_table_setup`` etc.)."""

    name: str = DEFAULT_TABLE
    priority: int = DEFAULT_PRIORITY
    counters: bool = False
    created: set[str] = field(default_factory=set)

    def rule(self, family: str, chain: str, match: str, verdict: str) -> str:
        counter = " counter" if self.counters else ""
        return f"add rule {family} {self.name} {chain} {match}{counter} {verdict}"

    def base_chain(self, family: str, chain: str) -> str:
        hook = "input" if chain == "in" else "output"
        return (f"add chain {family} {self.name} {chain} "
                f"{{ type filter hook {hook} priority {self.priority}; policy accept; }}")

    def table(self, family: str) -> list[str]:
        """``ip``/``ip6`` table and its ``out`` chain (``nft_setup_ipv4`` / ``nft_setup_ipv6``)."""
        if family in self.created:
            return []
        self.created.add(family)
        # a table of the same name left by an earlier run goes first (keepalived: "Deleting old ... table")
        return [f"add table {family} {self.name}", f"delete table {family} {self.name}",
                f"add table {family} {self.name}", self.base_chain(family, "out")]

    def vips(self, family: str) -> list[str]:
        """The ``in`` chain, the ``vips`` set and its drop rules (``nft_setup_ipv4_vips`` / ``_ipv6_vips``)."""
        key = f"{family}/vips"
        if key in self.created:
            return []
        self.created.add(key)
        out = self.table(family)
        t = self.name
        if family == "ip":
            return [*out, self.base_chain(family, "in"),
                    f"add set ip {t} vips {{ type ipv4_addr; }}",
                    self.rule("ip", "in", "ip daddr @vips", "drop"),
                    self.rule("ip", "out", "ip saddr @vips", "drop")]
        return [*out, self.base_chain(family, "in"),
                f"add chain ip6 {t} in_link_local", f"add chain ip6 {t} out_link_local",
                f"add set ip6 {t} vips {{ type ipv6_addr; }}",
                f"add set ip6 {t} neighbor-discovery {{ type icmpv6_type; flags constant; "
                f"elements = {{ nd-neighbor-solicit, nd-neighbor-advert }}; }}",
                self.rule("ip6", "in", "icmpv6 type @neighbor-discovery", "accept"),
                self.rule("ip6", "in", "ip6 daddr fe80::/10", "goto in_link_local"),
                self.rule("ip6", "out", "icmpv6 type @neighbor-discovery", "accept"),
                self.rule("ip6", "out", "ip6 saddr fe80::/10", "goto out_link_local"),
                self.rule("ip6", "in", "ip6 daddr @vips", "drop"),
                self.rule("ip6", "out", "ip6 saddr @vips", "drop")]

    def link_local(self, by_name: bool) -> list[str]:
        """``vips_link_local`` (or ``_name``) and its rules (``setup_link_local_checks``)."""
        set_name = "vips_link_local_name" if by_name else "vips_link_local"
        if set_name in self.created:
            return []
        self.created.add(set_name)
        kind, iif, oif = ("ifname", "iifname", "oifname") if by_name else ("iface_index", "iif", "oif")
        return [f"add set ip6 {self.name} {set_name} {{ type ipv6_addr . {kind}; }}",
                self.rule("ip6", "in_link_local", f"ip6 daddr . {iif} @{set_name}", "drop"),
                self.rule("ip6", "out_link_local", f"ip6 saddr . {oif} @{set_name}", "drop")]

    def vmac(self, family: str) -> list[str]:
        """``vmac_map`` (IPv6 also ``vmac_set``) and the IGMP/MLD rules (``nft_setup_igmp``)."""
        key = f"{family}/vmac"
        if key in self.created:
            return []
        self.created.add(key)
        t = self.name
        out = [*self.table(family),
               f"add map {family} {t} vmac_map {{ type iface_index : iface_index; }}"]
        if family == "ip":
            return [*out, self.rule("ip", "out", 'ip protocol igmp meta oifkind "macvlan" '
                                                 "dup to ip daddr device oif map @vmac_map", "drop")]
        return [*out, f"add set ip6 {t} vmac_set {{ type iface_index; }}",
                self.rule("ip6", "out", 'icmpv6 type mld2-listener-report meta oifkind "macvlan" '
                                        "dup to ip6 daddr device oif map @vmac_map", "drop"),
                self.rule("ip6", "out", 'icmpv6 type nd-router-solicit meta oifkind "macvlan" oif @vmac_set',
                          "drop")]


def address_commands(tables: Tables, addresses: Iterable[BlockedAddress], add: bool) -> list[str]:
    """The nft text that adds (creating what is missing first) or removes these addresses."""
    cmds: list[str] = []
    verb = "add" if add else "delete"
    for a in addresses:
        family = "ip" if a.address.version == 4 else "ip6"
        if add:
            cmds += tables.vips(family)
            if a.link_local:
                cmds += tables.link_local(a.by_name)
        elif f"{family}/vips" not in tables.created or (a.link_local and a.set_name not in tables.created):
            continue
        cmds.append(f"{verb} element {family} {tables.name} {a.set_name} {{ {a.element} }}")
    return cmds


def vmac_commands(tables: Tables, vmac: str, base: str, family: int, add: bool) -> list[str]:
    """The nft text that adds or removes one VMAC interface (``nft_add_vmac`` / ``nft_remove_vmac``)."""
    fam = "ip" if family == 4 else "ip6"
    verb = "add" if add else "delete"
    if add:
        cmds = tables.vmac(fam)
    elif f"{fam}/vmac" not in tables.created:
        return []
    else:
        cmds = []
    cmds.append(f'{verb} element {fam} {tables.name} vmac_map {{ "{vmac}" : "{base}" }}')
    if fam == "ip6":
        cmds.append(f'{verb} element {fam} {tables.name} vmac_set {{ "{vmac}" }}')
    return cmds


class Firewall:
    """The tables of one VRRP process; ``run`` executes nft text (libnftables by default)."""

    def __init__(self, name: str | None, priority: int | None, counters: bool,
                 run: Callable[[str], object] | None = None, ifindex: bool = False) -> None:
        #: global_defs ``nftables_ifindex``: link-local VIPs of dont_track_primary instances keyed by index
        self.ifindex = ifindex
        self.tables = Tables(name or DEFAULT_TABLE, DEFAULT_PRIORITY if priority is None else priority, counters)
        self._run = run
        self._nft: object | None = None
        #: elements present now, so a repeated add or a remove of what is not there is a no-op
        self.blocked: set[BlockedAddress] = set()
        self.vmacs: set[tuple[str, str, int]] = set()

    def _apply(self, cmds: list[str]) -> None:
        if not cmds:
            return
        text = "\n".join(cmds) + "\n"
        try:
            if self._run is None:
                from pykeepalived.lvs.dataplane.libnft import Nft

                if self._nft is None:
                    self._nft = Nft()
                self._nft.run(text)  # type: ignore[attr-defined]
            else:
                self._run(text)
        except Exception as e:  # a failed firewall update must never stop VRRP
            log.error("nftables: %s", e)

    def block(self, addresses: Iterable[BlockedAddress], add: bool) -> None:
        """Add (MASTER of a non-accept instance) or remove the drop elements of these VIPs."""
        todo = [a for a in addresses if (a in self.blocked) != add]
        self._apply(address_commands(self.tables, todo, add))
        if add:
            self.blocked.update(todo)
        else:
            self.blocked.difference_update(todo)

    def drops_of(self, rt: InstanceRuntime) -> list[BlockedAddress]:
        """The drop elements instance ``rt`` wants while MASTER: none for the owner or in accept mode."""
        return blocked_addresses(rt, self.ifindex) if blocks_vips(rt.model) else []

    def accept_mode(self, rt: InstanceRuntime, add: bool) -> None:
        """The executor's hook around VIP changes: only non-accept, non-owner instances block."""
        self.block(self.drops_of(rt), add)

    def reload_instance(self, old: InstanceRuntime, new: InstanceRuntime, before: bool) -> None:
        """A kept MASTER's reload (keepalived's ``clear_diff_vrrp_vip`` and ``restore_vrrp_state``): before its
        addresses change, the drop elements of its new VIPs go in (all of them when accept mode was turned
        off); after, those of the old VIPs the new configuration does not block go (all of them when accept
        mode was turned on)."""
        if before:
            self.block(self.drops_of(new), True)
        else:
            wanted = set(self.drops_of(new))
            self.block([a for a in self.drops_of(old) if a not in wanted], False)

    def add_vmac(self, vmac: str, base: str, family: int) -> None:
        key = (vmac, base, family)
        if key not in self.vmacs:
            self._apply(vmac_commands(self.tables, vmac, base, family, True))
            self.vmacs.add(key)

    def remove_vmac(self, vmac: str, base: str, family: int) -> None:
        key = (vmac, base, family)
        if key in self.vmacs:
            self._apply(vmac_commands(self.tables, vmac, base, family, False))
            self.vmacs.discard(key)

    def close(self) -> None:
        """At stop: the tables we created go (keepalived's ``nft_cleanup``)."""
        t = self.tables
        self._apply([f"delete table {fam} {t.name}" for fam in ("ip", "ip6") if fam in t.created])
        t.created.clear()
        self.blocked.clear()
        self.vmacs.clear()
        if self._nft is not None:
            self._nft.close()  # type: ignore[attr-defined]
            self._nft = None


def needs_firewall(inst: VrrpInstance) -> bool:
    """keepalived's test in ``vrrp_complete_instance``: a non-owner without accept mode, or a VMAC (a
    macvlan: not an ipvlan)."""
    return blocks_vips(inst) or inst.macvlan


def firewall_for(config: Config, run: Callable[[str], object] | None = None) -> Firewall | None:
    """The process's :class:`Firewall`, when some instance needs one (else None)."""
    g = config.global_defs
    if not any(needs_firewall(i) for i in config.vrrp.instances):
        return None
    if g.nftables is None:
        log.info("use_vmac or no_accept/strict specified, but no firewall configured - using nftables")
    return Firewall(g.nftables, g.nftables_priority, g.nftables_counters, run, ifindex=g.nftables_ifindex)


def blocked_addresses(rt: InstanceRuntime, ifindex: bool = False) -> list[BlockedAddress]:
    """The drop-set elements of one instance's VIPs and eVIPs (``nft_update_addresses``)."""
    by_name = not ifindex and rt.model.dont_track_primary
    return [BlockedAddress(v.address.ip, v.dev, by_name and v.dev == rt.ifname) for v in rt.vips + rt.evips]


def remove_leftover_tables(config: Config, netns: str | None = None) -> list[str]:
    """After the VRRP process died: its tables (``ip``/``ip6`` NAME) go, when its config needed them."""
    if not any(needs_firewall(i) for i in config.vrrp.instances):
        return []
    import subprocess

    name = config.global_defs.nftables or DEFAULT_TABLE
    prefix = ["ip", "netns", "exec", netns] if netns else []
    removed = []
    for fam in ("ip", "ip6"):
        r = subprocess.run([*prefix, "nft", "delete", "table", fam, name], capture_output=True, check=False)
        if r.returncode == 0:
            removed.append(f"{fam} {name}")
    return removed
