"""``render(config)``: keepalived syntax that re-parses to the same model.

The output states every effective value explicitly where a default depends on other settings
(priority, state, version, strict-mode fix-ups …), so the rendered file means the same thing
whatever keepalived would have derived.  Each section renders itself (``keywords_global``,
``keywords_vrrp``, ``keywords_lvs``); this module composes them and holds the quoting helpers.
"""

from __future__ import annotations

from .model import Config, Script

_SPECIAL = set(" \t\"#!{}'\\$~@;")


def word(text: str) -> str:
    """One word of a config line, double-quoted when the tokeniser would otherwise split or eat it."""
    if text and not (_SPECIAL & set(text)):
        return text
    return f'"{text}"'


def _argv_word(arg: str) -> str:
    """An argv element inside a quoted command string (single quotes group, as keepalived splits)."""
    if arg and not (set(" \t'\"\\#!") & set(arg)):
        return arg
    return "'" + arg.replace("\\", "\\\\").replace("'", "\\'") + "'"


def script_line(keyword: str, script: Script) -> str:
    """``keyword "cmd args" [user [group]]`` for a Script."""
    command = " ".join(_argv_word(a) for a in script.argv)
    parts = [keyword, f'"{command}"']
    if script.user is not None:
        parts.append(word(script.user))
        if script.group is not None:
            parts.append(word(script.group))
    return " ".join(parts)


def render(config: Config) -> str:
    """The whole configuration as keepalived.conf text."""
    from . import keywords_global, keywords_lvs, keywords_vrrp

    parts = [keywords_global.render(config.global_defs), keywords_vrrp.render(config.vrrp)]
    lvs_render = getattr(keywords_lvs, "render", None)
    if lvs_render is not None:
        parts.append(lvs_render(config.lvs))
    return "\n".join(p for p in parts if p)
