"""The VRRP configuration after parsing: keepalived's ``vrrp_complete_init``.

Sync-group resolution, per-instance defaults and fix-ups (``vrrp_complete_instance``), duplicate
VRIDs and unused scripts.  When an interface named anywhere does not exist (and
``dynamic_interfaces`` is off) keepalived's VRRP process stops right after parsing with
``Non-existent interface specified in configuration``; we report the same and run the validation
silently, so the model is still complete.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..blocks.tracking import notify_from, tracking_from
from ..errors import Diagnostics, ErrClass
from ..model_global import GlobalDefs
from ..model_vrrp import (
    Authentication,
    SyncGroup,
    Tracking,
    Vmac,
    VrrpConfig,
    VrrpInstance,
)
from ..parser import Context, Draft


def finish(ctx: Context, draft: Draft, global_defs: GlobalDefs) -> VrrpConfig:
    """Validate and complete the VRRP configuration as keepalived's VRRP process does."""
    # keepalived checks VRRP scripts only when some vrrp_instance was configured at all
    ctx.shared["vrrp_instances_configured"] = bool(draft.get("instances"))
    vctx = ctx
    if ctx.shared.get("non_existent_interface"):
        ctx.error(None, "Non-existent interface specified in configuration", cls=ErrClass.BAD_IF)
        ctx.shared["vrrp_aborted"] = True
        # keepalived stops here; complete the model without reporting anything more
        vctx = Context(
            diags=Diagnostics(), config_id=ctx.config_id, interfaces=ctx.interfaces, shared=ctx.shared
        )
    return _complete(vctx, draft, global_defs)


def _complete(ctx: Context, draft: Draft, gd: GlobalDefs) -> VrrpConfig:
    instances: list[Draft] = []
    for inst in draft.get("instances", []):
        name = inst["name"]
        if "virtual_router_id" not in inst:
            ctx.error(inst["_loc"], f"({name}) the virtual router id must be set")
            continue
        if "interface" not in inst:
            # keepalived 2.2.7's chk_min_cfg runs before unicast is known: no interface is always an error
            ctx.error(inst["_loc"], f"({name}) Unknown interface!")
            continue
        instances.append(inst)
    by_name = {i["name"]: i for i in instances}

    groups: list[SyncGroup] = []
    for sg in draft.get("sync_groups", []):
        gname = sg["name"]
        if "group" not in sg:
            ctx.error(None, f"Sync group {gname} has no virtual router(s). removing")
            continue
        members: list[str] = []
        for member in sg["group"]:
            inst = by_name.get(member)
            if inst is None:
                ctx.error(
                    sg["_loc"],
                    f"Virtual router {member} specified in sync group {gname} doesn't exist - ignoring",
                )
                continue
            if inst.get("_sync") is not None:
                ctx.error(
                    sg["_loc"],
                    f"Virtual router {member} cannot exist in more than one sync group; ignoring {gname}",
                )
                continue
            inst["_sync"] = sg
            members.append(member)
        if not members:
            ctx.error(
                sg["_loc"],
                f"Sync group {gname}, no matching virtual router found in group declaration - removing",
            )
            continue
        if len(members) == 1:
            ctx.error(
                sg["_loc"],
                f"Sync group {gname} has only 1 virtual router(s) - this probably isn't what you want",
            )
        groups.append(
            SyncGroup(
                name=gname,
                group=tuple(members),
                track=tracking_from(sg),
                notify=notify_from(sg),
                smtp_alert=sg.get("smtp_alert"),
                notify_priority_changes=sg.get("notify_priority_changes"),
                sync_group_tracking_weight=sg.get("sync_group_tracking_weight", False),
            )
        )

    completed = [c for c in (_complete_instance(ctx, inst, gd) for inst in instances) if c is not None]
    _check_vrid_conflicts(ctx, completed, gd)
    _check_sync_group_interfaces(ctx, groups, completed)

    used_scripts = {t.name for i in completed for t in i.track.scripts}
    used_scripts |= {t.name for g in groups for t in g.track.scripts}
    scripts = []
    unused = ctx.shared["unused_vrrp_scripts"] = []
    for s in draft.get("vrrp_scripts", []):
        if s.name not in used_scripts:
            # keepalived says so after its config-test checks: a log line, not a -t error; the
            # script is still checked for security (check_vrrp_script_security sees every script)
            ctx.note(None, f"Warning - script {s.name} is not used")
            unused.append(s)
            continue
        scripts.append(s)

    return VrrpConfig(
        instances=tuple(completed),
        sync_groups=tuple(groups),
        vrrp_scripts=tuple(scripts),
        track_files=tuple(draft.get("track_files", ())),
        track_processes=tuple(draft.get("track_processes", ())),
        garp_groups=tuple(draft.get("garp_groups", ())),
        track_groups=tuple(draft.get("track_groups", ())),
        static_ipaddress=tuple(draft.get("static_ipaddress", ())),
        static_routes=tuple(draft.get("static_routes", ())),
        static_rules=tuple(draft.get("static_rules", ())),
        linkbeat_interfaces=tuple(draft.get("linkbeat_interfaces", ())),
        interface_up_down_delays=tuple(draft.get("interface_up_down_delays", ())),
        bfd_instances=tuple(draft.get("bfd_instances", ())),
    )


def _check_sync_group_interfaces(ctx: Context, groups: list[SyncGroup], instances: list[VrrpInstance]) -> None:
    """keepalived's ``sync_group_tracking_init``: a sync group's tracked interface that a member
    already tracks (its own interface, unless ``dont_track_primary``, or its track_interface)."""
    by_name = {i.name: i for i in instances}
    for sg in groups:
        for tracked in sg.track.interfaces:
            for member in sg.group:
                inst = by_name.get(member)
                if inst is None:
                    continue
                own = {inst.interface} if inst.interface and not inst.dont_track_primary else set()
                if tracked.name in own or any(t.name == tracked.name for t in inst.track.interfaces):
                    ctx.error(None, f"({member}) track_interface {tracked.name} is configured on VRRP instance"
                                    " and sync group. Remove vrrp instance or sync group config")


def _complete_instance(ctx: Context, d: Draft, gd: GlobalDefs) -> VrrpInstance | None:
    """keepalived's ``vrrp_complete_instance`` for one instance (messages at the instance's line)."""
    name = d["name"]
    loc = d["_loc"]

    def err(message: str, cls: ErrClass = ErrClass.GENERAL_ERROR) -> None:
        ctx.error(loc, f"({name}) {message}", cls=cls)

    strict = d.get("strict_mode", gd.vrrp_strict)
    family = d.get("_family")
    version = d.get("version")
    if family == 6:
        if version == 2 and strict:
            err("cannot use IPv6 with VRRP version 2; setting version 3")
            version = 3
        elif version is None:
            version = 3
    family = family or 4
    if version is None:
        version = gd.vrrp_version
    vips = d.get("virtual_ipaddress", [])
    if not vips:
        if version == 3 or strict:
            err("No VIP specified; at least one is required")
            return None
        err("No VIP specified; at least one is sensible")

    state = d.get("state")
    priority = d.get("priority")
    if priority is None:
        priority = 255 if state == "MASTER" else 100
    if state is None:
        state = "MASTER" if priority == 255 else "BACKUP"
    elif strict and (state == "MASTER") != (priority == 255):
        err("State MASTER must match being address owner")
        state = "MASTER" if priority == 255 else "BACKUP"

    auth: Authentication | None = None
    auth_type = d.get("_auth_type")
    if auth_type is not None:
        if strict:
            err("Strict mode does not support authentication. Ignoring.")
        elif version == 3:
            err("VRRP version 3 does not support authentication. Ignoring.")
        elif not d.get("_auth_pass"):
            err("Authentication specified but no password given. Ignoring")
        elif family == 6 and auth_type == "AH":
            err("Cannot use AH authentication with IPv6. ignoring")
        else:
            if auth_type == "AH" and state == "MASTER" and priority != 255:
                err("Initial state master is incompatible with AH authentication - clearing")
                state = "BACKUP"
            auth = Authentication(auth_type, d["_auth_pass"])

    peers = tuple(d.get("unicast_peer", ()))
    if strict and peers and d.get("interface"):
        err("Unicast peers are not supported in strict mode")
        return None
    if d.get("interface") is None and "unicast_src_ip" not in d:
        err("Unicast instances must have unicast_src_ip or interface")
        return None
    if d.get("_unicast_configured") and not peers and not d.get("unicast_fault_no_peer"):
        err(
            "A unicast keyword has been specified without any unicast peers. Defaulting to multicast."
            " This usage is deprecated - please update your configuration.",
            ErrClass.DEPRECATED,
        )
    if strict and "_vmac" in d and d["_vmac"][1]:
        ctx.error(loc, f"({name}): cannot specify MAC address with strict mode - clearing")
    if family == 6 and not peers and vips and not vips[0].address.ip.is_link_local and strict:
        err("the first IPv6 VIP address must be link local")

    nopreempt = d.get("nopreempt", False)
    preempt_delay = d.get("preempt_delay", 0.0)
    if priority == 255 and nopreempt:
        err("nopreempt is incompatible with priority 255. resetting nopreempt")
        nopreempt = False
    if state == "MASTER":
        if nopreempt:
            err("Warning - nopreempt will not work with initial state MASTER - clearing")
            nopreempt = False
        if preempt_delay:
            err("Warning - preempt delay will not work with initial state MASTER - clearing")
            preempt_delay = 0.0
    if preempt_delay:
        if strict:
            err("preempt_delay is incompatible with strict mode - resetting")
            preempt_delay = 0.0
        if nopreempt:
            err("preempt_delay is incompatible with nopreempt mode - resetting")
            preempt_delay = 0.0
    down_timer_adverts = d.get("down_timer_adverts", gd.vrrp_down_timer_adverts)
    if down_timer_adverts != 3 and strict:
        err("down_timer_adverts is incompatible with strict mode - resetting")
        down_timer_adverts = 3

    accept = d.get("accept")
    if accept is None:
        accept = True if priority == 255 else not strict
    if accept and priority != 255 and strict and version == 2:
        err("warning - accept mode for VRRP version 2 does not comply with RFC3768 - resetting")
        accept = False
    mcast_dst = d.get("mcast_dst_ip")
    if peers and mcast_dst is not None:
        err("multicast destination specified with unicast - ignoring")
        mcast_dst = None

    def strict_default(key: str, global_value: Any, strict_value: Any, message: str) -> Any:
        if key not in d:
            return strict_value if strict else global_value
        if strict and d[key] != strict_value:
            err(message)
            return strict_value
        return d[key]

    lower_rep = strict_default(
        "garp_lower_prio_repeat",
        gd.vrrp_garp_lower_prio_repeat,
        0,
        "Strict mode requires no repeat garps. resetting",
    )
    lower_delay = strict_default(
        "garp_lower_prio_delay",
        gd.vrrp_garp_lower_prio_delay,
        0,
        "Strict mode requires no repeat garp delay. resetting",
    )
    lower_no_adv = strict_default(
        "lower_prio_no_advert",
        gd.vrrp_lower_prio_no_advert,
        True,
        "Strict mode requires no lower priority advert. resetting",
    )
    higher_send = strict_default(
        "higher_prio_send_advert",
        gd.vrrp_higher_prio_send_advert,
        False,
        "strict mode requires higher_prio_send_advert to be clear. resetting",
    )

    sg = d.get("_sync")
    smtp_alert = d.get("smtp_alert")
    if smtp_alert is None:
        smtp_alert = next((v for v in (gd.smtp_alert_vrrp, gd.smtp_alert) if v is not None), False)
    npc = d.get("notify_priority_changes")
    if npc is None:
        npc = (
            sg.get("notify_priority_changes")
            if sg and sg.get("notify_priority_changes") is not None
            else gd.vrrp_notify_priority_changes
        )

    advert = d.get("advert_int", 1.0)
    advert = _round_advert(err, advert, version)

    track = tracking_from(d)
    own = d.get("interface")
    if own is not None and any(t.name == own for t in track.interfaces):
        err(f"Ignoring track_interface {own} since own interface")
        track = dataclasses.replace(track, interfaces=tuple(t for t in track.interfaces if t.name != own))
    sync_no_weight = sg is not None and not sg.get("sync_group_tracking_weight")
    if sync_no_weight or priority == 255:
        track = _drop_weights(err, track, sync_no_weight)

    vmac = None
    if "_vmac" in d:
        ifname, mac = d["_vmac"]
        if mac is not None and mac.endswith(":"):  # 5 octets given: the VRID is the sixth
            mac += f"{d['virtual_router_id']:02x}"
        if strict and mac:
            mac = None
        xmit_base = d.get("vmac_xmit_base", False) or bool(peers)
        if strict and xmit_base:
            err("xmit_base is incompatible with strict mode - resetting")
            xmit_base = False
        vmac = Vmac(
            ifname or f"{gd.vmac_prefix}.{d['virtual_router_id']}",
            mac,
            d.get("use_vmac_addr", False),
            xmit_base,
        )

    if "_ipvlan" in d:
        vmac = _ipvlan(err, d, gd, family)
    elif vmac is None and d.get("vmac_xmit_base"):
        err("vmac_xmit_base is only valid with a vmac")

    promote_secondaries = d.get("promote_secondaries", False)
    if promote_secondaries and vmac is not None:
        err("promote_secondaries is automatically set for vmacs - ignoring")
        promote_secondaries = False

    return VrrpInstance(
        name=name,
        state=state,
        interface=d.get("interface"),
        virtual_router_id=d["virtual_router_id"],
        priority=priority,
        advert_int=advert,
        version=version,
        family=family,
        virtual_ipaddress=tuple(vips),
        virtual_ipaddress_excluded=tuple(d.get("virtual_ipaddress_excluded", ())),
        virtual_routes=tuple(d.get("virtual_routes", ())),
        virtual_rules=tuple(d.get("virtual_rules", ())),
        nopreempt=nopreempt,
        preempt_delay=preempt_delay,
        mcast_src_ip=d.get("mcast_src_ip"),
        unicast_src_ip=d.get("unicast_src_ip"),
        mcast_dst_ip=mcast_dst,
        unicast_peer=peers,
        unicast_ttl=d.get("unicast_ttl", 255 if family == 4 else None) if peers else None,
        unicast_fault_no_peer=d.get("unicast_fault_no_peer", False),
        check_unicast_src=d.get("check_unicast_src", gd.vrrp_check_unicast_src),
        old_unicast_checksum=d.get("old_unicast_checksum"),
        track_src_ip=d.get("track_src_ip", False),
        vrf=d.get("vrf"),
        authentication=auth,
        track=track,
        dont_track_primary=d.get("dont_track_primary", False),
        notify=notify_from(d),
        smtp_alert=smtp_alert,
        notify_priority_changes=npc,
        garp_master_delay=d.get("garp_master_delay", gd.vrrp_garp_master_delay),
        garp_master_repeat=d.get("garp_master_repeat", gd.vrrp_garp_master_repeat),
        garp_master_refresh=d.get("garp_master_refresh", gd.vrrp_garp_master_refresh),
        garp_master_refresh_repeat=d.get("garp_master_refresh_repeat", gd.vrrp_garp_master_refresh_repeat),
        garp_lower_prio_delay=lower_delay,
        garp_lower_prio_repeat=lower_rep,
        garp_extra_if=d.get("garp_extra_if", gd.vrrp_garp_extra_if),
        garp_extra_if_all=d.get(
            "garp_extra_if_all", gd.vrrp_garp_extra_if_all if "garp_extra_if" not in d else False
        ),
        down_timer_adverts=down_timer_adverts,
        lower_prio_no_advert=lower_no_adv,
        higher_prio_send_advert=higher_send,
        accept=accept,
        strict_mode=strict,
        skip_check_adv_addr=d.get("skip_check_adv_addr", gd.vrrp_skip_check_adv_addr),
        vmac=vmac,
        promote_secondaries=promote_secondaries,
        kernel_rx_buf_size=d.get("kernel_rx_buf_size"),
        debug=d.get("debug", 0),
        sync_group=sg["name"] if sg else None,
        loc=loc,
    )


def _ipvlan(err: Callable[[str], None], d: Draft, gd: GlobalDefs, family: int) -> Vmac:
    """``use_ipvlan`` as ``vrrp_complete_instance`` finishes it (it wins over ``use_vmac``, as keepalived
    creates the ipvlan when both are given).  An IPv4 ipvlan without an address is kept, and the
    instance stays in FAULT when it runs, as keepalived's does."""
    ifname, address, kind = d["_ipvlan"]
    if "_vmac" in d:
        ifname = ifname or d["_vmac"][0]
    if family == 4 and address is None:
        err("IPv4 ipvlan requires a source ip address to be configured. setting instance to fault state")
    if d.get("vmac_xmit_base"):
        err("vmac_xmit_base is only valid with a vmac")
    return Vmac(ifname or f"{gd.vmac_prefix}.{d['virtual_router_id']}", kind="ipvlan", address=address,
                ipvlan_type=kind)


def _round_advert(err: Callable[[str], None], advert: float, version: int) -> float:
    """advert_int rules: v2 whole seconds below 256, v3 centiseconds below 40.96 s."""
    usec = round(advert * 1_000_000)
    if version == 2:
        if usec >= 256 * 1_000_000:
            err(
                f"VRRPv2 advertisement interval {usec / 1e6:.2f}s is out of range. Must be less than 256s."
                " Setting to 255s"
            )
            usec = 255 * 1_000_000
        elif usec % 1_000_000:
            err(f"VRRPv2 advertisement interval {usec / 1e6:f}s must be an integer. rounding")
            usec = (usec + 500_000) // 1_000_000 * 1_000_000 or 1_000_000
    else:
        if usec >= 4096 * 10_000:
            err(
                f"VRRPv3 advertisement interval {usec / 1e6:.2f}s is out of range. Must be less than 40.96s."
                " Setting to 40.95s"
            )
            usec = 4095 * 10_000
        elif usec % 10_000:
            err(f"VRRPv3 advertisement interval {usec / 1e6:f}s must be in units of 10ms - rounding")
            usec = (usec + 5_000) // 10_000 * 10_000 or 10_000
    return usec / 1_000_000


def _drop_weights(err: Callable[[str], None], track: Tracking, sync_no_weight: bool) -> Tracking:
    """Weighted trackers are ignored in sync groups (unless sync_group_tracking_weight) and for owners."""
    why = "SYNC group" if sync_no_weight else "address owner"
    why_ = "SYNC group" if sync_no_weight else "address_owner"
    ifs = []
    for t in track.interfaces:
        if t.weight:
            err(f"ignoring {t.name} tracked interface {'weight ' if sync_no_weight else ''}due to {why}")
            if sync_no_weight:
                ifs.append(dataclasses.replace(t, weight=0))
            continue
        ifs.append(t)
    scripts = []
    for t in track.scripts:
        if t.weight:
            err(f"ignoring tracked script {t.name} with weights due to {why_}")
            continue
        scripts.append(t)
    files = []
    for t in track.files:
        if t.weight == 1:
            err(f"ignoring weight from tracked file {t.name} due to {why_}. specify weight 0")
            files.append(dataclasses.replace(t, weight=0))
        elif t.weight:
            err(f"ignoring tracked file {t.name} with weight {t.weight} due to {why_}")
        else:
            files.append(t)
    bfds = []
    for t in track.bfds:
        if t.weight:
            err(f"ignoring tracked bfd {t.name} with weight {t.weight} due to {why_}")
            continue
        bfds.append(t)
    return Tracking(tuple(ifs), tuple(scripts), tuple(files), track.processes, tuple(bfds))


def _check_vrid_conflicts(ctx: Context, instances: list[VrrpInstance], gd: GlobalDefs) -> None:
    """Two multicast instances with the same VRID, family and group on one interface conflict."""
    seen: dict[tuple[str | None, int, int, str], VrrpInstance] = {}
    for inst in instances:
        if inst.unicast_peer:
            continue
        group = str(inst.mcast_dst_ip or (gd.vrrp_mcast_group4 if inst.family == 4 else gd.vrrp_mcast_group6))
        key = (inst.interface, inst.family, inst.virtual_router_id, group)
        other = seen.get(key)
        if other is not None:
            ctx.error(
                inst.loc,
                f"{inst.name} and {other.name} both use VRID {inst.virtual_router_id} with"
                f" IPv{inst.family} on interface {inst.interface}",
            )
            continue
        seen[key] = inst

