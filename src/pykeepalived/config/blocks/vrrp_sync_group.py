"""``vrrp_sync_group`` (keepalived's vrrp_parser.c); members are resolved after parsing
(:mod:`..validate.vrrp`).
"""

from __future__ import annotations

from ..lines import LogicalLine
from ..parser import Block, Context, Draft
from .common import bool_or_error, group_block, items, uniq_begin
from .tracking import NOTIFY_FIELDS, TRACKERS, notify_handler, track_block

SYNC_GROUP = Block("vrrp_sync_group", begin=uniq_begin("vrrp sync group", "vrrp_sync_group", "sync_group"))


SYNC_GROUP.sub("group", group_block("sync"))
for _kw in TRACKERS:
    SYNC_GROUP.sub(_kw, track_block(_kw))
for _kw, _f in NOTIFY_FIELDS.items():
    SYNC_GROUP.keyword(_kw)(notify_handler(_f, "vrrp group {name}:"))


@SYNC_GROUP.keyword("smtp_alert")
def _sg_smtp(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    value = bool_or_error(ctx, line, f"Invalid vrrp_group smtp_alert parameter {line.texts()[-1]}")
    if value is not None:
        draft["smtp_alert"] = value


@SYNC_GROUP.keyword("notify_priority_changes")
def _sg_npc(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    value = bool_or_error(
        ctx,
        line,
        f"({draft['name']}) Invalid value '{line.texts()[-1]}' for sync group"
        " notify_priority_changes specified",
    )
    if value is not None:
        draft["notify_priority_changes"] = value


@SYNC_GROUP.keyword("global_tracking")
def _sg_global_tracking(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    ctx.error(
        line,
        f"({draft['name']}) global_tracking is deprecated. Use track_interface/script/file on the sync group",
    )
    draft["sync_group_tracking_weight"] = True


@SYNC_GROUP.keyword("sync_group_tracking_weight")
def _sg_tracking_weight(ctx: Context, line: LogicalLine, draft: Draft) -> None:
    draft["sync_group_tracking_weight"] = True


def _sg_end(ctx: Context, draft: Draft, parent: Draft) -> None:
    items(parent, "sync_groups").append(draft)


SYNC_GROUP.end = _sg_end


def register(root: Block) -> None:
    root.sub("vrrp_sync_group", SYNC_GROUP)
