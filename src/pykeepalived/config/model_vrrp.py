"""The VRRP side of the configuration, after keepalived's defaults and validation.

``vrrp_instance`` values are the effective ones (``vrrp_complete_instance``): priority derived
from state, version 3 for IPv6, global vrrp_* defaults copied in, strict-mode fix-ups applied,
advert_int rounded per version, trackers dropped where keepalived drops them.  Field names
follow keepalived's keywords.  Times are seconds (floats, microsecond resolution).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .lines import Location
from .model_script import Script

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface


@dataclass(frozen=True, slots=True)
class TrackRef:
    """One entry of a track_interface / track_script / track_file / track_process / track_bfd block."""

    name: str
    weight: int = 0
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class VrrpScript:
    name: str
    script: Script
    interval: float = 1.0
    timeout: float | None = None
    weight: int = 0
    weight_reverse: bool = False
    rise: int = 1
    fall: int = 1
    user: str | None = None
    group: str | None = None
    init_fail: bool = False


@dataclass(frozen=True, slots=True)
class TrackFile:
    name: str
    file: str
    weight: int = 1
    weight_reverse: bool = False
    init_file: int | None = None
    init_file_overwrite: bool = False


@dataclass(frozen=True, slots=True)
class TrackProcess:
    name: str
    process: str
    args: tuple[str, ...] | None = None
    param_match: str | None = None
    weight: int = 0
    weight_reverse: bool = False
    quorum: int = 1
    quorum_max: int | None = None
    delay: float | None = None
    terminate_delay: float | None = None
    fork_delay: float | None = None
    full_command: bool = False


@dataclass(frozen=True, slots=True)
class VirtualAddress:
    """One line of virtual_ipaddress / virtual_ipaddress_excluded / static_ipaddress."""

    address: IPInterface
    dev: str | None = None
    scope: str | None = None
    broadcast: ipaddress.IPv4Address | None = None
    label: str | None = None
    peer: IPInterface | None = None
    home: bool = False
    nodad: bool = False
    mngtmpaddr: bool = False
    noprefixroute: bool = False
    autojoin: bool = False
    no_track: bool = False
    preferred_lft: int | None = None
    use_vmac: bool = False
    track_group: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """An ``ip route``-style line.  Common options are fields; others stay as words in order."""

    dest: str
    family: int = 4
    type: str | None = None
    via: str | None = None
    src: str | None = None
    from_: str | None = None
    dev: str | None = None
    table: str | None = None
    metric: int | None = None
    scope: str | None = None
    protocol: str | None = None
    nexthops: tuple[tuple[str, ...], ...] = ()
    options: tuple[str, ...] = ()
    no_track: bool = False
    track_group: str | None = None


@dataclass(frozen=True, slots=True)
class Rule:
    """An ``ip rule``-style line; ``preference`` is always set (keepalived assigns one)."""

    preference: int
    family: int = 4
    from_: str | None = None
    to: str | None = None
    table: str | None = None
    action: str | None = None
    invert: bool = False
    iif: str | None = None
    oif: str | None = None
    options: tuple[str, ...] = ()
    no_track: bool = False
    track_group: str | None = None


@dataclass(frozen=True, slots=True)
class UnicastPeer:
    address: IPAddress
    min_ttl: int | None = None
    max_ttl: int | None = None


@dataclass(frozen=True, slots=True)
class Authentication:
    type: str  # "PASS" | "AH"
    password: str


@dataclass(frozen=True, slots=True)
class NotifyScripts:
    master: Script | None = None
    backup: Script | None = None
    fault: Script | None = None
    stop: Script | None = None
    deleted: Script | None = None
    #: ``notify_deleted`` given without a script: send DELETED instead of FAULT
    deleted_state: bool = False
    master_rx_lower_pri: Script | None = None
    #: the generic ``notify`` script (gets INSTANCE|GROUP name STATE prio appended)
    generic: Script | None = None


@dataclass(frozen=True, slots=True)
class Tracking:
    interfaces: tuple[TrackRef, ...] = ()
    scripts: tuple[TrackRef, ...] = ()
    files: tuple[TrackRef, ...] = ()
    processes: tuple[TrackRef, ...] = ()
    bfds: tuple[TrackRef, ...] = ()


@dataclass(frozen=True, slots=True)
class Vmac:
    """The instance's own interface on its ``interface``, sending its adverts: ``use_vmac [IFNAME] [MAC]``
    makes a macvlan with the virtual MAC that also holds the VIPs; ``use_ipvlan [IFNAME] [IP[/PREFIX]]
    [bridge|private|vepa]`` an ipvlan (always L2 mode, as keepalived 2.2.7) sharing the base's MAC, with
    ``address`` on it as the advert source (IPv4 needs one); its VIPs stay on the base, as keepalived's.
    The name defaults to ``<vmac_prefix>.<VRID>``."""

    ifname: str
    mac: str | None = None
    use_vmac_addr: bool = False
    xmit_base: bool = False
    kind: str = "macvlan"  # "macvlan" | "ipvlan"
    #: ipvlan: the address put on it (and the adverts' source unless mcast_src_ip / unicast_src_ip)
    address: IPInterface | None = None
    #: ipvlan: bridge (the kernel's default), private or vepa
    ipvlan_type: str = "bridge"


@dataclass(frozen=True, slots=True)
class VrrpInstance:
    name: str
    state: str  # "MASTER" | "BACKUP"
    interface: str | None
    virtual_router_id: int
    priority: int
    advert_int: float
    version: int
    family: int
    virtual_ipaddress: tuple[VirtualAddress, ...] = ()
    virtual_ipaddress_excluded: tuple[VirtualAddress, ...] = ()
    virtual_routes: tuple[Route, ...] = ()
    virtual_rules: tuple[Rule, ...] = ()
    nopreempt: bool = False
    preempt_delay: float = 0.0
    mcast_src_ip: IPAddress | None = None
    unicast_src_ip: IPAddress | None = None
    mcast_dst_ip: IPAddress | None = None
    unicast_peer: tuple[UnicastPeer, ...] = ()
    unicast_ttl: int | None = None
    unicast_fault_no_peer: bool = False
    check_unicast_src: bool = False
    old_unicast_checksum: str | None = None
    track_src_ip: bool = False
    vrf: str | None = None
    authentication: Authentication | None = None
    track: Tracking = Tracking()
    dont_track_primary: bool = False
    notify: NotifyScripts = NotifyScripts()
    smtp_alert: bool = False
    notify_priority_changes: bool = False
    garp_master_delay: int = 5
    garp_master_repeat: int = 5
    garp_master_refresh: int = 0
    garp_master_refresh_repeat: int = 1
    garp_lower_prio_delay: int = 5
    garp_lower_prio_repeat: int = 5
    garp_extra_if: int | None = None
    garp_extra_if_all: bool = False
    down_timer_adverts: int = 3
    lower_prio_no_advert: bool = False
    higher_prio_send_advert: bool = False
    accept: bool = True
    strict_mode: bool = False
    skip_check_adv_addr: bool = False
    #: ``use_vmac`` or ``use_ipvlan`` (``vmac.kind``)
    vmac: Vmac | None = None
    promote_secondaries: bool = False
    kernel_rx_buf_size: int | None = None
    debug: int = 0
    sync_group: str | None = None
    loc: Location | None = None

    @property
    def ipvlan(self) -> bool:
        """``use_ipvlan`` (keepalived needs a kernel with ipvlan; the instance stays in FAULT without)."""
        return self.vmac is not None and self.vmac.kind == "ipvlan"

    @property
    def macvlan(self) -> bool:
        """``use_vmac`` (a macvlan with the virtual MAC: keepalived's VRRP_VMAC_BIT)."""
        return self.vmac is not None and self.vmac.kind == "macvlan"


@dataclass(frozen=True, slots=True)
class SyncGroup:
    name: str
    group: tuple[str, ...]
    track: Tracking = Tracking()
    notify: NotifyScripts = NotifyScripts()
    smtp_alert: bool | None = None
    notify_priority_changes: bool | None = None
    sync_group_tracking_weight: bool = False


@dataclass(frozen=True, slots=True)
class GarpGroup:
    interfaces: tuple[str, ...]
    garp_interval: float | None = None
    gna_interval: float | None = None


@dataclass(frozen=True, slots=True)
class TrackGroup:
    name: str
    group: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LinkbeatInterface:
    interface: str
    mode: str | None = None  # MII | ETHTOOL | IOCTL


@dataclass(frozen=True, slots=True)
class InterfaceDelays:
    interface: str
    down_delay: float
    up_delay: float


@dataclass(frozen=True, slots=True)
class BfdInstance:
    name: str
    neighbor_ip: IPAddress | None = None
    source_ip: IPAddress | None = None
    min_rx: float | None = None
    min_tx: float | None = None
    idle_tx: float | None = None
    multiplier: int | None = None
    passive: bool = False
    ttl: int | None = None
    max_hops: int | None = None
    weight: int = 0
    weight_reverse: bool = False
    vrrp: bool = False
    checker: bool = False


@dataclass(frozen=True, slots=True)
class VrrpConfig:
    instances: tuple[VrrpInstance, ...] = ()
    sync_groups: tuple[SyncGroup, ...] = ()
    vrrp_scripts: tuple[VrrpScript, ...] = ()
    track_files: tuple[TrackFile, ...] = ()
    track_processes: tuple[TrackProcess, ...] = ()
    garp_groups: tuple[GarpGroup, ...] = ()
    track_groups: tuple[TrackGroup, ...] = ()
    static_ipaddress: tuple[VirtualAddress, ...] = ()
    static_routes: tuple[Route, ...] = ()
    static_rules: tuple[Rule, ...] = ()
    linkbeat_interfaces: tuple[LinkbeatInterface, ...] = ()
    interface_up_down_delays: tuple[InterfaceDelays, ...] = ()
    bfd_instances: tuple[BfdInstance, ...] = ()
