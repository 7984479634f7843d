"""``ha_suspend``: checkers of a virtual server run only while its address is on this host — sans-I/O.

keepalived 2.2.7 (``check_api.c``: ``update_checker_activity``, ``register_checkers_thread``): the
checker process follows the kernel's address events and keeps, per ``ha_suspend`` virtual server,
how many times its address is configured (the same address on two interfaces counts twice).  The
checkers are suspended only when that count falls to 0 — typically the VIP is held by VRRP on the
other node, so checking from here would be pointless or misleading — and reactivated on the first
address that comes back.  A suspended checker keeps its state; the runner just skips its attempts
(:meth:`pykeepalived.check.runner.Runner.set_checkers_enabled`).

:class:`HaSuspend` is fed the address dump taken at start and then every address added or removed,
and answers with :class:`SetCheckersEnabled` actions and keepalived's log lines.  It knows nothing
about netlink or the runner: the adapter is :mod:`pykeepalived.check.ha_suspend_watch`.

One deliberate difference from keepalived: keepalived counts every RTM_NEWADDR, including the ones
the kernel sends again when an address only changes (an IPv6 address finishing DAD, a lifetime
refresh), and every RTM_DELADDR, including ones for addresses it never saw added.  Here an address
is identified by (interface, address, prefix length) and counted once while present, so such
messages cannot skew the count.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from pykeepalived.check.state import Log, VsId, checker_timing, vs_id
from pykeepalived.config.model_lvs import (
    IPAddress,
    IpFamily,
    VirtualServer,
    VirtualServerGroup,
    format_trio,
)

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


@dataclass(frozen=True, slots=True)
class LocalAddress:
    """One address on one interface, as RTM_NEWADDR/RTM_DELADDR name it."""

    ifindex: int
    address: IPInterface

    @classmethod
    def of(cls, ifindex: int, cidr: str) -> LocalAddress:
        return cls(ifindex, ipaddress.ip_interface(cidr))


@dataclass(frozen=True, slots=True)
class SetCheckersEnabled:
    """Suspend (``enabled=False``) or resume every checker of one virtual server."""

    vs: VsId
    enabled: bool


Action = Log | SetCheckersEnabled


def needs_ha_suspend(virtual_servers: Iterable[VirtualServer]) -> bool:
    """Whether any virtual server asks for ``ha_suspend`` (else no address watch is needed at all)."""
    return any(vs.ha_suspend for vs in virtual_servers)


def _family(vs: VirtualServer) -> int:
    return 6 if vs.ip_family is IpFamily.INET6 else 4


def _matches(vs: VirtualServer, group: VirtualServerGroup | None, addr: IPAddress) -> bool:
    """keepalived's ``addr_matches``: the VS address, or an address/range of its group (fwmarks never)."""
    if vs.address is not None:
        return vs.address == addr
    if group is None:
        return False
    n = int(addr)
    return any(r.first.version == addr.version and int(r.first) <= n <= int(r.last) for r in group.addresses)


class _Vs:
    """Run-time ha_suspend state of one virtual server: its address count and its checkers' flag."""

    __slots__ = ("checkers", "config", "count", "enabled", "group", "id", "name")

    def __init__(self, vs: VirtualServer, group: VirtualServerGroup | None, like: _Vs | None = None) -> None:
        self.config = vs
        self.group = group
        self.count = 0
        self.enabled = True
        self.id: VsId
        self.name: str
        #: FMT_RS of each checker the runner runs (BFD is not run), in configuration order
        self.checkers: list[str]
        if like is not None and like.config is vs:  # a reload that kept this virtual server: its texts too
            self.id, self.name, self.checkers = like.id, like.name, like.checkers
            return
        self.id = vs_id(vs)
        self.name = vs.describe()
        self.checkers = [format_trio(rs.ip, rs.port, vs.protocol)
                         for rs in vs.real_servers for ch in rs.checkers if checker_timing(ch) is not None]

    def matches(self, addr: IPAddress) -> bool:
        return self.config.ha_suspend and addr.version == _family(self.config) and \
            _matches(self.config, self.group, addr)

    def logs(self, verb: str) -> list[Action]:
        return [Log(f"{verb} healthchecker for service {rs} for VS {self.name}") for rs in self.checkers]


class HaSuspend:
    """Address counts of the ``ha_suspend`` virtual servers, and what to do when they change.

    Call :meth:`start` once with the addresses present (the netlink dump), then :meth:`added` /
    :meth:`removed` per event.  On reload build a new one (``previous``: the old one, whose texts it
    reuses for the virtual servers that are the same objects) and start it with :attr:`addresses` of
    the old one.
    """

    def __init__(self, virtual_servers: Iterable[VirtualServer], groups: Iterable[VirtualServerGroup] = (),
                 previous: HaSuspend | None = None) -> None:
        by_name = {g.name: g for g in groups}
        #: ``previous``'s state per virtual server object (a reload's unchanged ones are the same objects)
        before = {id(v.config): v for v in previous._all} if previous is not None else {}
        self._all: list[_Vs] = [_Vs(vs, by_name.get(vs.group) if vs.group is not None else None, before.get(id(vs)))
                     for vs in virtual_servers]
        self._suspendable = [v for v in self._all if v.config.ha_suspend]
        self._addresses: set[LocalAddress] = set()
        self.started = False

    @property
    def addresses(self) -> frozenset[LocalAddress]:
        """Every address of the host as last seen (also the ones no virtual server uses)."""
        return frozenset(self._addresses)

    @property
    def needed(self) -> bool:
        return bool(self._suspendable)

    def count(self, vs: VsId) -> int:
        """keepalived's ``ha_suspend_addr_count`` of one virtual server."""
        return next((v.count for v in self._all if v.id == vs), 0)

    def enabled(self, vs: VsId) -> bool:
        return next((v.enabled for v in self._all if v.id == vs), True)

    def start(self, addresses: Iterable[LocalAddress]) -> list[Action]:
        """After the address dump (``register_checkers_thread``): one Activating/Deactivating line per
        checker of every virtual server, and the enabled flag of each ``ha_suspend`` one."""
        self._addresses = set(addresses)
        self.started = True
        out: list[Action] = []
        for v in self._all:
            if v.config.ha_suspend:
                v.count = sum(1 for a in self._addresses if v.matches(a.address.ip))
                v.enabled = v.count > 0
            out += v.logs("Activating" if v.enabled else "Deactivating")
            if v.config.ha_suspend:
                out.append(SetCheckersEnabled(v.id, v.enabled))
        return out

    def added(self, address: LocalAddress) -> list[Action]:
        """RTM_NEWADDR; an address already present (a flags or lifetime update) changes nothing."""
        if address in self._addresses:
            return []
        self._addresses.add(address)
        return self._update(address.address.ip, True)

    def removed(self, address: LocalAddress) -> list[Action]:
        """RTM_DELADDR; an address never seen (e.g. a link-local one removed before DAD) changes nothing."""
        if address not in self._addresses:
            return []
        self._addresses.discard(address)
        return self._update(address.address.ip, False)

    def resync(self, addresses: Iterable[LocalAddress]) -> list[Action]:
        """A fresh dump after events were lost (netlink overrun): apply the difference as events."""
        now = set(addresses)
        out: list[Action] = []
        for gone in sorted(self._addresses - now, key=_order):
            out += self.removed(gone)
        for new in sorted(now - self._addresses, key=_order):
            out += self.added(new)
        return out

    def _update(self, addr: IPAddress, enable: bool) -> list[Action]:
        """``update_checker_activity`` for the virtual servers using ``addr``."""
        out: list[Action] = []
        for v in self._suspendable:
            if not v.matches(addr):
                continue
            v.count += 1 if enable else -1
            if self.started and enable != v.enabled and (enable or v.count == 0):
                out += v.logs("Activating" if enable else "Suspending")
                v.enabled = enable
                out.append(SetCheckersEnabled(v.id, enable))
        return out


def _order(a: LocalAddress) -> tuple[int, int, int, int]:
    return (a.ifindex, a.address.version, int(a.address.ip), a.address.network.prefixlen)
