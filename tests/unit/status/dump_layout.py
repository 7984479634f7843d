"""The layout of keepalived's dump files with the values taken out, so two dumps of the same config can be
compared field for field although their states, times, fds and addresses differ."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "signal-dumps"

_NUMBERISH = re.compile(r"[0-9a-fA-F:.]*[0-9][0-9a-fA-F:./]*")


def layout(text: str) -> list[str]:
    """One entry per line: its indent and key (``"   Priority ="``), a section title as is, and other
    lines (address lists, ``fd_in 12, fd_out 13``, ``VI_1, weight 10``) with numbers and addresses as
    ``#`` and the state flag ``set`` dropped."""
    out = []
    for line in text.splitlines():
        body = line.strip()
        indent = line[: len(line) - len(line.lstrip())]
        if body.startswith("------<"):
            key = body
        elif " = " in body or body.endswith(" ="):
            key = _NUMBERISH.sub("#", body.split(" = ", 1)[0]) + " ="
        else:
            key = _NUMBERISH.sub("#", body)
            key = key.removesuffix(" set")
        out.append(indent + key)
    return out


def json_layout(value: Any) -> Any:
    """The JSON dump's shape: keys and value types (int and float are one type, as %g prints them)."""
    if isinstance(value, dict):
        return {k: json_layout(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_layout(v) for v in value]
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    return type(value).__name__


def json_keys(text: str) -> Any:
    return json_layout(json.loads(text))


def reference(name: str) -> str:
    return (REFERENCE / name).read_text()


def stats_values(text: str) -> dict[str, int]:
    """keepalived.stats of a one-instance config as {"Advertisements/Sent": 3, "Became master": 1, ...}."""
    out: dict[str, int] = {}
    section = ""
    for line in text.splitlines():
        name, _, value = line.strip().partition(":")
        if not value.strip():
            section = name
            continue
        if line.startswith("    "):
            out[f"{section}/{name}"] = int(value)
        elif line.startswith("  "):
            out[name] = int(value)
    return out
