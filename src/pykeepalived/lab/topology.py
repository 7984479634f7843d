"""Topologies of named network namespaces: nodes on bridges in a switch namespace.

A :class:`Lab` owns every namespace whose name starts with its prefix.  Nodes (load balancers,
clients, real servers) are namespaces with veths named like real hosts' NICs (``eth0``, ``eth1``),
so the seed's keepalived.conf runs with its interface names unchanged.  The other end of each veth
sits in a *switch* namespace and is enslaved to a Linux bridge there, so a test can cut one
node's cable (:meth:`Lab.set_port`) exactly as a switch port failure would, and nothing is ever
created in the root namespace.

Closing the lab (context manager, ``atexit``, or :func:`~pykeepalived.lab.netns.cleanup_prefix`
for a run that crashed) stops the processes it started and deletes its namespaces.
"""

from __future__ import annotations

import atexit
import ipaddress
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from pykeepalived.lab import netns as nsmod

#: sysctls every node gets before its interfaces exist, so ``default`` applies to them too
NODE_SYSCTLS: dict[str, int] = {
    # VRRP owners answer for addresses on several interfaces, and the lab's routes are asymmetric
    "net.ipv4.conf.all.rp_filter": 0,
    "net.ipv4.conf.default.rp_filter": 0,
    # keepalived re-adds its IPv6 VIPs, but the lab's own addresses must survive link-down tests
    "net.ipv6.conf.all.keep_addr_on_down": 1,
    "net.ipv6.conf.default.keep_addr_on_down": 1,
    # no 1-2 s of "tentative" link-local addresses after every link-up: tests would race DAD
    "net.ipv6.conf.all.accept_dad": 0,
    "net.ipv6.conf.default.accept_dad": 0,
}

FORWARDING_SYSCTLS: dict[str, int] = {
    "net.ipv4.ip_forward": 1,
    "net.ipv6.conf.all.forwarding": 1,
}

#: the namespace holding the bridges, unless a caller names another
SWITCH = "sw"


@dataclass(frozen=True, slots=True)
class Link:
    """One cable: ``node:ifname`` <-> ``switch:port`` enslaved to ``bridge``."""

    node: str
    ifname: str
    switch: str
    bridge: str
    port: str
    addresses: tuple[str, ...] = ()


@dataclass(eq=False)
class Lab:
    """A set of namespaces sharing one prefix; names given to methods are short (``"lb1"``)."""

    prefix: str = field(default_factory=nsmod.unique_prefix)
    nodes: list[str] = field(default_factory=list)
    switches: list[str] = field(default_factory=list)
    bridges: dict[str, str] = field(default_factory=dict)  # bridge -> switch
    links: list[Link] = field(default_factory=list)
    processes: list[subprocess.Popen[Any]] = field(default_factory=list, repr=False)
    _closed: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        nsmod.check_prefix(self.prefix)
        atexit.register(self.close)

    # -- naming ---------------------------------------------------------------------------
    def ns(self, name: str) -> str:
        """Full namespace name of node or switch ``name``."""
        return f"{self.prefix}{name}"

    def link(self, node: str, ifname: str) -> Link:
        for lk in self.links:
            if lk.node == node and lk.ifname == ifname:
                return lk
        raise KeyError(f"no link {node}:{ifname} in this lab")

    # -- building -------------------------------------------------------------------------
    def add_node(self, name: str, *, forwarding: bool = False,
                 sysctls: Mapping[str, str | int] | None = None) -> str:
        """Create node namespace ``name`` with ``lo`` up and the lab's sysctls; returns its full name."""
        _check_name(name, "node")
        if name in self.nodes or name in self.switches:
            raise ValueError(f"{name!r} already exists in this lab")
        full = self.ns(name)
        nsmod.add_netns(full)
        self.nodes.append(name)
        values: dict[str, str | int] = dict(NODE_SYSCTLS)
        if forwarding:
            values.update(FORWARDING_SYSCTLS)
        values.update(sysctls or {})
        nsmod.set_sysctls(full, values)
        nsmod.ip(full, "link", "set", "lo", "up")
        return full

    def add_switch(self, name: str = SWITCH) -> str:
        """Create a namespace that only holds bridges (no addresses, no IPv6 on ports)."""
        if name in self.switches:
            return self.ns(name)
        _check_name(name, "switch")
        if name in self.nodes:
            raise ValueError(f"{name!r} is a node, not a switch")
        full = self.ns(name)
        nsmod.add_netns(full)
        self.switches.append(name)
        nsmod.set_sysctls(full, {"net.ipv6.conf.all.disable_ipv6": 1,
                                 "net.ipv6.conf.default.disable_ipv6": 1})
        return full

    def add_bridge(self, name: str, *, switch: str = SWITCH) -> None:
        """A bridge in ``switch`` (created on demand): no STP delay, multicast flooded to every port.

        Snooping is off because nobody runs an IGMP/MLD querier here; with it on, VRRP's
        ff02::12 could be pruned once one member reported.
        """
        _check_name(name, "bridge", ifname=True)
        if name in self.bridges:
            raise ValueError(f"bridge {name!r} already exists")
        sw = self.add_switch(switch)
        nsmod.ip(sw, "link", "add", name, "type", "bridge", "stp_state", "0", "forward_delay", "0",
                 "mcast_snooping", "0")
        nsmod.ip(sw, "link", "set", name, "up")
        self.bridges[name] = switch

    def connect(self, node: str, ifname: str, bridge: str, addresses: Sequence[str] = (), *,
                mac: str | None = None) -> Link:
        """Cable ``node:ifname`` to ``bridge``, add ``addresses`` (CIDR) and bring both ends up."""
        if node not in self.nodes:
            raise KeyError(f"unknown node {node!r}")
        _check_name(ifname, "interface", ifname=True)
        switch = self.bridges[bridge]
        port = self._port_name(node, ifname)
        n_full, s_full = self.ns(node), self.ns(switch)
        # both ends are born inside namespaces: nothing ever appears in the root namespace
        nsmod.ip(n_full, "link", "add", ifname, *(["address", mac] if mac else []),
                 "type", "veth", "peer", "name", port, "netns", s_full)
        lk = Link(node, ifname, switch, bridge, port, tuple(addresses))
        self.links.append(lk)
        nsmod.ip_batch(s_full, [f"link set {port} master {bridge}", f"link set {port} up"])
        lines = [_addr_line(a, ifname) for a in addresses]
        nsmod.ip_batch(n_full, [*lines, f"link set {ifname} up"])
        return lk

    def add_address(self, node: str, ifname: str, cidr: str) -> None:
        nsmod.ip_batch(self.ns(node), [_addr_line(cidr, ifname)])

    def add_route(self, node: str, dst: str, *, via: str | None = None, dev: str | None = None) -> None:
        """``ip route add DST [via VIA] [dev DEV]``; an on-link ``via`` needs no one to hold it yet."""
        args = ["route", "add", dst] + (["via", via] if via else []) + (["dev", dev] if dev else [])
        if ":" in dst or (via and ":" in via):
            args.insert(0, "-6")
        nsmod.ip(self.ns(node), *args)

    def sysctl(self, node: str, values: Mapping[str, str | int]) -> None:
        nsmod.set_sysctls(self.ns(node), values)

    # -- failures -------------------------------------------------------------------------
    def set_link(self, node: str, ifname: str, up: bool) -> None:
        """Administratively up/down the node's own interface (``ip link set eth0 down`` on the host)."""
        nsmod.ip(self.ns(node), "link", "set", ifname, "up" if up else "down")

    def set_port(self, node: str, ifname: str, up: bool) -> None:
        """Up/down the switch side of the cable: the node sees carrier loss (a pulled cable)."""
        lk = self.link(node, ifname)
        nsmod.ip(self.ns(lk.switch), "link", "set", lk.port, "up" if up else "down")

    # -- processes ------------------------------------------------------------------------
    def run(self, node: str, argv: Sequence[str], *, check: bool = True,
            timeout: float = nsmod.COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
        """Run a command to completion in ``node`` and return its output."""
        return nsmod.run(nsmod.exec_argv(self.ns(node), argv), check=check, timeout=timeout)

    def popen(self, node: str, argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        """Start a long-running command in ``node``; the lab stops it (by PID) when it closes."""
        proc = nsmod.popen(self.ns(node), argv, **kwargs)
        self.processes.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[Any], grace: float = 2.0) -> int | None:
        rc = nsmod.stop(proc, grace)
        if proc in self.processes:
            self.processes.remove(proc)
        return rc

    # -- teardown -------------------------------------------------------------------------
    def close(self) -> None:
        """Stop our processes, delete our namespaces (also any with our prefix we lost track of)."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        try:
            for proc in list(self.processes):
                self.stop(proc)
        finally:
            nsmod.cleanup_prefix(self.prefix)

    def detach(self) -> None:
        """Leave the namespaces in place when this process exits (``pykeepalived lab up``);
        ``cleanup_prefix(lab.prefix)`` removes them later (``lab down``)."""
        self._closed = True
        atexit.unregister(self.close)
        self.processes.clear()

    def describe(self) -> list[str]:
        """One line per cable, for people: ``lb1 (pk12-lb1) eth0 10.0.0.3/24 -> front``."""
        return [f"{lk.node} ({self.ns(lk.node)}) {lk.ifname} {' '.join(lk.addresses) or '-'} -> {lk.bridge}"
                for lk in self.links]

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def _port_name(self, node: str, ifname: str) -> str:
        """Switch-side veth name: readable when it fits IFNAMSIZ (15), else numbered."""
        name = f"{node}-{ifname}"
        if len(name) > 15 or any(lk.port == name for lk in self.links):
            name = f"port{len(self.links)}"
        return name


_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def _check_name(name: str, what: str, *, ifname: bool = False) -> None:
    """Names end up in ``ip -batch`` lines (split on spaces) and interface names (15 bytes max)."""
    if not _NAME_RE.match(name) or (ifname and len(name) > 15):
        limit = ", at most 15" if ifname else ""
        raise ValueError(f"bad {what} name {name!r}: letters, digits, '_.-'{limit}")


def _addr_line(cidr: str, ifname: str) -> str:
    """An ``ip -batch`` line adding ``cidr``; IPv6 without DAD so it is usable at once."""
    iface = ipaddress.ip_interface(cidr)
    if iface.version == 6:
        return f"addr add {iface.with_prefixlen} dev {ifname} nodad"
    return f"addr add {iface.with_prefixlen} brd + dev {ifname}"


# -- ready-made topologies ----------------------------------------------------------------

#: the seed's virtual addresses, held by whichever load balancer is MASTER
SEED_FRONT_VIP = "10.0.0.5"
SEED_GATEWAY_VIP = "192.168.0.1"
SEED_SORRY_SERVER = "192.168.0.200"


def seed_topology(prefix: str | None = None, *, real_servers: int = 2, sorry_server: bool = False) -> Lab:
    """The seed scenario (README.md, ``examples/lb1.conf``), without the VIPs (VRRP adds 10.0.0.5 and 192.168.0.1).

    client 10.0.0.100 --front-- lb1 eth0 10.0.0.3 / lb2 eth0 10.0.0.4
    lb1 eth1 192.168.0.2 / lb2 eth1 192.168.0.3 --back-- rs1 192.168.0.12, rs2 192.168.0.13 ...
    Real servers ``rsN`` get 192.168.0.(11+N) and route via the gateway VIP; the client reaches
    the front VIP on-link.  ``sorry_server`` adds node ``sorry`` at 192.168.0.200 (examples/).
    """
    if not 0 <= real_servers <= 180:
        raise ValueError("real_servers must be 0..180 (192.168.0.12 up to .191)")
    lab = Lab(prefix) if prefix else Lab()
    try:
        lab.add_bridge("front")
        lab.add_bridge("back")
        lab.add_node("client")
        lab.connect("client", "eth0", "front", ["10.0.0.100/24"])
        for name, front, back in (("lb1", "10.0.0.3/24", "192.168.0.2/24"),
                                  ("lb2", "10.0.0.4/24", "192.168.0.3/24")):
            lab.add_node(name, forwarding=True)
            lab.connect(name, "eth0", "front", [front])
            lab.connect(name, "eth1", "back", [back])
        servers = [(f"rs{i}", f"192.168.0.{11 + i}/24") for i in range(1, real_servers + 1)]
        if sorry_server:
            servers.append(("sorry", f"{SEED_SORRY_SERVER}/24"))
        for name, addr in servers:
            lab.add_node(name)
            lab.connect(name, "eth0", "back", [addr])
            lab.add_route(name, "default", via=SEED_GATEWAY_VIP)
    except BaseException:
        lab.close()
        raise
    return lab


#: addresses of :func:`two_node_lan`, for tests to refer to
TWO_NODE_ADDRESSES: dict[str, tuple[str, str]] = {
    "a": ("10.9.0.1/24", "fd09::1/64"),
    "b": ("10.9.0.2/24", "fd09::2/64"),
    "client": ("10.9.0.100/24", "fd09::100/64"),
}


def two_node_lan(prefix: str | None = None) -> Lab:
    """Nodes ``a`` and ``b`` (VRRP peers) and a ``client``, each ``eth0`` on bridge ``lan``."""
    lab = Lab(prefix) if prefix else Lab()
    try:
        lab.add_bridge("lan")
        for name, addrs in TWO_NODE_ADDRESSES.items():
            lab.add_node(name, forwarding=name != "client")
            lab.connect(name, "eth0", "lan", list(addrs))
    except BaseException:
        lab.close()
        raise
    return lab
