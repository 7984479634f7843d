"""Every keepalived sample parses, and ``-t`` agrees with keepalived 2.2.7 (samples-t.txt)."""

from __future__ import annotations

import re

import pytest

from pykeepalived.config import load_config
from pykeepalived.config.model import Script
from pykeepalived.config.validate import scripts as validate_scripts
from tests.conftest import data_path, sample_names

LAB_INTERFACES = frozenset({"lo", "eth0", "eth1", "eth2", "eth3"})
_LINE = re.compile(r"^\((?:(?P<file>[^:]+): )?Line (?P<line>\d+)\) (?P<msg>.*)$")


def _captures() -> dict[str, tuple[int, list[tuple[int | None, str]]]]:
    """samples-t.txt -> {sample: (rc, [(line or None, message)])}."""
    text = data_path("keepalived-2.2.7-captures", "samples-t.txt").read_text()
    out: dict[str, tuple[int, list[tuple[int | None, str]]]] = {}
    name = None
    msgs: list[tuple[int | None, str]] = []
    for raw in text.splitlines():
        if raw.startswith("=== "):
            name, msgs = raw[4:].strip(), []
        elif name is None:
            continue
        elif raw.startswith("rc="):
            out[name] = (int(raw[3:]), msgs)
            name = None
        elif raw.strip():
            m = _LINE.match(raw)
            msgs.append((int(m["line"]), m["msg"].strip()) if m else (None, raw.strip()))
    return out


def _fake_machine(script: Script) -> tuple[str, str | None]:
    """The capture host: killall installed, the samples' /usr/local scripts absent."""
    cmd = script.argv[0]
    if cmd.startswith("<"):
        return "system", None
    if cmd == "killall":
        return "ok", None
    return "missing", f"Cannot find script {cmd} - disabling"


@pytest.fixture(autouse=True)
def _machine(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(validate_scripts, "script_status", _fake_machine)


@pytest.mark.parametrize("sample", sample_names())
def test_sample_matches_keepalived(sample: str) -> None:
    path = data_path("keepalived-samples", sample)
    rc, expected = _captures()[sample]
    result = load_config(path, interfaces=LAB_INTERFACES, config_id="nohost")
    assert result.config is not None
    got = [(d.loc.line if d.loc else None, d.message.strip()) for d in result.diagnostics if not d.info]
    for line, msg in expected:
        assert any(m == msg and (line is None or line == ln) for ln, m in got), (msg, got)
    assert sorted(m for _, m in got) == sorted(m for _, m in expected)
    assert result.diagnostics.config_test_exit_code() == rc


@pytest.mark.parametrize("sample", sample_names())
def test_sample_without_interfaces(sample: str) -> None:
    """With no interfaces at all, any instance makes keepalived's VRRP process give up (rc 5)."""
    path = data_path("keepalived-samples", sample)
    rc, _ = _captures()[sample]
    result = load_config(path, interfaces=frozenset(), config_id="nohost")
    assert result.config is not None
    messages = [d.message for d in result.diagnostics]
    if "vrrp_instance" in path.read_text():
        assert "Non-existent interface specified in configuration" in messages
        assert result.diagnostics.config_test_exit_code() == 5
    else:
        assert result.diagnostics.config_test_exit_code() == rc
