"""``real_server`` inside a virtual_server (keepalived's check_parser.c)."""

from __future__ import annotations

from ..lines import LogicalLine
from ..parser import Block, Context, Draft
from ..scripts import script_from_line
from .checkers import CHECKER_BLOCKS
from .common import UINT_MAX, Scalar, install_scalars
from .lvs_common import (
    TIMER_MAX,
    WEIGHT_MAX,
    join_family,
    parse_forwarding,
    read_flag,
    read_server,
)

RS = Block("real_server")


def _rs_begin(ctx: Context, line: LogicalLine, vs: Draft) -> Draft | None:
    ip_text = ctx.string(line, 1)
    ip, port = read_server(ctx, line, ip_text)
    if ip is None:
        written = line.tokens[2] if len(line.tokens) > 2 else "(null)"
        ctx.error(line, f"Invalid real server ip address/port {ip_text}/{written} - skipping")
        return None
    rs = _RS.copy()
    rs["ip"] = ip
    rs["port"] = rs["_written_port"] = port
    rs["forwarding"] = vs["forwarding"]
    rs["checkers"] = []
    rs["_bfds"] = frozenset()  # the BFDs its BFD_CHECKs follow (a new set at each one: most have none)
    return rs


#: a real server's draft before its keywords (copied: a copy of a dict is cheaper than a display of it, and a
#: large configuration makes thousands); with the keys the parser adds, so that the copy never grows, and
#: without those few servers have, so that it is a small dict: notify_up, notify_down, uthreshold, lthreshold,
#: virtualhost and snmp_name are set only when given, and read with get
_RS = dict.fromkeys(("_loc", "_end_line", "ip", "port", "_written_port", "weight", "forwarding", "inhibit", "alpha",
                     "retry", "delay_before_retry", "warmup", "connect_timeout", "delay_loop", "smtp_alert",
                     "checkers", "_bfds"))


def _rs_end(ctx: Context, draft: Draft, vs: Draft) -> None:
    if join_family(ctx, vs, draft, "real"):
        vs["real_servers"].append(draft)


RS.begin, RS.end = _rs_begin, _rs_end


install_scalars(RS, [Scalar("weight", "int", 0, WEIGHT_MAX,
                            f"Real server weight {{arg}} is outside range 0-{WEIGHT_MAX}")])


@RS.keyword("lvs_method")
def _rs_method(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["forwarding"] = parse_forwarding(ctx, line, draft["forwarding"], "real")


install_scalars(RS, [Scalar(kw, "int", 0, UINT_MAX, "Invalid real_server {kw} '{arg}' - ignoring")
                     for kw in ("uthreshold", "lthreshold")])


@RS.keyword("inhibit_on_failure")
def _rs_inhibit(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["inhibit"] = read_flag(ctx, line, "Invalid inhibit_on_failure parameter {}")


@RS.keyword("alpha")
def _rs_alpha(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["alpha"] = read_flag(ctx, line, "Invalid alpha parameter {}")


@RS.keyword("smtp_alert")
def _rs_smtp_alert(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["smtp_alert"] = read_flag(ctx, line, "Invalid real_server smtp_alert parameter {}")


@RS.keyword("notify_up", "notify_down")
def _rs_notify(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    if draft.get(line.keyword) is not None:  # (set only when given: see _RS)
        ctx.error(line, f"(null) {line.keyword} script already specified - ignoring {ctx.string(line, 1)}")
        return
    draft[line.keyword] = script_from_line(ctx, line)


RS.string_keyword("virtualhost", "virtualhost", "real server virtualhost missing")


RS.string_keyword("snmp_name", "snmp_name", "real server snmp_name missing or extra parameters", exactly_one=True)


def server_timing_keywords(block: Block, who: str) -> None:
    """retry / delay_before_retry / warmup / connect_timeout / delay_loop at VS and RS level."""
    virtual = who == "virtual"
    dbr = "delay before retry" if virtual else "delay_before_retry"
    install_scalars(block, [
        Scalar("retry", "int", 1, UINT_MAX, "retry value invalid - {arg}"),
        Scalar("connect_timeout", "timer", 0.000001, UINT_MAX / 1e6,
               f"{who} server connect_timeout {{arg}} invalid - ignoring"),
        Scalar("delay_loop", "timer", 0.000001, TIMER_MAX,
               f"{who} server {'delay loop' if virtual else 'delay_loop'} '{{arg}}' invalid - ignoring"),
        Scalar("delay_before_retry", "timer", 0.0, TIMER_MAX,
               f"{who} server {dbr} '{{arg}}' invalid - ignoring"),
        Scalar("warmup", "timer", 0.0, TIMER_MAX, f"{who} server warmup '{{arg}}' invalid - ignoring"),
    ])


server_timing_keywords(RS, "real")
for block_name, _block in CHECKER_BLOCKS.items():
    RS.sub(block_name, _block)


