"""Per-service dispatch of the proxy: which real server a new connection goes to.

The choice is made by the very scheduler objects of :mod:`pykeepalived.lvs.schedulers`, fed as the
kernel feeds its own: destinations in the kernel's list order (a new one is inserted at the head),
``update()`` after every single add / edit / delete (the kernel's hooks), and on each pick the
destinations with their current connection counts and overload flags.  So for the same sequence of
operations, flows and counts, the proxy picks exactly what ``lvs.schedulers`` (and IPVS) picks.

On top of the scheduler, as IPVS does:

* persistence (``persistence_timeout`` / ``persistence_netmask``): a template per client network
  sends its new connections to the same real server while the template lives (refreshed by every
  new connection, kept while connections it placed are open); a template whose server was removed
  is dropped, one whose server was quiesced (weight 0) is kept (IPVS with the default
  ``expire_quiescent_template = 0``);
* u_threshold / l_threshold: a destination's overload flag set and cleared with IPVS's hysteresis
  as connections are bound and unbound (:func:`~pykeepalived.lvs.schedulers.overload_after`);
* weight 0 quiesces (never picked for a new connection; established ones are not touched: they
  belong to the forwarding engine, not to this table), and a removed destination just stops
  being picked.

Connection counts follow IPVS's: ActiveConn are open TCP connections; InActConn are UDP flows (never
active in IPVS) and TCP connections that ended less than :data:`TIME_WAIT` seconds ago (IPVS keeps a
closed connection, inactive, through FIN_WAIT/TIME_WAIT for two minutes; that is what spreads short
connections under lc/wlc: without it every pick would see zero everywhere and take the first server).
They are this worker's own plus, for connection-count schedulers, the other workers' as of the
last :meth:`ServiceDispatch.set_others` (the checker process sends them every reconcile).

Pure: no sockets, no clock (``now`` is an argument), randomness only through the ``rng`` given.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ... import schedulers as sched
from ...model import Destination, DestKey, Forward, Service, ServiceKey

#: seconds a closed TCP connection still counts as inactive (IPVS's TIME_WAIT / FIN_WAIT timeouts)
TIME_WAIT = 120
_RING = TIME_WAIT + 2

#: schedulers whose picks depend on connection counts: their view is rebuilt on every pick
COUNT_DRIVEN = frozenset({"lc", "wlc", "sed", "nq", "fo", "ovf", "twos", "lblc", "lblcr"})
#: schedulers that hash the client's address (and port): they need the real flow
CLIENT_HASHED = frozenset({"sh", "mh"})


class Unsupported(ValueError):
    """A service or destination the proxy cannot serve (fwmark, DR/TUN, a protocol it lacks)."""


def check_supported(svc: Service) -> None:
    """Raise :class:`Unsupported` with an operator-readable reason for what the proxy cannot do."""
    key = svc.key
    if key.protocol == "fwm":
        raise Unsupported(f"{key}: the proxy data plane cannot serve firewall-mark services "
                          "(it listens on an address and port; use --dataplane nftables or ipvs)")
    if key.protocol not in ("tcp", "udp"):
        raise Unsupported(f"{key}: the proxy data plane serves TCP and UDP only, not {key.protocol.upper()}")
    if svc.scheduler.lower() not in sched.SCHEDULER_NAMES:
        raise Unsupported(f"{key}: unknown scheduler {svc.scheduler!r}")
    for d in svc.destinations:
        check_dest(key, d)


def check_dest(key: ServiceKey, d: Destination) -> None:
    if d.forward is not Forward.NAT:
        raise Unsupported(f"{key}: real server {d.key} uses {d.forward.value} forwarding; the proxy data "
                          "plane forwards as a full proxy (NAT) only (use --dataplane ipvs for DR/TUN)")
    if d.key.addr.version != key.family:
        raise Unsupported(f"{key}: real server {d.key} is not IPv{key.family}")


class DestState:
    """One real server inside one worker: settings, live counts, overload flag, cumulative counters."""

    __slots__ = (
        "active",
        "closing",
        "family",
        "forward",
        "inactive",
        "key",
        "l_threshold",
        "others_active",
        "others_inactive",
        "overloaded",
        "persistent",
        "removed",
        "sockaddr",
        "stats",
        "u_threshold",
        "weight",
    )

    def __init__(self, d: Destination) -> None:
        self.key = d.key
        self.weight = d.weight
        self.u_threshold = d.u_threshold
        self.l_threshold = d.l_threshold
        self.forward = d.forward
        self.family = d.key.addr.version
        self.sockaddr: tuple[Any, ...] = ((str(d.key.addr), d.key.port) if self.family == 4
                                          else (str(d.key.addr), d.key.port, 0, 0))
        self.active = 0
        self.inactive = 0
        self.others_active = 0
        self.others_inactive = 0
        self.overloaded = False
        #: persistence templates pointing here
        self.persistent = 0
        #: conns, inpkts, outpkts, inbytes, outbytes: updated in place by the forwarding engine
        self.stats = [0, 0, 0, 0, 0]
        self.removed = False
        #: TCP connections closed per second (a ring of TIME_WAIT + 2 seconds), still counted as inactive
        self.closing = [0] * _RING

    def destination(self) -> Destination:
        return Destination(self.key, self.weight, self.forward, self.u_threshold, self.l_threshold)

    def view(self) -> sched.Dest:
        return sched.Dest(self.key, self.weight, self.active + self.others_active,
                          self.inactive + self.others_inactive, self.overloaded, self.u_threshold,
                          self.l_threshold, None, self.key.addr, self.key.port)


class _Template:
    __slots__ = ("controlled", "dest", "expires")

    def __init__(self, dest: DestState, expires: float) -> None:
        self.dest = dest
        self.expires = expires
        self.controlled = 0


class ServiceDispatch:
    """One virtual service in one worker: its destinations in kernel order and its scheduler."""

    def __init__(self, svc: Service, *, rng: Callable[[], random.Random] | None = None) -> None:
        check_supported(svc)
        self.key = svc.key
        self._rng = rng
        self.service = svc
        self.dests: list[DestState] = []
        self.by_key: dict[DestKey, DestState] = {}
        self._by_id: dict[int, DestState] = {}
        self.templates: dict[int, _Template] = {}
        #: the last second whose closed connections stopped counting as inactive
        self._swept: int | None = None
        #: the persistence template the last pick() used or created (None without persistence)
        self.last_template: _Template | None = None
        self._set(svc)
        for d in svc.destinations:  # a whole service at once (loading a table): config order, head-inserted
            self.add_dest(d)

    # -- settings -------------------------------------------------------------------------------
    def _set(self, svc: Service) -> None:
        self.service = Service(svc.key, svc.scheduler, frozenset(svc.flags), svc.persistence_timeout,
                               svc.persistence_netmask, ())
        name = svc.scheduler.lower()
        self.scheduler = sched.make_scheduler(name, svc.flags, rng=self._rng() if self._rng else None)
        self.count_driven = name in COUNT_DRIVEN
        self.client_hashed = name in CLIENT_HASHED
        self.timeout = float(svc.persistence_timeout)
        bits = 32 if svc.key.family == 4 else 128
        prefix = svc.persistence_netmask if svc.persistence_netmask is not None else bits
        self.mask = ((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1)
        for t in self.templates.values():
            t.dest.persistent -= 1
        self.templates.clear()
        vip = svc.key.addr
        assert vip is not None
        #: rr, wrr, lc-type, dh, lblc(r) never look at the client: one flow serves every pick
        self._fixed_flow = sched.Flow("::" if svc.key.family == 6 else "0.0.0.0", 0, vip, svc.key.port,
                                      svc.key.protocol)
        self._views: list[sched.Dest] | None = None

    def edit(self, svc: Service) -> None:
        """EditService: new settings; the scheduler starts afresh (as the kernel's on a scheduler change)."""
        check_supported(Service(svc.key, svc.scheduler, svc.flags))
        self._set(svc)
        self.scheduler.update(self._current_views())

    def add_dest(self, d: Destination) -> None:
        check_dest(self.key, d)
        if d.key in self.by_key:
            self.edit_dest(d)
            return
        st = DestState(d)
        self.dests.insert(0, st)  # the kernel's list_add_rcu: new destinations at the head
        self.by_key[d.key] = st
        self._changed()

    def edit_dest(self, d: Destination) -> None:
        check_dest(self.key, d)
        st = self.by_key[d.key]
        st.weight, st.u_threshold, st.l_threshold = d.weight, d.u_threshold, d.l_threshold
        self._changed()

    def del_dest(self, key: DestKey) -> None:
        st = self.by_key.pop(key)
        st.removed = True
        self.dests.remove(st)
        for k in [k for k, t in self.templates.items() if t.dest is st]:
            del self.templates[k]
        self._changed()

    def _changed(self) -> None:
        self._views = None
        #: the schedulers hand back the key objects of the views: found by identity, not by hashing a
        #: DestKey (a Python-level hash of an address, per connection)
        self._by_id = {id(d.key): d for d in self.dests}
        self.scheduler.update(self._current_views())

    def _current_views(self) -> list[sched.Dest]:
        return [d.view() for d in self.dests]

    def table_service(self) -> Service:
        """The service as the checker process reads it back (destinations sorted, as every data plane)."""
        return Service(self.key, self.service.scheduler, self.service.flags, self.service.persistence_timeout,
                       self.service.persistence_netmask,
                       tuple(sorted((d.destination() for d in self.dests), key=lambda d: d.key)))

    def dest_order(self) -> list[DestKey]:
        """Kernel list order (what makes rr/wrr/lc ties and the hash tables come out as IPVS's)."""
        return [d.key for d in self.dests]

    def set_others(self, counts: Mapping[DestKey, tuple[int, int]]) -> None:
        """The other workers' (active, inactive) per destination: what lc-type schedulers add to ours."""
        for d in self.dests:
            a, i = counts.get(d.key, (0, 0))
            d.others_active, d.others_inactive = a, i
        self._views = None

    # -- picking --------------------------------------------------------------------------------
    def pick(self, client: str, client_port: int, now: float) -> DestState | None:
        """The destination of a new connection from ``client``:``client_port`` (a persistent client's
        template first), or None when no destination may take it."""
        self.last_template = None
        if self.timeout:
            net = int(ipaddress.ip_address(client)) & self.mask
            t = self.templates.get(net)
            if t is not None:
                if not t.dest.removed and (t.expires > now or t.controlled):
                    t.expires = now + self.timeout
                    self.last_template = t
                    return t.dest
                t.dest.persistent -= 1
                del self.templates[net]
            d = self._schedule(client, client_port, now)
            if d is not None:
                self.last_template = self.templates[net] = _Template(d, now + self.timeout)
                d.persistent += 1
            return d
        return self._schedule(client, client_port, now)

    def _schedule(self, client: str, client_port: int, now: float) -> DestState | None:
        views = self._views
        if views is None:
            views = self._views = self._current_views()
        elif self.count_driven:  # a new view only for the destinations whose counts moved
            for i, st in enumerate(self.dests):
                v = views[i]
                if (v.active_conns != st.active + st.others_active
                        or v.inactive_conns != st.inactive + st.others_inactive):
                    views[i] = st.view()
        flow = (sched.Flow(client, client_port, self.key.addr, self.key.port, self.key.protocol)  # type: ignore[arg-type]
                if self.client_hashed else self._fixed_flow)
        key = self.scheduler.pick(flow, views, now)
        if key is None:
            return None
        d = self._by_id.get(id(key))
        return d if d is not None else self.by_key[key]  # type: ignore[index]

    # -- connection accounting (the forwarding engine calls these) --------------------------------
    def bound(self, d: DestState, template: _Template | None, *, active: bool) -> None:
        """A connection to ``d`` was opened (``active``: TCP, else a UDP flow); ``template`` is
        :attr:`last_template` of the pick that chose it."""
        if active:
            d.active += 1
        else:
            d.inactive += 1
        d.stats[0] += 1
        if template is not None:
            template.controlled += 1
        if d.u_threshold or d.overloaded:
            self._overload(d, added=True)

    def unbound(self, d: DestState, template: _Template | None, *, active: bool) -> None:
        """That connection closed (or the UDP flow expired)."""
        if active:
            d.active -= 1
        else:
            d.inactive -= 1
        if template is not None and template.controlled:
            template.controlled -= 1
        if d.u_threshold or d.overloaded:
            self._overload(d, added=False)

    def linger(self, d: DestState, now: float) -> None:
        """A TCP connection to ``d`` ended (after :meth:`unbound`): inactive for :data:`TIME_WAIT` s."""
        d.inactive += 1
        d.closing[int(now) % _RING] += 1

    def _overload(self, d: DestState, *, added: bool) -> None:
        flag = sched.overload_after(d.view(), conn_added=added)
        if flag != d.overloaded:
            d.overloaded = flag
            self._views = None

    def expire(self, now: float) -> None:
        """Drop persistence templates that timed out and control no connection; closed connections
        older than :data:`TIME_WAIT` stop counting as inactive."""
        target = int(now) - TIME_WAIT
        # (after a stall of more than two seconds, slots shared with newer seconds empty a little early)
        start = target if self._swept is None else max(self._swept, target - TIME_WAIT)
        for sec in range(start + 1, target + 1):
            slot = sec % _RING
            for d in self.dests:
                if d.closing[slot]:
                    d.inactive -= d.closing[slot]
                    d.closing[slot] = 0
                    self._views = None
        self._swept = target
        for k in [k for k, t in self.templates.items() if t.expires <= now and not t.controlled]:
            self.templates.pop(k).dest.persistent -= 1


def dispatch_table(services: Iterable[ServiceDispatch]) -> dict[ServiceKey, ServiceDispatch]:
    return {s.key: s for s in services}
