"""``render(config)``: keepalived syntax that re-parses to the same model.

The output states every effective value explicitly where a default depends on other settings
(priority, state, version, strict-mode fix-ups …), so the rendered file means the same thing
whatever keepalived would have derived.  Each section has its renderer (``global_defs``,
``vrrp``, ``lvs``); :mod:`.text` holds the quoting helpers.
"""

from __future__ import annotations

from ..model import Config
from . import global_defs, lvs, vrrp
from .text import script_line, word

__all__ = ["render", "script_line", "word"]


def render(config: Config) -> str:
    """The whole configuration as keepalived.conf text."""
    parts = [global_defs.render(config.global_defs), vrrp.render(config.vrrp), lvs.render(config.lvs)]
    return "\n".join(p for p in parts if p)
