"""keepalived syntax for :class:`GlobalDefs` (root-level keywords first, then one global_defs block)."""

from __future__ import annotations

import dataclasses
import ipaddress

from ..blocks.global_defs import SIMPLE
from ..model_global import GlobalDefs
from .text import fmt_timer, script_line, word

_FIELDS = {f.name: f for f in dataclasses.fields(GlobalDefs)}


def render(gd: GlobalDefs) -> str:
    """keepalived syntax for ``gd`` (root-level keywords first, then one global_defs block)."""
    root: list[str] = []
    body: list[str] = []
    for spec in SIMPLE:
        value = getattr(gd, spec.name)
        default = _FIELDS[spec.name].default
        if value == default and not (gd.vrrp_min_garp and spec.keyword == "vrrp_garp_master_delay"):
            continue
        out = root if spec.root else body
        kw = spec.keyword
        if spec.kind == "flag":
            if value:
                out.append(kw)
        elif spec.kind == "bool":
            out.append(f"{kw} {'true' if value else 'false'}")
        elif spec.kind in ("words", "ints"):
            out.append(" ".join([kw, *(word(str(v)) for v in value)]))
        elif spec.kind == "timer":
            out.append(f"{kw} {fmt_timer(value)}")
        else:
            out.append(f"{kw} {word(str(value))}")
    if gd.notification_email:
        body.append("notification_email {")
        body += [f"  {word(e)}" for e in gd.notification_email]
        body.append("}")
    if gd.smtp_server is not None:
        body.append(f"smtp_server {word(gd.smtp_server.host)} {gd.smtp_server.port}")
    if gd.smtp_connect_timeout != 30:
        body.append(f"smtp_connect_timeout {gd.smtp_connect_timeout}")
    # vrrp_min_garp changes these defaults; 0 is only reachable through it
    for f, default, _min_garp in (
        ("vrrp_garp_master_repeat", 5, 1),
        ("vrrp_garp_master_refresh_repeat", 1, 0),
    ):
        value = getattr(gd, f)
        if (gd.vrrp_min_garp and value) or (not gd.vrrp_min_garp and value != default):
            body.append(f"{f} {getattr(gd, f)}")
    if gd.script_user is not None:
        body.append(" ".join(word(x) for x in ("script_user", gd.script_user, gd.script_group) if x))
    for f in (
        "startup_script",
        "shutdown_script",
        "notify_fifo_script",
        "vrrp_notify_fifo_script",
        "lvs_notify_fifo_script",
    ):
        s = getattr(gd, f)
        if s is not None:
            body.append(script_line(f, s))
    for f in ("startup_script_timeout", "shutdown_script_timeout"):
        if getattr(gd, f) != 10:
            body.append(f"{f} {getattr(gd, f)}")
    if gd.max_auto_priority is not None:
        body.append(f"max_auto_priority {gd.max_auto_priority}")
    if gd.vrrp_rx_bufs_policy:
        body.append(" ".join(["vrrp_rx_bufs_policy", *(word(w) for w in gd.vrrp_rx_bufs_policy)]))
    for f in ("notify_fifo", "vrrp_notify_fifo", "lvs_notify_fifo"):
        fifo = getattr(gd, f)
        if fifo is not None:
            body.append(" ".join(word(x) for x in (f, fifo.path, fifo.user, fifo.group) if x))
    if gd.vrrp_mcast_group4 != ipaddress.IPv4Address("224.0.0.18"):
        body.append(f"vrrp_mcast_group4 {gd.vrrp_mcast_group4}")
    if gd.vrrp_mcast_group6 != ipaddress.IPv6Address("ff02::12"):
        body.append(f"vrrp_mcast_group6 {gd.vrrp_mcast_group6}")
    if gd.vrrp_garp_extra_if is not None:
        body.append(
            f"vrrp_garp_extra_if {'all ' if gd.vrrp_garp_extra_if_all else ''}{gd.vrrp_garp_extra_if}"
        )
    if gd.dynamic_interfaces:
        body.append(
            "dynamic_interfaces" + (" allow_if_changes" if gd.dynamic_interfaces_allow_if_changes else "")
        )
    for f in ("nftables", "nftables_ipvs"):
        if getattr(gd, f) is not None:
            body.append(f"{f} {word(getattr(gd, f))}")
    if gd.lvs_timeouts is not None:
        t = gd.lvs_timeouts
        opts = [
            f"{k} {v}" for k, v in (("tcp", t.tcp), ("tcpfin", t.tcpfin), ("udp", t.udp)) if v is not None
        ]
        if opts:
            body.append("lvs_timeouts " + " ".join(opts))
    if gd.lvs_flush_on_stop is not None:
        body.append("lvs_flush_on_stop" + (" VS" if gd.lvs_flush_on_stop == "VS" else ""))
    if gd.lvs_sync_daemon is not None:
        s = gd.lvs_sync_daemon
        parts = ["lvs_sync_daemon", word(s.interface)]
        for k, v in (
            ("inst", s.instance),
            ("id", s.syncid),
            ("maxlen", s.maxlen),
            ("port", s.port),
            ("ttl", s.ttl),
            ("group", s.group),
        ):
            if v is not None:
                parts += [k, word(str(v))]
        body.append(" ".join(parts))
    if gd.umask is not None:
        body.append(f"umask {gd.umask}")
    for f in ("reload_check_config", "reload_file"):
        if getattr(gd, f) is not None:
            body.append(f"{f} {word(getattr(gd, f))}".rstrip() if getattr(gd, f) else f)
    if gd.include_check is not None:
        body.append(" ".join(["include_check", *gd.include_check]))
    lines = root + ["global_defs {"] + [f"  {b}" for b in body] + ["}"]
    return "\n".join(lines) + "\n"
