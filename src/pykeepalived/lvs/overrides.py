"""Runtime overrides of the virtual-server table: drain, weight, disable — what an operator sets through
the control socket (``pykeepalived ctl``) instead of editing the configuration and reloading.

keepalived has none of this; HAProxy's runtime API is the model (``set server … state drain|maint``,
``set server … weight``).  An override sits on top of what the health checkers want, never instead of
it: the checkers keep running under a drained or re-weighted server, a server that fails its checks
leaves the table whatever its override says, and the status view shows both facts.

Meaning, applied to the desired table (:func:`apply`):

* ``drain``: weight 0 while the server is in the table — established connections keep flowing, new ones
  go elsewhere (IPVS quiescing; nftables and the proxy implement weight 0 the same way);
* ``weight N``: the server's weight while it is up (an inhibited server, weight 0, stays 0);
* ``weight N`` *until reload* (what an SNMP SET of ``realServerWeight`` asks, as keepalived 2.2.7 keeps it: a
  reload, or a restart of the checker process, puts the configured weight back): the same, over any
  ``weight`` override while it lasts, then gone (:meth:`Overrides.reloaded`); a plain ``weight`` ends it;
* ``disable`` a real server: it leaves the table (new connections go elsewhere; the kernel keeps
  existing connections until they end); ``disable`` a virtual server: the service leaves the table.

Overrides survive a reload while their object still exists (:meth:`Overrides.prune`), but for the weights set
until reload, and are dropped by an explicit reset.  Pure: no I/O, no clock.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from .model import DestKey, ServiceKey, Table

PROTOCOLS = ("tcp", "udp", "sctp")


class OverrideError(ValueError):
    """A request naming a service or server that does not parse or does not exist (the message says which)."""


@dataclass(frozen=True, slots=True)
class ServerOverride:
    drained: bool = False
    weight: int | None = None
    disabled: bool = False
    #: a weight that lasts until the next reload (an SNMP SET), over ``weight`` meanwhile
    reload_weight: int | None = None

    def describe(self) -> str:
        """What ``status`` shows, e.g. ``drained``, ``weight 5``, ``weight 7 until reload``, ``disabled``."""
        parts = (["disabled"] if self.disabled else []) + (["drained"] if self.drained else []) + (
            [f"weight {self.reload_weight} until reload"] if self.reload_weight is not None else []) + (
            [f"weight {self.weight}"] if self.weight is not None else [])
        return ", ".join(parts)

    def empty(self) -> bool:
        return not self.drained and self.weight is None and not self.disabled and self.reload_weight is None

    @property
    def effective_weight(self) -> int | None:
        """The weight in force: the one set until reload, else the lasting one (None: the checkers')."""
        return self.reload_weight if self.reload_weight is not None else self.weight


@dataclass(frozen=True, slots=True)
class Overrides:
    """Every override in force: per (service, real server), and the disabled services."""

    servers: dict[tuple[ServiceKey, DestKey], ServerOverride] = field(default_factory=dict)
    disabled_services: frozenset[ServiceKey] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.servers or self.disabled_services)

    def server(self, service: ServiceKey, dest: DestKey) -> ServerOverride:
        return self.servers.get((service, dest), ServerOverride())

    def with_server(self, service: ServiceKey, dest: DestKey, **change: Any) -> Overrides:
        """A copy with one server's override changed (removed when nothing is left of it)."""
        new = replace(self.server(service, dest), **change)
        servers = {k: v for k, v in self.servers.items() if k != (service, dest)}
        if not new.empty():
            servers[(service, dest)] = new
        return Overrides(servers, self.disabled_services)

    def with_service(self, service: ServiceKey, disabled: bool) -> Overrides:
        keys = self.disabled_services | {service} if disabled else self.disabled_services - {service}
        return Overrides(self.servers, frozenset(keys))

    def reloaded(self) -> Overrides:
        """What a reload keeps: everything but the weights set until reload (keepalived 2.2.7's reload puts
        the configured weight back over an SNMP SET's: ``set_effective_weights``)."""
        if not any(o.reload_weight is not None for o in self.servers.values()):
            return self
        servers = {k: new for k, o in self.servers.items() if not (new := replace(o, reload_weight=None)).empty()}
        return Overrides(servers, self.disabled_services)

    def prune(self, configured: Iterable[tuple[ServiceKey, Iterable[DestKey]]]) -> Overrides:
        """Only the overrides whose service (and real server) still exist after a reload."""
        present: dict[ServiceKey, set[DestKey]] = {svc: set(dests) for svc, dests in configured}
        servers = {k: v for k, v in self.servers.items() if k[0] in present and k[1] in present[k[0]]}
        return Overrides(servers, frozenset(k for k in self.disabled_services if k in present))

    # -- JSON (the control API, the hand-over to a restarted checker process) -------------------------------
    def to_json(self) -> dict[str, Any]:
        return {
            "servers": [{"service": format_service(s), "server": str(d), "drained": o.drained,
                         "weight": o.weight, "disabled": o.disabled, "reload_weight": o.reload_weight}
                        for (s, d), o in sorted(self.servers.items(), key=lambda kv: (kv[0][0], kv[0][1]))],
            "disabled_services": [format_service(s) for s in sorted(self.disabled_services)],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Overrides:
        servers = {}
        for item in data.get("servers", []):
            key = (parse_service(item["service"]), parse_server(item["server"]))
            weight, reload_weight = item.get("weight"), item.get("reload_weight")
            servers[key] = ServerOverride(bool(item.get("drained")), None if weight is None else int(weight),
                                          bool(item.get("disabled")),
                                          None if reload_weight is None else int(reload_weight))
        return cls(servers, frozenset(parse_service(s) for s in data.get("disabled_services", [])))


def apply(table: Table, overrides: Overrides) -> Table:
    """The desired table with the overrides on top (see the module docstring for the meaning)."""
    if not overrides:
        return table
    services = []
    for svc in table.services:
        if svc.key in overrides.disabled_services:
            continue
        dests = []
        for d in svc.destinations:
            o = overrides.servers.get((svc.key, d.key))
            if o is None:
                dests.append(d)
                continue
            if o.disabled:
                continue
            weight = d.weight
            if weight > 0 and o.effective_weight is not None:
                weight = o.effective_weight
            if o.drained:
                weight = 0
            dests.append(d if weight == d.weight else replace(d, weight=weight))
        services.append(replace(svc, destinations=tuple(dests)))
    return Table(tuple(services))


# -- names as operators type them -------------------------------------------------------------------------


def parse_service(text: str) -> ServiceKey:
    """``VIP:PORT``, ``[V6]:PORT``, ``PROTO:VIP:PORT`` (tcp is the default), ``fwm N`` / ``fwm:N``."""
    t = text.strip()
    low = t.lower()
    if low.startswith("fwm"):
        mark = low[3:].lstrip(": ")
        if not mark.isdigit() or not 0 < int(mark) < 2**32:
            raise OverrideError(f"{text!r}: a firewall-mark service is 'fwm N' with N from 1 to 4294967295")
        return ServiceKey.mark(int(mark))
    protocol = "tcp"
    head, sep, rest = t.partition(":")
    if sep and head.lower() in PROTOCOLS:
        protocol, t = head.lower(), rest
    addr, port = _hostport(t, text)
    return ServiceKey.inet(protocol, addr, port)


def parse_server(text: str) -> DestKey:
    """``RIP:PORT`` or ``[V6]:PORT``."""
    addr, port = _hostport(text.strip(), text)
    return DestKey(addr, port)


def format_service(key: ServiceKey) -> str:
    """The inverse of :func:`parse_service`: ``tcp:10.0.0.5:80``, ``udp:[2001:db8::1]:53``, ``fwm 7``."""
    if key.protocol == "fwm":
        return f"fwm {key.fwmark}"
    host = f"[{key.addr}]" if key.family == 6 else str(key.addr)
    return f"{key.protocol}:{host}:{key.port}"


def _hostport(t: str, original: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]:
    if t.startswith("["):
        host, sep, port = t[1:].partition("]:")
    else:
        host, sep, port = t.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise OverrideError(f"{original!r}: expected ADDRESS:PORT ([ADDRESS]:PORT for IPv6)")
    try:
        addr = ipaddress.ip_address(host)
    except ValueError:
        raise OverrideError(f"{original!r}: {host!r} is not an IP address") from None
    if isinstance(addr, ipaddress.IPv6Address) and not t.startswith("["):
        raise OverrideError(f"{original!r}: write an IPv6 address in brackets, [{host}]:{port}")
    return addr, int(port)
