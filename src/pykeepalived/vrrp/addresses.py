"""Virtual IP addresses and interface state through netlink (pyroute2 ``AsyncIPRoute``).

What VRRP needs from the kernel, and nothing more: add and remove VIPs (idempotently, since a
restart after a crash finds its old VIPs still there, and a reload may re-add existing ones),
list an interface's addresses, find the primary IPv4 address (advert source, tie-break), carry
out route and rule requests (``vrrp.routes`` builds them from virtual_routes / virtual_rules), and
follow interfaces going up and down (FAULT state, tracked interfaces).  The checker process uses
:class:`AddressWatch` from here too, for ``ha_suspend`` (addresses coming and going).

Like :mod:`pykeepalived.vrrp.io`, everything works in our own namespace (the daemon) or in a
named one (``netns=``, for tests driving several nodes from one process).  pyroute2 traps
handled here: ``flags=0`` so a mistyped
namespace raises instead of being created, and the event ``get()`` looped because it returns
after one receive batch.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import AsyncGenerator, Iterable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl import (
    RTMGRP_IPV4_IFADDR,
    RTMGRP_IPV4_ROUTE,
    RTMGRP_IPV6_IFADDR,
    RTMGRP_IPV6_ROUTE,
    RTMGRP_LINK,
)

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

IFF_UP = 0x1
IFF_RUNNING = 0x40
IFA_F_SECONDARY = 0x01
IFA_F_NODAD = 0x02
IFA_F_HOMEADDRESS = 0x10
IFA_F_MANAGETEMPADDR = 0x100
IFA_F_NOPREFIXROUTE = 0x200
IFA_F_MCAUTOJOIN = 0x400

#: /etc/iproute2/rt_scopes names keepalived accepts
SCOPES: dict[str, int] = {"global": 0, "universe": 0, "site": 200, "link": 253, "host": 254, "nowhere": 255}
_FOREVER = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class VipSpec:
    """One address to hold while MASTER, already resolved by the config layer.

    ``broadcast``: an address, or ``"+"``/``"-"`` for all-ones/all-zeros host bits (IPv4 only).
    ``nodad``: IPv6 without duplicate detection, so a VIP taken over answers at once and a
    split brain cannot leave it "dadfailed" (keepalived sets IFA_F_NODAD on every IPv6 VIP,
    vrrp_ipaddress.c ``netlink_ipaddress``).  ``preferred_lft`` 0 makes an IPv6 VIP deprecated,
    so the kernel does not pick it as a source address (keepalived's default for /128 VIPs).
    """

    address: IPInterface
    dev: str
    broadcast: str | None = None
    label: str | None = None
    scope: int | str = 0
    nodad: bool = True
    noprefixroute: bool = False
    home: bool = False
    mngtmpaddr: bool = False
    autojoin: bool = False
    preferred_lft: int | None = None

    @classmethod
    def of(cls, cidr: str, dev: str, **kwargs: Any) -> VipSpec:
        """``VipSpec.of("10.0.0.5/24", "eth0")``; a bare address means /32 or /128, as keepalived."""
        return cls(ipaddress.ip_interface(cidr), dev, **kwargs)

    @classmethod
    def from_model(cls, va: Any, default_dev: str) -> VipSpec:
        """From ``config.model_vrrp.VirtualAddress`` (duck-typed): the instance's interface
        unless ``dev`` is given; IPv6 always without DAD; /128 deprecated unless configured."""
        address = va.address
        preferred = va.preferred_lft
        if preferred is None and address.version == 6 and address.network.prefixlen == 128:
            preferred = 0
        return cls(address=address, dev=va.dev or default_dev,
                   broadcast=str(va.broadcast) if va.broadcast is not None else None,
                   label=va.label, scope=va.scope or 0, nodad=True,
                   noprefixroute=va.noprefixroute, home=va.home, mngtmpaddr=va.mngtmpaddr,
                   autojoin=va.autojoin, preferred_lft=preferred)

    @property
    def family(self) -> int:
        return socket.AF_INET if self.address.version == 4 else socket.AF_INET6

    def netlink_args(self) -> dict[str, Any]:
        """Keyword arguments for ``AsyncIPRoute.addr("add", index=..., **args)``."""
        a: dict[str, Any] = {"address": str(self.address.ip), "prefixlen": self.address.network.prefixlen,
                             "family": self.family}
        scope = self.scope
        if isinstance(scope, str):
            scope = int(scope) if scope.isdigit() else SCOPES[scope]
        if scope:
            a["scope"] = scope
        flags = 0
        for wanted, bit in ((self.noprefixroute, IFA_F_NOPREFIXROUTE), (self.home, IFA_F_HOMEADDRESS),
                            (self.mngtmpaddr, IFA_F_MANAGETEMPADDR), (self.autojoin, IFA_F_MCAUTOJOIN)):
            flags |= bit if wanted else 0
        if self.address.version == 4:
            brd = self.broadcast_address()
            if brd:
                a["broadcast"] = brd
            if self.label:
                a["label"] = self.label
        else:
            flags |= IFA_F_NODAD if self.nodad else 0
            if self.preferred_lft is not None:
                a["preferred_lft"] = self.preferred_lft
                a["valid_lft"] = _FOREVER
        if flags:
            a["flags"] = flags
        return a

    def broadcast_address(self) -> str | None:
        if self.broadcast in (None, "") or self.address.version != 4:
            return None
        net = self.address.network
        if self.broadcast == "+":
            return str(net.broadcast_address) if net.prefixlen <= 30 else None
        if self.broadcast == "-":
            return str(net.network_address) if net.prefixlen <= 30 else None
        return str(ipaddress.IPv4Address(self.broadcast))


@dataclass(frozen=True, slots=True)
class AddressInfo:
    """One address as ``ip addr`` shows it."""

    address: IPInterface
    ifname: str
    ifindex: int
    label: str | None
    scope: int
    flags: int
    broadcast: str | None

    @property
    def secondary(self) -> bool:
        return bool(self.flags & IFA_F_SECONDARY)


@dataclass(frozen=True, slots=True)
class LinkEvent:
    """An interface is usable (``up``: IFF_UP and IFF_RUNNING, i.e. admin up with carrier) or not."""

    ifname: str
    ifindex: int
    up: bool


def link_is_up(flags: int) -> bool:
    return flags & (IFF_UP | IFF_RUNNING) == (IFF_UP | IFF_RUNNING)


class Netlink:
    """One rtnetlink socket for a VRRP process: VIPs, addresses, routes and rules, interface lookups.

    Use ``async with Netlink(netns=...) as nl``.  The socket is opened lazily on first use.
    """

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self._ipr: Any = None

    async def _rt(self) -> Any:
        if self._ipr is None:
            self._ipr = _open(self.netns)
        return self._ipr

    async def close(self) -> None:
        if self._ipr is not None:
            self._ipr.close()
            self._ipr = None

    async def __aenter__(self) -> Netlink:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()

    # -- interfaces ---------------------------------------------------------------------------
    async def ifindex(self, ifname: str) -> int:
        """Index of ``ifname``; ``LookupError`` when there is no such interface."""
        found = await (await self._rt()).link_lookup(ifname=ifname)
        if not found:
            raise LookupError(f"no interface {ifname!r}" + (f" in netns {self.netns}" if self.netns else ""))
        return int(found[0])

    async def link_up(self, ifname: str) -> bool:
        """Current state of ``ifname`` by the same rule as :func:`watch_links`."""
        ipr = await self._rt()
        for msg in await ipr.link("get", index=await self.ifindex(ifname)):
            return link_is_up(msg["flags"])
        return False

    # -- addresses ----------------------------------------------------------------------------
    async def list_addresses(self, ifname: str | None = None, family: int = socket.AF_UNSPEC
                             ) -> list[AddressInfo]:
        """Addresses of ``ifname`` (or all interfaces) in kernel order: primary before secondaries."""
        ipr = await self._rt()
        names: dict[int, str] = {}
        kwargs: dict[str, Any] = {}
        if ifname is not None:
            idx = await self.ifindex(ifname)
            names[idx] = ifname
            kwargs["index"] = idx
        else:
            async for link in await ipr.link("dump"):
                names[link["index"]] = link.get("ifname")
        if family != socket.AF_UNSPEC:
            kwargs["family"] = family
        out: list[AddressInfo] = []
        async for msg in await ipr.addr("dump", **kwargs):
            idx = msg["index"]
            if ifname is not None and idx not in names:
                continue
            flags = msg.get_attr("IFA_FLAGS")  # 32-bit; the header field only holds 8 bits
            if flags is None:
                flags = msg["flags"]
            out.append(AddressInfo(
                address=ipaddress.ip_interface(f"{msg.get('address')}/{msg['prefixlen']}"),
                ifname=names.get(idx, str(idx)), ifindex=idx, label=msg.get("label"),
                scope=msg["scope"], flags=int(flags), broadcast=msg.get("broadcast"),
            ))
        return out

    async def primary_ipv4(self, ifname: str) -> str | None:
        """The interface's first non-secondary IPv4 address: keepalived's advert source."""
        for a in await self.list_addresses(ifname, socket.AF_INET):
            if not a.secondary:
                return str(a.address.ip)
        return None

    async def link_local_ipv6(self, ifname: str) -> str | None:
        """The interface's first link-local IPv6 address: the IPv6 advert source."""
        for a in await self.list_addresses(ifname, socket.AF_INET6):
            if a.address.ip.is_link_local:
                return str(a.address.ip)
        return None

    async def has_vip(self, vip: VipSpec) -> bool:
        return any(a.address == vip.address for a in await self.list_addresses(vip.dev, vip.family))

    async def add_vip(self, vip: VipSpec) -> bool:
        """Add ``vip``; ``False`` if it was already there (EEXIST is not an error for VRRP)."""
        ipr = await self._rt()
        idx = await self.ifindex(vip.dev)
        try:
            await ipr.addr("add", index=idx, **vip.netlink_args())
        except NetlinkError as e:
            if e.code == errno.EEXIST:
                return False
            raise
        return True

    async def del_vip(self, vip: VipSpec) -> bool:
        """Remove ``vip``; ``False`` if it was not there (EADDRNOTAVAIL), or its interface is gone."""
        ipr = await self._rt()
        try:
            idx = await self.ifindex(vip.dev)
        except LookupError:
            return False
        try:
            await ipr.addr("del", index=idx, address=str(vip.address.ip),
                           prefixlen=vip.address.network.prefixlen, family=vip.family)
        except NetlinkError as e:
            if e.code in (errno.EADDRNOTAVAIL, errno.ENODEV):
                return False
            raise
        return True

    async def add_vips(self, vips: Iterable[VipSpec]) -> list[VipSpec]:
        """Add several; returns the ones that were actually added."""
        return [v for v in vips if await self.add_vip(v)]

    async def del_vips(self, vips: Iterable[VipSpec]) -> list[VipSpec]:
        """Remove several; returns the ones that were actually present."""
        return [v for v in vips if await self.del_vip(v)]

    async def remove_stale_vips(self, vips: Sequence[VipSpec]) -> list[VipSpec]:
        """At start-up, before any instance is MASTER: drop VIPs a previous run left behind.

        Only the configured addresses are touched (same address and prefix on the same device);
        an interface that does not exist yet is skipped.
        """
        removed: list[VipSpec] = []
        for vip in vips:
            try:
                present = await self.has_vip(vip)
            except LookupError:
                continue
            if present and await self.del_vip(vip):
                removed.append(vip)
        return removed


    # -- routes and rules (requests from vrrp.routes) ----------------------------------------
    async def request(self, msg: Any, msg_type: int, flags: int) -> None:
        """Send one rtnetlink request (a route or rule message :mod:`pykeepalived.vrrp.routes` built) and
        wait for the kernel's answer; a refusal raises ``NetlinkError``, its header keeps the sequence
        number and port id it was sent with."""
        ipr = await self._rt()
        async for _ in await ipr.nlm_request(msg, msg_type=msg_type, msg_flags=flags):
            pass


async def watch_links(netns: str | None = None, ifnames: Iterable[str] | None = None, *,
                      initial: bool = True) -> AsyncGenerator[LinkEvent, None]:
    """Interface up/down changes from RTM_NEWLINK/RTM_DELLINK, one event per actual change.

    With ``initial``, first yields the current state of each (watched) interface.  The kernel
    sends RTM_NEWLINK for many attribute changes and coalesces fast carrier flaps (about one
    event per second per device), so consumers must treat each event as "the state now".
    """
    wanted = set(ifnames) if ifnames is not None else None
    ev = _open(netns)
    try:
        await ev.bind(groups=RTMGRP_LINK)  # before the dump, so no change falls in between
        last: dict[int, bool] = {}
        names: dict[int, str] = {}
        if initial:
            async with _open(netns) as ipr:
                async for msg in await ipr.link("dump"):
                    name = msg.get("ifname")
                    if wanted is None or name in wanted:
                        names[msg["index"]] = name
                        last[msg["index"]] = up = link_is_up(msg["flags"])
                        yield LinkEvent(name, msg["index"], up)
        while True:  # get() returns after one receive batch: loop it
            async for msg in ev.get():
                event = msg.get("event")
                if event not in ("RTM_NEWLINK", "RTM_DELLINK"):
                    continue
                idx = msg["index"]
                name = msg.get("ifname") or names.get(idx)
                if name is None or (wanted is not None and name not in wanted):
                    continue
                up = event == "RTM_NEWLINK" and link_is_up(msg["flags"])
                if event == "RTM_DELLINK":
                    names.pop(idx, None)
                else:
                    names[idx] = name
                if last.get(idx) != up:
                    last[idx] = up
                    yield LinkEvent(name, idx, up)
                if event == "RTM_DELLINK":
                    last.pop(idx, None)
    finally:
        ev.close()


@dataclass(frozen=True, slots=True)
class AddressChange:
    """An address appeared on an interface (RTM_NEWADDR, ``added``) or left it (RTM_DELADDR).

    The kernel also sends RTM_NEWADDR when a present address only changes (IPv6 DAD done, a
    lifetime refresh), so consumers must treat an add of a known address as "still there".
    """

    added: bool
    address: IPInterface
    ifindex: int


def _address_change(msg: Any, added: bool) -> AddressChange | None:
    # IFA_LOCAL is the local end (IFA_ADDRESS is the peer on point-to-point links); IPv6 only has IFA_ADDRESS
    local = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
    if local is None:
        return None
    return AddressChange(added, ipaddress.ip_interface(f"{local}/{msg['prefixlen']}"),
                         int(msg["index"]))


#: the routing protocol keepalived's routes carry (RTPROT_KEEPALIVED): the only ones it watches
RTPROT_KEEPALIVED = 18


@dataclass(frozen=True, slots=True)
class RouteGone:
    """A route of keepalived's protocol left the kernel (RTM_DELROUTE): what keepalived's ``route_is_ours``
    compares to find whose it was."""

    family: int
    dst: ipaddress.IPv4Address | ipaddress.IPv6Address
    dst_len: int
    tos: int
    metric: int
    table: int
    oif: int | None


def _route_gone(msg: Any) -> RouteGone | None:
    if msg.get("proto") != RTPROT_KEEPALIVED or msg.get("family") not in (socket.AF_INET, socket.AF_INET6):
        return None
    family = msg["family"]
    dst = msg.get_attr("RTA_DST") or ("::" if family == socket.AF_INET6 else "0.0.0.0")
    table = msg.get_attr("RTA_TABLE")
    return RouteGone(family, ipaddress.ip_address(dst), int(msg["dst_len"]), int(msg["tos"]),
                     int(msg.get_attr("RTA_PRIORITY") or 0), int(msg["table"] if table is None else table),
                     msg.get_attr("RTA_OIF"))


class AddressWatch:
    """Every address of every interface: a dump, then the changes (IPv4 and IPv6); with ``routes``, also the
    deletions of keepalived's routes (:meth:`entries`).

    :meth:`open` subscribes before it dumps, so no change falls in between (one made during the
    dump may be reported by both).  Events queue in the socket until :meth:`changes` reads them.
    """

    def __init__(self, netns: str | None = None, *, routes: bool = False) -> None:
        self.netns = netns
        self.routes = routes
        self._ev: Any = None

    async def open(self) -> list[AddressChange]:
        """Subscribe, then return the addresses present now (as ``added`` changes)."""
        self.close()
        self._ev = _open(self.netns)
        groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR
        if self.routes:
            groups |= RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE
        await self._ev.bind(groups=groups)
        out: list[AddressChange] = []
        async with _open(self.netns) as ipr:
            async for msg in await ipr.addr("dump"):
                ch = _address_change(msg, True)
                if ch is not None:
                    out.append(ch)
        return out

    async def changes(self) -> AsyncGenerator[AddressChange, None]:
        """Address changes, forever (until :meth:`close` or cancellation)."""
        async for ch in self.entries():
            if isinstance(ch, AddressChange):
                yield ch

    async def entries(self) -> AsyncGenerator[AddressChange | RouteGone, None]:
        """Address changes and (with ``routes``) keepalived's routes deleted, forever."""
        if self._ev is None:
            raise RuntimeError("AddressWatch.changes() before open()")
        while True:  # get() returns after one receive batch: loop it
            async for msg in self._ev.get():
                event = msg.get("event")
                ch: AddressChange | RouteGone | None = None
                if event in ("RTM_NEWADDR", "RTM_DELADDR"):
                    ch = _address_change(msg, event == "RTM_NEWADDR")
                elif event == "RTM_DELROUTE" and self.routes:
                    ch = _route_gone(msg)
                if ch is not None:
                    yield ch

    def close(self) -> None:
        if self._ev is not None:
            self._ev.close()
            self._ev = None


async def link_name(ipr: Any, ifindex: int) -> str | None:
    """The name of interface ``ifindex`` (None: there is none)."""
    try:
        got = await ipr.link("get", index=ifindex)  # a list (pyroute2 0.9): "get" is no dump
    except NetlinkError:
        return None
    links = list(got) if isinstance(got, (list, tuple)) else [msg async for msg in got]
    name = links[0].get("ifname") if links else None
    return None if name is None else str(name)


async def address_gone_from(ip: IPAddress, ifindex: int, netns: str | None = None) -> str | None:
    """The name of interface ``ifindex`` if ``ip`` is not on it now; None if it is (an RTM_DELADDR read late,
    after the address was set again, is no deletion) or the interface is gone."""
    async with _open(netns) as ipr:
        name = await link_name(ipr, ifindex)
        if name is None:
            return None
        async for msg in await ipr.addr("dump", index=ifindex):
            ch = _address_change(msg, True)
            if ch is not None and ch.ifindex == ifindex and ch.address.ip == ip:
                return None
    return name


async def route_gone(gone: RouteGone, netns: str | None = None) -> tuple[bool, str | None]:
    """Whether the route of ``gone`` is still missing (an RTM_DELROUTE read late, after the route was set
    again, is no deletion), and the name of its interface (None: it had none, or the interface is gone)."""
    async with _open(netns) as ipr:
        async for msg in await ipr.route("dump", family=gone.family):
            now = _route_gone(msg)
            if now == gone:
                return False, None
        return True, None if gone.oif is None else await link_name(ipr, gone.oif)


def _open(netns: str | None) -> Any:
    """An ``AsyncIPRoute``; ``flags=0`` so a missing namespace raises instead of being created."""
    return AsyncIPRoute(netns=netns, flags=0) if netns else AsyncIPRoute()

