"""Readers the LVS blocks share (keepalived's check_parser.c): addresses, ports, ``[BOOL]`` flags,
forwarding methods, and the limits keepalived applies.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from ..lines import LogicalLine, Word
from ..model_lvs import (
    Forwarding,
    IPAddress,
    IpFamily,
    LvsMethod,
    TunnelChecksum,
    TunnelType,
)
from ..parser import Context, Draft, SkipLine

INT_MAX = 2**31 - 1
#: IPVS_WEIGHT_LIMIT
WEIGHT_MAX = INT_MAX
#: LVS_MAX_TIMEOUT (31 days)
PERSISTENCE_MAX = 86400 * 31
#: IPVS_SVC_PERSISTENT_TIMEOUT
PERSISTENCE_DEFAULT = 360
#: read_timer's upper bound when none is given (TIMER_MAXIMUM, in seconds)
TIMER_MAX = (2**64 - 2) / 1e6


@functools.lru_cache(maxsize=1 << 16)
def parse_ip(text: str) -> IPAddress | None:
    """keepalived's ``inet_stosockaddr``: family from ':'; any ``-range``/``/mask`` suffix ignored.

    Cached (bounded): large configs name the same real servers in many virtual servers, and the
    addresses are immutable."""
    for sep in "-/":
        text = text.split(sep, 1)[0]
    if "%" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def written_port(word: Word | None) -> str | None:
    """A written port, or None when absent or all zeros (keepalived treats ``0`` as no port)."""
    if word is None or not word.text.strip("0"):
        return None
    return word.text


def read_port(ctx: Context, line: LogicalLine, word: Word) -> int:
    return ctx.integer(line, 0, 1, 65535, word=word)


def read_server(ctx: Context, line: LogicalLine, ip_text: str) -> tuple[IPAddress | None, int]:
    """``IP [PORT]`` with the address already read and the port at word 2: (ip, port), ip None when the
    address or the port is invalid (the port's own complaint is reported; a zero port is no port)."""
    ip = parse_ip(ip_text)
    port = 0
    if len(line.tokens) > 2 and line.tokens[2].strip("0"):
        try:
            port = ctx.integer(line, 2, 1, 65535)
        except SkipLine:
            ip = None
    return ip, port


def join_family(ctx: Context, vs: Draft, server: Draft, what: str) -> bool:
    """A real or sorry server's address family must be the virtual server's (the first one sets it),
    unless the server is tunnelled.  False (and keepalived's error) when it does not match."""
    fwd = server["forwarding"]
    if fwd is not None and fwd.method is LvsMethod.TUN:
        return True
    fam = family_of(server["ip"])
    if vs["af"] is None:
        vs["af"] = fam
    elif vs["af"] is not fam:
        ctx.error(server.get("_loc") if what == "real" else vs["_loc"],
                  f"Address family of virtual server and {what} server {server['ip']} don't match"
                  f" - skipping {what} server.")
        return False
    return True


def with_message(ctx: Context, line: LogicalLine, message: str, read: Callable[[], Any]) -> Any:
    """Run a number reader; when it rejects the value add keepalived's keyword-specific message."""
    try:
        return read()
    except SkipLine:
        ctx.error(line, message)
        raise


def read_flag(ctx: Context, line: LogicalLine, message: str) -> bool:
    """``KEYWORD [BOOL]``: no argument means true; a bad word keeps the old value."""
    w = ctx.opt(line, 1)
    if w is None:
        return True
    if w.text in ("true", "on", "yes"):
        return True
    if w.text in ("false", "off", "no"):
        return False
    ctx.error(line, message.format(w.text))
    raise SkipLine


def family_of(ip: IPAddress) -> IpFamily:
    return IpFamily.INET if ip.version == 4 else IpFamily.INET6


def parse_forwarding(
    ctx: Context, line: LogicalLine, current: Forwarding | None, s_type: str
) -> Forwarding | None:
    """``NAT|DR|TUN [type ipip|gue|gre] [port N] [nocsum|csum|remcsum]`` (svr_forwarding_handler).

    The method is taken even when a tunnel option is then rejected, as keepalived does.
    """
    text = ctx.string(line, 1)
    try:
        method = LvsMethod(text)
    except ValueError:
        ctx.error(line, f"PARSER : unknown [{text}] routing method for {s_type} server.")
        return current
    base = current if current is not None else Forwarding()
    took_method = replace(base, method=method)
    tun_type, port, csum = TunnelType.IPIP, 0, TunnelChecksum.NOCSUM
    words = line.texts()
    i = 2
    while i < len(words):
        w = words[i]
        if w == "type":
            if i + 1 == len(words):
                ctx.error(line, f"Missing tunnel type for {s_type} server.")
                return took_method
            try:
                tun_type = TunnelType(words[i + 1])
            except ValueError:
                ctx.error(line, f"Unknown tunnel type {words[i + 1]} for {s_type} server.")
                return took_method
            i += 1
        elif w == "port":
            if i + 1 == len(words):
                ctx.error(line, f"Missing port for {s_type} server gue tunnel.")
                return took_method
            try:
                port = ctx.integer(line, i + 1, 1, 65535)
            except SkipLine:
                ctx.error(line, f"Invalid gue tunnel port {words[i + 1]} for {s_type} server.")
                return took_method
            i += 1
        elif w in ("nocsum", "csum", "remcsum"):
            csum = TunnelChecksum(w)
        else:
            ctx.error(line, f"Invalid tunnel option {w} for {s_type} server.")
            return took_method
        i += 1
    if (tun_type is TunnelType.GUE) != (port != 0):
        ctx.error(line, "gue tunnels require port, otherwise cannot have port.")
        return took_method
    if tun_type is TunnelType.IPIP and csum is not TunnelChecksum.NOCSUM:
        ctx.error(line, "ipip tunnels do not support checksum option.")
        return took_method
    if tun_type is TunnelType.GRE and csum is TunnelChecksum.REMCSUM:
        ctx.error(line, "gre tunnels do not support remote checksum option.")
        return took_method
    return Forwarding(method, tun_type, port, csum)


