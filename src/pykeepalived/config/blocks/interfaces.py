"""Root blocks about interfaces: ``garp_group``, ``track_group``, ``linkbeat_interfaces`` and
``interface_up_down_delays`` (keepalived's vrrp_parser.c).
"""

from __future__ import annotations

from ..errors import ErrClass
from ..lines import LogicalLine, Word
from ..model_vrrp import (
    GarpGroup,
    InterfaceDelays,
    LinkbeatInterface,
    TrackGroup,
)
from ..parser import Block, Context, Draft, SkipLine
from .common import append_end, end_loc, entries_block, group_block, interface_exists, items, uniq_begin

GARP_GROUP = Block("garp_group")


@GARP_GROUP.keyword("garp_interval", "gna_interval")
def _gg_interval(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    ctx.arg(line, 1)  # a missing value is only MISSING_PARAMETER
    try:
        draft[line.keyword] = ctx.timer(line, 1, 0, 2147.483647)  # [0, INT_MAX] microseconds
    except SkipLine:
        ctx.error(line, f"garp_group {line.keyword} '{line.words[1].text}' invalid")
        raise


def _gg_add_interface(ctx: Context, where: LogicalLine | Word, name: str, draft: Draft) -> None:
    if not interface_exists(ctx, name):
        ctx.error(where, f"WARNING - interface {name} specified for garp_group doesn't exist")
        return
    seen = ctx.shared.setdefault("garp_group_interfaces", set())
    if name in seen:
        ctx.error(where, f"garp_group already specified for {name} - ignoring")
        return
    seen.add(name)
    items(draft, "interfaces").append(name)


@GARP_GROUP.keyword("interface")
def _gg_interface(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    _gg_add_interface(ctx, line, ctx.string(line), draft)


def _gg_interfaces(ctx: Context, words: list[Word], draft: Draft) -> None:
    if not words:
        ctx.error(draft.get("_loc"), "Warning - empty garp_group interfaces block")
    for w in words:
        _gg_add_interface(ctx, w, w.text, draft["_parent"])


GARP_GROUP.sub(
    "interfaces",
    Block(
        "interfaces",
        kind="words",
        words=_gg_interfaces,
        begin=lambda ctx, line, parent: {"_parent": parent, "_loc": line.loc},
    ),
)


def _gg_end(ctx: Context, draft: Draft, parent: Draft) -> None:
    if "garp_interval" not in draft and "gna_interval" not in draft:
        n = ctx.shared["garp_groups"] = ctx.shared.get("garp_groups", 0) + 1
        ctx.error(end_loc(draft), f"garp group {n} does not have any delay set - removing")
        return
    items(parent, "garp_groups").append(
        GarpGroup(tuple(draft.get("interfaces", ())), draft.get("garp_interval"), draft.get("gna_interval"))
    )


GARP_GROUP.end = _gg_end

TRACK_GROUP = Block("track_group", begin=uniq_begin("track_group", "track_group", "track_group"))


TRACK_GROUP.sub("group", group_block("track"))
TRACK_GROUP.end = append_end("track_groups", lambda ctx, d: TrackGroup(d["name"], d.get("group", ())))


def _linkbeat_entry(ctx: Context, line: LogicalLine) -> LinkbeatInterface | None:
    t = line.texts()
    if not interface_exists(ctx, t[0]):
        ctx.error(line, f"unknown interface {t[0]} specified for linkbeat interface", cls=ErrClass.FATAL)
        return None
    mode = None
    if len(t) > 1:
        if t[1] in ("MII", "ETHTOOL", "IOCTL"):
            mode = t[1]
        else:
            ctx.error(line, f"extra characters {t[1]} in linkbeat interface")
    return LinkbeatInterface(t[0], mode)


def _delays_entry(ctx: Context, line: LogicalLine) -> InterfaceDelays | None:
    t = line.texts()
    if not interface_exists(ctx, t[0]):
        ctx.error(line, f"unknown interface {t[0]} specified for up/down delay", cls=ErrClass.FATAL)
        return None
    if len(t) < 2:
        ctx.note(line, f"No timeouts specified for {t[0]} up/down delays")
        return None
    if len(t) > 3:
        ctx.note(line, f"Too many parameters for {t[0]} up/down delays")
        return None
    try:
        down = ctx.timer(line, 1, 0, 255)
        up = ctx.timer(line, 2, 0, 255) if len(t) > 2 else down
    except SkipLine:
        return None
    return InterfaceDelays(t[0], down, up)


LINKBEAT = entries_block("linkbeat_interfaces", "linkbeat_interfaces", _linkbeat_entry)
UP_DOWN_DELAYS = entries_block("interface_up_down_delays", "interface_up_down_delays", _delays_entry)


def register(root: Block) -> None:
    root.sub("garp_group", GARP_GROUP)
    root.sub("track_group", TRACK_GROUP)
    root.sub("linkbeat_interfaces", LINKBEAT)
    root.sub("interface_up_down_delays", UP_DOWN_DELAYS)
