"""keepalived syntax for :class:`VrrpConfig` (definitions before their users)."""

from __future__ import annotations

from typing import Any

from ..model_vrrp import (
    NotifyScripts,
    Route,
    Rule,
    Tracking,
    VirtualAddress,
    VrrpConfig,
    VrrpInstance,
)
from .text import fmt_timer, script_line, word


def _vip_text(v: VirtualAddress, static: bool) -> str:
    parts = [str(v.address.ip) if v.peer is not None else str(v.address.with_prefixlen)]
    for key, value in (
        ("dev", v.dev),
        ("scope", v.scope),
        ("brd", v.broadcast),
        ("label", v.label),
        ("peer", v.peer.with_prefixlen if v.peer is not None else None),
        ("preferred_lft", v.preferred_lft),
        ("track_group", v.track_group),
    ):
        if value is not None:
            parts += [key, word(str(value))]
    for flag, present in (
        ("home", v.home),
        ("-nodad", v.nodad),
        ("mngtmpaddr", v.mngtmpaddr),
        ("noprefixroute", v.noprefixroute),
        ("autojoin", v.autojoin),
        ("no_track", v.no_track),
        ("use_vmac", v.use_vmac),
    ):
        if present:
            parts.append(flag)
    return " ".join(parts)


def _set_options(*pairs: tuple[str, object]) -> list[str]:
    """``key value`` words for the options that are set (route and rule rendering)."""
    out: list[str] = []
    for key, value in pairs:
        if value is not None:
            out += [key, str(value)]
    return out


def route_text(r: Route) -> str:
    """A route as its configuration line (also in the VRRP process's log lines about it)."""
    parts = ["inet6"] if r.family == 6 else []
    if r.type is not None:
        parts.append(r.type)
    parts.append(r.dest)
    parts += _set_options(("via", r.via), ("src", r.src), ("from", r.from_), ("dev", r.dev), ("table", r.table),
                          ("metric", r.metric), ("scope", r.scope), ("protocol", r.protocol),
                          ("track_group", r.track_group))
    parts += r.options
    if r.no_track:
        parts.append("no_track")
    for hop in r.nexthops:
        parts += ["nexthop", *hop]
    return " ".join(parts)


def _rule_text(r: Rule) -> str:
    parts = ["inet6"] if r.family == 6 else []
    if r.invert:
        parts.append("not")
    parts += _set_options(("from", r.from_), ("to", r.to), ("preference", r.preference), ("iif", r.iif),
                          ("oif", r.oif), ("track_group", r.track_group))
    parts += r.options
    if r.action == "table":
        parts += ["table", str(r.table)]
    elif r.action is not None:
        parts.append(r.action)
    if r.no_track:
        parts.append("no_track")
    return " ".join(parts)


def _track_lines(track: Tracking) -> list[str]:
    out: list[str] = []
    for kw, refs in (
        ("track_interface", track.interfaces),
        ("track_script", track.scripts),
        ("track_file", track.files),
        ("track_process", track.processes),
        ("track_bfd", track.bfds),
    ):
        if refs:
            out.append(f"{kw} {{")
            out += [f"  {t.name} weight {t.weight}" + (" reverse" if t.reverse else "") for t in refs]
            out.append("}")
    return out


def _notify_lines(n: NotifyScripts) -> list[str]:
    out = []
    for kw, s in (
        ("notify_master", n.master),
        ("notify_backup", n.backup),
        ("notify_fault", n.fault),
        ("notify_stop", n.stop),
        ("notify_deleted", n.deleted),
        ("notify_master_rx_lower_pri", n.master_rx_lower_pri),
        ("notify", n.generic),
    ):
        if s is not None:
            out.append(script_line(kw, s))
    if n.deleted_state and n.deleted is None:
        out.append("notify_deleted")
    return out


def _block(head: str, body: list[str]) -> list[str]:
    return [f"{head} {{", *(f"  {b}" for b in body), "}"]


def _opt_lines(pairs: list[tuple[str, Any]]) -> list[str]:
    """``keyword value`` for every value that is set (True: the bare keyword)."""
    out = []
    for kw, value in pairs:
        if value is None or value is False:
            continue
        out.append(kw if value is True else f"{kw} {word(fmt_timer(value))}")
    return out


def _instance_lines(i: VrrpInstance) -> list[str]:
    body = [
        f"state {i.state}",
        f"virtual_router_id {i.virtual_router_id}",
        f"priority {i.priority}",
        f"advert_int {fmt_timer(i.advert_int)}",
        f"version {i.version}",
    ]
    if i.family == 6 and not i.virtual_ipaddress:
        body.append("native_ipv6")
    body += _opt_lines(
        [
            ("interface", i.interface),
            ("vrf", i.vrf),
            ("nopreempt", i.nopreempt),
            ("preempt_delay", i.preempt_delay or None),
            ("mcast_src_ip", i.mcast_src_ip),
            ("unicast_src_ip", i.unicast_src_ip),
            ("mcast_dst_ip", i.mcast_dst_ip),
            ("unicast_ttl", i.unicast_ttl),
            ("unicast_fault_no_peer", i.unicast_fault_no_peer),
            ("check_unicast_src", i.check_unicast_src),
            ("old_unicast_checksum", i.old_unicast_checksum),
            ("track_src_ip", i.track_src_ip),
            ("dont_track_primary", i.dont_track_primary),
            ("garp_master_delay", i.garp_master_delay),
            ("garp_master_repeat", i.garp_master_repeat),
            ("garp_master_refresh", i.garp_master_refresh),
            # 0 only comes from the global vrrp_min_garp (the keyword itself corrects 0 to 1)
            ("garp_master_refresh_repeat", i.garp_master_refresh_repeat or None),
            ("garp_lower_prio_delay", i.garp_lower_prio_delay),
            ("garp_lower_prio_repeat", i.garp_lower_prio_repeat),
            ("down_timer_adverts", i.down_timer_adverts),
            ("promote_secondaries", i.promote_secondaries),
            ("kernel_rx_buf_size", i.kernel_rx_buf_size),
            ("debug", i.debug or None),
        ]
    )
    if i.garp_extra_if is not None:
        body.append(f"garp_extra_if {'all ' if i.garp_extra_if_all else ''}{i.garp_extra_if}")
    for kw, value in (
        ("smtp_alert", i.smtp_alert),
        ("notify_priority_changes", i.notify_priority_changes),
        ("lower_prio_no_advert", i.lower_prio_no_advert),
        ("higher_prio_send_advert", i.higher_prio_send_advert),
        ("strict_mode", i.strict_mode),
        ("skip_check_adv_addr", i.skip_check_adv_addr),
    ):
        body.append(f"{kw} {'true' if value else 'false'}")
    body.append("accept" if i.accept else "no_accept")
    if i.vmac is not None and i.vmac.kind == "ipvlan":
        body.append(" ".join(["use_ipvlan", word(i.vmac.ifname),
                              *([str(i.vmac.address)] if i.vmac.address else []), i.vmac.ipvlan_type]))
    elif i.vmac is not None:
        body.append(" ".join(["use_vmac", word(i.vmac.ifname), *([i.vmac.mac] if i.vmac.mac else [])]))
        body += _opt_lines([("use_vmac_addr", i.vmac.use_vmac_addr), ("vmac_xmit_base", i.vmac.xmit_base)])
    if i.authentication is not None:
        body += _block(
            "authentication",
            [f"auth_type {i.authentication.type}", f"auth_pass {word(i.authentication.password)}"],
        )
    if i.unicast_peer:
        body += _block(
            "unicast_peer",
            [
                " ".join(
                    [
                        str(p.address),
                        *(
                            f"{k} {v}"
                            for k, v in (("min_ttl", p.min_ttl), ("max_ttl", p.max_ttl))
                            if v is not None
                        ),
                    ]
                )
                for p in i.unicast_peer
            ],
        )
    for kw, vips in (
        ("virtual_ipaddress", i.virtual_ipaddress),
        ("virtual_ipaddress_excluded", i.virtual_ipaddress_excluded),
    ):
        if vips:
            body += _block(kw, [_vip_text(v, False) for v in vips])
    if i.virtual_routes:
        body += _block("virtual_routes", [route_text(r) for r in i.virtual_routes])
    if i.virtual_rules:
        body += _block("virtual_rules", [_rule_text(r) for r in i.virtual_rules])
    body += _track_lines(i.track)
    body += _notify_lines(i.notify)
    return _block(f"vrrp_instance {word(i.name)}", body)


def render(vrrp: VrrpConfig) -> str:
    """keepalived syntax for the VRRP configuration (definitions before their users)."""
    out: list[str] = []
    for s in vrrp.vrrp_scripts:
        body = [
            script_line("script", s.script),
            f"interval {fmt_timer(s.interval)}",
            f"weight {s.weight}" + (" reverse" if s.weight_reverse else ""),
            f"rise {s.rise}",
            f"fall {s.fall}",
        ]
        body += _opt_lines([("timeout", s.timeout), ("init_fail", s.init_fail)])
        if s.user is not None:
            body.append(" ".join(word(x) for x in ("user", s.user, s.group) if x))
        out += _block(f"vrrp_script {word(s.name)}", body)
    for f in vrrp.track_files:
        body = [f"file {word(f.file)}", f"weight {f.weight}" + (" reverse" if f.weight_reverse else "")]
        if f.init_file is not None:
            body.append(f"init_file {f.init_file}" + (" overwrite" if f.init_file_overwrite else ""))
        out += _block(f"track_file {word(f.name)}", body)
    for p in vrrp.track_processes:
        body = [
            " ".join([word(x) for x in (p.process, *(p.args or ()))]).join(("process ", "")),
            f"weight {p.weight}" + (" reverse" if p.weight_reverse else ""),
            f"quorum {p.quorum}",
        ]
        body += _opt_lines(
            [
                ("param_match", p.param_match),
                ("quorum_max", p.quorum_max),
                ("delay", p.delay),
                ("terminate_delay", p.terminate_delay),
                ("fork_delay", p.fork_delay),
                ("full_command", p.full_command),
            ]
        )
        out += _block(f"vrrp_track_process {word(p.name)}", body)
    for b in vrrp.bfd_instances:
        body = _opt_lines(
            [
                ("neighbor_ip", b.neighbor_ip),
                ("source_ip", b.source_ip),
                ("min_rx", b.min_rx),
                ("min_tx", b.min_tx),
                ("idle_tx", b.idle_tx),
                ("multiplier", b.multiplier),
                ("passive", b.passive),
                ("ttl", b.ttl),
                ("max_hops", b.max_hops),
                ("vrrp", b.vrrp),
                ("checker", b.checker),
            ]
        )
        body.append(f"weight {b.weight}" + (" reverse" if b.weight_reverse else ""))
        out += _block(f"bfd_instance {word(b.name)}", body)
    for t in vrrp.track_groups:
        out += _block(f"track_group {word(t.name)}", _block("group", [word(m) for m in t.group]))
    for g in vrrp.garp_groups:
        body = _opt_lines([("garp_interval", g.garp_interval), ("gna_interval", g.gna_interval)])
        body += _block("interfaces", list(g.interfaces))
        out += _block("garp_group", body)
    for kw, items in (
        (
            "linkbeat_interfaces",
            [" ".join(filter(None, (x.interface, x.mode))) for x in vrrp.linkbeat_interfaces],
        ),
        (
            "interface_up_down_delays",
            [f"{x.interface} {fmt_timer(x.down_delay)} {fmt_timer(x.up_delay)}" for x in vrrp.interface_up_down_delays],
        ),
        ("static_ipaddress", [_vip_text(v, True) for v in vrrp.static_ipaddress]),
        ("static_routes", [route_text(r) for r in vrrp.static_routes]),
        ("static_rules", [_rule_text(r) for r in vrrp.static_rules]),
    ):
        if items:
            out += _block(kw, items)
    for i in vrrp.instances:
        out += _instance_lines(i)
    for sg in vrrp.sync_groups:
        body = _block("group", list(sg.group)) + _track_lines(sg.track) + _notify_lines(sg.notify)
        for kw, value in (
            ("smtp_alert", sg.smtp_alert),
            ("notify_priority_changes", sg.notify_priority_changes),
        ):
            if value is not None:
                body.append(f"{kw} {'true' if value else 'false'}")
        if sg.sync_group_tracking_weight:
            body.append("sync_group_tracking_weight")
        out += _block(f"vrrp_sync_group {word(sg.name)}", body)
    return "\n".join(out) + ("\n" if out else "")

