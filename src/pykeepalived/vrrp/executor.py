"""Carries out what the state machines decide, through an injected I/O interface.

``vrrp.fsm`` (grouped by ``vrrp.sync_group``) returns actions; :class:`Executor` performs them:

* ``SendAdvert``: encoded and sent at once, one packet per destination (the group, or each unicast
  peer), from the event that produced it: advert timing matters;
* ``AddVips`` / ``RemoveVips`` / ``SendGarps``: queued on one ordered effects queue and run there one
  after the other (netlink is asynchronous, and a GARP must not leave before its VIP exists).  GARP /
  NA frames are paced per interface by :class:`~.garp.GarpPacer` on the I/O's own clock.  The static
  addresses, routes and rules (``vrrp.reload.static_changes``) and a kept MASTER's changes on reload
  (``vrrp.reload.address_changes``) go through the same queue, the same way;
* ``Notify`` / ``NotifyEvent`` / ``GroupNotify``: handed to the notifier (scripts, FIFO, SMTP), which
  keeps their order; a state change is also passed to ``on_transition`` (the IPVS sync daemon follows
  one instance's state);
* ``Log``: logged in keepalived's words.

The executor keeps keepalived's ``set`` flags: which addresses, routes and rules each instance, and which
static ones the process, actually set.  What the kernel refused is not removed (nor its
refusal logged) again, and a reload adds again what was refused before.

The I/O (:class:`VrrpIO`) is the kernel in the daemon (``vrrp.runner``) and a recording fake with a
virtual clock in the tests.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from pykeepalived.config.render.vrrp import route_text

from . import packet as pkt
from .addresses import VipSpec
from .fsm import Action, AddVips, Log, Notify, NotifyEvent, RemoveVips, SendAdvert, SendGarps, State
from .garp import GarpPacer, RouterFlags
from .instances import InstanceRuntime, IPAddress, SockKey
from .notifier import state_name
from .reload import EntryChanges
from .stats import vip_text
from .sync_group import GroupNotify

if TYPE_CHECKING:
    from pykeepalived.config.model_vrrp import Route, Rule, VrrpInstance
    from pykeepalived.config.model_vrrp import SyncGroup as SyncGroupModel

log = logging.getLogger("pykeepalived.vrrp")

Effect = Callable[[], Awaitable[object]]

#: the name the static routes and rules are logged under
STATIC = "static"


class AdvertSocket(Protocol):
    """Where one instance's adverts leave (``vrrp.io.VrrpSocket``)."""

    def send(self, packet: bytes, dst: str | None = None, src: str | None = None,
             hop_limit: int | None = None) -> None: ...


class FrameSink(Protocol):
    """Raw Ethernet frames out of one interface (``vrrp.io.FrameSender``)."""

    mac: bytes

    def send(self, frame: bytes) -> None: ...


class VrrpIO(Protocol):
    """Everything the executor does to the outside world, and its clock."""

    def monotonic(self) -> float:
        """Seconds on the clock the GARP pacing uses."""

    def wall_time(self) -> float:
        """Seconds since the epoch (``last_transition`` in the dumps)."""

    async def sleep(self, seconds: float) -> None: ...

    def advert_socket(self, key: SockKey) -> AdvertSocket | None:
        """The open VRRP socket of ``key``, or None (it could not be opened)."""

    def frame_sender(self, ifname: str) -> FrameSink | None:
        """A sender of frames out of ``ifname``, or None (logged) when none can be opened."""

    async def set_vip(self, vip: VipSpec, add: bool) -> None:
        """Add or remove one address; raises OSError or LookupError."""

    async def change_routes_rules(self, owner: str, routes: Sequence[Route], rules: Sequence[Rule], add: bool,
                                  replace: bool = False) -> tuple[list[Route], list[Rule]]:
        """Add routes then rules, or remove rules then routes (``replace``: the routes replace those of the
        same key); failures are logged (under ``owner``), not raised.  Returns those added or found there
        (replaced), or removed."""

    async def ipv6_forwarding(self, ifname: str) -> bool:
        """``net.ipv6.conf.IFNAME.forwarding`` (False when unreadable)."""


class Announcer(Protocol):
    """State changes and events to announce (``vrrp.notifier.Notifier``)."""

    def instance_state(self, inst: VrrpInstance, state: State | str, priority: int) -> None: ...

    def instance_event(self, inst: VrrpInstance, event: str, priority: int) -> None: ...

    def group_state(self, group: SyncGroupModel, state: State) -> None: ...


class DropRules(Protocol):
    """What the executor asks of the firewall (``vrrp.firewall.Firewall``): keepalived's drop rules for the
    VIPs of a non-accept MASTER."""

    def accept_mode(self, rt: InstanceRuntime, add: bool) -> None: ...

    def reload_instance(self, old: InstanceRuntime, new: InstanceRuntime, before: bool) -> None: ...


class Executor:
    """Performs actions for instances; owns the ordered effects queue and the GARP pacing."""

    def __init__(self, io: VrrpIO, notifier: Announcer, *, dont_release_vrrp: bool = False,
                 garp_interval: float = 0.0, gna_interval: float = 0.0,
                 on_transition: Callable[[str, State], None] | None = None) -> None:
        self.io = io
        self.notifier = notifier
        #: keepalived's ``-V``: the VIPs stay in place when the process stops
        self.dont_release_vrrp = dont_release_vrrp
        self.pacer = GarpPacer(garp_interval, gna_interval)
        self.router_flags = RouterFlags()
        self.on_transition = on_transition
        #: set once the process stops: GARP rounds of instances no longer MASTER are cut short
        self.stopped = False
        #: keepalived's nftables drop rules (``vrrp.firewall.Firewall``), once some instance needs them
        self.firewall: DropRules | None = None
        #: keepalived's ``set`` flags: the addresses, routes and rules each instance (by name) and the static
        #: ones (owner None) set and not removed since
        self.set_flags: set[tuple[str | None, VipSpec | Route | Rule]] = set()
        self._effects: asyncio.Queue[Effect | None] = asyncio.Queue()

    # ------------------------------------------------------------------------------ actions

    def perform(self, rt: InstanceRuntime | None, action: Action, stopping: bool = False) -> None:
        """One action of instance ``rt`` (None: an instance that is gone; only logs are kept)."""
        if isinstance(action, Log):
            log.info("%s", action.message)
        elif rt is None:
            return
        elif isinstance(action, SendAdvert):
            self.send_advert(rt, action.priority)
        elif isinstance(action, AddVips):
            log.info("(%s) setting VIPs.", rt.name)
            self.effect(lambda: self.add_vips(rt))
        elif isinstance(action, RemoveVips):
            log.info("(%s) removing VIPs.", rt.name)
            if not (stopping and self.dont_release_vrrp):
                self.effect(lambda: self.del_vips(rt))
        elif isinstance(action, SendGarps):
            rounds, master = action.rounds, action.reason == "master"
            self.effect(lambda: self.garps(rt, rounds, becoming_master=master))
        elif isinstance(action, Notify):
            rt.last_transition = self.io.wall_time()
            self.notifier.instance_state(rt.model, action.state, action.priority)
            if self.on_transition is not None:
                self.on_transition(rt.name, action.state)
        elif isinstance(action, NotifyEvent):
            self.notifier.instance_event(rt.model, action.event, action.priority)

    def group_notify(self, group: SyncGroupModel, action: GroupNotify) -> None:
        log.info("VRRP_Group(%s) Entering %s STATE", action.group, state_name(action.state))
        self.notifier.group_state(group, action.state)

    def send_advert(self, rt: InstanceRuntime, priority: int) -> None:
        """Build and send now, one packet per destination (the group, or each unicast peer)."""
        if rt.advert is None or rt.src is None:
            return
        sock = self.io.advert_socket(rt.sock_key)
        if sock is None:
            return
        adv = rt.advert if priority == rt.advert.priority else replace(rt.advert, priority=priority)
        dsts: tuple[IPAddress, ...] = rt.peers if rt.peers else ((rt.group,) if rt.group is not None else ())
        ttl = (rt.model.unicast_ttl or pkt.VRRP_TTL) if rt.peers else pkt.VRRP_TTL
        for dst in dsts:
            try:
                if rt.family == socket.AF_INET:
                    sock.send(pkt.encode_ipv4(adv, rt.src, dst, rt.next_ip_id(), ttl))
                else:
                    sock.send(pkt.encode_payload(adv, rt.src, dst), str(dst), str(rt.src),
                              rt.model.unicast_ttl if rt.peers else None)
            except OSError as e:
                rt.send_errors += 1
                if rt.send_errors <= 3 or rt.send_errors % 100 == 0:
                    log.warning("(%s) sending advert to %s failed: %s", rt.name, dst, e.strerror or e)

    # ------------------------------------------------------------------------------ effects queue

    def effect(self, job: Effect) -> None:
        """Queue ``job`` behind every VIP change and GARP round queued before it."""
        self._effects.put_nowait(job)

    def finish(self) -> None:
        """No more effects: :meth:`run` returns once the queued ones are done."""
        self._effects.put_nowait(None)

    async def run(self) -> None:
        """The effects worker: VIP changes and GARP rounds, strictly in the order they were asked for."""
        while True:
            job = await self._effects.get()
            try:
                if job is None:
                    return
                await job()
            except Exception:
                log.exception("address change failed")
            finally:
                self._effects.task_done()

    async def flush(self) -> None:
        """Wait until every effect queued so far is done (needs :meth:`run` running)."""
        await self._effects.join()

    # ------------------------------------------------------------------------------ effects

    async def add_vips(self, rt: InstanceRuntime) -> None:
        """VIPs and eVIPs, then virtual_routes and virtual_rules (which may need the VIPs).

        A non-accept instance's drop rules go in first, as keepalived's ``vrrp_handle_accept_mode``."""
        if self.firewall is not None:
            self.firewall.accept_mode(rt, True)
        for vip in rt.vips + rt.evips:
            await self.address(rt.name, vip, add=True)
        await self.routes_rules(rt.name, rt.model.virtual_routes, rt.model.virtual_rules, True)

    async def del_vips(self, rt: InstanceRuntime) -> None:
        """The reverse of :meth:`add_vips`: rules and routes first, then the addresses."""
        await self.routes_rules(rt.name, rt.model.virtual_routes, rt.model.virtual_rules, False)
        for vip in rt.vips + rt.evips:
            await self.address(rt.name, vip, add=False)
        if self.firewall is not None:
            self.firewall.accept_mode(rt, False)

    async def routes_rules(self, owner: str, routes: Sequence[Route], rules: Sequence[Rule], add: bool) -> None:
        """An instance's routes and rules in or out; only those it set come out."""
        if not add:
            routes = [r for r in routes if (owner, r) in self.set_flags]
            rules = [r for r in rules if (owner, r) in self.set_flags]
        done_routes, done_rules = await self.io.change_routes_rules(owner, routes, rules, add)
        entries: list[Route | Rule] = [*done_routes, *done_rules] if add else [*routes, *rules]
        if add:
            self.set_flags.update((owner, r) for r in entries)
        else:
            self.set_flags.difference_update((owner, r) for r in entries)

    async def address(self, owner: str | None, vip: VipSpec, add: bool) -> bool:
        """One address of instance ``owner`` (None: a static one) in or out, its set flag kept; a failure
        is logged and leaves it unset.  True if done."""
        try:
            await self.io.set_vip(vip, add)
        except (OSError, LookupError) as e:
            verb, prep = ("add", "to") if add else ("remove", "from")
            if owner is None:
                log.error("cannot %s static address %s %s %s: %s", verb, vip.address, prep, vip.dev, e)
            else:
                log.error("(%s) cannot %s %s %s %s: %s", owner, verb, vip.address, prep, vip.dev, e)
            self.set_flags.discard((owner, vip))
            return False
        (self.set_flags.add if add else self.set_flags.discard)((owner, vip))
        return True

    async def restore_static(self, vip: VipSpec) -> None:
        """A static address deleted by another program, set again (keepalived's ``reinstate_static_address``),
        unless a reload removed it meanwhile."""
        if (None, vip) not in self.set_flags:
            return
        done = await self.address(None, vip, add=True)
        log.info("Restoring deleted static address %s", vip_text(vip, done))

    async def restore_static_route(self, route: Route) -> None:
        """A static route deleted by another program, set again (keepalived's ``reinstate_static_route``), unless a
        reload removed it meanwhile."""
        if (None, route) not in self.set_flags:
            return
        done, _ = await self.io.change_routes_rules(STATIC, [route], [], True)
        if not done:
            self.set_flags.discard((None, route))
        log.info("Restoring deleted static route %s", route_text(route))

    async def garps(self, rt: InstanceRuntime, rounds: int, only: Sequence[VipSpec] | None = None,
                    becoming_master: bool = False) -> None:
        """GARP / unsolicited NA rounds, paced per interface by vrrp_garp_interval / vrrp_gna_interval.

        NAs carry the Router flag when the interface forwards IPv6 (re-read on becoming MASTER)."""
        targets = list(only) if only is not None else rt.vips + rt.evips
        for vip in targets:
            kind = "gratuitous ARPs" if vip.address.version == 4 else "unsolicited neighbour advertisements"
            log.info("(%s) Sending/queueing %s on %s for %s", rt.name, kind, vip.dev, vip.address.ip)
        for dev in {v.dev for v in targets if v.address.version == 6}:
            await self._refresh_router_flag(dev, force=becoming_master)
        for _ in range(rounds):
            for vip in targets:
                if self.stopped and rt.fsm.state is not State.MASTER:
                    return
                fs = self.io.frame_sender(vip.dev)
                if fs is None:
                    continue
                v4 = vip.address.version == 4
                wait = self.pacer.wait(vip.dev, v4, self.io.monotonic())
                if wait > 0:
                    await self.io.sleep(wait)
                if not v4:
                    await self._refresh_router_flag(vip.dev)
                frame = (pkt.build_garp(fs.mac, vip.address.ip) if v4  # type: ignore[arg-type]
                         else pkt.build_unsolicited_na(fs.mac, vip.address.ip,  # type: ignore[arg-type]
                                                       router=self.router_flags.router(vip.dev)))
                try:
                    fs.send(frame)
                except OSError as e:
                    log.warning("(%s) GARP on %s failed: %s", rt.name, vip.dev, e.strerror)
                self.pacer.sent(vip.dev, self.io.monotonic())

    async def _refresh_router_flag(self, ifname: str, force: bool = False) -> None:
        """Re-read whether ``ifname`` forwards IPv6 when the reading is stale (see :mod:`.garp`)."""
        if self.router_flags.stale(ifname, self.io.monotonic(), force):
            now = self.io.monotonic()
            self.router_flags.update(ifname, now, await self.io.ipv6_forwarding(ifname))

    async def change_addresses(self, old: InstanceRuntime, rt: InstanceRuntime, changes: EntryChanges) -> None:
        """A kept MASTER's reload (``vrrp.reload.address_changes``): its removals then its additions, as the
        static entries'; a GARP round for the addresses added.  The drop rules of a non-accept instance
        follow: the new VIPs' in before any address is added, the old ones no longer blocked out after."""
        if self.firewall is not None:
            self.firewall.reload_instance(old, rt, before=True)
        removed = await self.remove_entries(rt.name, changes)
        added = await self.add_entries(rt.name, changes)
        if self.firewall is not None:
            self.firewall.reload_instance(old, rt, before=False)
        if removed or added:
            log.info("(%s) reload: %d VIP(s) removed, %d added", rt.name, len(removed), len(added))
        if added:
            await self.garps(rt, 1, added)

    # ------------------------------------------------------------------------------ a reload's entries, statics

    async def remove_entries(self, owner: str | None, changes: EntryChanges) -> list[VipSpec]:
        """The removals of ``changes`` for instance ``owner`` (None: the static entries): rules, routes (or
        their replacement by a new line), addresses.  Returns the addresses removed."""
        name = STATIC if owner is None else owner
        rules = [r for r in changes.remove_rules if changes.force_rules or (owner, r) in self.set_flags]
        await self.io.change_routes_rules(name, [], rules, False)
        for old, new in changes.remove_routes:
            if (owner, old) not in self.set_flags:
                continue
            self.set_flags.discard((owner, old))
            if new is not None and (await self.io.change_routes_rules(name, [new], [], True, replace=True))[0]:
                self.set_flags.add((owner, new))
                continue
            await self.io.change_routes_rules(name, [old], [], False)
        removed = []
        for vip in changes.remove_addresses:
            if changes.force_addresses or (owner, vip) in self.set_flags:
                if changes.reload:
                    # keepalived names no instance for a static one: its (NULL) name is printed as "(null)"
                    log.info("(%s) ip address %s/%d dev %s, no longer exist", owner or "(null)", vip.address.ip,
                             vip.address.network.prefixlen, vip.dev)
                if await self.address(owner, vip, add=False):
                    removed.append(vip)
        self.set_flags.difference_update((owner, r) for r in rules)
        for old_entry, new_entry in changes.kept:
            if (owner, old_entry) in self.set_flags:
                self.set_flags.discard((owner, old_entry))
                self.set_flags.add((owner, new_entry))
        return removed

    async def add_entries(self, owner: str | None, changes: EntryChanges) -> list[VipSpec]:
        """The additions of ``changes`` for instance ``owner`` (None: the static entries): addresses, routes,
        rules, each unless set already (routes: unless ``force_routes``).  Returns the addresses added."""
        added = [vip for vip in changes.add_addresses
                 if (owner, vip) not in self.set_flags and await self.address(owner, vip, add=True)]
        routes, rules = await self.io.change_routes_rules(
            STATIC if owner is None else owner,
            [r for r in changes.add_routes if changes.force_routes or (owner, r) not in self.set_flags],
            [r for r in changes.add_rules if (owner, r) not in self.set_flags], True)
        done: list[Route | Rule] = [*routes, *rules]
        self.set_flags.update((owner, r) for r in done)
        return added
