"""global_defs after parsing: keepalived's defaults (``init_global_data``) -> :class:`GlobalDefs`."""

from __future__ import annotations

import dataclasses
import socket

from ..model_global import GlobalDefs
from ..parser import Context, Draft

_FIELDS = {f.name: f for f in dataclasses.fields(GlobalDefs)}


def finish(ctx: Context, draft: Draft) -> GlobalDefs:
    """Apply keepalived's defaults (``init_global_data``) and build :class:`GlobalDefs`."""
    d = {k: v for k, v in draft.get("global", {}).items() if k in _FIELDS}
    if d.get("router_id") is None:
        d["router_id"] = socket.gethostname()
    if d.get("vrrp_min_garp"):
        # only parameters still at their default are changed (vrrp_min_garp_handler)
        d.setdefault("vrrp_garp_master_repeat", 1)
        d.setdefault("vrrp_garp_master_refresh_repeat", 0)
        d.setdefault("vrrp_garp_master_delay", 0)
    d.setdefault("vrrp_garp_lower_prio_delay", d.get("vrrp_garp_master_delay", 5))
    d.setdefault("vrrp_garp_lower_prio_repeat", d.get("vrrp_garp_master_repeat", 5))
    return GlobalDefs(**d)

