"""keepalived's MIBs as keepalived 2.2.7 serves them, built from the config and one status snapshot.

KEEPALIVED-MIB (1.3.6.1.4.1.9586.100.5: global 1, vrrp 2, check 3), VRRP-MIB (RFC 2787, 1.3.6.1.2.1.68)
and VRRPV3-MIB (RFC 6527, 1.3.6.1.2.1.207).  Columns, indexes and encodings follow keepalived's
``core/snmp.c``, ``vrrp/vrrp_snmp.c`` and ``check/check_snmp.c`` (v2.2.7); the reference walks of
keepalived itself are ``tests/data/snmp/keepalived-2.2.7-walk*.txt`` (``-rich`` and ``-track``: every
table below has rows; ``-routes``: every route and nexthop column).  keepalived's quirks are kept where a
walk shows them:

* ``vrrpAddressAdvertising`` is true only for the first instance's VIPs (its iterator sets the flag once,
  before them); static addresses (instance index 0) are never "advertising".
* RFC 2787's per-router tables show only the row with the lowest (ifIndex, VRID) (an operator-precedence
  slip skips every row once the walk has an index).
* ``vrrpInstanceTrackPrimaryIf`` is true when the instance has a track_interface list, whatever
  ``dont_track_primary`` says; a track_interface of the instance's own interface is dropped.
* In vrrpTrackedInterfaceTable and syncGroupTrackedInterfaceTable the name is column 1 (2 in every
  other table); the weight shown is the configured one, even where keepalived's tracking ignores it.
* Static addresses, routes and rules are the rows with instance index 0 of the instances' tables.
* Script commands (vrrpScriptCommand, notify scripts, quorum/notify_up scripts) are keepalived's
  ``cmd_str_r``: every word in single quotes, the program as script security resolved it
  (``/bin/true`` is ``/usr/bin/true`` on a merged-/usr system).
* vrrpRouteProtocol is the route's protocol number plus one (19 for keepalived's own 18), absent for a
  route given ``no_track`` without a protocol (keepalived gives its protocol to the routes it means to track).
* vrrpRouteQuickAck is true whenever ``quickack`` is given, ``quickack 0`` too.
* vrrpRouteAdvmss is shown only for a route with ``hoplimit`` (0 without ``advmss``); vrrpRouteAdvmssLock for
  a route with ``advmss``.
* vrrpRouteRTT and vrrpRouteRTTvar are keepalived's 1/8 and 1/4 ms divided back to ms (a bare number is taken
  in those units; with ``s``/``ms`` it is multiplied), clamped like vrrpRouteRTOMin to 200 ms .. 120 s.
* vrrpRoutePref: low 1, medium 2, high 3, 0 for any other number given.
* vrrpRouteRealmDst (TO) is shown whenever realms are set (0 for ``realms FROM/0``), vrrpRouteRealmSrc when
  FROM is not 0; the same in vrrpRouteNextHopTable.
* vrrpRouteEncapMplsLabels is each label stack entry as it sits in memory (network order, bottom-of-stack
  bit on the last label) read as a little-endian number, ``/``-separated; vrrpRouteEncapIlaLocator is the
  locator's 8 bytes (network order) read as a little-endian number.
* vrrpRouteNextHopTable has no encapsulation columns: keepalived's handler compares them with the route
  table's column numbers, which never match.
* A virtual server of a virtual_server_group (or a fwmark) has no address family of its own, so both
  persistence-granularity columns show: the IPv4 mask (15) and the same 4 bytes as a number (51); the
  address type comes from the service's family, address and port are absent.
* virtualServerGroupMemberTable lists a group's fwmarks first, then its addresses and ranges.
* vrrpTrackedFileTable and syncGroupTrackedFileTable show the track_file's own weight and reverse flag,
  not the ones the instance or group tracks it with.
* vrrpRouteNextHopTable is indexed (instance, route, nexthop), static routes being instance 0.
* vrrpTrackedBfdTable, syncGroupTrackedBfdTable, vrrpTrackedProcessTable and syncGroupTrackedProcessTable
  show, as the file tables do, the bfd_instance's or vrrp_track_process's own weight and reverse flag.
* vrrpBfdTable lists every bfd_instance but those given to the checker only (``checker`` without ``vrrp``);
  vrrpBfdResult is keepalived's ``bfd_up`` as a plain number (1 up, 0 down), not a TruthValue.
* vrrpProcessTable lists every vrrp_track_process, tracked or not.  vrrpProcessParams is the arguments
  joined by spaces ("" without); vrrpProcessParamMatch is 0 without arguments, 1 (exact) for arguments
  without ``param_match``, 2 initial, 3 partial; vrrpProcessFullCommand is true with arguments or
  ``param_match`` too; vrrpProcessQuorumMax is -1 when unset (keepalived's UINT_MAX in an INTEGER), and
  ``quorum_max 0`` makes vrrpProcessQuorum 0; the delays are in microseconds (``delay`` sets both);
  vrrpProcessCurProc is the processes matching at the last scan, vrrpProcessResult the quorum verdict.

The base priority and preemption columns show what a SET (:mod:`pykeepalived.snmp.writes`) left, as
keepalived's do; vrrpInstanceWantedState is the state machine's wantstate.

Everything is pure: :func:`build` takes the config, the snapshot, the interfaces (name -> index, MAC)
and the subagent's start time, and returns a :class:`~pykeepalived.snmp.agentx.MibView`.
"""

from __future__ import annotations

import fcntl
import functools
import ipaddress
import os
import re
import shutil
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from pykeepalived import __version__
from pykeepalived.config.model import Config
from pykeepalived.config.model_lvs import RealServer, VirtualServer, VirtualServerGroup
from pykeepalived.config.model_vrrp import Route, Rule, TrackRef, VirtualAddress, VrrpInstance
from pykeepalived.config.route_options import Encap, NextHop, nexthop, route_options
from pykeepalived.lvs.model import Counters
from pykeepalived.snmp.agentx import (
    OID,
    Counter32,
    Counter64,
    Gauge32,
    Integer,
    IpAddress,
    MibView,
    OctetString,
    TimeTicks,
    Value,
)
from pykeepalived.status.snapshot import DestinationStatus, Health, Snapshot, VirtualServiceStatus, VrrpInstanceStatus

KEEPALIVED: OID = (1, 3, 6, 1, 4, 1, 9586, 100, 5)
GLOBAL = (*KEEPALIVED, 1)
VRRP = (*KEEPALIVED, 2)
CHECK = (*KEEPALIVED, 3)
RFC2787: OID = (1, 3, 6, 1, 2, 1, 68)
RFC6527: OID = (1, 3, 6, 1, 2, 1, 207)

VERSION = f"pykeepalived {__version__} (keepalived 2.2.7 compatible)"
#: KEEPALIVED-MIB vrrpInstanceState / vrrpSyncGroupState
KA_STATE = {"INIT": 0, "BACKUP": 1, "MASTER": 2, "FAULT": 3, "STOP": 0}
#: RFC 2787 vrrpOperState: initialize(1) backup(2) master(3)
RFC_STATE = {"INIT": 1, "BACKUP": 2, "MASTER": 3, "FAULT": 1, "STOP": 1}
SCHEDULERS = {"rr": 1, "wrr": 2, "lc": 3, "wlc": 4, "lblc": 5, "lblcr": 6, "dh": 7, "sh": 8, "sed": 9, "nq": 10,
              "fo": 11, "ovf": 12, "mh": 13, "twos": 14}
PROTOCOLS = {"TCP": 1, "UDP": 2, "SCTP": 3}
METHODS = {"NAT": 1, "DR": 2, "TUN": 3}
SCOPES = {None: 14, "global": 14, "site": 5, "link": 2, "host": 1, "nowhere": 0}


@dataclass(frozen=True)
class Interface:
    index: int
    mac: bytes
    ipv4: bytes = b""  # the interface's (first) IPv4 address


def truth(v: object) -> Value:
    """SNMPv2-TC TruthValue: true(1) false(2)."""
    return Integer(1 if v else 2)


def read_interfaces() -> dict[str, Interface]:
    """This namespace's interfaces from /sys (index and hardware address)."""
    out: dict[str, Interface] = {}
    try:
        names = socket.if_nameindex()
    except OSError:
        return out
    for index, name in names:
        try:
            with open(f"/sys/class/net/{name}/address") as f:
                mac = bytes.fromhex(f.read().strip().replace(":", ""))
        except (OSError, ValueError):
            mac = b""
        out[name] = Interface(index, mac, _ipv4_of(name))
    return out


def read_track_files(config: Config) -> dict[str, int]:
    """Each track_file's value as keepalived reads it (strtol of the start; missing or unreadable: 0)."""
    out: dict[str, int] = {}
    for tf in config.vrrp.track_files:
        try:
            with open(tf.file, errors="replace") as f:
                text = f.read(64)
        except OSError:
            text = ""
        m = re.match(r"\s*([+-]?\d+)", text)
        out[tf.name] = int(m.group(1)) if m else 0
    return out


def _ipv4_of(name: str) -> bytes:
    """SIOCGIFADDR: the interface's primary IPv4 address (b"" when it has none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            res = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))
        except OSError:
            return b""
    return res[20:24]


def _addr_bytes(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bytes:
    return addr.packed


def _script(s: object) -> str | None:
    """keepalived's ``cmd_str_r``: each word in single quotes, the program as keepalived resolved it."""
    argv = getattr(s, "argv", None)
    if not argv:
        return None
    words = [_resolved(argv[0]), *argv[1:]]
    return " ".join(w if i == 0 and w[:1] in ("<", ">") else f"'{w}'" for i, w in enumerate(words))


@functools.lru_cache(maxsize=256)
def _resolved(program: str) -> str:
    """The path keepalived runs (``check_script_secure``): found on PATH, symbolic links in the
    directories resolved, the file name as written when the link's target is called otherwise."""
    if program[:1] in ("<", ">"):
        return program
    path = program if "/" in program else shutil.which(program) or program
    real = os.path.realpath(path)
    if not os.path.exists(real):
        return path
    if os.path.basename(real) != os.path.basename(path):
        return os.path.join(os.path.dirname(real), os.path.basename(path))
    return real


class _Rows:
    """Collects (OID, value) pairs."""

    def __init__(self) -> None:
        self.items: list[tuple[OID, Value]] = []

    def add(self, oid: OID, value: Value | None) -> None:
        if value is not None:
            self.items.append((oid, value))


def build(config: Config, snap: Snapshot, interfaces: Mapping[str, Interface], *, started: float,
          vrrp: bool = True, checker: bool = True, rfcv2: bool = True, rfcv3: bool = True,
          track_files: Mapping[str, int] | None = None) -> MibView:
    """``track_files``: each track_file's current value (:func:`read_track_files`; 0 when missing)."""
    rows = _Rows()
    if vrrp or checker:
        _global(rows, config)
    if vrrp:
        _vrrp(rows, config, snap, interfaces)
        _files(rows, config, track_files or {})
    if checker:
        _check(rows, config, snap)
    if rfcv2:
        _rfc2787(rows, config, snap, interfaces, started)
    if rfcv3:
        _rfc6527(rows, config, snap, interfaces, started)
    return MibView(rows.items)


# -- global ---------------------------------------------------------------------------------------------

def router_id(config: Config) -> str:
    return config.global_defs.router_id or socket.gethostname()


def _global(rows: _Rows, config: Config) -> None:
    g = config.global_defs
    r = rows.add
    r((*GLOBAL, 1, 0), OctetString(VERSION))
    r((*GLOBAL, 2, 0), OctetString(router_id(config)))
    smtp = g.smtp_server
    smtp_addr = getattr(smtp, "address", None) if smtp is not None else None
    if isinstance(smtp_addr, ipaddress.IPv4Address | ipaddress.IPv6Address):
        r((*GLOBAL, 3, 1, 0), Integer(1 if smtp_addr.version == 4 else 2))
        r((*GLOBAL, 3, 2, 0), OctetString(smtp_addr.packed))
        r((*GLOBAL, 3, 3, 0), Gauge32(g.smtp_connect_timeout))
    else:  # unset: keepalived shows its zeroed sockaddr
        r((*GLOBAL, 3, 1, 0), Integer(2))
        r((*GLOBAL, 3, 2, 0), OctetString(b"\0\0\0\0"))
        r((*GLOBAL, 3, 3, 0), Gauge32(0))
    if g.notification_email_from:
        r((*GLOBAL, 3, 4, 0), OctetString(g.notification_email_from))
    for i, addr in enumerate(g.notification_email, 1):
        r((*GLOBAL, 3, 5, 1, 2, i), OctetString(addr))
    r((*GLOBAL, 3, 6, 0), Gauge32(getattr(smtp, "port", 0) or 0 if smtp_addr is not None else 0))
    r((*GLOBAL, 3, 7, 0), truth(not g.no_email_faults))

    def alert(v: bool | None) -> Value:
        return Integer(3 if v is None else 1 if v else 2)

    r((*GLOBAL, 3, 8, 0), alert(g.smtp_alert))
    r((*GLOBAL, 3, 9, 0), alert(g.smtp_alert_vrrp))
    r((*GLOBAL, 3, 10, 0), alert(g.smtp_alert_checker))
    r((*GLOBAL, 4, 0), truth(g.enable_traps))
    r((*GLOBAL, 5, 0), truth(True))  # linkbeat (netlink)
    r((*GLOBAL, 6, 0), truth(g.lvs_flush))
    r((*GLOBAL, 7, 0), truth(True))  # 64-bit IPVS statistics
    r((*GLOBAL, 8, 0), OctetString(g.net_namespace or ""))
    r((*GLOBAL, 9, 0), truth(g.enable_dbus))
    r((*GLOBAL, 10, 0), truth(g.dynamic_interfaces))
    r((*GLOBAL, 11, 0), truth(g.lvs_flush_on_stop not in (None, "", "NONE")))


# -- KEEPALIVED-MIB vrrp --------------------------------------------------------------------------------

def _status(snap: Snapshot) -> dict[str, VrrpInstanceStatus]:
    return {v.name: v for v in snap.vrrp}


def _base(inst: VrrpInstance, st: VrrpInstanceStatus | None) -> int:
    """The base priority: as configured, or as a SET (runtime ``priority`` command) left it."""
    return st.base_priority if st is not None else inst.priority


def _nopreempt(inst: VrrpInstance, st: VrrpInstanceStatus | None) -> bool:
    return st.nopreempt if st is not None else inst.nopreempt


def group_state(states: list[str]) -> str:
    if any(s == "FAULT" for s in states):
        return "FAULT"
    if states and all(s == "MASTER" for s in states):
        return "MASTER"
    if any(s == "BACKUP" for s in states):
        return "BACKUP"
    return states[0] if states else "INIT"


def _vrrp(rows: _Rows, config: Config, snap: Snapshot, interfaces: Mapping[str, Interface]) -> None:
    r = rows.add
    status = _status(snap)
    instances = config.vrrp.instances
    for gi, grp in enumerate(config.vrrp.sync_groups, 1):
        e = (*VRRP, 1, 1)
        r((*e, 2, gi), OctetString(grp.name))
        r((*e, 3, gi), Integer(KA_STATE[group_state([status[n].state for n in grp.group if n in status])]))
        r((*e, 4, gi), truth(grp.smtp_alert))
        n = grp.notify
        r((*e, 5, gi), truth(any((n.master, n.backup, n.fault, n.stop, n.generic))))
        for col, script in ((6, n.master), (7, n.backup), (8, n.fault), (9, n.generic)):
            s = _script(script)
            r((*e, col, gi), OctetString(s) if s else None)
        r((*e, 10, gi), truth(grp.sync_group_tracking_weight))
        s = _script(n.stop)
        r((*e, 11, gi), OctetString(s) if s else None)
        for mi, member in enumerate(grp.group, 1):
            r((*VRRP, 2, 1, 2, gi, mi), OctetString(member))
        # syncGroupTrackedInterfaceTable (its name column is 1) and syncGroupTrackedScriptTable
        _tracked(rows, (*VRRP, 14, 1), (1, 2, 3), gi, grp.track.interfaces)
        _tracked(rows, (*VRRP, 15, 1), (2, 3, 4), gi, grp.track.scripts)
        _tracked_files(rows, config, (*VRRP, 16, 1), gi, grp.track.files)
        _tracked_own(rows, (*VRRP, 19, 1), gi, grp.track.bfds, _bfd_weights(config))
        _tracked_own(rows, (*VRRP, 22, 1), gi, grp.track.processes, _process_weights(config))
    for ii, inst in enumerate(instances, 1):
        st = status.get(inst.name)
        state = st.state if st else "INIT"
        e = (*VRRP, 3, 1)
        r((*e, 2, ii), OctetString(inst.name))
        r((*e, 3, ii), Gauge32(inst.virtual_router_id))
        r((*e, 4, ii), Integer(KA_STATE.get(state, 0)))
        r((*e, 5, ii), Integer(2 if inst.state == "MASTER" else 1))
        if st is not None and st.wanted_state is not None:
            r((*e, 6, ii), Integer(KA_STATE.get(st.wanted_state, 4)))
        else:
            r((*e, 6, ii), Integer(2 if state == "MASTER" or (state == "INIT" and inst.state == "MASTER") else
                                   KA_STATE.get(state, 1)))
        r((*e, 7, ii), Integer(_base(inst, st)))
        r((*e, 8, ii), Integer(st.effective_priority if st else inst.priority))
        r((*e, 9, ii), Integer(1 if state == "MASTER" else 2))
        r((*e, 10, ii), OctetString(inst.interface or ""))
        r((*e, 11, ii), truth(inst.track.interfaces))  # keepalived: "its track_interface list is not empty"
        r((*e, 12, ii), Gauge32(int(inst.advert_int)))
        r((*e, 13, ii), truth(not _nopreempt(inst, st)))
        r((*e, 14, ii), Gauge32(int(inst.preempt_delay)))
        auth = inst.authentication
        r((*e, 15, ii), Integer(0 if auth is None else 1 if auth.type == "PASS" else 2))
        r((*e, 16, ii), truth(False))
        if inst.sync_group:
            r((*e, 18, ii), OctetString(inst.sync_group))
        r((*e, 19, ii), Gauge32(inst.garp_master_delay))
        r((*e, 20, ii), truth(inst.smtp_alert))
        n = inst.notify
        r((*e, 21, ii), truth(any((n.master, n.backup, n.fault, n.stop, n.generic, n.deleted,
                                   n.master_rx_lower_pri))))
        for col, script in ((22, n.master), (23, n.backup), (24, n.fault), (25, n.stop), (26, n.generic),
                            (31, n.master_rx_lower_pri), (32, n.deleted)):
            s = _script(script)
            r((*e, col, ii), OctetString(s) if s else None)
        r((*e, 27, ii), truth(inst.accept) if inst.version == 3 else Integer(0))
        r((*e, 28, ii), truth(inst.promote_secondaries))
        r((*e, 29, ii), truth(False))
        r((*e, 30, ii), Integer(inst.version))
        r((*e, 33, ii), truth(n.deleted_state))
        if not inst.unicast_peer:
            group = inst.mcast_dst_ip or ipaddress.ip_address("224.0.0.18" if inst.family == 4 else "ff02::12")
            r((*e, 34, ii), Integer(1 if group.version == 4 else 2))
            r((*e, 35, ii), OctetString(group.packed))
        # vrrpTrackedInterfaceTable (its name column is 1) and vrrpTrackedScriptTable
        _tracked(rows, (*VRRP, 4, 1), (1, 2, 3), ii, inst.track.interfaces)
        _tracked(rows, (*VRRP, 5, 1), (2, 3, 4), ii, inst.track.scripts)
        _tracked_files(rows, config, (*VRRP, 12, 1), ii, inst.track.files)
        _tracked_own(rows, (*VRRP, 17, 1), ii, inst.track.bfds, _bfd_weights(config))
        _tracked_own(rows, (*VRRP, 20, 1), ii, inst.track.processes, _process_weights(config))
        _addresses(rows, inst, ii, state, interfaces)
        held = state == "MASTER"
        for ri, route in enumerate(inst.virtual_routes, 1):
            _route(rows, (ii, ri), route, held, interfaces)
        for ri, rule in enumerate(inst.virtual_rules, 1):
            _rule(rows, (ii, ri), rule, held)
    # static addresses, routes and rules: instance index 0 of the same tables, always set
    for ai, vip in enumerate(config.vrrp.static_ipaddress, 1):
        _address(rows, (0, ai), vip, None, True, False, interfaces)
    for ri, route in enumerate(config.vrrp.static_routes, 1):
        _route(rows, (0, ri), route, True, interfaces)
    for ri, rule in enumerate(config.vrrp.static_rules, 1):
        _rule(rows, (0, ri), rule, True)
    _scripts(rows, config, snap)
    _bfds(rows, config, snap)
    _processes(rows, config, snap)


def _tracked(rows: _Rows, entry: OID, cols: tuple[int, int, int], index: int, refs: tuple[TrackRef, ...]) -> None:
    for ti, t in enumerate(refs, 1):
        rows.add((*entry, cols[0], index, ti), OctetString(t.name))
        rows.add((*entry, cols[1], index, ti), Integer(t.weight))
        rows.add((*entry, cols[2], index, ti), truth(t.reverse))


def _tracked_files(rows: _Rows, config: Config, entry: OID, index: int, refs: tuple[TrackRef, ...]) -> None:
    """vrrpTrackedFileTable / syncGroupTrackedFileTable: keepalived shows the track_file's own weight
    and reverse flag here, not the ones the instance or group gave it."""
    files = {tf.name: tf for tf in config.vrrp.track_files}
    for ti, t in enumerate(refs, 1):
        tf = files.get(t.name)
        rows.add((*entry, 2, index, ti), OctetString(t.name))
        rows.add((*entry, 3, index, ti), Integer(tf.weight if tf else t.weight))
        rows.add((*entry, 4, index, ti), truth(tf.weight_reverse if tf else t.reverse))


def _bfd_weights(config: Config) -> dict[str, tuple[int, bool]]:
    return {b.name: (b.weight, b.weight_reverse) for b in config.vrrp.bfd_instances}


def _process_weights(config: Config) -> dict[str, tuple[int, bool]]:
    return {tp.name: (tp.weight, tp.weight_reverse) for tp in config.vrrp.track_processes}


def _tracked_own(rows: _Rows, entry: OID, index: int, refs: tuple[TrackRef, ...],
                 own: Mapping[str, tuple[int, bool]]) -> None:
    """vrrpTracked{Bfd,Process}Table / syncGroupTracked{Bfd,Process}Table: as for track_files, keepalived
    shows the bfd_instance's or vrrp_track_process's own weight and reverse flag."""
    for ti, t in enumerate(refs, 1):
        weight, reverse = own.get(t.name, (t.weight, t.reverse))
        rows.add((*entry, 2, index, ti), OctetString(t.name))
        rows.add((*entry, 3, index, ti), Integer(weight))
        rows.add((*entry, 4, index, ti), truth(reverse))


def _bfds(rows: _Rows, config: Config, snap: Snapshot) -> None:
    """vrrpBfdTable: every bfd_instance the VRRP process has (all but those given to the checker only);
    the result is keepalived's ``bfd_up`` as a number (1 up, 0 down), not a TruthValue."""
    up = {b.name: b.up for b in snap.bfds}
    e = (*VRRP, 18, 1)
    bfds = [b for b in config.vrrp.bfd_instances if b.vrrp or not b.checker]
    for bi, b in enumerate(bfds, 1):
        rows.add((*e, 2, bi), OctetString(b.name))
        rows.add((*e, 3, bi), Integer(1 if up.get(b.name) else 0))
        rows.add((*e, 4, bi), Integer(b.weight))
        rows.add((*e, 5, bi), truth(b.weight_reverse))


#: vrrpProcessParamMatch: keepalived's PARAM_MATCH_* (none 0)
PARAM_MATCH = {"exact": 1, "initial": 2, "partial": 3}
#: keepalived's default quorum_max (UINT_MAX), which vrrpProcessQuorumMax (an INTEGER) shows as -1
QUORUM_MAX_UNSET = -1


def _processes(rows: _Rows, config: Config, snap: Snapshot) -> None:
    """vrrpProcessTable: every vrrp_track_process, tracked or not, with the VRRP process's count and verdict."""
    status = {p.name: p for p in snap.track_processes}
    e = (*VRRP, 21, 1)
    for pi, tp in enumerate(config.vrrp.track_processes, 1):
        st = status.get(tp.name)
        match = PARAM_MATCH.get(tp.param_match or "", 1 if tp.args is not None else 0)
        quorum, quorum_max = tp.quorum, QUORUM_MAX_UNSET if tp.quorum_max is None else tp.quorum_max
        if quorum_max == 0:  # keepalived: quorum_max 0 makes the quorum 0
            quorum = 0
        rows.add((*e, 2, pi), OctetString(tp.name))
        rows.add((*e, 3, pi), OctetString(tp.process))
        rows.add((*e, 4, pi), OctetString(" ".join(tp.args or ())))
        rows.add((*e, 5, pi), Integer(match))
        rows.add((*e, 6, pi), Integer(tp.weight))
        rows.add((*e, 7, pi), truth(tp.weight_reverse))
        rows.add((*e, 8, pi), Gauge32(quorum))
        rows.add((*e, 9, pi), Integer(quorum_max))
        rows.add((*e, 10, pi), Gauge32(_usec(tp.fork_delay if tp.fork_delay is not None else tp.delay)))
        rows.add((*e, 11, pi), Gauge32(_usec(tp.terminate_delay if tp.terminate_delay is not None else tp.delay)))
        rows.add((*e, 12, pi), truth(tp.full_command or tp.args is not None or tp.param_match is not None))
        rows.add((*e, 13, pi), Integer(st.running if st else 0))
        rows.add((*e, 14, pi), truth(st is not None and st.quorum))


def _files(rows: _Rows, config: Config, values: Mapping[str, int]) -> None:
    """vrrpFileTable: every track_file with its current value."""
    e = (*VRRP, 13, 1)
    for fi, tf in enumerate(config.vrrp.track_files, 1):
        rows.add((*e, 2, fi), OctetString(tf.name))
        rows.add((*e, 3, fi), OctetString(tf.file))
        rows.add((*e, 4, fi), Integer(values.get(tf.name, 0)))
        rows.add((*e, 5, fi), Integer(tf.weight))
        rows.add((*e, 6, fi), truth(tf.weight_reverse))


#: vrrpScriptResult: unknown(0) init(1) bad(2) good(3) ... initFailed(5)
SCRIPT_RESULT = {"GOOD": 3, "BAD": 2}


def _scripts(rows: _Rows, config: Config, snap: Snapshot) -> None:
    status = {s.name: s for s in snap.vrrp_scripts}
    e = (*VRRP, 9, 1)
    for si, scr in enumerate(config.vrrp.vrrp_scripts, 1):
        st = status.get(scr.name)
        rows.add((*e, 2, si), OctetString(scr.name))
        rows.add((*e, 3, si), OctetString(_script(scr.script) or ""))
        rows.add((*e, 4, si), Integer(int(scr.interval)))
        rows.add((*e, 5, si), Integer(scr.weight))
        if st is None or st.init_state == "init":
            result = 1
        else:
            result = 5 if st.init_state == "failed" else SCRIPT_RESULT.get(st.status, 0)
        rows.add((*e, 6, si), Integer(result))
        rows.add((*e, 7, si), Gauge32(scr.rise))
        rows.add((*e, 8, si), Gauge32(scr.fall))
        rows.add((*e, 9, si), truth(scr.weight_reverse))


def _addresses(rows: _Rows, inst: VrrpInstance, ii: int, state: str, interfaces: Mapping[str, Interface]) -> None:
    held = state == "MASTER"
    for ai, (vip, advertised) in enumerate([(v, True) for v in inst.virtual_ipaddress]
                                           + [(v, False) for v in inst.virtual_ipaddress_excluded], 1):
        # keepalived sets its "advertised" flag once, before the first instance's VIPs
        _address(rows, (ii, ai), vip, inst.interface, held, advertised and ii == 1, interfaces)


def _address(rows: _Rows, ix: tuple[int, int], vip: VirtualAddress, default_dev: str | None, held: bool,
             advertised: bool, interfaces: Mapping[str, Interface]) -> None:
    r = rows.add
    e = (*VRRP, 6, 1)
    addr = vip.address
    dev = vip.dev or default_dev or ""
    r((*e, 2, *ix), Integer(1 if addr.version == 4 else 2))
    r((*e, 3, *ix), OctetString(addr.ip.packed))
    if addr.version == 4:
        r((*e, 4, *ix), OctetString((vip.broadcast or ipaddress.IPv4Address(0)).packed))
    r((*e, 5, *ix), Gauge32(addr.network.prefixlen))
    r((*e, 6, *ix), Integer(SCOPES.get(vip.scope, 14)))
    itf = interfaces.get(dev)
    r((*e, 7, *ix), Integer(itf.index if itf else 0))
    r((*e, 8, *ix), OctetString(dev))
    if vip.label:
        r((*e, 9, *ix), OctetString(vip.label))
    r((*e, 10, *ix), truth(held))
    r((*e, 11, *ix), truth(advertised))
    if vip.peer is not None:
        r((*e, 12, *ix), OctetString(vip.peer.ip.packed))


#: vrrpRouteType (keepalived's order); a route with nexthops is multipath(2)
ROUTE_TYPES = {"unicast": 1, "blackhole": 3, "anycast": 4, "multicast": 5, "broadcast": 6, "unreachable": 7,
               "prohibit": 8, "throw": 9, "nat": 10, "xresolve": 11}
#: /etc/iproute2/rt_protos as the kernel numbers them (vrrpRouteProtocol is the number plus one)
ROUTE_PROTOCOLS = {"unspec": 0, "redirect": 1, "kernel": 2, "boot": 3, "static": 4, "gated": 8, "ra": 9,
                   "mrt": 10, "zebra": 11, "bird": 12, "dnrouted": 13, "xorp": 14, "ntk": 15, "dhcp": 16,
                   "keepalived": 18, "babel": 42, "bgp": 186, "isis": 187, "ospf": 188, "rip": 189, "eigrp": 192}
ROUTE_TABLES = {"main": 254, "local": 255, "default": 253, "unspec": 0}
#: vrrpRuleAction: FR_ACT_* numbers
RULE_ACTIONS = {"table": 1, "goto": 2, "nop": 3, "blackhole": 6, "unreachable": 7, "prohibit": 8}


def _table(name: str | None) -> int:
    if name is None:
        return 254
    return int(name) if name.isdigit() else ROUTE_TABLES.get(name, 254)


def _net(text: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface | None:
    if text in ("all", "any", "default"):
        return None
    try:
        return ipaddress.ip_interface(text)
    except ValueError:
        return None


def _packed(text: str) -> bytes | None:
    try:
        return ipaddress.ip_address(text).packed
    except ValueError:
        return None


def _number(text: str) -> int | None:
    """A number as iproute2 takes it (decimal or 0x…), None for anything else."""
    try:
        return int(text, 0)
    except ValueError:
        return None


def _opt(options: tuple[str, ...], name: str) -> str | None:
    """The word after ``name`` in a rule's options (``lock`` skipped), None when absent."""
    for i, word in enumerate(options):
        if word == name:
            rest = [w for w in options[i + 1:i + 3] if w != "lock"]
            return rest[0] if rest else ""
    return None


def _route(rows: _Rows, ix: tuple[int, int], route: Route, held: bool, interfaces: Mapping[str, Interface]) -> None:
    """vrrpRouteTable: keepalived's ``vrrp_snmp_route`` (columns for options a route does not set are absent)."""
    r = rows.add
    e = (*VRRP, 7, 1)
    dst = _net(route.dest)
    src = _net(route.from_) if route.from_ else None
    pref = _net(route.src) if route.src else None
    family = next((a.version for a in (dst, src, pref) if a is not None), route.family)
    r((*e, 2, *ix), Integer(2 if family == 6 else 1))
    if dst is not None:
        r((*e, 3, *ix), OctetString(dst.ip.packed))
        r((*e, 4, *ix), Gauge32(dst.network.prefixlen))
    if route.via and (gw := _packed(route.via)) is not None:
        r((*e, 5, *ix), OctetString(gw))
    hops = [nexthop(h) for h in route.nexthops if h]
    if len(hops) == 1 and hops[0].via is not None:
        r((*e, 6, *ix), OctetString(hops[0].via.packed))
    if pref is not None:
        r((*e, 7, *ix), OctetString(pref.ip.packed))
    r((*e, 8, *ix), Gauge32(route.metric or 0))
    r((*e, 9, *ix), Integer(SCOPES.get(route.scope, 14)))
    r((*e, 10, *ix), Integer(2 if hops else ROUTE_TYPES.get(route.type or "unicast", 1)))
    if route.dev:
        itf = interfaces.get(route.dev)
        r((*e, 11, *ix), Integer(itf.index if itf else 0))
        r((*e, 12, *ix), OctetString(route.dev))
    r((*e, 13, *ix), Gauge32(_table(route.table)))
    r((*e, 14, *ix), truth(held))
    if src is not None:
        r((*e, 15, *ix), OctetString(src.ip.packed))
        r((*e, 16, *ix), Gauge32(src.network.prefixlen))
    opts = route_options(route.options)
    if opts.tos is not None:
        r((*e, 17, *ix), Gauge32(opts.tos))
    if route.protocol is not None or not route.no_track:  # a no_track route has no protocol of its own
        proto = route.protocol or "keepalived"
        r((*e, 18, *ix), Integer((int(proto) if proto.isdigit() else ROUTE_PROTOCOLS.get(proto, 18)) + 1))
    r((*e, 19, *ix), truth(opts.ecn))
    r((*e, 20, *ix), truth(opts.quickack is not None))  # given, whatever its value
    if opts.expires is not None:
        r((*e, 21, *ix), Integer(_signed(opts.expires)))
    _metric(rows, (*e, 22), ix, opts.mtu, "mtu" in opts.locked)
    if opts.hoplimit is not None:
        r((*e, 24, *ix), Gauge32(opts.hoplimit))
        r((*e, 25, *ix), Gauge32(opts.advmss or 0))  # keepalived shows advmss when hoplimit is set
    if opts.advmss is not None:
        r((*e, 26, *ix), truth("advmss" in opts.locked))
    _metric(rows, (*e, 27), ix, None if opts.rtt is None else opts.rtt // 8, "rtt" in opts.locked)
    _metric(rows, (*e, 29), ix, None if opts.rttvar is None else opts.rttvar // 4, "rttvar" in opts.locked)
    _metric(rows, (*e, 31), ix, opts.reordering, "reordering" in opts.locked)
    if opts.window is not None:
        r((*e, 33, *ix), Gauge32(opts.window))
    _metric(rows, (*e, 34), ix, opts.cwnd, "cwnd" in opts.locked)
    _metric(rows, (*e, 36), ix, opts.ssthresh, "ssthresh" in opts.locked)
    _metric(rows, (*e, 38), ix, opts.rto_min, "rto_min" in opts.locked)
    for col, value in ((40, opts.initcwnd), (41, opts.initrwnd)):
        if value is not None:
            r((*e, col, *ix), Gauge32(value))
    if opts.congctl is not None:
        r((*e, 42, *ix), OctetString(opts.congctl))
    if opts.pref is not None:
        r((*e, 43, *ix), Integer(ROUTER_PREF_COLUMN.get(opts.pref, 0)))
    _realms(rows, (*e, 44), ix, opts.realms)
    if opts.encap is not None:
        _encap(rows, e, ix, opts.encap)
    if opts.fastopen_no_cookie is not None:
        r((*e, 55, *ix), truth(opts.fastopen_no_cookie))
    for ni, hop in enumerate(hops, 1):
        _nexthop(rows, (*ix, ni), hop, interfaces)


#: vrrpRoutePref: the kernel's ICMPV6_ROUTER_PREF low (3), medium (0), high (1); anything else is 0
ROUTER_PREF_COLUMN = {3: 1, 0: 2, 1: 3}


def _signed(value: int) -> int:
    """A 32-bit unsigned number in an INTEGER column, as keepalived's ``long_ret.u`` reads back."""
    return value - (1 << 32) if value >= 1 << 31 else value


def _metric(rows: _Rows, column: OID, ix: tuple[int, ...], value: int | None, locked: bool) -> None:
    """A metric (column) and its lock flag (the next column), both absent when the metric is not set."""
    if value is not None:
        rows.add((*column, *ix), Gauge32(value))
        rows.add((*column[:-1], column[-1] + 1, *ix), truth(locked))


def _realms(rows: _Rows, column: OID, ix: tuple[int, ...], realms: int) -> None:
    """Realm columns (TO, then FROM): TO whenever realms are set (0 for ``N/0``), FROM when not 0."""
    if realms:
        rows.add((*column, *ix), Gauge32(realms & 0xFFFF))
    if realms >> 16:
        rows.add((*column[:-1], column[-1] + 1, *ix), Gauge32(realms >> 16))


def _encap(rows: _Rows, e: OID, ix: tuple[int, ...], encap: Encap) -> None:
    """vrrpRouteEncap* (46-54): keepalived's ``vrrp_snmp_encap`` for a route."""
    r = rows.add
    r((*e, 46, *ix), Integer(encap.type + 1))
    if encap.kind == "mpls":
        # each label stack entry as it sits in memory (network order) read as a little-endian number
        entries = [(label << 12 | (256 if k == len(encap.labels) - 1 else 0)).to_bytes(4, "big")
                   for k, label in enumerate(encap.labels)]
        r((*e, 47, *ix), OctetString("/".join(str(int.from_bytes(b, "little")) for b in entries)))
    elif encap.kind == "ila":
        if encap.locator is not None:  # the locator's bytes read as a little-endian number
            r((*e, 54, *ix), Counter64(int.from_bytes(encap.locator, "little")))
    else:
        if encap.id is not None:
            r((*e, 48, *ix), Counter64(encap.id))
        if encap.dst is not None:
            r((*e, 49, *ix), OctetString(encap.dst.packed))
        if encap.src is not None:
            r((*e, 50, *ix), OctetString(encap.src.packed))
        for col, value in ((51, encap.tos), (52, encap.ttl), (53, encap.flags)):
            if value is not None:
                r((*e, col, *ix), Gauge32(value))


def _nexthop(rows: _Rows, ix: tuple[int, ...], hop: NextHop, interfaces: Mapping[str, Interface]) -> None:
    """vrrpRouteNextHopTable, indexed (instance, route, nexthop).  Its encapsulation columns (10-18) stay
    empty: keepalived's handler compares them with the route table's column numbers."""
    e = (*VRRP, 11, 1)
    if hop.via is not None:
        rows.add((*e, 2, *ix), Integer(1 if hop.via.version == 4 else 2))
        rows.add((*e, 3, *ix), OctetString(hop.via.packed))
    if hop.dev:
        itf = interfaces.get(hop.dev)
        rows.add((*e, 4, *ix), Integer(itf.index if itf else 0))
        rows.add((*e, 5, *ix), OctetString(hop.dev))
    if hop.weight is not None:
        rows.add((*e, 6, *ix), Gauge32(hop.weight))
    rows.add((*e, 7, *ix), truth(hop.onlink))
    _realms(rows, (*e, 8), ix, hop.realms)


def _rule(rows: _Rows, ix: tuple[int, int], rule: Rule, held: bool) -> None:
    """vrrpRuleTable: keepalived's ``vrrp_snmp_rule`` (the first five columns are the obsolete ones)."""
    r = rows.add
    e = (*VRRP, 8, 1)
    to = _net(rule.to) if rule.to else None
    frm = _net(rule.from_) if rule.from_ else None
    r((*e, 2, *ix), OctetString("both" if to and frm else "to" if to else "from" if frm else ""))
    first = to or frm
    if first is not None:
        r((*e, 3, *ix), Integer(1 if first.version == 4 else 2))
        r((*e, 4, *ix), OctetString(first.ip.packed))
        r((*e, 5, *ix), Gauge32(first.network.prefixlen))
    action = rule.action or ("table" if rule.table else None)
    if action == "table":
        r((*e, 6, *ix), Gauge32(_table(rule.table)))
    r((*e, 7, *ix), truth(held))
    r((*e, 8, *ix), truth(rule.invert))
    for base, a in ((9, to), (12, frm)):
        if a is not None:
            r((*e, base, *ix), Integer(1 if a.version == 4 else 2))
            r((*e, base + 1, *ix), OctetString(a.ip.packed))
            r((*e, base + 2, *ix), Gauge32(a.network.prefixlen))
    r((*e, 15, *ix), Gauge32(_number(_opt(rule.options, "tos") or _opt(rule.options, "dsfield") or "") or 0))
    mark, _, mask = (_opt(rule.options, "fwmark") or "").partition("/")
    if _number(mark) is not None:
        r((*e, 16, *ix), Gauge32(_number(mark) or 0))
        if _number(mask) is not None:
            r((*e, 17, *ix), Gauge32(_number(mask) or 0))
    if rule.iif:
        r((*e, 20, *ix), OctetString(rule.iif))
    if rule.oif:
        r((*e, 21, *ix), OctetString(rule.oif))
    goto = _number(_opt(rule.options, "goto") or "")
    if action == "goto" and goto is not None:
        r((*e, 22, *ix), Gauge32(goto))
    r((*e, 23, *ix), Integer(RULE_ACTIONS.get(action or "", 0)))
    if action == "table":
        r((*e, 24, *ix), Gauge32(_table(rule.table)))
    if rule.preference:
        r((*e, 25, *ix), Gauge32(rule.preference))


# -- KEEPALIVED-MIB check -------------------------------------------------------------------------------

def _service_status(snap: Snapshot, vs: VirtualServer, groups: tuple[VirtualServerGroup, ...] = ()
                    ) -> VirtualServiceStatus | None:
    """The data plane's service for ``vs``; for a group, its first (a group's services share their
    real servers and checks)."""
    found = _services(snap, vs, groups)
    return found[0] if found else None


def service_statuses(snap: Snapshot, vs: VirtualServer, config: Config) -> list[VirtualServiceStatus]:
    """Every data-plane service of ``vs`` (one, or one per address and fwmark of its group)."""
    return _services(snap, vs, config.lvs.virtual_server_groups)


def _services(snap: Snapshot, vs: VirtualServer, groups: tuple[VirtualServerGroup, ...]
              ) -> list[VirtualServiceStatus]:
    group = next((g for g in groups if g.name == vs.group), None) if vs.group else None
    proto = vs.protocol.value.lower() if vs.protocol else "tcp"
    out = []
    for s in snap.virtual_services:
        k = s.service.key
        if vs.group:
            if group is not None and (
                    (k.protocol == "fwm" and any(f.fwmark == k.fwmark for f in group.fwmarks))
                    or (k.protocol == proto and k.addr is not None and any(
                        a.first.version == k.addr.version and int(a.first) <= int(k.addr) <= int(a.last)
                        and a.port == k.port for a in group.addresses))):
                out.append(s)
        elif vs.fwmark is not None:
            if k.fwmark == vs.fwmark:
                out.append(s)
        elif k.addr == vs.address and k.port == vs.port and k.protocol == proto:
            out.append(s)
    return out


def _vs_family(config: Config, vs: VirtualServer) -> int:
    if vs.address is not None:
        return vs.address.version
    for g in config.lvs.virtual_server_groups:
        if g.name == vs.group and g.addresses:
            return g.addresses[0].first.version
    return 4


def _alive(d: DestinationStatus | None) -> bool:
    return d is not None and d.health == Health.ALIVE


def _usec(seconds: float | None) -> int:
    return round((seconds or 0) * 1_000_000)


def _vs_groups(rows: _Rows, groups: tuple[VirtualServerGroup, ...]) -> None:
    """virtualServerGroupTable and virtualServerGroupMemberTable: a group's fwmarks come first, then its
    addresses and ranges (keepalived keeps them in two lists); the port is in host order here."""
    for gi, g in enumerate(groups, 1):
        rows.add((*CHECK, 1, 1, 2, gi), OctetString(g.name))
        e = (*CHECK, 2, 1)
        mi = 0
        for fw in g.fwmarks:
            mi += 1
            rows.add((*e, 2, gi, mi), Integer(1))
            rows.add((*e, 3, gi, mi), Gauge32(fw.fwmark))
        for a in g.addresses:
            mi += 1
            single = a.first == a.last
            rows.add((*e, 2, gi, mi), Integer(2 if single else 3))
            rows.add((*e, 4, gi, mi), Integer(1 if a.first.version == 4 else 2))
            if single:
                rows.add((*e, 5, gi, mi), OctetString(a.first.packed))
            else:
                rows.add((*e, 6, gi, mi), OctetString(a.first.packed))
                rows.add((*e, 7, gi, mi), OctetString(a.last.packed))
            rows.add((*e, 8, gi, mi), Gauge32(a.port))


def _check(rows: _Rows, config: Config, snap: Snapshot) -> None:
    r = rows.add
    _vs_groups(rows, config.lvs.virtual_server_groups)
    for vi, vs in enumerate(config.lvs.virtual_servers, 1):
        st = _service_status(snap, vs, config.lvs.virtual_server_groups)
        dests: dict[tuple[object, int], DestinationStatus] = {}
        for d in st.destinations if st else ():
            dests[(d.key.addr, d.key.port)] = d
        alive = [rs for rs in vs.real_servers if _alive(dests.get((rs.ip, rs.port)))]
        e = (*CHECK, 3, 1)
        r((*e, 2, vi), Integer(3 if vs.group else 1 if vs.fwmark is not None else 2))
        if vs.group:
            r((*e, 3, vi), OctetString(vs.group))
        if vs.fwmark is not None:
            r((*e, 4, vi), Gauge32(vs.fwmark))
        r((*e, 5, vi), Integer(2 if _vs_family(config, vs) == 6 else 1))
        if vs.address is not None:
            r((*e, 6, vi), OctetString(vs.address.packed))
            r((*e, 7, vi), Gauge32(vs.port))
        if vs.fwmark is None:
            r((*e, 8, vi), Integer(PROTOCOLS.get(vs.protocol.value, 4) if vs.protocol else 4))
        r((*e, 9, vi), Integer(SCHEDULERS.get(vs.lvs_sched, 99)))
        r((*e, 10, vi), Integer(METHODS[vs.forwarding.method.value]))
        quorum_up = st.quorum.up if st else True
        r((*e, 11, vi), truth(quorum_up))
        if vs.virtualhost:
            r((*e, 12, vi), OctetString(vs.virtualhost))
        r((*e, 13, vi), truth(vs.persistence_timeout))
        if vs.persistence_timeout:
            r((*e, 14, vi), Gauge32(vs.persistence_timeout))
        gran = vs.persistence_granularity
        # keepalived picks these two columns by the family of the service's address: a group's or a
        # fwmark's service has none, so it shows both (the IPv6 one as the IPv4 mask's 32 bits)
        is_v6 = vs.address is not None and vs.address.version == 6
        is_v4 = vs.address is not None and vs.address.version == 4
        mask = gran if isinstance(gran, ipaddress.IPv4Address) else ipaddress.IPv4Address(0xFFFFFFFF)
        if not is_v6:
            r((*e, 15, vi), OctetString(mask.packed))
        r((*e, 16, vi), Gauge32(int(vs.delay_loop)))
        r((*e, 17, vi), truth(vs.ha_suspend))
        r((*e, 18, vi), truth(vs.alpha))
        r((*e, 19, vi), truth(vs.omega))
        r((*e, 20, vi), Gauge32(len(vs.real_servers)))
        r((*e, 21, vi), Gauge32(len(alive)))
        r((*e, 22, vi), Gauge32(vs.quorum))
        r((*e, 23, vi), Integer(1 if quorum_up else 2))
        for col, script in ((24, vs.quorum_up), (25, vs.quorum_down)):
            s = _script(script)
            r((*e, col, vi), OctetString(s) if s else None)
        r((*e, 26, vi), Gauge32(vs.hysteresis))
        stats = st.stats if st and st.stats is not None else sum(
            (d.stats for d in (st.destinations if st else ()) if d.health != Health.SORRY), Counters())
        rates = st.rates if st and st.rates is not None else None
        _counters(rows, e, vi, stats, rates, cols=(27, 28, 29, 30, 31), first_rate=32, c64=38, lowhigh=41)
        r((*e, 37, vi), truth("ops" in vs.sched_flags))
        if is_v6:
            r((*e, 51, vi), Gauge32(gran if isinstance(gran, int) else 128))
        elif not is_v4:
            r((*e, 51, vi), Gauge32(int.from_bytes(mask.packed, "little")))
        flags = set(vs.sched_flags)
        r((*e, 52, vi), truth(False))  # hashed: keepalived never sets it on a virtual server it reports
        r((*e, 53, vi), truth("sh-fallback" in flags or (vs.lvs_sched == "sh" and "flag-1" in flags)))
        r((*e, 54, vi), truth("sh-port" in flags or (vs.lvs_sched == "sh" and "flag-2" in flags)))
        r((*e, 55, vi), truth("flag-3" in flags))
        r((*e, 56, vi), Integer(2 if vs.inhibit_on_failure else 1))
        r((*e, 57, vi), Gauge32(vs.retry or 0))
        r((*e, 58, vi), Gauge32(int(vs.delay_before_retry or 0)))
        r((*e, 59, vi), Gauge32(int(vs.warmup or 0)))
        r((*e, 60, vi), Integer(vs.weight))
        r((*e, 61, vi), truth(vs.smtp_alert))
        r((*e, 62, vi), truth("mh-fallback" in flags or (vs.lvs_sched == "mh" and "flag-1" in flags)))
        r((*e, 63, vi), truth("mh-port" in flags or (vs.lvs_sched == "mh" and "flag-2" in flags)))
        r((*e, 64, vi), Gauge32(_usec(vs.delay_loop)))
        r((*e, 65, vi), Gauge32(_usec(vs.delay_before_retry)))
        r((*e, 66, vi), Gauge32(_usec(vs.warmup)))
        r((*e, 67, vi), Gauge32(_usec(vs.connect_timeout)))
        if vs.forwarding.method.value == "TUN":
            r((*e, 68, vi), Integer({"ipip": 1, "gue": 2, "gre": 3}.get(vs.forwarding.tunnel_type.value, 1)))
        if vs.snmp_name:
            r((*e, 71, vi), OctetString(vs.snmp_name))
        _real_servers(rows, vs, vi, dests)
    r((*CHECK, 6, 1, 0), truth(False))  # lvsSyncDaemonEnabled (lvs_sync_daemon is not supported)


def _counters(rows: _Rows, e: OID, idx: OID | int, stats: object, rates: object, *, cols: tuple[int, ...],
              first_rate: int, c64: int, lowhigh: int) -> None:
    """Conns, in/out packets and bytes at ``cols``; rates, 64-bit counters, rates as low/high halves."""
    r = rows.add
    ix = (idx,) if isinstance(idx, int) else idx
    c = [getattr(stats, n, 0) or 0 for n in ("conns", "inpkts", "outpkts", "inbytes", "outbytes")]
    rt = [getattr(rates, n, 0) or 0 for n in ("cps", "inpps", "outpps", "inbps", "outbps")]
    kinds = (Gauge32, Counter32, Counter32, Counter64, Counter64)
    for col, kind, v in zip(cols, kinds, c, strict=True):
        r((*e, col, *ix), kind(v))
    for i, v in enumerate(rt):
        r((*e, first_rate + i, *ix), Gauge32(v))
    for i, v in enumerate(c[:3]):
        r((*e, c64 + i, *ix), Counter64(v))
    for i, v in enumerate(rt):
        r((*e, lowhigh + 2 * i, *ix), Gauge32(v & 0xFFFFFFFF))
        r((*e, lowhigh + 2 * i + 1, *ix), Gauge32(v >> 32))


_WEIGHT_OVERRIDE = re.compile(r"\bweight (\d+)")


def rs_weight(rs: RealServer, d: DestinationStatus | None) -> int:
    """realServerWeight: what the checkers want, or the weight a SET (runtime ``weight`` override) gave."""
    if d is None:
        return rs.weight
    m = _WEIGHT_OVERRIDE.search(d.override)
    return int(m.group(1)) if m else d.weight


def _real_servers(rows: _Rows, vs: VirtualServer, vi: int, dests: Mapping[tuple[object, int], DestinationStatus]
                  ) -> None:
    r = rows.add
    e = (*CHECK, 4, 1)
    entries: list[tuple[RealServer | None, object, int]] = []
    if vs.sorry_server is not None:
        entries.append((None, vs.sorry_server.ip, vs.sorry_server.port or vs.port))
    entries += [(rs, rs.ip, rs.port) for rs in vs.real_servers]
    for ri, (rs, ip, port) in enumerate(entries, 1):
        assert isinstance(ip, ipaddress.IPv4Address | ipaddress.IPv6Address)
        ix = (vi, ri)
        d = dests.get((ip, port))
        r((*e, 2, *ix), truth(rs is not None))
        r((*e, 3, *ix), Integer(1 if ip.version == 4 else 2))
        r((*e, 4, *ix), OctetString(ip.packed))
        r((*e, 5, *ix), Gauge32(port))
        if rs is not None:
            alive = d is not None and d.health == Health.ALIVE
            r((*e, 6, *ix), truth(alive))
            r((*e, 7, *ix), Integer(rs_weight(rs, d)))
            if rs.uthreshold:
                r((*e, 8, *ix), Gauge32(rs.uthreshold))
            if rs.lthreshold:
                r((*e, 9, *ix), Gauge32(rs.lthreshold))
            r((*e, 10, *ix), Integer(2 if rs.inhibit_on_failure else 1))
            for col, script in ((11, rs.notify_up), (12, rs.notify_down)):
                s = _script(script)
                r((*e, col, *ix), OctetString(s) if s else None)
            failed = sum(1 for c in (d.checks if d else ()) if c.up is False)
            r((*e, 13, *ix), Gauge32(failed))
        stats = d.stats if d is not None else None
        rates = d.rates if d is not None else None
        _counters(rows, e, ix, stats, rates, cols=(14, 18, 19, 20, 21), first_rate=22, c64=27, lowhigh=30)
        r((*e, 15, *ix), Gauge32(d.active_conns if d else 0))
        r((*e, 16, *ix), Gauge32(d.inactive_conns if d else 0))
        r((*e, 17, *ix), Gauge32(0))
        fwd = rs.forwarding if rs is not None else vs.sorry_server.forwarding if vs.sorry_server else vs.forwarding
        r((*e, 40, *ix), Integer(METHODS[fwd.method.value]))
        if rs is not None and rs.virtualhost:
            r((*e, 41, *ix), OctetString(rs.virtualhost))
        r((*e, 42, *ix), truth(rs.alpha if rs is not None else False))
        r((*e, 43, *ix), Gauge32(0))
        r((*e, 44, *ix), Gauge32(0))
        r((*e, 45, *ix), Gauge32(0))
        r((*e, 46, *ix), Gauge32(int(vs.delay_loop) if rs is not None else 0))
        r((*e, 47, *ix), truth(rs.smtp_alert if rs is not None else False))
        r((*e, 48, *ix), Gauge32(0))
        r((*e, 49, *ix), Gauge32(0))
        r((*e, 50, *ix), Gauge32(_usec(vs.delay_loop) if rs is not None else 0))
        r((*e, 51, *ix), Gauge32(_usec(vs.connect_timeout) if rs is not None else 0))


# -- RFC 2787 / RFC 6527 --------------------------------------------------------------------------------

def _primary(inst: VrrpInstance, interfaces: Mapping[str, Interface]) -> bytes:
    """The address adverts are sent from: mcast_src_ip / unicast_src_ip, else the interface's first."""
    src = inst.mcast_src_ip or inst.unicast_src_ip
    if src is not None:
        return src.packed
    itf = interfaces.get(inst.interface or "")
    return itf.ipv4 if itf and itf.ipv4 else b"\0\0\0\0"


def _rfc_rows(config: Config, interfaces: Mapping[str, Interface]) -> list[tuple[int, int, VrrpInstance]]:
    out = []
    for inst in config.vrrp.instances:
        itf = interfaces.get(inst.interface or "")
        out.append((itf.index if itf else 0, inst.virtual_router_id, inst))
    return sorted(out, key=lambda t: (t[0], t[1]))


def _uptime(started: float, st: VrrpInstanceStatus | None) -> Value:
    if st is None or st.last_transition is None:
        return TimeTicks(0)
    return TimeTicks(max(0, int((st.last_transition - started) * 100)))


def _rfc2787(rows: _Rows, config: Config, snap: Snapshot, interfaces: Mapping[str, Interface],
             started: float) -> None:
    r = rows.add
    status = _status(snap)
    r((*RFC2787, 1, 1, 0), Integer(2))
    r((*RFC2787, 1, 2, 0), truth(config.global_defs.enable_traps))
    v2 = [t for t in _rfc_rows(config, interfaces) if t[2].version == 2 and t[2].family == 4]
    # keepalived 2.2.7 shows only the lowest row of these tables in a walk (see the module's docstring)
    for ifindex, vrid, inst in v2[:1]:
        st = status.get(inst.name)
        state = st.state if st else "INIT"
        itf = interfaces.get(inst.interface or "")
        ix = (ifindex, vrid)
        e = (*RFC2787, 1, 3, 1)
        r((*e, 2, *ix), OctetString(itf.mac if itf else b""))
        r((*e, 3, *ix), Integer(RFC_STATE.get(state, 1)))
        r((*e, 4, *ix), Integer(1))
        r((*e, 5, *ix), Integer(_base(inst, st)))
        r((*e, 6, *ix), Integer(len(inst.virtual_ipaddress)))
        master = st.master_address if st and state == "BACKUP" and st.master_address else "0.0.0.0"
        r((*e, 7, *ix), IpAddress(ipaddress.ip_address(master).packed))
        r((*e, 8, *ix), IpAddress(_primary(inst, interfaces)))
        auth = inst.authentication
        r((*e, 9, *ix), Integer(1 if auth is None else 2 if auth.type == "PASS" else 3))
        r((*e, 11, *ix), Integer(int(inst.advert_int)))
        r((*e, 12, *ix), truth(not _nopreempt(inst, st)))
        r((*e, 13, *ix), _uptime(started, st))
        r((*e, 14, *ix), Integer(1))
        r((*e, 15, *ix), Integer(1))
    for ifindex, vrid, inst in v2:
        for vip in inst.virtual_ipaddress:
            r((*RFC2787, 1, 4, 1, 2, ifindex, vrid, *vip.address.ip.packed), Integer(1))
    # vrrpRouterChecksumErrors, vrrpRouterVersionErrors, vrrpRouterVrIdErrors: summed over the RFC 2787 instances
    # (keepalived 2.2.7 never counts VRID errors)
    stats = [st.stats for _, _, inst in v2 if (st := status.get(inst.name)) is not None]
    r((*RFC2787, 2, 1, 0), Counter32(sum(s.chk_err for s in stats)))
    r((*RFC2787, 2, 2, 0), Counter32(sum(s.vers_err for s in stats)))
    r((*RFC2787, 2, 3, 0), Counter32(0))
    for ifindex, vrid, inst in v2[:1]:
        st = status.get(inst.name)
        s = st.stats if st else None
        e = (*RFC2787, 2, 4, 1)
        vals = [s.become_master, s.advert_rcvd, s.advert_interval_err, s.auth_failure, s.ip_ttl_err,
                s.pri_zero_rcvd, s.pri_zero_sent, s.invalid_type_rcvd, s.addr_list_err, s.invalid_authtype,
                s.authtype_mismatch, s.packet_len_err] if s else [0] * 12
        for col, v in enumerate(vals, 1):
            r((*e, col, ifindex, vrid), Counter32(v))


def _rfc6527(rows: _Rows, config: Config, snap: Snapshot, interfaces: Mapping[str, Interface],
             started: float) -> None:
    r = rows.add
    status = _status(snap)
    all_rows = _rfc_rows(config, interfaces)
    for ifindex, vrid, inst in all_rows:
        st = status.get(inst.name)
        state = st.state if st else "INIT"
        itf = interfaces.get(inst.interface or "")
        atype = 1 if inst.family == 4 else 2
        ix = (ifindex, vrid, atype)
        e = (*RFC6527, 1, 1, 1, 1)
        primary = _primary(inst, interfaces)
        if state == "MASTER":
            master = primary
        elif st and st.master_address:
            master = ipaddress.ip_address(st.master_address).packed
        else:
            master = bytes(len(primary) or 4)
        r((*e, 3, *ix), OctetString(master))
        r((*e, 4, *ix), OctetString(primary))
        r((*e, 5, *ix), OctetString(itf.mac if itf else b""))
        r((*e, 6, *ix), Integer(RFC_STATE.get(state, 1)))
        r((*e, 7, *ix), Gauge32(_base(inst, st)))
        r((*e, 8, *ix), Integer(len(inst.virtual_ipaddress)))
        r((*e, 9, *ix), Integer(round(inst.advert_int * 100)))
        r((*e, 10, *ix), truth(not _nopreempt(inst, st)))
        r((*e, 11, *ix), truth(inst.accept))
        r((*e, 12, *ix), _uptime(started, st))
        r((*e, 13, *ix), Integer(1))
        for vip in inst.virtual_ipaddress:
            r((*RFC6527, 1, 1, 2, 1, 2, *ix, *vip.address.ip.packed), Integer(1))
    r((*RFC6527, 1, 2, 1, 0), Counter64(0))
    r((*RFC6527, 1, 2, 2, 0), Counter64(0))
    r((*RFC6527, 1, 2, 3, 0), Counter64(0))
    r((*RFC6527, 1, 2, 4, 0), TimeTicks(0))
    for ifindex, vrid, inst in all_rows:
        st = status.get(inst.name)
        s = st.stats if st else None
        ix = (ifindex, vrid, 1 if inst.family == 4 else 2)
        e = (*RFC6527, 1, 2, 5, 1)
        state = st.state if st else "INIT"
        r((*e, 1, *ix), Counter32(s.become_master if s else 0))
        r((*e, 2, *ix), Integer(new_master_reason(st) if state == "MASTER" else 0))
        vals = [s.advert_rcvd, s.advert_interval_err, s.ip_ttl_err] if s else [0, 0, 0]
        for col, v in zip((3, 4, 5), vals, strict=True):
            r((*e, col, *ix), Counter64(v))
        r((*e, 6, *ix), Integer(st.proto_error_reason if st else 0))  # the last protocol error's reason
        vals = [s.pri_zero_rcvd, s.pri_zero_sent, s.invalid_type_rcvd, s.addr_list_err, s.packet_len_err] if s \
            else [0] * 5
        for col, v in zip((7, 8, 9, 10, 11), vals, strict=True):
            r((*e, col, *ix), Counter64(v))
        r((*e, 12, *ix), TimeTicks(0))
        r((*e, 13, *ix), Gauge32(round(inst.advert_int * 1000)))


def new_master_reason(st: VrrpInstanceStatus | None) -> int:
    """vrrpv3StatisticsNewMasterReason: notMaster(0) priority(1) preempted(2) masterNoResponse(3)."""
    return 3
