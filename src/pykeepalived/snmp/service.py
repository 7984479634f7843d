"""SNMP in the daemon: the AgentX subagent the supervisor runs, fed by its merged status snapshot.

Enabled as keepalived enables it: ``-x`` turns on every part (VRRP, checker, RFC 2787, RFC 6527);
``enable_snmp_vrrp`` / ``enable_snmp_checker`` / ``enable_snmp_rfc`` (``rfcv2``, ``rfcv3``) one by one;
``enable_traps`` sends keepalived's notifications; the master agent's socket is ``-A FILE`` or
``snmp_socket`` (net-snmp's default ``unix:/var/agentx/master``).

The subagent answers from a view rebuilt from a fresh snapshot at least every :data:`POLL` seconds (the
master agent waits one second for an answer; a snapshot asks both children), and at once when the
daemon's change signal moves (``status.changes``: a child's instance changed state or got a bad advert,
a real server's health or a virtual server's quorum changed; the supervisor then reads again only the
child whose signal moved): traps leave at the moment of the change, as keepalived sends them, not at the
next poll.  A flood of changes is folded: snapshots at most every :data:`MIN_GAP` seconds (or the time
the last one took).  Traps come from comparing consecutive snapshots: an instance's or sync group's
state, an instance becoming master (vrrpTrapNewMaster, vrrpv3NotifyNewMaster), a real server's health,
a virtual server's quorum, and each advert that failed authentication (vrrpTrapAuthFailure) or had a
protocol error (vrrpv3NotifyProtoError) — with keepalived's varbinds (:func:`traps`, pure).

keepalived sends the last two once per bad packet, without limit.  Here each bad advert gets its own
trap too (the VRRP process keeps the latest ``vrrp.packet.ERROR_RING`` of each kind with their details),
but at most :data:`ERROR_TRAP_BURST` per instance and kind in :data:`ERROR_TRAP_INTERVAL` seconds and
:data:`ERROR_TRAP_TOTAL` in all (a hostile peer sending a flood of bad adverts must not make us flood
the master agent): the others are counted (``TrapState.suppressed``; ``TrapState.unseen`` for those that
came faster than the status was read, beyond the ring) and logged, at most once per interval.  A
misconfigured peer at keepalived's default advert_int (one bad advert a second) still gets every trap.

SETs are keepalived's (:mod:`pykeepalived.snmp.writes`): the service tests them against its current view
and, committed, hands each one to ``apply`` (the supervisor turns them into runtime-API commands for
its children); it then refreshes the view at once, so the next GET shows the change.  They last as
keepalived's do: until the next reload (``snmp.writes``).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import math
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from pykeepalived.config.model import Config
from pykeepalived.config.model_lvs import VirtualServer
from pykeepalived.config.model_vrrp import VrrpInstance
from pykeepalived.ratelimit import LogLimiter
from pykeepalived.snmp import agentx, mib, writes
from pykeepalived.snmp.agent import Subagent
from pykeepalived.snmp.agentx import (
    OID,
    Gauge32,
    Integer,
    IpAddress,
    MibView,
    OctetString,
    VarBind,
)
from pykeepalived.status.changes import ChangeSignal
from pykeepalived.status.snapshot import Health, PacketError, Snapshot

log = logging.getLogger("pykeepalived.snmp")

#: the view is rebuilt (and traps looked for) at least this often, whatever the change signal says
POLL = 1.0
#: ... and on a change, but no sooner than this (or the time the last snapshot took) after the last one
MIN_GAP = 0.05
#: error traps (vrrpTrapAuthFailure, vrrpv3NotifyProtoError) sent per instance and kind in an interval, and
#: in all: a misconfigured peer (one bad advert per advert_int) gets them all, a flood does not
ERROR_TRAP_BURST = 20
ERROR_TRAP_TOTAL = 100
ERROR_TRAP_INTERVAL = 10.0
#: keepalived's vrrpInstanceStateChange state values (4 unknown, 5 stop)
TRAP_STATE = {"INIT": 0, "BACKUP": 1, "MASTER": 2, "FAULT": 3, "STOP": 5}


@dataclass(frozen=True)
class Parts:
    vrrp: bool = False
    checker: bool = False
    rfcv2: bool = False
    rfcv3: bool = False
    traps: bool = False

    @property
    def any(self) -> bool:
        return self.vrrp or self.checker or self.rfcv2 or self.rfcv3

    def subtrees(self) -> list[OID]:
        """What keepalived registers: its global subtree with the VRRP (else the checker) part."""
        out: list[OID] = []
        if self.vrrp or self.checker:
            out.append(mib.GLOBAL)
        if self.vrrp:
            out.append(mib.VRRP)
        if self.checker:
            out.append(mib.CHECK)
        if self.rfcv2:
            out.append(mib.RFC2787)
        if self.rfcv3:
            out.append(mib.RFC6527)
        return out


def parts(config: Config, snmp_option: bool) -> Parts:
    g = config.global_defs
    return Parts(vrrp=g.enable_snmp_vrrp or snmp_option, checker=g.enable_snmp_checker or snmp_option,
                 rfcv2=g.enable_snmp_rfcv2 or snmp_option, rfcv3=g.enable_snmp_rfcv3 or snmp_option,
                 traps=g.enable_traps)


# -- traps (pure) ---------------------------------------------------------------------------------------

def _error_limit() -> LogLimiter:
    return LogLimiter(burst=ERROR_TRAP_BURST, interval=ERROR_TRAP_INTERVAL)


def _total_limit() -> LogLimiter:
    return LogLimiter(burst=ERROR_TRAP_TOTAL, interval=ERROR_TRAP_INTERVAL)


@dataclass
class TrapState:
    instances: dict[str, str] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    servers: dict[tuple[int, int], bool] = field(default_factory=dict)
    quorum: dict[int, bool] = field(default_factory=dict)
    #: per instance, the auth / protocol error counts of the last snapshot (``VrrpInstanceStatus.auth_errors``)
    auth_errors: dict[str, int] = field(default_factory=dict)
    proto_errors: dict[str, int] = field(default_factory=dict)
    #: error traps sent per (instance, kind) and in all, per ERROR_TRAP_INTERVAL
    error_limit: LogLimiter = field(default_factory=_error_limit)
    total_limit: LogLimiter = field(default_factory=_total_limit)
    #: error traps not sent: over the rate limit, and bad adverts no snapshot described (beyond the ring)
    suppressed: int = 0
    unseen: int = 0


Trap = tuple[OID, list[VarBind]]


def traps(config: Config, snap: Snapshot, seen: TrapState, p: Parts,
          interfaces: dict[str, mib.Interface], *, now: float) -> list[Trap]:
    """The notifications keepalived would have sent between the last snapshot and this one (``now``: the
    time on a monotonic clock, for the error traps' rate limit)."""
    out: list[Trap] = []
    rid = VarBind((*mib.GLOBAL, 2, 0), OctetString(mib.router_id(config)))
    status = {v.name: v for v in snap.vrrp}
    for inst in config.vrrp.instances:
        st = status.get(inst.name)
        if st is None:
            continue
        before = seen.instances.get(inst.name)
        if before == st.state:
            continue
        seen.instances[inst.name] = st.state
        if p.vrrp:
            out.append(((*mib.VRRP, 10, 0, 2), [
                VarBind((*mib.VRRP, 3, 1, 2), OctetString(inst.name)),
                VarBind((*mib.VRRP, 3, 1, 4), Integer(TRAP_STATE.get(st.state, 4))),
                VarBind((*mib.VRRP, 3, 1, 5), Integer(2 if inst.state == "MASTER" else 1)), rid]))
        if st.state == "MASTER":
            itf = interfaces.get(inst.interface or "")
            ifindex = itf.index if itf else 0
            primary = mib._primary(inst, interfaces)
            if p.rfcv2 and inst.version == 2 and inst.family == 4:
                out.append(((*mib.RFC2787, 0, 1), [
                    VarBind((*mib.RFC2787, 1, 3, 1, 7, ifindex, inst.virtual_router_id), IpAddress(primary))]))
            if p.rfcv3:
                atype = 1 if inst.family == 4 else 2
                ix = (ifindex, inst.virtual_router_id, atype)
                out.append(((*mib.RFC6527, 0, 1), [
                    VarBind((*mib.RFC6527, 1, 1, 1, 1, 3, *ix), OctetString(primary)),
                    # an INTEGER in keepalived's trap (snmp_varlist_add_variable ASN_INTEGER), as in the table
                    VarBind((*mib.RFC6527, 1, 2, 5, 1, 2, *ix), Integer(mib.new_master_reason(st)))]))
    for grp in config.vrrp.sync_groups:
        states = [status[n].state for n in grp.group if n in status]
        if not states:
            continue
        state = mib.group_state(states)
        if seen.groups.get(grp.name) == state:
            continue
        seen.groups[grp.name] = state
        if p.vrrp:
            out.append(((*mib.VRRP, 10, 0, 1), [
                VarBind((*mib.VRRP, 1, 1, 2), OctetString(grp.name)),
                VarBind((*mib.VRRP, 1, 1, 3), Integer(TRAP_STATE.get(state, 4))), rid]))
    out += error_traps(config, snap, seen, p, interfaces, now=now)
    if p.checker:
        out += _checker_traps(config, snap, seen, rid)
    return out if p.traps else []


def error_traps(config: Config, snap: Snapshot, seen: TrapState, p: Parts,
                interfaces: dict[str, mib.Interface], *, now: float) -> list[Trap]:
    """RFC 2787 vrrpTrapAuthFailure and RFC 6527 vrrpv3NotifyProtoError, one for each bad advert an instance
    got since the last snapshot (``VrrpInstanceStatus.recent_errors``), each about its own packet, as long as
    the rate limit allows (``now``: monotonic seconds); the others are counted in ``seen``.

    keepalived 2.2.7 sends one per bad packet, from its packet check (vrrp_check_packet): vrrpTrapAuthFailure
    with RFC 2787 (``enable_snmp_rfcv2``, ``enable_snmp_rfc`` or ``-x``) and ``enable_traps`` on, for a VRRPv2
    IPv4 instance with virtual addresses; vrrpv3NotifyProtoError with RFC 6527 and ``enable_traps``, for any
    instance with virtual addresses (Debian's build answers RFC 6527 for VRRPv2 instances too).  Its varbinds
    are indexed by the instance's own interface (a VMAC's, not its base's as the tables are) and VRID, the RFC
    6527 one also by address type, where the RFCs have scalars (``.0``).  A bad advert keepalived would not
    trap (switches off, no virtual address) is not counted as suppressed."""
    out: list[Trap] = []
    status = {v.name: v for v in snap.vrrp}
    for inst in config.vrrp.instances:
        st = status.get(inst.name)
        if st is None:
            continue
        new: list[PacketError] = []
        for kind, count, counts in (("auth", st.auth_errors, seen.auth_errors),
                                    ("proto", st.proto_errors, seen.proto_errors)):
            before = counts.get(inst.name, 0)
            if count < before:  # a new VRRP process (or a replaced instance) counts from 0 again
                before = 0
            counts[inst.name] = count
            fresh = [e for e in st.recent_errors if e.kind == kind and e.seq > before]
            if fresh and _trapped(inst, kind, p):
                seen.unseen += count - before - len(fresh)
                new += fresh
        if not new:
            continue
        itf = interfaces.get(inst.vmac.ifname if inst.vmac is not None else inst.interface or "")
        ifindex = itf.index if itf else 0
        vrid = inst.virtual_router_id
        for e in new:
            if not (seen.error_limit.allow((inst.name, e.kind), now)[0] and seen.total_limit.allow("all", now)[0]):
                seen.suppressed += 1
            elif e.kind == "auth":
                out.append(((*mib.RFC2787, 0, 2), [
                    VarBind((*mib.RFC2787, 1, 5, ifindex, vrid),
                            IpAddress(ipaddress.IPv4Address(e.src or 0).packed)),
                    VarBind((*mib.RFC2787, 1, 6, ifindex, vrid), Integer(e.code))]))
            else:
                out.append(((*mib.RFC6527, 0, 2), [
                    VarBind((*mib.RFC6527, 1, 2, 5, 1, 6, ifindex, vrid, 1 if inst.family == 4 else 2),
                            Integer(e.code))]))
    return out


def _trapped(inst: VrrpInstance, kind: str, p: Parts) -> bool:
    """Whether keepalived sends this kind of error trap for ``inst`` (see :func:`error_traps`)."""
    if not p.traps or not inst.virtual_ipaddress:
        return False
    if kind == "auth":
        return p.rfcv2 and inst.version == 2 and inst.family == 4
    return p.rfcv3


def _checker_traps(config: Config, snap: Snapshot, seen: TrapState, rid: VarBind) -> list[Trap]:
    out: list[Trap] = []
    c = mib.CHECK
    for vi, vs in enumerate(config.lvs.virtual_servers, 1):
        st = mib._service_status(snap, vs, config.lvs.virtual_server_groups)
        if st is None:
            continue
        health = {(d.key.addr, d.key.port): d.health for d in st.destinations}
        alive = {i: health.get((rs.ip, rs.port)) == Health.ALIVE for i, rs in enumerate(vs.real_servers)}
        up = sum(alive.values())

        def vs_binds(vs: VirtualServer = vs) -> list[VarBind]:
            b = [VarBind((*c, 3, 1, 2), Integer(3 if vs.group else 1 if vs.fwmark is not None else 2))]
            if vs.group:
                b.append(VarBind((*c, 3, 1, 3), OctetString(vs.group)))
            elif vs.fwmark is not None:
                b.append(VarBind((*c, 3, 1, 4), Gauge32(vs.fwmark)))
            elif vs.address is not None:
                b += [VarBind((*c, 3, 1, 5), Integer(1 if vs.address.version == 4 else 2)),
                      VarBind((*c, 3, 1, 6), OctetString(vs.address.packed)),
                      VarBind((*c, 3, 1, 7), Gauge32(_htons(vs.port)))]
            b.append(VarBind((*c, 3, 1, 8), mib.truth(vs.protocol is None or vs.protocol.value == "TCP")))
            return b

        for i, rs in enumerate(vs.real_servers):
            key = (vi, i)
            if seen.servers.get(key, True) == alive[i]:  # keepalived starts with every server up
                seen.servers[key] = alive[i]
                continue
            seen.servers[key] = alive[i]
            assert isinstance(rs.ip, ipaddress.IPv4Address | ipaddress.IPv6Address)
            out.append(((*c, 5, 0, 1), [
                VarBind((*c, 4, 1, 3), Integer(1 if rs.ip.version == 4 else 2)),
                VarBind((*c, 4, 1, 4), OctetString(rs.ip.packed)),
                VarBind((*c, 4, 1, 5), Gauge32(_htons(rs.port))),
                VarBind((*c, 4, 1, 6), mib.truth(alive[i])), *vs_binds(),
                VarBind((*c, 3, 1, 21), Gauge32(up)), VarBind((*c, 3, 1, 20), Gauge32(len(vs.real_servers))),
                rid]))
        q = st.quorum.up
        if seen.quorum.get(vi, True) != q:
            out.append(((*c, 5, 0, 2), [
                *vs_binds(), VarBind((*c, 3, 1, 23), Integer(1 if q else 2)),
                VarBind((*c, 3, 1, 22), Gauge32(vs.quorum)),
                VarBind((*c, 3, 1, 21), Gauge32(up)), VarBind((*c, 3, 1, 20), Gauge32(len(vs.real_servers))),
                rid]))
        seen.quorum[vi] = q
    return out


def _htons(port: int) -> int:
    """keepalived 2.2.7 puts htons(port) in its checker traps: on x86 that is the port byte-swapped."""
    return int.from_bytes(port.to_bytes(2, "big"), "little")


# -- when to look (pure) ----------------------------------------------------------------------------------

@dataclass
class Refresh:
    """When the trap watcher reads its next snapshot, and whether of everything (times: the loop's clock).

    A full snapshot at least every ``poll`` seconds; when a change is pending, one at once, but no sooner
    than ``max(min_gap, the last one's cost)`` after the last one began (a flood of changes is folded)."""

    poll: float = POLL
    min_gap: float = MIN_GAP
    last_start: float = -math.inf
    last_full: float = -math.inf
    last_cost: float = 0.0

    def wait(self, now: float, changed: bool) -> float:
        """Seconds from ``now`` until the next snapshot is due (``changed``: a change is pending)."""
        due = self.last_full + self.poll
        if changed:
            due = min(due, self.last_start + max(self.min_gap, self.last_cost))
        return max(0.0, due - now)

    def full(self, now: float) -> bool:
        """Whether the snapshot begun at ``now`` must read everything (the fallback poll is due)."""
        return now >= self.last_full + self.poll

    def taken(self, start: float, end: float, full: bool) -> None:
        self.last_start, self.last_cost = start, end - start
        if full:
            self.last_full = start


# -- the service ------------------------------------------------------------------------------------------

class SnmpService:
    """Runs the subagent and the trap watcher until cancelled; ``config`` may be replaced on reload.

    ``snapshot`` reads the whole status; ``changes`` (the daemon's change signal) wakes the watcher, which
    then reads ``changed_snapshot`` (the status, read again only where it changed) when given."""

    def __init__(self, config: Config, snapshot: Callable[[], Awaitable[Snapshot]], *, snmp_option: bool,
                 socket: str | None, apply: Callable[[writes.Write], Awaitable[None]] | None = None,
                 changes: ChangeSignal | None = None,
                 changed_snapshot: Callable[[], Awaitable[Snapshot]] | None = None) -> None:
        self.config = config
        self.snapshot = snapshot
        self.changed_snapshot = changed_snapshot
        self.changes = changes
        self.refresh = Refresh()
        #: set by the change signal: a snapshot is due (after Refresh's gap)
        self._wake = asyncio.Event()
        if changes is not None:
            changes.subscribe(self._wake.set)
        #: the error traps not sent (suppressed, unseen) when last logged, and when (the loop's clock)
        self._reported: tuple[int, int] = (0, 0)
        self._reported_at = -math.inf
        self.snmp_option = snmp_option
        self.started = time.time()
        self.parts = parts(config, snmp_option)
        self.apply = apply
        self.agent = Subagent(socket or config.global_defs.snmp_socket, self.parts.subtrees(),
                              setter=self if apply is not None else None)
        self.seen = TrapState()
        self.traps_sent = 0
        self.last_snapshot: Snapshot | None = None
        #: what the SETs that passed TestSet replace, for UndoSet (bounded: one entry per writable object)
        self._before: dict[agentx.OID, VarBind] = {}

    # -- SET (agent.Setter) ---------------------------------------------------------------------------------
    def test(self, vb: VarBind) -> int:
        error = writes.test(self.config, self.agent.view, vb)
        if not error:
            self._before[vb.oid] = VarBind(vb.oid, self.agent.view.get(vb.oid))
        return error

    async def commit(self, varbinds: Sequence[VarBind]) -> int:
        return await self._apply(varbinds, exact=False)

    async def undo(self, varbinds: Sequence[VarBind]) -> int:
        """Put back what the view showed at TestSet (keepalived's handlers have no undo: a commit "cannot
        fail" there; here a child may not answer, and the master then undoes the varbinds before it)."""
        return await self._apply([b for b in (self._before.get(vb.oid) for vb in varbinds) if b is not None],
                                 exact=True)

    async def _apply(self, varbinds: Sequence[VarBind], exact: bool) -> int:
        snap = self.last_snapshot if self.last_snapshot is not None else await self.snapshot()
        assert self.apply is not None
        for vb in varbinds:
            write = writes.plan(self.config, snap, vb, exact=exact)
            log.info("SNMP SET %s: %s %s", agentx.oid_text(vb.oid), write.what, write.value)
            await self.apply(write)
        if varbinds:
            await self._refresh()
        return 0

    async def _refresh(self) -> None:
        snap = await self.snapshot()
        self.last_snapshot = snap
        self.agent.view = self.view(snap, mib.read_interfaces())

    def view(self, snap: Snapshot, interfaces: dict[str, mib.Interface]) -> MibView:
        p = self.parts
        return mib.build(self.config, snap, interfaces, started=self.started, vrrp=p.vrrp,
                         checker=p.checker, rfcv2=p.rfcv2, rfcv3=p.rfcv3,
                         track_files=mib.read_track_files(self.config) if p.vrrp else None)

    async def run(self) -> None:
        log.info("Starting SNMP subagent")
        tasks = [asyncio.get_running_loop().create_task(self.agent.run()),
                 asyncio.get_running_loop().create_task(self._watch())]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in tasks:
                t.cancel()
            if self.changes is not None:
                self.changes.unsubscribe(self._wake.set)
            with contextlib.suppress(Exception):
                await self.agent.close()

    async def _watch(self) -> None:
        """Refresh the view, and send the traps the change since the last snapshot calls for: at every change
        (after :class:`Refresh`'s gap) and every POLL seconds anyway."""
        loop = asyncio.get_running_loop()
        while True:
            while (delay := self.refresh.wait(loop.time(), self._wake.is_set())) > 0:
                if self._wake.is_set():
                    await asyncio.sleep(delay)
                else:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()  # a change from now on asks for a newer snapshot than this one
            start = loop.time()
            full = self.refresh.full(start) or self.changed_snapshot is None
            try:
                snap = await (self.snapshot() if full or self.changed_snapshot is None else self.changed_snapshot())
                self.last_snapshot = snap
                interfaces = mib.read_interfaces()
                self.agent.view = self.view(snap, interfaces)
                if self.agent.connected.is_set():
                    for trap_oid, binds in traps(self.config, snap, self.seen, self.parts, interfaces,
                                                 now=loop.time()):
                        if await self.agent.notify(trap_oid, binds):
                            self.traps_sent += 1
            except Exception:  # a view or trap lost is logged, never fatal to the daemon
                log.exception("SNMP: building the MIB view or its traps failed")
            self.refresh.taken(start, loop.time(), full)
            self._report_suppressed(loop.time())

    def _report_suppressed(self, now: float) -> None:
        """One line per ERROR_TRAP_INTERVAL at most, when error traps were left unsent since the last."""
        counts = (self.seen.suppressed, self.seen.unseen)
        if counts == self._reported or now - self._reported_at < ERROR_TRAP_INTERVAL:
            return
        log.warning("SNMP: %d error traps (vrrpTrapAuthFailure, vrrpv3NotifyProtoError) not sent so far: %d over "
                    "the rate limit (%d per instance and kind, %d in all, per %g s), %d for bad adverts that came "
                    "faster than the status was read", sum(counts), counts[0], ERROR_TRAP_BURST, ERROR_TRAP_TOTAL,
                    ERROR_TRAP_INTERVAL, counts[1])
        self._reported, self._reported_at = counts, now
