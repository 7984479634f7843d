"""``virtual_server`` (keepalived's check_parser.c, down to ``vs_end_handler``)."""

from __future__ import annotations

import ipaddress
import socket

from ..block_cache import Reused
from ..lines import LogicalLine
from ..model_lvs import (
    IpFamily,
    Protocol,
)
from ..parser import Block, Context, Draft, SkipLine
from ..scripts import script_from_line
from .common import UINT_MAX, Scalar, install_scalars, read_checked
from .lvs_common import (
    PERSISTENCE_DEFAULT,
    PERSISTENCE_MAX,
    WEIGHT_MAX,
    family_of,
    join_family,
    parse_forwarding,
    read_flag,
    read_server,
    with_message,
    written_port,
)
from .real_server import RS, server_timing_keywords

SCHEDULERS = ("rr", "wrr", "lc", "wlc", "lblc", "sh", "mh", "dh", "fo", "ovf", "lblcr", "sed", "nq", "twos")


VS = Block("virtual_server")

def _vs_begin(ctx: Context, line: LogicalLine, root: Draft) -> Draft | None:
    p1 = ctx.string(line, 1)
    draft: Draft = {
        "address": None,
        "port": 0,
        "fwmark": None,
        "group": None,
        "af": None,
        "protocol": None,
        "sched": None,
        "flags": [],
        "forwarding": None,
        "persistence_timeout": 0,
        "granularity": None,
        "engine": None,
        "delay_loop": 60.0,
        "connect_timeout": 5.0,
        "retry": None,
        "delay_before_retry": None,
        "warmup": None,
        "weight": 1,
        "alpha": False,
        "omega": False,
        "inhibit": False,
        "ha_suspend": False,
        "quorum": 1,
        "hysteresis": 0,
        "quorum_up": None,
        "quorum_down": None,
        "sorry": None,
        "virtualhost": None,
        "smtp_alert": None,
        "snmp_name": None,
        "real_servers": [],
    }
    if p1 == "group":
        draft["group"] = ctx.string(line, 2)
    elif p1 == "fwmark":
        w = ctx.arg(line, 2)
        draft["fwmark"] = with_message(
            ctx,
            line,
            f"virtual server fwmark '{w.text}' must be in [0, {UINT_MAX}] - ignoring",
            lambda: ctx.integer(line, 2, 0, UINT_MAX),
        )
    else:
        ip, draft["port"] = read_server(ctx, line, p1)
        if ip is None:
            port_text = written_port(ctx.opt(line, 2))
            suffix = f"/port {p1}/{port_text}" if port_text else f" {p1}"
            ctx.error(line, f"Invalid virtual server IP address{suffix} - skipping")
            return None
        draft["address"], draft["af"] = ip, family_of(ip)
    return draft


def _vs_end(ctx: Context, draft: Draft, root: Draft) -> None:
    """vs_end_handler: the sorry server's family, unless tunnelled, must match the service."""
    sorry = draft["sorry"]
    if sorry is not None and not join_family(ctx, draft, sorry, "sorry"):
        draft["sorry"] = None
    root.setdefault("lvs_vss", []).append(draft)


def _vs_reuse(ctx: Context, model: object, root: Draft) -> None:
    """The service a reload did not change (:mod:`..block_cache`), in its place among the others."""
    root.setdefault("lvs_vss", []).append(Reused(model))


VS.begin, VS.end, VS.reuse = _vs_begin, _vs_end, _vs_reuse
server_timing_keywords(VS, "virtual")
VS.sub("real_server", RS)


@VS.keyword("ip_family")
def _vs_ip_family(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    text = ctx.string(line, 1)
    try:
        fam = IpFamily(text)
    except ValueError:
        ctx.error(line, f"unknown address family {text}")
        return
    if draft["af"] is not None and draft["af"] is not fam:
        ctx.error(line, f"Virtual server specified family {text} conflicts with server family")
        return
    draft["af"] = fam


@VS.keyword("lvs_sched", "lb_algo")
def _vs_sched(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    text = ctx.string(line, 1)
    if text not in SCHEDULERS:
        ctx.error(line, f"Invalid lvs_scheduler '{text}' - ignoring")
        return
    draft["sched"] = text


@VS.keyword("hashed", "ops", "flag-1", "flag-2", "flag-3", "sh-port", "sh-fallback", "mh-port", "mh-fallback")
def _vs_flag(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    """Scheduler flags; sh-/mh- flags only count when that scheduler is already set (lbflags_handler)."""
    kw = line.keyword
    sched = draft["sched"]
    if (
        kw in ("ops", "flag-1", "flag-2", "flag-3")
        or (sched == "sh" and kw.startswith("sh-"))
        or (sched == "mh" and kw.startswith("mh-"))
    ):
        if kw not in draft["flags"]:
            draft["flags"].append(kw)
    elif sched not in ("sh", "mh"):
        ctx.error(line, f"{kw} only applies to sh scheduler - ignoring")


@VS.keyword("lvs_method", "lb_kind")
def _vs_method(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["forwarding"] = parse_forwarding(ctx, line, draft["forwarding"], "virtual")


@VS.keyword("persistence_timeout")
def _vs_persistence(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if len(line.words) < 2:
        draft["persistence_timeout"] = PERSISTENCE_DEFAULT
        return
    draft["persistence_timeout"] = read_checked(ctx, line, "int", 1, PERSISTENCE_MAX, "persistence_timeout invalid")


@VS.keyword("persistence_engine")
def _vs_engine(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    name = ctx.string(line, 1)
    if len(name) > 15:
        ctx.error(line, f"persistence_name too long, truncating - {name}")
        name = name[:15]
    draft["engine"] = name


@VS.keyword("persistence_granularity")
def _vs_granularity(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    text = ctx.string(line, 1)
    fam = draft["af"] or (IpFamily.INET if "." in text else IpFamily.INET6)
    if fam is IpFamily.INET6:
        draft["granularity"] = read_checked(
            ctx, line, "int", 1, 128, "Invalid IPv6 persistence_granularity specified - {arg}"
        )
    else:
        try:
            draft["granularity"] = ipaddress.IPv4Address(socket.inet_aton(text))
        except (OSError, ValueError):
            ctx.error(line, f"Invalid IPv4 persistence_granularity specified - {text}")
            return
    if draft["af"] is None:
        draft["af"] = fam
    if not draft["persistence_timeout"]:
        draft["persistence_timeout"] = PERSISTENCE_DEFAULT


@VS.keyword("protocol")
def _vs_protocol(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    text = ctx.string(line, 1)
    try:
        draft["protocol"] = Protocol(text.upper())
    except ValueError:
        ctx.error(line, f"Unknown protocol {text} - ignoring")


@VS.keyword("ha_suspend", "alpha", "omega", "inhibit_on_failure")
def _vs_bare_flag(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    key = "inhibit" if line.keyword == "inhibit_on_failure" else line.keyword
    draft[key] = True


@VS.keyword("smtp_alert")
def _vs_smtp_alert(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["smtp_alert"] = read_flag(ctx, line, "Invalid virtual_server smtp_alert parameter {}")


VS.string_keyword("virtualhost", "virtualhost", "virtual server virtualhost missing")


VS.string_keyword("snmp_name", "snmp_name", "virtual server snmp_name missing or extra parameters", exactly_one=True)


@VS.keyword("quorum_up", "quorum_down")
def _vs_quorum_script(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if draft[line.keyword] is not None:
        ctx.error(
            line,
            f"({draft['group'] or '(null)'}) {line.keyword} script already specified - ignoring "
            f"{ctx.string(line, 1)}",
        )
        return
    draft[line.keyword] = script_from_line(ctx, line)


@VS.keyword("quorum")
def _vs_quorum(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    try:
        draft["quorum"] = read_checked(
            ctx, line, "int", 1, UINT_MAX, f"Quorum {{arg}} must be in [1, {UINT_MAX}]. Setting to 1."
        )
    except SkipLine:
        draft["quorum"] = 1


install_scalars(VS, [
    Scalar("hysteresis", "int", 0, UINT_MAX, f"Hysteresis {{arg}} must be in [0, {UINT_MAX}] - ignoring"),
    Scalar("weight", "int", 1, WEIGHT_MAX, f"Virtual server weight {{arg}} is outside range 1-{WEIGHT_MAX}"),
])


@VS.keyword("sorry_server")
def _vs_sorry(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    ip_text = ctx.string(line, 1)
    ip, port = read_server(ctx, line, ip_text)
    if ip is None:
        ctx.error(line, f"Invalid sorry server IP address {ip_text} - skipping")
        return
    draft["sorry"] = {"ip": ip, "port": port, "forwarding": draft["forwarding"], "inhibit": False}


@VS.keyword("sorry_server_inhibit")
def _vs_sorry_inhibit(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if draft["sorry"] is None:
        ctx.error(line, "Ignoring sorry_server inhibit used before or without sorry_server")
        return
    draft["sorry"]["inhibit"] = True


@VS.keyword("sorry_server_lvs_method")
def _vs_sorry_method(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if draft["sorry"] is None:
        ctx.error(line, "sorry_server forwarding used without sorry_server")
        return
    draft["sorry"]["forwarding"] = parse_forwarding(ctx, line, draft["sorry"]["forwarding"], "sorry")


def register(root: Block) -> None:
    root.sub("virtual_server", VS)
