"""The LVS configuration after parsing: keepalived's ``link_vsg_to_vs`` + ``validate_check_config``.

Defaults, the inheritance of checker timing options (checker <- real_server <- virtual_server <-
built-in default, as keepalived's check_data.c applies them), port rules, quorum fix-ups; builds
the frozen :mod:`..model_lvs` objects.  Messages are keepalived's texts.
"""

from __future__ import annotations

from typing import Any

from ..block_cache import Reused
from ..blocks.lvs_common import PERSISTENCE_DEFAULT, family_of
from ..model_lvs import (
    BfdCheck,
    CheckConnection,
    Checker,
    CheckTiming,
    DnsCheck,
    FileCheck,
    Forwarding,
    HttpCheck,
    IPAddress,
    IpFamily,
    LvsConfig,
    LvsMethod,
    MiscCheck,
    PingCheck,
    Protocol,
    RealServer,
    SmtpCheck,
    SorryServer,
    TcpCheck,
    UdpCheck,
    VirtualServer,
    VirtualServerGroup,
    VsgAddressRange,
    format_trio,
    format_vs,
)
from ..parser import Context, Draft
from .scripts import service_scripts

#: per checker type: (default retry, default delay_before_retry; None = the checker's delay_loop)
CHECKER_DEFAULTS: dict[str, tuple[int, float | None]] = {
    "TCP_CHECK": (1, 1.0),
    "HTTP_GET": (1, 3.0),
    "SSL_GET": (1, 3.0),
    "SMTP_CHECK": (1, 1.0),
    "UDP_CHECK": (1, 1.0),
    "PING_CHECK": (1, 1.0),
    "DNS_CHECK": (3, None),
    "MISC_CHECK": (0, 1.0),
    "BFD_CHECK": (1, 1.0),
}



def finish(ctx: Context, draft: Draft, global_defs: Any) -> LvsConfig:
    """Validate the parsed LVS drafts as keepalived does and build the effective model."""
    groups: tuple[VirtualServerGroup, ...] = tuple(draft.get("lvs_vsgs", ()))
    by_name: dict[str, VirtualServerGroup] = {}
    for g in groups:
        by_name.setdefault(g.name, g)
    smtp_default = _global_smtp_alert(global_defs)
    cache = ctx.block_cache
    if cache is not None:  # a service's validation takes this from outside its block (and the groups)
        cache.inputs_are(smtp_default)
    members: dict[str, int] = {}
    linked: list[tuple[Draft | Reused, VirtualServerGroup | None]] = []
    for vs in draft.get("lvs_vss", ()):
        vsg: VirtualServerGroup | None = None
        if not isinstance(vs, Reused) and vs["group"] is not None:
            vsg = _link_group(ctx, vs, by_name, members)
            if vsg is None:
                continue
        linked.append((vs, vsg))
    servers: list[VirtualServer] = []
    items = ctx.diags.items
    for vs, vsg in linked:
        if isinstance(vs, Reused):
            servers.append(vs.model)
            continue
        key = vs.get("_reuse_key") if vsg is None else None
        reported = len(items)
        built = _validate_vs(ctx, vs, vsg, smtp_default)
        if built is not None:
            servers.append(built)
            # (a script keeps its line, which the script checks name: such a service is not kept)
            if key is not None and cache is not None and len(items) == reported and not service_scripts(built):
                cache.keep(key, built)
    return LvsConfig(ssl=draft.get("lvs_ssl"), virtual_server_groups=groups, virtual_servers=tuple(servers))


def _global_smtp_alert(global_defs: Any) -> bool | None:
    """global ``smtp_alert_checker``, else ``smtp_alert`` (None: neither set)."""
    for name in ("smtp_alert_checker", "smtp_alert"):
        value = getattr(global_defs, name, None)
        if value is not None:
            return bool(value)
    return None


def _fmt(vs: Draft) -> str:
    return format_vs(
        vs["address"], vs["port"], vs["fwmark"], vs["group"], vs["protocol"], vs.get("_index", 0)
    )


def _link_group(
    ctx: Context, vs: Draft, by_name: dict[str, VirtualServerGroup], members: dict[str, int]
) -> VirtualServerGroup | None:
    """link_vsg_to_vs (keepalived logs these, they do not change ``-t``'s status)."""
    name = vs["group"]
    vs["_index"] = members.get(name, 0)
    vsg = by_name.get(name)
    if vsg is None:
        ctx.note(
            vs["_loc"],
            f"Virtual server group {name} specified but not configured - ignoring virtual server {_fmt(vs)}",
        )
        return None
    v4 = any(a.first.version == 4 for a in vsg.addresses) or any(
        f.family is IpFamily.INET for f in vsg.fwmarks
    )
    v6 = any(a.first.version == 6 for a in vsg.addresses) or any(
        f.family is IpFamily.INET6 for f in vsg.fwmarks
    )
    group_af = IpFamily.INET if v4 and not v6 else IpFamily.INET6 if v6 and not v4 else None
    if v4 and v6 and vs["af"] is not None:
        ctx.note(
            vs["_loc"],
            f"{name}: virtual server group with IPv4 & IPv6 doesn't match virtual server "
            f"{_fmt(vs)} - ignoring",
        )
        return None
    if group_af is not None and vs["af"] is not None and vs["af"] is not group_af:
        ctx.note(vs["_loc"], f"{name}: address family doesn't match virtual server {_fmt(vs)} - ignoring")
        return None
    if group_af is not None:
        vs["af"] = group_af
    elif vs["af"] is None and any(f.family is None for f in vsg.fwmarks):
        ctx.note(
            vs["_loc"],
            f"{name}: Virtual server {_fmt(vs)} address family cannot be determined, defaulting to IPv4",
        )
    members[name] = vs["_index"] + 1
    return vsg


#: what a real server takes from its virtual server when it does not set it
_INHERITED = ("alpha", "inhibit", "retry", "connect_timeout", "delay_loop", "warmup", "delay_before_retry", "weight")


def _validate_vs(
    ctx: Context, vs: Draft, vsg: VirtualServerGroup | None, smtp_default: bool | None
) -> VirtualServer | None:
    loc = vs["_loc"]
    if not vs["real_servers"]:
        ctx.error(loc, f"Virtual server {_fmt(vs)} has no real servers - ignoring")
        return None
    has_fwmarks = vs["fwmark"] is not None or (vsg is not None and bool(vsg.fwmarks))
    if vs["ha_suspend"] and has_fwmarks:
        ctx.error(loc, f"Virtual server {_fmt(vs)}: cannot use ha_suspend with fwmarks - clearing ha_suspend")
        vs["ha_suspend"] = False

    by_address = (vsg is not None and bool(vsg.addresses)) or (vsg is None and vs["fwmark"] is None)
    if by_address:
        if vs["protocol"] is None:
            ctx.error(loc, f"Virtual server {_fmt(vs)}: no protocol set - defaulting to UDP")
            vs["protocol"] = Protocol.UDP
        if "ops" in vs["flags"] and vs["protocol"] is not Protocol.UDP:
            ctx.error(loc, f"Virtual server {_fmt(vs)}: one packet scheduling requires UDP - resetting")
            vs["flags"].remove("ops")
        if not vs["persistence_timeout"] and vsg is None and vs["fwmark"] is None and not vs["port"]:
            ctx.error(
                loc, f"Virtual server {_fmt(vs)}: zero port only valid for persistent services - setting"
            )
            vs["persistence_timeout"] = PERSISTENCE_DEFAULT
    if not vs["persistence_timeout"] and vsg is not None and any(not a.port for a in vsg.addresses):
        ctx.error(loc, f"Virtual server {_fmt(vs)}: zero port only valid for persistent services - setting")
        vs["persistence_timeout"] = PERSISTENCE_DEFAULT
    fwmark_only = (vsg is not None and not vsg.addresses and bool(vsg.fwmarks)) or (
        vsg is None and vs["fwmark"] is not None
    )
    if vs["protocol"] is not None and fwmark_only:
        ctx.error(
            loc,
            f"Warning: Virtual server {_fmt(vs)}: protocol specified for fwmark - protocol will be ignored",
        )
        vs["protocol"] = None
    if vs["sched"] is None:
        ctx.error(loc, f"Virtual server {_fmt(vs)}: no scheduler set, setting default 'wlc'")
        vs["sched"] = "wlc"
    vs_smtp = vs["smtp_alert"] if vs["smtp_alert"] is not None else bool(smtp_default)

    def default_forwarding() -> Forwarding:
        if vs["forwarding"] is None:
            ctx.error(loc, f"Virtual server {_fmt(vs)}: no forwarding method set, setting default NAT")
            vs["forwarding"] = Forwarding()
        fwd: Forwarding = vs["forwarding"]
        return fwd

    kept: list[Draft] = []
    seen: set[tuple[IPAddress, int]] = set()
    weight_sum = 0
    sorry = vs["sorry"]
    for rs in vs["real_servers"]:
        key = (rs["ip"], rs["port"])
        before = len(seen)
        seen.add(key)  # (an address's hash is worked out in Python: once per server, not twice)
        if len(seen) == before:
            ctx.error(
                rs["_loc"],
                f"VS {_fmt(vs)}: real server {format_trio(rs['ip'], rs['port'], vs['protocol'])} "
                "is duplicated - removing second rs",
            )
            continue
        if rs["forwarding"] is None:
            rs["forwarding"] = default_forwarding()
        for k in _INHERITED:
            if rs[k] is None:
                rs[k] = vs[k]
        if rs["smtp_alert"] is None:
            rs["smtp_alert"] = smtp_default if smtp_default is not None else True
        weight_sum += rs["weight"]
        if sorry is not None and (sorry["ip"], sorry["port"]) == key and sorry["inhibit"] != rs["inhibit"]:
            ctx.error(
                loc,
                f"Virtual server {_fmt(vs)}: real server "
                f"{format_trio(rs['ip'], rs['port'], vs['protocol'])} matches sorry server, but "
                f"inhibit setting differs, {'sett' if rs['inhibit'] else 'clear'}ing on sorry server",
            )
            sorry["inhibit"] = rs["inhibit"]
        kept.append(rs)
    if sorry is not None and sorry["forwarding"] is None:
        sorry["forwarding"] = default_forwarding()
    if vs["quorum"] > weight_sum:
        ctx.error(
            loc,
            f"Warning - quorum {vs['quorum']} for {_fmt(vs)} exceeds total weight of real servers "
            f"{weight_sum}, reducing quorum to {weight_sum}",
        )
        vs["quorum"] = weight_sum
    if vs["hysteresis"] >= vs["quorum"]:
        fixed = max(vs["quorum"] - 1, 0)
        ctx.error(
            loc,
            f"Virtual server {_fmt(vs)}: hysteresis {vs['hysteresis']} >= quorum {vs['quorum']}; "
            f"setting hysteresis to {fixed}",
        )
        vs["hysteresis"] = fixed
    _check_ports(ctx, vs, vsg, kept)

    if vs["af"] is None:
        vs["af"] = _fallback_family(vs, vsg, kept)
    real_servers = tuple([_build_rs(ctx, vs, rs) for rs in kept])
    return VirtualServer(
        address=vs["address"],
        port=vs["port"],
        fwmark=vs["fwmark"],
        group=vs["group"],
        protocol=vs["protocol"],
        ip_family=vs["af"],
        lvs_sched=vs["sched"],
        sched_flags=tuple(vs["flags"]),
        forwarding=vs["forwarding"] or Forwarding(),
        persistence_timeout=vs["persistence_timeout"],
        persistence_granularity=vs["granularity"],
        persistence_engine=vs["engine"],
        delay_loop=vs["delay_loop"],
        connect_timeout=vs["connect_timeout"],
        retry=vs["retry"],
        delay_before_retry=vs["delay_before_retry"],
        warmup=vs["warmup"],
        weight=vs["weight"],
        alpha=vs["alpha"],
        omega=vs["omega"],
        inhibit_on_failure=vs["inhibit"],
        ha_suspend=vs["ha_suspend"],
        quorum=vs["quorum"],
        hysteresis=vs["hysteresis"],
        quorum_up=vs["quorum_up"],
        quorum_down=vs["quorum_down"],
        sorry_server=None
        if sorry is None
        else SorryServer(sorry["ip"], sorry["port"], sorry["forwarding"], sorry["inhibit"]),
        virtualhost=vs["virtualhost"],
        smtp_alert=vs_smtp,
        snmp_name=vs["snmp_name"],
        real_servers=real_servers,
    )


def _fallback_family(vs: Draft, vsg: VirtualServerGroup | None, kept: list[Draft]) -> IpFamily | None:
    """Family of a fwmark service whose servers are all tunnelled (vs_end_handler), else IPv4."""
    if vsg is not None:
        mixed = any(a.first.version == 4 for a in vsg.addresses) and any(
            a.first.version == 6 for a in vsg.addresses
        )
        return None if mixed else IpFamily.INET
    fams = {family_of(rs["ip"]) for rs in kept}
    if vs["sorry"] is not None:
        fams.add(family_of(vs["sorry"]["ip"]))
    return fams.pop() if len(fams) == 1 else IpFamily.INET


def _check_ports(ctx: Context, vs: Draft, vsg: VirtualServerGroup | None, kept: list[Draft]) -> None:
    """Unless NAT, real (and sorry) servers use the service's port; with fwmarks no port at all."""
    loc, name, proto = vs["_loc"], _fmt(vs), vs["protocol"]
    sorry = vs["sorry"]
    sorry_nat = sorry is None or sorry["forwarding"].method is LvsMethod.NAT
    if vsg is not None:
        if vsg.fwmarks:
            for rs in kept:
                if rs["forwarding"].method is not LvsMethod.NAT and rs["port"]:
                    ctx.error(
                        loc,
                        f"WARNING - fwmark virtual server {name}, real server "
                        f"{format_trio(rs['ip'], rs['port'], proto)} has port specified - port will be "
                        "ignored",
                    )
            if sorry is not None and not sorry_nat and sorry["port"]:
                ctx.error(
                    loc,
                    f"WARNING - fwmark virtual server {name}, sorry server has port specified - port will "
                    "be ignored",
                )
        for entry in vsg.addresses:
            for rs in kept:
                if rs["forwarding"].method is not LvsMethod.NAT and rs["port"] and rs["port"] != entry.port:
                    ctx.error(
                        loc,
                        f"virtual server {name}:[{_fmt_vsge(entry)}] and real server "
                        f"{format_trio(rs['ip'], rs['port'], proto)} ports don't match",
                    )
            if sorry is not None and not sorry_nat and sorry["port"] and sorry["port"] != entry.port:
                ctx.error(
                    loc,
                    f"WARNING - virtual server {name}, sorry server has port specified - port will be "
                    "ignored",
                )
        return
    for rs in kept:
        if rs["forwarding"].method is LvsMethod.NAT:
            if vs["fwmark"] is None and not rs["port"]:
                rs["port"] = vs["port"]
            continue
        if vs["fwmark"] is not None:
            if rs["port"]:
                ctx.error(
                    loc,
                    f"WARNING - fwmark virtual server {name}, real server "
                    f"{format_trio(rs['ip'], rs['port'], proto)} has port specified - clearing",
                )
                rs["port"] = 0
        elif not rs["port"]:
            rs["port"] = vs["port"]
        elif rs["port"] != vs["port"]:
            ctx.error(
                loc,
                f"WARNING - virtual server {name} and real server "
                f"{format_trio(rs['ip'], rs['port'], proto)} ports don't match - resetting",
            )
            rs["port"] = vs["port"]
    if sorry is not None and not sorry_nat:
        if vs["fwmark"] is not None:
            if sorry["port"]:
                ctx.error(loc, f"WARNING - virtual server {name}, sorry server has port specified - clearing")
                sorry["port"] = 0
        elif not sorry["port"]:
            sorry["port"] = vs["port"]
        elif sorry["port"] != vs["port"]:
            ctx.error(loc, f"WARNING - virtual server {name} and sorry server ports don't match - resetting")
            sorry["port"] = vs["port"]


def _fmt_vsge(entry: VsgAddressRange) -> str:
    if entry.first != entry.last:
        return f"{entry.first}-{entry.last},{entry.port}"
    return f"{entry.first},{entry.port}"


def _build_rs(ctx: Context, vs: Draft, rs: Draft) -> RealServer:
    timings = ctx.shared.setdefault("check_timings", {})
    checkers = tuple([_build_checker(vs, rs, c, timings) for c in rs["checkers"]])
    return RealServer(
        ip=rs["ip"],
        port=rs["port"],
        weight=rs["weight"],
        forwarding=rs["forwarding"],
        inhibit_on_failure=rs["inhibit"],
        alpha=rs["alpha"],
        notify_up=rs.get("notify_up"),  # (set only when given: blocks.real_server._RS)
        notify_down=rs.get("notify_down"),
        uthreshold=rs.get("uthreshold"),
        lthreshold=rs.get("lthreshold"),
        smtp_alert=rs["smtp_alert"],
        virtualhost=rs.get("virtualhost"),
        snmp_name=rs.get("snmp_name"),
        checkers=checkers,
    )


def _build_checker(vs: Draft, rs: Draft, c: Draft,
                   timings: dict[tuple[Any, ...], CheckTiming] | None = None) -> Checker:
    """One checker with the timing inheritance applied (checker <- real server <- virtual server <- default).

    ``timings`` holds the timings made so far: checkers timed alike share one (a large configuration has
    tens of thousands of checkers and a handful of timings)."""
    kind = c["kind"]
    t = c["timing"]
    alpha = t["alpha"] if t["alpha"] is not None else rs["alpha"]
    if kind == "FILE_CHECK":
        return FileCheck(track_file=c["track_file"], weight=c["weight"], reverse=c["reverse"])
    if kind == "BFD_CHECK":
        return BfdCheck(name=c["name"], alpha=alpha)
    default_retry, default_dbr = CHECKER_DEFAULTS[kind]
    delay_loop = t["delay_loop"] if t["delay_loop"] is not None else rs["delay_loop"]
    retry = (
        t["retry"] if t["retry"] is not None else rs["retry"] if rs["retry"] is not None else default_retry
    )
    warmup = (
        t["warmup"] if t["warmup"] is not None else rs["warmup"] if rs["warmup"] is not None else delay_loop
    )
    dbr = t["delay_before_retry"]
    if dbr is None:
        dbr = rs["delay_before_retry"]
    if dbr is None:
        dbr = default_dbr if default_dbr is not None else delay_loop
    key = (delay_loop, retry, dbr, warmup, alpha, bool(t["log_all_failures"]))
    timing = timings.get(key) if timings is not None else None
    if timing is None:
        timing = CheckTiming(delay_loop=delay_loop, retry=retry, delay_before_retry=dbr, warmup=warmup,
                             alpha=alpha, log_all_failures=key[5])
        if timings is not None:
            timings[key] = timing
    if kind == "MISC_CHECK":
        return MiscCheck(
            timing=timing,
            misc_path=c["path"],
            misc_timeout=float(c["misc_timeout"] or vs["delay_loop"]),
            misc_dynamic=c["misc_dynamic"],
        )
    co = c["co"]
    connection = CheckConnection(
        connect_ip=co["ip"] if co["ip"] is not None else rs["ip"],
        # keepalived copies the real server as written; one written without a port uses the effective one
        connect_port=co["port"] if co["port"] is not None else rs["_written_port"] or rs["port"],
        connect_timeout=co["connect_timeout"] if co["connect_timeout"] is not None else rs["connect_timeout"],
        bindto=co["bindto"],
        bind_port=co["bind_port"],
        bind_if=co["bind_if"],
        fwmark=co["fwmark"],
    )
    if kind in ("HTTP_GET", "SSL_GET"):
        return HttpCheck(
            type=kind,
            timing=timing,
            connection=connection,
            urls=tuple(c["urls"]),
            virtualhost=c["virtualhost"],
            http_protocol=c["http_protocol"],
            fast_recovery=c["fast_recovery"],
            enable_sni=c["enable_sni"],
        )
    if kind == "SMTP_CHECK":
        return SmtpCheck(timing=timing, connection=connection, helo_name=c["helo_name"])
    if kind == "DNS_CHECK":
        return DnsCheck(timing=timing, connection=connection, query_type=c["query_type"], name=c["name"])
    if kind == "UDP_CHECK":
        return UdpCheck(
            timing=timing,
            connection=connection,
            payload=c["payload"],
            require_reply=c["require_reply"],
            reply_pattern=c["reply_pattern"],
            min_reply_length=c["min_reply_length"],
            max_reply_length=c["max_reply_length"],
        )
    if kind == "PING_CHECK":
        return PingCheck(timing=timing, connection=connection)
    return TcpCheck(timing=timing, connection=connection)


