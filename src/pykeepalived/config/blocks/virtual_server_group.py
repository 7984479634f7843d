"""``virtual_server_group``: address ranges and fwmarks (keepalived's ``alloc_vsg_entry``)."""

from __future__ import annotations

import ipaddress

from ..errors import ErrClass
from ..lines import LogicalLine
from ..model_lvs import (
    IPAddress,
    IpFamily,
    VirtualServerGroup,
    VsgAddressRange,
    VsgFwmark,
)
from ..parser import Block, Context, Draft, SkipLine
from .common import UINT_MAX
from .lvs_common import parse_ip, read_port, with_message, written_port


def _vsg_begin(ctx: Context, line: LogicalLine, parent: Draft) -> Draft:
    return {"name": ctx.string(line, 1), "addresses": [], "fwmarks": []}


def _vsg_entry(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    """One group entry (keepalived's alloc_vsg_entry)."""
    name = draft["name"]
    words = line.words
    first = words[0].text
    if first == "fwmark":
        fw_word = ctx.arg(line, 1)
        fwmark = with_message(
            ctx,
            line,
            f"({name}): fwmark '{fw_word.text}' must be in [0, {UINT_MAX}] - ignoring",
            lambda: ctx.integer(line, 1, 0, UINT_MAX),
        )
        family: IpFamily | None = None
        if len(words) > 2:
            try:
                family = IpFamily(words[2].text)
            except ValueError:
                ctx.error(line, f"({name}): fwmark '{fwmark}' family {words[2].text} unknown - ignoring")
                return
        draft["fwmarks"].append(VsgFwmark(fwmark, family))
        return

    port_text = written_port(ctx.opt(line, 1))
    port = 0
    bad_addr = (
        f"Invalid virtual server group IP address {first} "
        f"{'/port/' + port_text if port_text else ''} - skipping"
    )
    if port_text is not None:
        try:
            port = read_port(ctx, line, words[1])
        except SkipLine:
            ctx.error(line, bad_addr)
            return
    start = parse_ip(first)
    if start is None:
        ctx.error(line, bad_addr)
        return
    end = _vsg_range_end(ctx, line, first, start)
    if end is None:
        return
    draft["addresses"].append(VsgAddressRange(start, end, port))


def _vsg_range_end(ctx: Context, line: LogicalLine, text: str, start: IPAddress) -> IPAddress | None:
    """The last address of ``IP``, ``IP/PREFIX``, ``IP-IP`` or ``IP-LAST`` (None: entry rejected)."""
    bits = start.max_prefixlen
    if "/" in text:
        mask_text = text.split("/", 1)[1]
        if not mask_text.isdigit() or not 0 < int(mask_text) <= bits:
            ctx.error(line, f"Invalid netmask - {text} - skipping")
            return None
        try:
            net = ipaddress.ip_network(f"{start}/{mask_text}", strict=True)
        except ValueError:
            ctx.error(line, f"Address mask bits not empty - {text} - skipping")
            return None
        return net.broadcast_address
    if "-" not in text:
        return start
    tail = text.split("-", 1)[1]
    if ("." if start.version == 4 else ":") in tail:
        end = parse_ip(tail)
        if end is None:
            ctx.error(line, f"Invalid range end {text} - skipping")
            return None
        if end.version != start.version:
            ctx.error(line, f"Range address families do not match {text} - skipping")
            return None
        if int(end) < int(start):
            ctx.error(line, f"Address range end is less than address range start - {text} - skipping")
            return None
        return end
    # IP-LAST: the last octet (IPv4, decimal) or last 16-bit group (IPv6, hex) is replaced
    base, limit = (10, 255) if start.version == 4 else (16, 0xFFFF)
    digits = ""
    for ch in tail:
        if ch.isascii() and ch.isalnum() and _digit_ok(ch, base):
            digits += ch
        else:
            break
    value = int(digits, base) if digits else 0
    if digits != tail:
        ctx.error(
            line,
            f"Virtual server group range '{text}' has extra characters at end '{tail[len(digits) :]}'",
            cls=ErrClass.INVALID_NUMBER,
        )
        return None
    if value > limit:
        ctx.error(
            line, f"Virtual server group range '{text}' end '{tail}' too large", cls=ErrClass.INVALID_NUMBER
        )
        return None
    width = 8 if start.version == 4 else 16
    low = int(start) & ((1 << width) - 1)
    if low >= value:
        ctx.error(line, f"Address range end is not greater than address range start - {text} - skipping")
        return None
    return ipaddress.ip_address((int(start) >> width << width) | value)


def _digit_ok(ch: str, base: int) -> bool:
    try:
        int(ch, base)
    except ValueError:
        return False
    return True


def _vsg_end(ctx: Context, draft: Draft, parent: Draft) -> None:
    name = draft["name"]
    if not draft["addresses"] and not draft["fwmarks"]:
        ctx.error(draft["_loc"], f"virtual server group {name} has no entries - removing")
        return
    v4 = any(a.first.version == 4 for a in draft["addresses"]) or any(
        f.family is IpFamily.INET for f in draft["fwmarks"]
    )
    v6 = any(a.first.version == 6 for a in draft["addresses"]) or any(
        f.family is IpFamily.INET6 for f in draft["fwmarks"]
    )
    if v4 and v6 and any(f.family is None for f in draft["fwmarks"]):
        ctx.error(
            draft["_loc"],
            f"virtual server group {name} cannot have IPv4, IPv6 and fwmark without family - removing",
        )
        return
    parent.setdefault("lvs_vsgs", []).append(
        VirtualServerGroup(name, tuple(draft["addresses"]), tuple(draft["fwmarks"]), loc=draft["_loc"])
    )


VSG = Block("virtual_server_group", kind="lines", begin=_vsg_begin, entry=_vsg_entry, end=_vsg_end)

def register(root: Block) -> None:
    root.sub("virtual_server_group", VSG)
