"""Quoting and number formats shared by the section renderers."""

from __future__ import annotations

from ..model import Script

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


def fmt_timer(value: object) -> str:
    """A timer as keepalived reads it (up to 6 decimal places, no exponent); other values as ``str``."""
    if isinstance(value, float):
        return f"{value:.6f}".rstrip("0").rstrip(".") or "0"
    return str(value)
