"""What vrrp_instance and vrrp_sync_group share: the ``track_*`` blocks, the ``notify_*`` keywords,
and the drafts -> :class:`Tracking` / :class:`NotifyScripts` conversions.
"""

from __future__ import annotations

from ..lines import LogicalLine
from ..model_vrrp import (
    NotifyScripts,
    Tracking,
    TrackRef,
)
from ..parser import Block, Context, Draft, Handler, SkipLine
from ..scripts import script_from_line
from .common import interface_exists, items

#: track block keyword -> (Tracking field, shared weights key, weight range, "not found" noun)
TRACKERS: dict[str, tuple[str, str | None, int, str]] = {
    "track_interface": ("interfaces", None, 254, "interface"),
    "track_script": ("scripts", "vrrp_script_weights", 254, "script"),
    "track_file": ("files", "track_file_weights", 254, "file"),
    "track_process": ("processes", "track_process_weights", 254, "process"),
    "track_bfd": ("bfds", "bfd_weights", 253, "bfd"),
}


def track_block(keyword: str) -> Block:
    field, weights_key, limit, noun = TRACKERS[keyword]

    def entry(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        owner = draft["_owner"]
        t = line.texts()
        name = t[0]
        if keyword == "track_interface":
            if not interface_exists(ctx, name):
                ctx.error(line, f"({owner}) tracked interface {name} doesn't exist")
                return
            weight, reverse = 0, False
        else:
            known = ctx.shared.get(weights_key or "", {})
            if name not in known:
                ctx.error(line, f"({owner}) track {noun} {name} not found, ignoring...")
                return
            weight, reverse = known[name]
        entries = items(draft, "entries")
        if any(e.name == name for e in entries):
            ctx.error(line, f"({owner}) duplicate {keyword} {name} - ignoring")
            return
        if len(t) >= 2:
            # keepalived's vrrp_track.c words track_bfd's complaints its own way (alloc_track_bfd)
            bfd = keyword == "track_bfd"
            if t[1] != "weight":
                what = (f"track_interface {name} option" if keyword == "track_interface"
                        else f"track bfd {name} option" if bfd else f"{noun} option")
                ctx.error(line, f"({owner}) unknown {what} {t[1]} - ignoring")
                return
            if len(t) == 2:
                what = f"track bfd {name}" if bfd else f"{keyword} {name}"
                ctx.error(line, f"({owner}) weight without value specified for {what} - ignoring")
                return
            try:
                weight = ctx.integer(line, 2, -limit, limit)
            except SkipLine:
                ctx.error(
                    line,
                    f"({owner}) weight for track bfd {name} must be in [-253..253] inclusive. Ignoring..." if bfd
                    else f"({owner}) weight {t[2]} for {name} must be between [-253..253] inclusive. Ignoring...",
                )
                weight = 0 if keyword == "track_interface" else known[name][0]
            if abs(weight) == 254 and keyword in ("track_interface", "track_script"):
                ctx.error(line, f"({owner}) weight for {name} cannot be +/-254. Setting to +/-253")
                weight = 253 if weight > 0 else -253
            if len(t) >= 4:
                if t[3] == "reverse":
                    reverse = True
                elif t[3] == "noreverse" and keyword != "track_interface":
                    reverse = False
                else:
                    what = f"track bfd {name}" if bfd else f"{keyword} {name}"
                    ctx.error(line, f"({owner}) unknown {what} weight option {t[3]} - ignoring")
                    if bfd:
                        return  # keepalived drops a track_bfd line with an unknown weight option
        entries.append(TrackRef(name, weight, reverse))

    def begin(ctx: Context, line: LogicalLine, parent: Draft) -> Draft:
        return {"_owner": parent.get("name", ""), "_loc": line.loc}

    def end(ctx: Context, draft: Draft, parent: Draft) -> None:
        items(parent, f"track_{field}").extend(draft.get("entries", []))

    return Block(keyword, kind="lines", begin=begin, entry=entry, end=end)


def notify_handler(field: str, owner_fmt: str) -> Handler:
    """notify_* keywords: one script each; a second one is reported and ignored."""
    def handle(ctx: Context, line: LogicalLine, draft: Draft) -> None:
        key = f"notify_{field}"
        if field == "deleted" and len(line.words) < 2:
            if draft.get("notify_deleted_state"):
                ctx.error(line, f"({draft['name']}) notify_deleted already specified - ignoring ")
            draft["notify_deleted_state"] = True
            return
        if key in draft or (field == "deleted" and draft.get("notify_deleted_state")):
            kw = line.keyword if field != "deleted" else "notify_deleted"
            what = kw if field == "deleted" else f"{kw} script"
            ctx.error(
                line,
                f"{owner_fmt.format(name=draft['name'])} {what} already specified - ignoring "
                f"{line.words[1].text if len(line.words) > 1 else ''}",
            )
            return
        draft[key] = script_from_line(ctx, line)
        if field == "deleted":
            draft["notify_deleted_state"] = True

    return handle


NOTIFY_FIELDS = {
    "notify_master": "master",
    "notify_backup": "backup",
    "notify_fault": "fault",
    "notify_stop": "stop",
    "notify": "generic",
}


def notify_from(draft: Draft) -> NotifyScripts:
    return NotifyScripts(
        **{
            f: draft[f"notify_{f}"]
            for f in ("master", "backup", "fault", "stop", "deleted", "master_rx_lower_pri", "generic")
            if f"notify_{f}" in draft
        },
        deleted_state=draft.get("notify_deleted_state", False),
    )


def tracking_from(draft: Draft) -> Tracking:
    return Tracking(
        **{
            f: tuple(draft.get(f"track_{f}", ()))
            for f in ("interfaces", "scripts", "files", "processes", "bfds")
        }
    )


