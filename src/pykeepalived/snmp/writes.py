"""SNMP SET as keepalived 2.2.7 takes it: which objects, which values, which refusals, and what they ask of the daemon.

keepalived's write handlers (``vrrp/vrrp_snmp.c``, ``check/check_snmp.c``) accept exactly three objects:

* ``vrrpInstanceBasePriority`` (KEEPALIVED-MIB vrrp 3.1.7): a new base priority; the trackers' weights
  stay on top of it and the effective priority follows at once;
* ``vrrpInstancePreempt`` (3.1.13): true(1) clears ``nopreempt``, false(2) sets it;
* ``realServerWeight`` (check 4.1.7) of a real server (not of the sorry server's row): its weight.

Refusals (``tests/data/snmp/keepalived-2.2.7-set.txt`` is keepalived answering them):

* any other object, a row that does not exist, the sorry server's weight: notWritable;
* a value that is not an INTEGER: wrongType;
* keepalived reads the value through a ``u_char *``: only the INTEGER's low byte counts (on the
  little-endian machines it runs on).  A priority whose low byte is 0 (0, 256, …) is wrongValue, others
  wrap (300 is 44, -1 is 255); a preempt value must have 1 or 2 as its low byte (258 disables
  preemption); a weight is any INTEGER, its low byte is the weight (260 is 4, -1 is 255).
* ``vrrpInstanceAccept`` has a write handler for VRRPv3 instances only, and Debian's keepalived is
  built without ALLOW_SNMP_SET_ACCEPT, so it refuses with noAccess (read from the source; the reference
  walk has no VRRPv3 instance); of a VRRPv2 instance it is notWritable like any read-only object.

How long a SET lasts is keepalived 2.2.7's too: until the next reload.  keepalived's reload builds its instances
and real servers from the configuration again (``restore_vrrp_state`` carries the state and counters over, not
``base_priority`` nor ``nopreempt``; ``set_effective_weights`` sets each real server's weight to the configured one
plus its misc_dynamic checkers'), and so does its restart of a child.  Here the priority and preemption are
changed in the running instance (a reload builds it from the configuration), and the weight is the runtime
API's weight *until reload* (``lvs.overrides``), dropped by a reload and by a restart of the checker process,
unlike ``pykeepalived ctl weight``, which lasts until ``ctl reset``.

Pure: :func:`test` decides from the MIB view and the config, :func:`plan` says what the daemon must do.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pykeepalived.config.model import Config
from pykeepalived.lvs.overrides import format_service
from pykeepalived.snmp import mib
from pykeepalived.snmp.agentx import OID, Error, MibView, VarBind, VarType
from pykeepalived.status.snapshot import Snapshot

BASE_PRIORITY: OID = (*mib.VRRP, 3, 1, 7)
PREEMPT: OID = (*mib.VRRP, 3, 1, 13)
ACCEPT: OID = (*mib.VRRP, 3, 1, 27)
RS_WEIGHT: OID = (*mib.CHECK, 4, 1, 7)


@dataclass(frozen=True)
class Write:
    """What one SET asks of the daemon: ``priority`` / ``preempt`` of an instance, ``weight`` of a real
    server in each of its virtual server's services (runtime-API service and server strings), each until the
    next reload."""

    what: str
    value: int
    instance: str | None = None
    services: tuple[str, ...] = ()
    server: str | None = None


def _column(oid: OID, column: OID) -> tuple[int, ...] | None:
    """The index part of ``oid`` when it is an instance of ``column``."""
    return oid[len(column):] if oid[:len(column)] == column and len(oid) > len(column) else None


def test(config: Config, view: MibView, vb: VarBind) -> int:
    """keepalived's answer to one SET varbind, before anything changes: 0 or an SNMP error-status."""
    oid, value = vb.oid, vb.value
    if view.get(oid).type in (VarType.NO_SUCH_OBJECT, VarType.NO_SUCH_INSTANCE):
        return Error.NOT_WRITABLE
    ix = _column(oid, ACCEPT)
    if ix is not None and len(ix) == 1:
        insts = config.vrrp.instances
        v3 = 0 < ix[0] <= len(insts) and insts[ix[0] - 1].version == 3
        return Error.NO_ACCESS if v3 else Error.NOT_WRITABLE
    kind = next((k for k, col, n in (("priority", BASE_PRIORITY, 1), ("preempt", PREEMPT, 1),
                                     ("weight", RS_WEIGHT, 2))
                 if (i := _column(oid, col)) is not None and len(i) == n), None)
    if kind is None:
        return Error.NOT_WRITABLE
    if value.type != VarType.INTEGER or not isinstance(value.value, int):
        return Error.WRONG_TYPE
    low = value.value & 0xFF
    if kind == "priority" and low == 0:
        return Error.WRONG_VALUE
    if kind == "preempt" and low not in (1, 2):
        return Error.WRONG_VALUE
    return Error.NO_ERROR


def plan(config: Config, snap: Snapshot, vb: VarBind, exact: bool = False) -> Write:
    """What the daemon must do for a SET that passed :func:`test`: its value's low byte, as keepalived;
    ``exact``: the value itself (UndoSet putting back what the view showed)."""
    assert isinstance(vb.value.value, int)
    low = vb.value.value if exact else vb.value.value & 0xFF
    for what, col in (("priority", BASE_PRIORITY), ("preempt", PREEMPT)):
        ix = _column(vb.oid, col)
        if ix is not None:
            inst = config.vrrp.instances[ix[0] - 1]
            # preempt: true(1) enables; an exact value is the view's TruthValue, the same mapping
            return Write(what, low if what == "priority" else int(low == 1), instance=inst.name)
    ix = _column(vb.oid, RS_WEIGHT)
    assert ix is not None and len(ix) == 2
    vs = config.lvs.virtual_servers[ix[0] - 1]
    ri = ix[1] - (1 if vs.sorry_server is not None else 0)
    rs = vs.real_servers[ri - 1]
    ip = ipaddress.ip_address(rs.ip)
    server = f"[{ip}]:{rs.port}" if ip.version == 6 else f"{ip}:{rs.port}"
    services = tuple(format_service(st.service.key) for st in mib.service_statuses(snap, vs, config))
    return Write("weight", low, services=services, server=server)

