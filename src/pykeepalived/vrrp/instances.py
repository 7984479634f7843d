"""One ``vrrp_instance`` at run time, and how the config model maps onto it.

The config model (``config.model_vrrp.VrrpInstance``, effective values already resolved) becomes:
the state machine's :class:`~.fsm.InstanceParams`, the VIPs as netlink wants them
(:class:`~.addresses.VipSpec`), where adverts go (the multicast group or each unicast peer), the advert
template and the :class:`~.packet.Expectation` received adverts are validated against.  Everything
here is pure except :func:`advert_source`, which asks netlink for the interface's primary address
when the config names none.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import packet as pkt
from .addresses import Netlink, VipSpec
from .fsm import Instance, InstanceParams, State
from .tracking import TrackerRef

if TYPE_CHECKING:
    from pykeepalived.config.model import Config
    from pykeepalived.config.model_global import GlobalDefs
    from pykeepalived.config.model_vrrp import VirtualAddress, VrrpInstance

log = logging.getLogger("pykeepalived.vrrp")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

SockKey = tuple[str, int, str | None]
"""(interface, family, multicast group or None for unicast): instances sharing one VRRP socket."""


def vip_spec(va: VirtualAddress, default_dev: str) -> VipSpec:
    """One virtual_ipaddress line as the netlink layer wants it (dev defaults to the instance's).

    An IPv6 /128 without ``preferred_lft`` gets 0 (deprecated: never picked as a source address),
    as keepalived does; every IPv6 VIP is added without DAD (``VipSpec.nodad``)."""
    preferred = va.preferred_lft
    if preferred is None and va.address.version == 6 and va.address.network.prefixlen == 128:
        preferred = 0
    kwargs: dict[str, Any] = {
        "label": va.label,
        "scope": int(va.scope) if va.scope and va.scope.isdigit() else (va.scope or 0),
        "noprefixroute": va.noprefixroute,
        "home": va.home,
        "mngtmpaddr": va.mngtmpaddr,
        "autojoin": va.autojoin,
        "preferred_lft": preferred,
    }
    if va.broadcast is not None:
        kwargs["broadcast"] = str(va.broadcast)
    return VipSpec(va.address, va.dev or default_dev, **kwargs)


def instance_params(inst: VrrpInstance, primary: IPAddress | None,
                    vips: tuple[VipSpec, ...]) -> InstanceParams:
    """The one place that maps the config model onto the state machine's parameters.

    The model already holds effective values (globals copied in, strict-mode fix-ups applied,
    advert_int rounded per version), so this is a field-by-field copy.
    """
    return InstanceParams(
        name=inst.name,
        vrid=inst.virtual_router_id,
        version=inst.version,
        priority=inst.priority,
        advert_int=inst.advert_int,
        initial_state=State.MASTER if inst.state.upper() == "MASTER" else State.BACKUP,
        nopreempt=inst.nopreempt,
        preempt_delay=inst.preempt_delay,
        primary_address=primary,
        vips=vips,
        garp_master_delay=float(inst.garp_master_delay),
        garp_master_repeat=inst.garp_master_repeat,
        garp_master_refresh=float(inst.garp_master_refresh),
        garp_master_refresh_repeat=inst.garp_master_refresh_repeat,
        garp_lower_prio_delay=float(inst.garp_lower_prio_delay),
        garp_lower_prio_repeat=inst.garp_lower_prio_repeat,
        lower_prio_no_advert=inst.lower_prio_no_advert,
        higher_prio_send_advert=inst.higher_prio_send_advert,
        down_timer_adverts=inst.down_timer_adverts,
        notify_priority_changes=inst.notify_priority_changes,
        strict=inst.strict_mode,
        sync_group=inst.sync_group,
    )


def configured_vips(inst: VrrpInstance,
                    default_interface: str = "eth0") -> tuple[list[VipSpec], list[VipSpec]]:
    """(virtual_ipaddress, virtual_ipaddress_excluded) of one instance as VipSpecs (on its VMAC if it has one;
    an ipvlan's instance keeps them on its interface, as keepalived 2.2.7 does)."""
    dev = inst.vmac.ifname if inst.vmac is not None and inst.macvlan else (inst.interface or default_interface)
    return ([vip_spec(v, dev) for v in inst.virtual_ipaddress],
            [vip_spec(v, dev) for v in inst.virtual_ipaddress_excluded])


def all_vips(config: Config) -> list[VipSpec]:
    """Every VIP and eVIP of every configured instance."""
    default_if = config.global_defs.default_interface
    specs: list[VipSpec] = []
    for inst in config.vrrp.instances:
        vips, evips = configured_vips(inst, default_if)
        specs += vips + evips
    return specs


def advert_ifname(inst: VrrpInstance, default_interface: str = "eth0") -> str:
    """Where adverts are sent and received: the VMAC (keepalived), unless ``vmac_xmit_base``."""
    if inst.vmac is not None and not inst.vmac.xmit_base:
        return inst.vmac.ifname
    return inst.interface or default_interface


def tracked_vips(rt: InstanceRuntime) -> list[VipSpec]:
    """The VIPs and eVIPs whose deletion by another program keepalived notices (all but ``no_track`` ones)."""
    models = (*rt.model.virtual_ipaddress, *rt.model.virtual_ipaddress_excluded)
    return [spec for spec, va in zip(rt.vips + rt.evips, models, strict=True) if not va.no_track]


def blocks_vips(inst: VrrpInstance) -> bool:
    """keepalived drops traffic to the VIPs of a MASTER that is not their owner and has no accept mode."""
    return not inst.accept and inst.priority != 255


def socket_family(inst: VrrpInstance) -> int:
    """AF_INET or AF_INET6: the family of the instance's adverts."""
    return socket.AF_INET6 if inst.family == 6 else socket.AF_INET


async def advert_source(nl: Netlink, inst: VrrpInstance, ifname: str, family: int) -> IPAddress | None:
    """Advert source: unicast_src_ip / mcast_src_ip, else an ipvlan's address, else the interface's
    primary address."""
    chosen = inst.unicast_src_ip if inst.unicast_peer else inst.mcast_src_ip
    if chosen is None:
        chosen = inst.mcast_src_ip or inst.unicast_src_ip
    if chosen is None and inst.vmac is not None and inst.vmac.address is not None:
        chosen = inst.vmac.address.ip
    if chosen is not None:
        return chosen
    try:
        text = (await nl.primary_ipv4(ifname) if family == socket.AF_INET
                else await nl.link_local_ipv6(ifname))
    except LookupError:
        return None
    return ipaddress.ip_address(text) if text else None


def advert_destinations(inst: VrrpInstance, g: GlobalDefs) -> tuple[tuple[IPAddress, ...], IPAddress | None]:
    """(unicast peers, multicast group): adverts go to each peer, or to the group when there is none."""
    peers = tuple(p.address for p in inst.unicast_peer)
    if peers:
        return peers, None
    return peers, inst.mcast_dst_ip or (g.vrrp_mcast_group6 if inst.family == 6 else g.vrrp_mcast_group4)


def advert_auth(inst: VrrpInstance) -> tuple[int, str]:
    """(auth type, password) of a VRRPv2 advert: PASS, or none (AH is not supported: said once)."""
    if inst.authentication is not None and inst.version == 2:
        if inst.authentication.type.upper() == "PASS":
            return pkt.AUTH_PASS, inst.authentication.password
        log.error("(%s) authentication type %s is not supported; sending without authentication",
                  inst.name, inst.authentication.type)
    return pkt.AUTH_NONE, ""


def checks_unicast_source(inst: VrrpInstance) -> bool:
    """keepalived's VRRP_FLAG_CHECK_UNICAST_SRC: ``check_unicast_src`` (or the global
    ``vrrp_check_unicast_src``), and also any ``unicast_peer`` given a ``min_ttl`` or ``max_ttl``: a TTL
    range means nothing unless adverts are matched to their peer."""
    return inst.check_unicast_src or any(p.min_ttl is not None or p.max_ttl is not None for p in inst.unicast_peer)


@dataclass(eq=False)
class InstanceRuntime:
    """One vrrp_instance at run time: model, state machine, where its packets go."""

    model: VrrpInstance
    fsm: Instance
    ifname: str
    family: int
    vips: list[VipSpec]
    evips: list[VipSpec]
    src: IPAddress | None
    group: IPAddress | None  # multicast destination; None for unicast
    peers: tuple[IPAddress, ...]
    expect: pkt.Expectation
    expect_known_master: pkt.Expectation
    advert: pkt.Advert | None = None
    ip_id: int = 0
    drops: pkt.DropCounters = field(default_factory=pkt.DropCounters)
    #: the last authentication / protocol error, for the SNMP traps (``pkt.ErrorEvents``)
    errors: pkt.ErrorEvents = field(default_factory=pkt.ErrorEvents)
    #: FAULT reasons of the instance's own interface (and socket)
    faults: set[str] = field(default_factory=set)
    #: FAULT reasons from trackers (``vrrp.tracking.evaluate``)
    tracker_faults: set[str] = field(default_factory=set)
    trackers: list[TrackerRef] = field(default_factory=list)
    send_errors: int = 0
    #: wall-clock time of the last state change (keepalived's ``last_transition``)
    last_transition: float = field(default_factory=time.time)

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def unicast(self) -> bool:
        return bool(self.peers)

    @property
    def sock_key(self) -> SockKey:
        """The VRRP socket this instance sends and receives on."""
        return (self.ifname, self.family, str(self.group) if self.group is not None else None)

    def next_ip_id(self) -> int:
        """keepalived's per-instance IP id: 1, 2, ... wrapping past 0."""
        self.ip_id = self.ip_id % 0xFFFF + 1
        return self.ip_id


def build_runtime(inst: VrrpInstance, g: GlobalDefs, primary: IPAddress | None,
                  fsm: Instance | None = None) -> InstanceRuntime:
    """The run-time side of one instance whose advert source is ``primary`` (see :func:`advert_source`).

    ``fsm`` is the state machine kept across a reload: it takes the new parameters and base priority
    and keeps its state and timers."""
    ifname = advert_ifname(inst, g.default_interface)
    family = socket_family(inst)
    vips, evips = configured_vips(inst, g.default_interface)
    fam_v = 4 if family == socket.AF_INET else 6
    adv_vips = tuple(v.address.ip for v in vips if v.address.version == fam_v)
    if primary is None:
        log.error("(%s) no source address on %s: no adverts can be sent", inst.name, ifname)
    params = instance_params(inst, primary, tuple(vips))
    if fsm is None:
        fsm = Instance(params)
    else:
        fsm.params = params
        fsm.base_priority = params.priority
    peers, group = advert_destinations(inst, g)
    auth_type, auth_pass = advert_auth(inst)
    common: dict[str, Any] = {
        "vrid": inst.virtual_router_id, "version": inst.version, "auth_type": auth_type,
        "auth_pass": auth_pass, "adver_int": inst.advert_int, "vips": adv_vips,
        "unicast": bool(peers), "check_unicast_src": checks_unicast_source(inst),
        "unicast_peers": tuple(pkt.UnicastPeer(p.address, p.min_ttl or 0,
                                               255 if p.max_ttl is None else p.max_ttl)
                               for p in inst.unicast_peer),
    }
    rt = InstanceRuntime(
        model=inst, fsm=fsm, ifname=ifname, family=family, vips=vips, evips=evips,
        src=primary, group=group, peers=peers,
        expect=pkt.Expectation(**common),
        expect_known_master=pkt.Expectation(**common, check_vips=not inst.skip_check_adv_addr),
    )
    try:
        rt.advert = pkt.Advert.build(version=inst.version, vrid=inst.virtual_router_id,
                                     priority=inst.priority, addresses=adv_vips,
                                     adver_int=inst.advert_int, family=fam_v,
                                     auth_type=auth_type, auth_pass=auth_pass)
    except ValueError as e:
        log.error("(%s) cannot build adverts: %s", inst.name, e)
    return rt
