"""Desired (and observed) data-plane state: virtual services and their destinations.

This is the vocabulary shared by the reconciler and every data plane (ipvs, nftables, proxy):
a data plane's ``observe()`` returns a :class:`Table`, the config plus health give the desired
:class:`Table`, and :func:`pykeepalived.lvs.reconcile.diff` turns the two into operations.
The fields are IPVS's own (scheduler name and flags, persistence timeout and netmask,
forwarding method, weight, thresholds), so the IPVS data plane maps them one to one and the
others implement the same meaning.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field, fields
from enum import StrEnum

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class Forward(StrEnum):
    """IPVS forwarding method (``lvs_method``)."""

    NAT = "NAT"
    DR = "DR"
    TUN = "TUN"

    @property
    def ipvsadm(self) -> str:
        """The word ``ipvsadm -Ln`` prints in its Forward column."""
        return {"NAT": "Masq", "DR": "Route", "TUN": "Tunnel"}[self.value]


@dataclass(frozen=True, slots=True)
class ServiceKey:
    """What identifies a virtual service: protocol + address + port, or a firewall mark."""

    protocol: str  # "tcp" | "udp" | "sctp" | "fwm"
    addr: IPAddress | None = None
    port: int = 0
    fwmark: int = 0
    family: int = 4

    @classmethod
    def inet(cls, protocol: str, addr: str | IPAddress, port: int) -> ServiceKey:
        a = ipaddress.ip_address(addr)
        return cls(protocol.lower(), a, port, 0, a.version)

    @classmethod
    def mark(cls, fwmark: int, family: int = 4) -> ServiceKey:
        return cls("fwm", None, 0, fwmark, family)

    def sort_key(self) -> tuple[str, int, int, int, int]:
        """Total order across families (IPv4 and IPv6 addresses do not compare directly)."""
        return (self.protocol, self.family, int(self.addr) if self.addr is not None else -1, self.port,
                self.fwmark)

    def __lt__(self, other: ServiceKey) -> bool:
        return self.sort_key() < other.sort_key()

    def __str__(self) -> str:
        if self.protocol == "fwm":
            return f"FWM {self.fwmark}"
        return f"{self.protocol.upper()} {_hostport(self.addr, self.port)}"


@dataclass(frozen=True, slots=True)
class DestKey:
    addr: IPAddress
    port: int

    def sort_key(self) -> tuple[int, int, int]:
        return (self.addr.version, int(self.addr), self.port)

    def __lt__(self, other: DestKey) -> bool:
        return self.sort_key() < other.sort_key()

    @classmethod
    def of(cls, addr: str | IPAddress, port: int) -> DestKey:
        return cls(ipaddress.ip_address(addr), port)

    def __str__(self) -> str:
        return _hostport(self.addr, self.port)


@dataclass(frozen=True, slots=True)
class Destination:
    """A real server as the data plane holds it."""

    key: DestKey
    weight: int = 1
    forward: Forward = Forward.NAT
    u_threshold: int = 0
    l_threshold: int = 0


@dataclass(frozen=True, slots=True)
class Service:
    """A virtual service with its scheduler and its destinations (keyed by address:port)."""

    key: ServiceKey
    scheduler: str = "wlc"
    flags: frozenset[str] = frozenset()
    persistence_timeout: int = 0  # seconds; 0 = not persistent
    persistence_netmask: int | None = None  # prefix length; None = whole address
    destinations: tuple[Destination, ...] = ()

    def settings(self) -> tuple[object, ...]:
        """Everything but the destinations: what an EditService changes."""
        return (self.scheduler, self.flags, self.persistence_timeout, self.persistence_netmask)

    def dest_map(self) -> dict[DestKey, Destination]:
        return {d.key: d for d in self.destinations}


@dataclass(frozen=True, slots=True)
class ConnCounts:
    """Connections per destination as ipvsadm shows them: ActiveConn (established) and InActConn."""

    active: int = 0
    inactive: int = 0


@dataclass(frozen=True, slots=True)
class Counters:
    """Cumulative counters of a service or destination (``ipvsadm -Ln --stats``), whichever data plane."""

    conns: int = 0
    inpkts: int = 0
    outpkts: int = 0
    inbytes: int = 0
    outbytes: int = 0

    def __add__(self, other: Counters) -> Counters:
        return Counters(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Counters)))


@dataclass(frozen=True, slots=True)
class Rates:
    """Per-second rate estimates of a service or destination (``ipvsadm -Ln --rate``)."""

    cps: int = 0
    inpps: int = 0
    outpps: int = 0
    inbps: int = 0
    outbps: int = 0

    def __add__(self, other: Rates) -> Rates:
        return Rates(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Rates)))


@dataclass(frozen=True, slots=True)
class DestCounters:
    """One real server's connections and traffic, as ``ipvsadm -Ln [--stats|--rate]`` shows them."""

    active: int = 0
    inactive: int = 0
    persistent: int = 0
    stats: Counters = field(default_factory=Counters)
    rates: Rates = field(default_factory=Rates)


@dataclass(frozen=True, slots=True)
class TableCounters:
    """Every data plane's answer to ``counters()``: per destination, and per service where the data
    plane keeps a service line of its own (IPVS's outlives removed destinations; the others leave
    ``services`` empty and the status view sums the destinations)."""

    dests: dict[tuple[ServiceKey, DestKey], DestCounters] = field(default_factory=dict)
    services: dict[ServiceKey, tuple[Counters, Rates]] = field(default_factory=dict)

    def connection_counts(self) -> dict[tuple[ServiceKey, DestKey], ConnCounts]:
        """ActiveConn / InActConn per (service, destination): what lc-type schedulers weigh."""
        return {k: ConnCounts(c.active, c.inactive) for k, c in self.dests.items()}


@dataclass(frozen=True, slots=True)
class Table:
    """The whole data-plane state: services keyed by ServiceKey."""

    services: tuple[Service, ...] = field(default_factory=tuple)

    def service_map(self) -> dict[ServiceKey, Service]:
        return {s.key: s for s in self.services}


def _hostport(addr: IPAddress | None, port: int) -> str:
    if addr is None:
        return str(port)
    if addr.version == 6:
        return f"[{addr}]:{port}"
    return f"{addr}:{port}"
