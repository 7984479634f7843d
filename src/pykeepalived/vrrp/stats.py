"""What the VRRP process reports: counters (``keepalived.stats``), per-instance views for
``keepalived.data`` and ``keepalived.json``, and clearing the counters.

The counters themselves are kept where they happen: the state machine counts adverts sent and
received, transitions and priority-0 adverts (``fsm.Stats``), the packet validation counts drops per
reason (``packet.DropCounters``); :func:`counters` puts them together as keepalived 2.2.7 prints them
(``vrrp_print_stats`` in ``vrrp_print.c``).  Rendering is ``pykeepalived.status.dumps``'.

Pure: the state comes from a :class:`~.core.VrrpCore`, the times (monotonic and wall clock) and the
sockets' descriptors are arguments.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from pykeepalived.status import dumps
from pykeepalived.status.snapshot import VrrpStats

from .addresses import VipSpec
from .fsm import Stats
from .instances import InstanceRuntime, SockKey, vip_spec

if TYPE_CHECKING:
    from .core import VrrpCore

Fds = tuple[int, int]
"""(receive, send) descriptors of one VRRP socket, as the data dump lists them."""

_SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}


def counters(rt: InstanceRuntime) -> VrrpStats:
    """One instance's counters as ``keepalived.stats`` shows them."""
    return VrrpStats.collect(rt.fsm.stats, rt.drops.keepalived_stats())


def stats_text(core: VrrpCore) -> str:
    """keepalived.stats as keepalived 2.2.7 writes it on SIGUSR2."""
    return dumps.stats_text((rt.name, counters(rt)) for rt in core.instances.values())


def clear_stats(core: VrrpCore) -> None:
    """STATS_CLEAR: every instance's counters back to zero."""
    for rt in core.instances.values():
        rt.fsm.stats = Stats()
        rt.drops.clear()


def peer_text(p: Any) -> str:
    """keepalived's dump_unicast_peer()."""
    return f"{p.address} min_ttl {p.min_ttl or 0} max_ttl {255 if p.max_ttl is None else p.max_ttl}"


def vip_text(v: VipSpec, is_set: bool) -> str:
    scope = v.scope if isinstance(v.scope, str) else _SCOPES.get(v.scope, str(v.scope))
    brd = v.broadcast
    if brd == "+":
        brd = str(v.address.network.broadcast_address)
    elif brd == "-":
        brd = str(v.address.network.network_address)
    extra = [name for name, on in (("home", v.home), ("mngtmpaddr", v.mngtmpaddr),
                                   ("noprefixroute", v.noprefixroute), ("autojoin", v.autojoin)) if on]
    return dumps.format_vip(v.address, v.dev, scope=scope, brd=brd, label=v.label,
                            nodad=v.nodad and v.address.version == 6, preferred_lft=v.preferred_lft,
                            is_set=is_set, extra=extra)


def instance_view(core: VrrpCore, rt: InstanceRuntime, fds: Fds | None,
                  clock: tuple[float, float] | None) -> dumps.InstanceView:
    """What the dumps say about one instance.  ``clock``: (monotonic now, wall-clock now), to show the
    next deadline as a wall-clock time (None: not shown)."""
    m, f = rt.model, rt.fsm
    deadline = f.next_deadline()
    read_timeout = None
    if deadline is not None and clock is not None:
        read_timeout = clock[1] + deadline - clock[0]
    scripts = {s.name: s for s in core.config.vrrp.vrrp_scripts}
    notify = m.notify
    labels = (("Backup", notify.backup), ("Master", notify.master), ("Fault", notify.fault),
              ("Stop", notify.stop), ("Deleted", notify.deleted), ("Generic", notify.generic),
              ("Master rx lower pri", notify.master_rx_lower_pri))
    return dumps.InstanceView(
        name=rt.name, version=m.version, state=int(f.state), wantstate=int(f.wantstate),
        interface=rt.ifname, vrid=m.virtual_router_id, base_priority=f.base_priority,
        effective_priority=f.effective_priority, total_priority=f.total_priority,
        adver_int=f.adver_int / 1_000_000, master_adver_int=f.master_adver_int / 1_000_000,
        ms_down_timer=f.ms_down_timer, last_transition=rt.last_transition, read_timeout=read_timeout,
        src_ip=str(rt.src) if rt.src is not None else None,
        src_from_config=(m.unicast_src_ip if m.unicast_peer else m.mcast_src_ip) is not None,
        mcast_group=str(rt.group) if rt.group is not None else None,
        unicast_peers=tuple(peer_text(p) for p in m.unicast_peer) if rt.peers else (),
        unicast_ttl=m.unicast_ttl,
        check_unicast_src=m.check_unicast_src, family=4 if rt.family == socket.AF_INET else 6,
        sync_group=core.group_of.get(rt.name),
        master_router=str(f.master_address) if f.master_address is not None else None,
        master_priority=f.master_priority, num_faults=len(f.faults),
        garp_delay=m.garp_master_delay, garp_rep=m.garp_master_repeat, garp_refresh=m.garp_master_refresh,
        garp_refresh_rep=m.garp_master_refresh_repeat, garp_lower_prio_delay=m.garp_lower_prio_delay,
        garp_lower_prio_rep=m.garp_lower_prio_repeat, down_timer_adverts=m.down_timer_adverts,
        lower_prio_no_advert=m.lower_prio_no_advert, higher_prio_send_advert=m.higher_prio_send_advert,
        accept=m.accept, nopreempt=m.nopreempt, preempt_delay=m.preempt_delay,
        promote_secondaries=m.promote_secondaries, dont_track_primary=m.dont_track_primary,
        skip_check_adv_addr=m.skip_check_adv_addr, strict_mode=m.strict_mode,
        auth_pass=(m.authentication.password if m.authentication is not None and m.version == 2
                   and m.authentication.type.upper() == "PASS" else None),
        vips=tuple(vip_text(v, f.vips_set) for v in rt.vips),
        evips=tuple(vip_text(v, f.vips_set) for v in rt.evips),
        fds=fds,
        tracked_interfaces=tuple((t.name, t.weight) for t in m.track.interfaces),
        tracked_scripts=tuple((t.name, t.weight, dumps.cmd_str(scripts[t.name].script))
                              for t in m.track.scripts if t.name in scripts),
        smtp_alert=m.smtp_alert, notify_deleted=notify.deleted_state,
        notify_scripts=tuple((label, dumps.cmd_str(sc)) for label, sc in labels if sc is not None),
        notify_priority_changes=m.notify_priority_changes, vipset=f.vips_set, stats=counters(rt))


def json_text(core: VrrpCore, fds: Mapping[SockKey, Fds], clock: tuple[float, float] | None) -> str:
    """keepalived.json as keepalived 2.2.7 writes it on signal 36 (JSON)."""
    return dumps.json_text([instance_view(core, rt, fds.get(rt.sock_key), clock) for rt in core.instances.values()])


def script_views(core: VrrpCore, results: Mapping[str, Any]) -> list[dumps.ScriptView]:
    """Every vrrp_script with its last result (``results`` by name; missing: not run yet)."""
    out = []
    for sc in core.config.vrrp.vrrp_scripts:
        res = results.get(sc.name)
        tracking = tuple((rt.name, t.weight) for rt in core.instances.values()
                         for t in rt.model.track.scripts if t.name == sc.name)
        out.append(dumps.ScriptView(
            name=sc.name, command=dumps.cmd_str(sc.script), interval=sc.interval,
            timeout=sc.timeout or 0, weight=sc.weight, weight_reverse=sc.weight_reverse, rise=sc.rise,
            fall=sc.fall, result=res.result if res is not None else (0 if sc.init_fail else sc.rise - 1),
            insecure=False, init_state="unknown" if res is not None else "INIT", uid=0, gid=0,
            tracking=tracking))
    return out


def data_render(core: VrrpCore, fds: Mapping[SockKey, Fds], clock: tuple[float, float] | None,
                script_results: Mapping[str, Any], netns: str | None) -> Callable[[], str]:
    """Take keepalived.data's snapshot now; the returned function reads the interfaces and renders it
    (it may run on another thread)."""
    views = [instance_view(core, rt, fds.get(rt.sock_key), clock) for rt in core.instances.values()]
    sockets = []
    for key, sock_fds in fds.items():
        members = [(rt.name, rt.model.virtual_router_id) for by_vrid in core.by_socket.get(key, {}).values()
                   for rt in by_vrid]
        sockets.append(dumps.SocketView(fds=sock_fds, interface=key[0], family=4 if key[1] == socket.AF_INET else 6,
                                        unicast=key[2] is None, instances=tuple(members)))
    tracking: dict[str, list[tuple[str, int]]] = {}
    for rt in core.instances.values():
        if not rt.model.dont_track_primary:
            tracking.setdefault(rt.ifname, []).append((rt.name, 0))
        for t in rt.model.track.interfaces:
            tracking.setdefault(t.name, []).append((rt.name, t.weight))
    g = core.g
    static = [vip_text(vip_spec(a, g.default_interface), False) for a in core.config.vrrp.static_ipaddress]
    groups = []
    for name, m in core.group_models.items():
        n = m.notify
        labels = (("Backup", n.backup), ("Master", n.master), ("Fault", n.fault), ("Stop", n.stop),
                  ("Generic", n.generic))
        running = core.groups.get(name)
        groups.append(dumps.SyncGroupView(
            name=name, state=int(running.state) if running is not None else 0, members=tuple(m.group),
            tracking_weight=m.sync_group_tracking_weight, smtp_alert=bool(m.smtp_alert),
            notify_priority_changes=m.notify_priority_changes,
            notify_scripts=tuple((label, dumps.cmd_str(sc)) for label, sc in labels if sc is not None)))
    scripts = script_views(core, script_results)
    return lambda: dumps.vrrp_data_text(g, views, sockets, scripts, dumps.read_interfaces(tracking, netns),
                                        groups, static)
