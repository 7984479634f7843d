"""One immutable view of the running daemon: what ``status``, ``/metrics`` and the dashboard show.

The daemon builds a :class:`Snapshot` on request (from the VRRP instances, the checkers' view of each real
server and the data plane's table and counters) and the control socket ships it as JSON; the CLI turns the
JSON back into the same objects, so every view (text, ipvsadm table, metrics, dashboard) is rendered from
one type whichever side of the socket it runs on.

Two views of each virtual service are kept on purpose: ``service`` is what the data plane holds (the
ipvsadm table: a real server that is down is absent, an inhibited one is there with weight 0, the sorry
server is there while quorum is lost) and ``destinations`` is what the checkers think of every configured
real server (and the sorry server), with its counters.
"""

from __future__ import annotations

import enum
import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from pykeepalived.lvs.conntrack_watch import ConntrackUse
from pykeepalived.lvs.model import (
    Counters,
    Destination,
    DestKey,
    Forward,
    IPAddress,
    Rates,
    Service,
    ServiceKey,
    Table,
    TableCounters,
)

SCHEMA_VERSION = 1
"""Bumped when a field changes meaning; ``from_json`` refuses other versions with a clear message."""


class SnapshotFormatError(ValueError):
    """The JSON is not a snapshot this version understands (e.g. a newer daemon)."""


class Health(enum.StrEnum):
    """What the checkers say about a real server (keepalived's alive flag plus how it is applied)."""

    ALIVE = "alive"
    DOWN = "down"  # removed from the data plane
    INHIBITED = "inhibited"  # down, kept with weight 0 (inhibit_on_failure)
    SORRY = "sorry"  # the sorry server (in the table only while quorum is lost, or with sorry_server_inhibit)


# --------------------------------------------------------------------------------------------- VRRP

#: keepalived's per-instance counters, named and ordered as in its JSON dump (vrrp_json.c, SIGJSON).
VRRP_STAT_NAMES: tuple[str, ...] = (
    "advert_rcvd", "advert_sent", "become_master", "release_master", "packet_len_err",
    "advert_interval_err", "ip_ttl_err", "invalid_type_rcvd", "addr_list_err", "invalid_authtype",
    "authtype_mismatch", "auth_failure", "pri_zero_rcvd", "pri_zero_sent",
)  # fmt: skip
#: the two counters keepalived keeps beside them for RFC 2787's global error counters
VRRP_RFC_STAT_NAMES: tuple[str, ...] = ("chk_err", "vers_err")


@dataclass(frozen=True, slots=True)
class VrrpStats:
    """The counters keepalived keeps per instance, under keepalived's own names."""

    advert_rcvd: int = 0
    advert_sent: int = 0
    become_master: int = 0
    release_master: int = 0
    packet_len_err: int = 0
    advert_interval_err: int = 0
    ip_ttl_err: int = 0
    invalid_type_rcvd: int = 0
    addr_list_err: int = 0
    invalid_authtype: int = 0
    authtype_mismatch: int = 0
    auth_failure: int = 0
    pri_zero_rcvd: int = 0
    pri_zero_sent: int = 0
    #: checksum and version errors: not in keepalived's JSON, only in RFC 2787's global counters (SNMP)
    chk_err: int = 0
    vers_err: int = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in (*VRRP_STAT_NAMES, *VRRP_RFC_STAT_NAMES)}

    @classmethod
    def collect(cls, fsm_stats: Any, errors: Mapping[str, int] | None = None) -> VrrpStats:
        """The state machine's counts (adverts, transitions) with the I/O layer's packet errors
        (``DropCounters.keepalived_stats()``) over them."""
        counts = {n: getattr(fsm_stats, n, 0) for n in (*VRRP_STAT_NAMES, *VRRP_RFC_STAT_NAMES)}
        counts.update((k, v) for k, v in (errors or {}).items() if k in counts)
        return cls(**counts)


@dataclass(frozen=True, slots=True)
class PacketError:
    """One bad advert keepalived sends a trap for (``pykeepalived.vrrp.packet.ErrorRecord``): ``kind``
    ``"auth"`` (RFC 2787 vrrpTrapAuthFailure) or ``"proto"`` (RFC 6527 vrrpv3NotifyProtoError), its number
    ``seq`` among the instance's errors of that kind, the RFC's ``code`` (vrrpTrapAuthErrorType,
    vrrpv3StatisticsProtoErrReason) and the packet's source."""

    kind: str
    seq: int
    code: int
    src: str | None = None


@dataclass(frozen=True, slots=True)
class VrrpInstanceStatus:
    """One vrrp_instance as an operator looks at it (state, priorities, who is master, VIPs, counters)."""

    name: str
    interface: str
    vrid: int
    state: str  # "INIT" | "BACKUP" | "MASTER" | "FAULT" | "STOP" (keepalived's words)
    base_priority: int
    effective_priority: int
    version: int = 2
    master_address: str | None = None
    master_priority: int = 0
    vips: tuple[str, ...] = ()
    sync_group: str | None = None
    faults: tuple[str, ...] = ()
    last_transition: float | None = None  # unix time of the last state change, when the daemon knows it
    stats: VrrpStats = field(default_factory=VrrpStats)
    #: virtual_ipaddress_excluded (keepalived.data's "Virtual IP Excluded"), written as ``vips``
    excluded_vips: tuple[str, ...] = ()
    garp_delay: int | None = None  # garp_master_delay, seconds (keepalived.data's "Gratuitous ARP delay")
    nopreempt: bool = False  # as configured, or as a runtime command (SNMP SET) left it
    wanted_state: str | None = None  # keepalived's wantstate (a BACKUP whose sync group holds it back wants MASTER)
    #: adverts that failed authentication so far (never cleared: the SNMP service traps each change), the
    #: latest one's source and RFC 2787 vrrpTrapAuthErrorType (1 invalidAuthType, 2 authTypeMismatch,
    #: 3 authFailure)
    auth_errors: int = 0
    auth_error_src: str | None = None
    auth_error_type: int = 0
    #: protocol errors so far (never cleared) and the latest one's RFC 6527 vrrpv3StatisticsProtoErrReason
    #: (1 ipTtlError, 2 versionError, 3 checksumError; 0 none yet)
    proto_errors: int = 0
    proto_error_reason: int = 0
    #: the latest bad adverts of each kind (at most ``vrrp.packet.ERROR_RING`` of each), one trap each
    recent_errors: tuple[PacketError, ...] = ()

    @classmethod
    def from_fsm(
        cls,
        inst: Any,
        *,
        interface: str,
        vips: Iterable[object] = (),
        errors: Mapping[str, int] | None = None,
        last_transition: float | None = None,
        excluded_vips: Iterable[object] = (),
        garp_delay: int | None = None,
        packet_errors: Any = None,
    ) -> VrrpInstanceStatus:
        """Read a :class:`pykeepalived.vrrp.fsm.Instance` (duck-typed, so this module needs no VRRP import).

        ``errors`` are the packet error counters the I/O layer keeps (``DropCounters.keepalived_stats()``);
        the state machine itself only counts adverts and transitions.  ``packet_errors``: the instance's last
        authentication and protocol errors (``pykeepalived.vrrp.packet.ErrorEvents``), for the SNMP traps.
        """
        master = inst.master_address
        pe = packet_errors
        auth_src = getattr(pe, "auth_error_src", None)
        return cls(
            name=inst.name,
            interface=interface,
            vrid=inst.params.vrid,
            state=inst.state.name,
            base_priority=inst.base_priority,
            effective_priority=inst.effective_priority,
            version=inst.params.version,
            master_address=None if master is None else str(master),
            master_priority=getattr(inst, "master_priority", 0),
            vips=tuple(str(v) for v in vips),
            sync_group=inst.params.sync_group,
            faults=tuple(sorted(inst.faults)),
            last_transition=last_transition,
            stats=VrrpStats.collect(inst.stats, errors),
            excluded_vips=tuple(str(v) for v in excluded_vips),
            garp_delay=garp_delay,
            nopreempt=bool(getattr(inst.params, "nopreempt", False)),
            wanted_state=getattr(getattr(inst, "wantstate", None), "name", None),
            auth_errors=getattr(pe, "auth_errors", 0),
            auth_error_src=None if auth_src is None else str(auth_src),
            auth_error_type=getattr(pe, "auth_error_type", 0),
            proto_errors=getattr(pe, "proto_errors", 0),
            proto_error_reason=getattr(pe, "proto_error_reason", 0),
            recent_errors=tuple(PacketError(r.kind, r.seq, r.code, None if r.src is None else str(r.src))
                                for r in getattr(pe, "recent", ())),
        )


@dataclass(frozen=True, slots=True)
class VrrpScriptStatus:
    """One vrrp_script as keepalived's data dump shows it (``dump_vscript``: ``Status``, ``State``)."""

    name: str
    status: str = "GOOD"  # "GOOD" (result >= rise) | "BAD"
    state: str = "idle"  # "idle" | "running" | "requested termination" | "forcing termination"
    init_state: str = "done"  # "init" (no verdict yet) | "failed" | "done" (keepalived's init_state; SNMP shows it)


@dataclass(frozen=True, slots=True)
class TrackProcessStatus:
    """One vrrp_track_process as the VRRP process counts it (keepalived's ``num_cur_proc``, ``have_quorum``)."""

    name: str
    running: int = 0  # matching processes at the last scan
    quorum: bool = False  # the verdict (after fork_delay / terminate_delay)


@dataclass(frozen=True, slots=True)
class BfdTrackStatus:
    """One bfd_instance as the VRRP process last heard of it from the BFD process."""

    name: str
    up: bool = False


# --------------------------------------------------------------------------------------------- LVS


#: upper bounds (seconds) of the checker duration histogram: prometheus_client's defaults, which span a
#: TCP connect on a LAN (ms) to keepalived's default connect_timeout (5 s)
CHECK_DURATION_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True, slots=True)
class DurationHistogram:
    """How long a checker's attempts took: a count per bucket (``counts[i]``: attempts that took at most
    ``bounds[i]`` and more than ``bounds[i-1]``; the last one, more than ``bounds[-1]``) and their sum."""

    bounds: tuple[float, ...] = CHECK_DURATION_BUCKETS
    counts: tuple[int, ...] = ()  # len(bounds) + 1 once something was observed; () = nothing yet
    sum: float = 0.0

    @property
    def count(self) -> int:
        return sum(self.counts)

    def observe(self, seconds: float) -> DurationHistogram:
        counts = list(self.counts) or [0] * (len(self.bounds) + 1)
        i = next((i for i, b in enumerate(self.bounds) if seconds <= b), len(self.bounds))
        counts[i] += 1
        return DurationHistogram(self.bounds, tuple(counts), self.sum + seconds)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, attempts at most that long) for each bound and +Inf, as Prometheus wants them."""
        counts = self.counts or (0,) * (len(self.bounds) + 1)
        out, total = [], 0
        for bound, n in zip((*self.bounds, float("inf")), counts, strict=True):
            total += n
            out.append((bound, total))
        return out


@dataclass(frozen=True, slots=True)
class CheckStatus:
    """One configured checker of a real server (a TCP_CHECK, HTTP_GET … block): its verdict and timing."""

    kind: str  # the keyword: "TCP_CHECK", "HTTP_GET", "SSL_GET", "MISC_CHECK", "SMTP_CHECK", "DNS_CHECK", ...
    target: str  # what it connects to (connect_ip:connect_port, else the real server), or the script
    up: bool | None = None  # its verdict after retry/delay_before_retry; None before its first verdict
    last_run: float | None = None  # unix time the last attempt ended
    last_duration: float | None = None  # seconds the last attempt took
    attempts: int = 0
    failures: int = 0  # attempts that failed
    durations: DurationHistogram = field(default_factory=DurationHistogram)


@dataclass(frozen=True, slots=True)
class DestinationStatus:
    """A configured real server (or the sorry server): the checkers' verdict and its traffic."""

    key: DestKey
    weight: int  # the weight the checkers want (configured, or from misc_dynamic / FILE_CHECK)
    health: Health = Health.ALIVE
    active_conns: int = 0  # ActiveConn
    inactive_conns: int = 0  # InActConn
    stats: Counters = field(default_factory=Counters)
    rates: Rates = field(default_factory=Rates)
    #: a runtime override in force (``drained``, ``weight 5``, ``disabled``); the health is still the checkers'
    override: str = ""
    checks: tuple[CheckStatus, ...] = ()  # one per configured checker, in configuration order


@dataclass(frozen=True, slots=True)
class QuorumStatus:
    """keepalived's quorum for one virtual server (ipwrapper.c update_quorum_state)."""

    quorum: int = 1
    hysteresis: int = 0
    weight_sum: int = 0  # sum of the weights of the alive real servers
    up: bool = True


@dataclass(frozen=True, slots=True)
class VirtualServiceStatus:
    """One virtual server: the data plane's entry plus the checkers' view of each destination."""

    service: Service  # as the data plane holds it: what ipvsadm would print
    destinations: tuple[DestinationStatus, ...] = ()
    quorum: QuorumStatus = field(default_factory=QuorumStatus)
    stats: Counters | None = None  # the service's own counters; None = sum of its destinations'
    rates: Rates | None = None
    sorry_server: DestKey | None = None
    name: str | None = None  # virtual_server_group name or a label, when there is one

    def dest_status(self, key: DestKey) -> DestinationStatus | None:
        for d in self.destinations:
            if d.key == key:
                return d
        return None

    def total_stats(self) -> Counters:
        """The service line of ``--stats``: IPVS keeps it itself; lacking that, the destinations' sum."""
        if self.stats is not None:
            return self.stats
        total = Counters()
        for d in self.destinations:
            total = total + d.stats
        return total

    def total_rates(self) -> Rates:
        if self.rates is not None:
            return self.rates
        total = Rates()
        for d in self.destinations:
            total = total + d.rates
        return total

    @classmethod
    def build(
        cls,
        service: Service,
        *,
        configured: Iterable[Destination] = (),
        health: Mapping[DestKey, Health] | None = None,
        conn_counts: Mapping[tuple[ServiceKey, DestKey], Any] | None = None,
        stats: Mapping[DestKey, Counters] | None = None,
        rates: Mapping[DestKey, Rates] | None = None,
        quorum: QuorumStatus | None = None,
        sorry_server: DestKey | None = None,
        name: str | None = None,
    ) -> VirtualServiceStatus:
        """Assemble from the pieces the daemon has at hand.

        ``service`` is the data plane's entry; ``configured`` lists every configured real server (those
        missing from the data plane count as down unless ``health`` says otherwise); ``conn_counts`` is the
        nftables data plane's ``counters()`` (anything with ``.active`` / ``.inactive``).
        """
        health = dict(health or {})
        in_table = service.dest_map()
        wanted: dict[DestKey, int] = {d.key: d.weight for d in configured}
        for key, d in in_table.items():
            wanted.setdefault(key, d.weight)
        if sorry_server is not None:
            wanted.setdefault(sorry_server, in_table[sorry_server].weight if sorry_server in in_table else 1)
        dests = []
        for key, weight in wanted.items():
            if key in health:
                h = health[key]
            elif key == sorry_server:
                h = Health.SORRY
            elif key not in in_table:
                h = Health.DOWN
            elif in_table[key].weight == 0 and weight != 0:
                h = Health.INHIBITED
            else:
                h = Health.ALIVE
            cc = (conn_counts or {}).get((service.key, key))
            dests.append(
                DestinationStatus(
                    key=key,
                    weight=weight,
                    health=h,
                    active_conns=getattr(cc, "active", 0),
                    inactive_conns=getattr(cc, "inactive", 0),
                    stats=(stats or {}).get(key, Counters()),
                    rates=(rates or {}).get(key, Rates()),
                )
            )
        if quorum is None:
            alive = sum(d.weight for d in dests if d.health is Health.ALIVE)
            quorum = QuorumStatus(weight_sum=alive, up=alive >= 1)
        return cls(service, tuple(dests), quorum, None, None, sorry_server, name)


# --------------------------------------------------------------------------------------------- daemon


@dataclass(frozen=True, slots=True)
class DaemonInfo:
    """Which daemon this is: enough to tell two daemons on one machine apart."""

    pid: int
    config_file: str
    dataplane: str  # "ipvs" | "nftables" | "proxy" | "none"
    started_at: float  # unix time
    version: str = ""
    pid_file: str | None = None
    control_socket: str | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the status views show, taken at one instant (``taken_at``, unix time)."""

    daemon: DaemonInfo
    taken_at: float
    vrrp: tuple[VrrpInstanceStatus, ...] = ()
    virtual_services: tuple[VirtualServiceStatus, ...] = ()
    # What the "IP Virtual Server version" header says: the kernel's for the ipvs data plane, IPVS's
    # usual values (1.2.1, 2^12 connection table) for the others, so scripts parsing it keep working.
    ipvs_version: str = "1.2.1"
    ipvs_table_size: int = 4096
    #: runtime overrides in force (``pykeepalived ctl``): lvs.overrides.Overrides.to_json() plus the VRRP
    #: instances handed over (``{"instances": {name: priority}}``)
    overrides: dict[str, Any] = field(default_factory=dict)
    vrrp_scripts: tuple[VrrpScriptStatus, ...] = ()  # every vrrp_script (keepalived.data "VRRP Scripts")
    track_processes: tuple[TrackProcessStatus, ...] = ()  # every vrrp_track_process (SNMP's vrrpProcessTable)
    bfds: tuple[BfdTrackStatus, ...] = ()  # every bfd_instance the VRRP process knows (SNMP's vrrpBfdTable)
    #: the checker process's namespace's conntrack table (lvs.conntrack_watch); None where conntrack is not loaded
    conntrack: ConntrackUse | None = None

    def to_json(self, *, indent: int | None = None) -> str:
        return json.dumps(snapshot_to_dict(self), indent=indent, sort_keys=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> Snapshot:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise SnapshotFormatError(f"not JSON: {e}") from e
        return snapshot_from_dict(data)

    def table(self) -> tuple[Service, ...]:
        """The data plane's services (the ipvsadm view)."""
        return tuple(vs.service for vs in self.virtual_services)

    def with_time(self, taken_at: float) -> Snapshot:
        return replace(self, taken_at=taken_at)


# --------------------------------------------------------------------------------------------- JSON
# Explicit encoders rather than dataclasses.asdict: addresses, keys and enums need a stable spelling that
# a human reading `status --json` (or jq) recognises, and decoding must rebuild exactly the same objects.


def _addr(a: IPAddress | None) -> str | None:
    return None if a is None else str(a)


def _service_key_to(k: ServiceKey) -> dict[str, Any]:
    return {"protocol": k.protocol, "addr": _addr(k.addr), "port": k.port, "fwmark": k.fwmark,
            "family": k.family}


def _service_key_from(d: Mapping[str, Any]) -> ServiceKey:
    addr = d.get("addr")
    return ServiceKey(
        str(d["protocol"]),
        None if addr is None else ipaddress.ip_address(addr),
        int(d.get("port", 0)),
        int(d.get("fwmark", 0)),
        int(d.get("family", 4)),
    )


def _dest_key_to(k: DestKey) -> dict[str, Any]:
    return {"addr": str(k.addr), "port": k.port}


def _dest_key_from(d: Mapping[str, Any]) -> DestKey:
    return DestKey(ipaddress.ip_address(d["addr"]), int(d["port"]))


def _service_to(s: Service) -> dict[str, Any]:
    return {
        "key": _service_key_to(s.key),
        "scheduler": s.scheduler,
        "flags": sorted(s.flags),
        "persistence_timeout": s.persistence_timeout,
        "persistence_netmask": s.persistence_netmask,
        "destinations": [
            {
                "key": _dest_key_to(d.key),
                "weight": d.weight,
                "forward": d.forward.value,
                "u_threshold": d.u_threshold,
                "l_threshold": d.l_threshold,
            }
            for d in s.destinations
        ],
    }


def _service_from(d: Mapping[str, Any]) -> Service:
    mask = d.get("persistence_netmask")
    return Service(
        key=_service_key_from(d["key"]),
        scheduler=str(d.get("scheduler", "wlc")),
        flags=frozenset(d.get("flags", ())),
        persistence_timeout=int(d.get("persistence_timeout", 0)),
        persistence_netmask=None if mask is None else int(mask),
        destinations=tuple(
            Destination(
                key=_dest_key_from(x["key"]),
                weight=int(x.get("weight", 1)),
                forward=Forward(x.get("forward", "NAT")),
                u_threshold=int(x.get("u_threshold", 0)),
                l_threshold=int(x.get("l_threshold", 0)),
            )
            for x in d.get("destinations", ())
        ),
    )


def _flat_to(obj: Any) -> dict[str, Any]:
    """A dataclass of plain ints/floats/strs as a dict."""
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _flat_from(cls: Any, d: Mapping[str, Any] | None) -> Any:
    """Ignore unknown keys (an older CLI reading a newer daemon's additive fields)."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in (d or {}).items() if k in names})


def _vrrp_to(v: VrrpInstanceStatus) -> dict[str, Any]:
    out = _flat_to(v)
    out["vips"] = list(v.vips)
    out["faults"] = list(v.faults)
    out["stats"] = v.stats.as_dict()
    out["excluded_vips"] = list(v.excluded_vips)
    out["recent_errors"] = [_flat_to(e) for e in v.recent_errors]
    return out


def _vrrp_from(d: Mapping[str, Any]) -> VrrpInstanceStatus:
    names = {f.name for f in fields(VrrpInstanceStatus)}
    kw = {k: v for k, v in d.items() if k in names}
    kw["vips"] = tuple(d.get("vips", ()))
    kw["faults"] = tuple(d.get("faults", ()))
    kw["stats"] = _flat_from(VrrpStats, d.get("stats"))
    kw["excluded_vips"] = tuple(d.get("excluded_vips", ()))
    kw["recent_errors"] = tuple(_flat_from(PacketError, e) for e in d.get("recent_errors", ()))
    return VrrpInstanceStatus(**kw)


def _check_to(c: CheckStatus) -> dict[str, Any]:
    out = _flat_to(c)
    h = c.durations
    out["durations"] = {"bounds": list(h.bounds), "counts": list(h.counts), "sum": h.sum}
    return out


def _check_from(d: Mapping[str, Any]) -> CheckStatus:
    names = {f.name for f in fields(CheckStatus)}
    kw = {k: v for k, v in d.items() if k in names}
    h = d.get("durations") or {}
    kw["durations"] = DurationHistogram(tuple(float(b) for b in h.get("bounds", CHECK_DURATION_BUCKETS)),
                                        tuple(int(n) for n in h.get("counts", ())), float(h.get("sum", 0.0)))
    return CheckStatus(**kw)


def _dest_status_to(d: DestinationStatus) -> dict[str, Any]:
    return {
        "key": _dest_key_to(d.key),
        "weight": d.weight,
        "health": d.health.value,
        "active_conns": d.active_conns,
        "inactive_conns": d.inactive_conns,
        "stats": _flat_to(d.stats),
        "rates": _flat_to(d.rates),
        "override": d.override,
        "checks": [_check_to(c) for c in d.checks],
    }


def _dest_status_from(d: Mapping[str, Any]) -> DestinationStatus:
    return DestinationStatus(
        key=_dest_key_from(d["key"]),
        weight=int(d["weight"]),
        health=Health(d.get("health", "alive")),
        active_conns=int(d.get("active_conns", 0)),
        inactive_conns=int(d.get("inactive_conns", 0)),
        stats=_flat_from(Counters, d.get("stats")),
        rates=_flat_from(Rates, d.get("rates")),
        override=str(d.get("override", "")),
        checks=tuple(_check_from(c) for c in d.get("checks", ())),
    )


def _vs_to(vs: VirtualServiceStatus) -> dict[str, Any]:
    return {
        "name": vs.name,
        "service": _service_to(vs.service),
        "destinations": [_dest_status_to(d) for d in vs.destinations],
        "quorum": _flat_to(vs.quorum),
        "stats": None if vs.stats is None else _flat_to(vs.stats),
        "rates": None if vs.rates is None else _flat_to(vs.rates),
        "sorry_server": None if vs.sorry_server is None else _dest_key_to(vs.sorry_server),
    }


def _vs_from(d: Mapping[str, Any]) -> VirtualServiceStatus:
    sorry = d.get("sorry_server")
    return VirtualServiceStatus(
        service=_service_from(d["service"]),
        destinations=tuple(_dest_status_from(x) for x in d.get("destinations", ())),
        quorum=_flat_from(QuorumStatus, d.get("quorum")),
        stats=None if d.get("stats") is None else _flat_from(Counters, d["stats"]),
        rates=None if d.get("rates") is None else _flat_from(Rates, d["rates"]),
        sorry_server=None if sorry is None else _dest_key_from(sorry),
        name=d.get("name"),
    )


def snapshot_to_dict(s: Snapshot) -> dict[str, Any]:
    """The JSON document served at ``GET /status`` (and printed by ``status --json``)."""
    return {
        "schema": SCHEMA_VERSION,
        "taken_at": s.taken_at,
        "daemon": _flat_to(s.daemon),
        "ipvs": {"version": s.ipvs_version, "table_size": s.ipvs_table_size},
        "vrrp": [_vrrp_to(v) for v in s.vrrp],
        "virtual_services": [_vs_to(vs) for vs in s.virtual_services],
        "overrides": s.overrides,
        "vrrp_scripts": [_flat_to(x) for x in s.vrrp_scripts],
        "track_processes": [_flat_to(x) for x in s.track_processes],
        "bfds": [_flat_to(x) for x in s.bfds],
        "conntrack": None if s.conntrack is None else {"entries": s.conntrack.entries, "limit": s.conntrack.limit},
    }


def snapshot_from_dict(data: Any) -> Snapshot:
    if not isinstance(data, dict) or "daemon" not in data:
        raise SnapshotFormatError("not a pykeepalived status document (no 'daemon' object)")
    schema = data.get("schema")
    if schema != SCHEMA_VERSION:
        raise SnapshotFormatError(
            f"status schema {schema!r} is not the {SCHEMA_VERSION} this pykeepalived understands "
            "(is the daemon a different version?)"
        )
    try:
        ipvs = data.get("ipvs") or {}
        return Snapshot(
            daemon=_flat_from(DaemonInfo, data["daemon"]),
            taken_at=float(data["taken_at"]),
            vrrp=tuple(_vrrp_from(v) for v in data.get("vrrp", ())),
            virtual_services=tuple(_vs_from(v) for v in data.get("virtual_services", ())),
            ipvs_version=str(ipvs.get("version", "1.2.1")),
            ipvs_table_size=int(ipvs.get("table_size", 4096)),
            overrides=dict(data.get("overrides") or {}),
            vrrp_scripts=tuple(_flat_from(VrrpScriptStatus, x) for x in data.get("vrrp_scripts", ())),
            track_processes=tuple(_flat_from(TrackProcessStatus, x) for x in data.get("track_processes", ())),
            bfds=tuple(_flat_from(BfdTrackStatus, x) for x in data.get("bfds", ())),
            conntrack=None if not data.get("conntrack") else ConntrackUse(int(data["conntrack"]["entries"]),
                                                                          int(data["conntrack"]["limit"])),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise SnapshotFormatError(f"malformed status document: {e!r}") from e


def table_statuses(table: Table, counters: TableCounters) -> list[VirtualServiceStatus]:
    """The status view of a data plane's table with its counters alone (what ``ipvsadm -Ln --stats``
    shows, no checkers).  Where the data plane keeps a service line of its own (IPVS), it is shown, not
    the sum of the destinations' (they differ once a destination has been removed)."""
    out = []
    for svc in table.services:
        dests = {d: c for (k, d), c in counters.dests.items() if k == svc.key}
        vs = VirtualServiceStatus.build(
            svc,
            conn_counts={(svc.key, d): c for d, c in dests.items()},
            stats={d: c.stats for d, c in dests.items()},
            rates={d: c.rates for d, c in dests.items()},
        )
        if svc.key in counters.services:
            stats, rates = counters.services[svc.key]
            vs = replace(vs, stats=stats, rates=rates)
        out.append(vs)
    return out
