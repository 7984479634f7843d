"""``pykeepalived -t`` output format and exit codes; ``config show`` JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pykeepalived.cli import main

GOOD = """vrrp_instance VI_1 {
    interface eth0
    virtual_router_id 51
    priority 100
    virtual_ipaddress {
        192.168.200.16
    }
}
"""


def _run(tmp_path: Path, text: str, *extra: str) -> int:
    conf = tmp_path / "k.conf"
    conf.write_text(text)
    return main(["-t", "-f", str(conf), "--interfaces", "lo,eth0", *extra])


def test_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(tmp_path, GOOD) == 0
    assert capsys.readouterr().err == ""


def test_missing_parameter_is_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(tmp_path, GOOD.replace("priority 100", "priority")) == 2
    err = capsys.readouterr().err
    assert (
        f"{tmp_path / 'k.conf'}:4:5: error: Configuration line starting `priority` is missing a parameter"
        in err
    )


def test_unknown_keyword_is_5_with_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(tmp_path, GOOD.replace("priority 100", "priorty 100")) == 5
    err = capsys.readouterr().err
    assert ":4:5: error: Unknown keyword 'priorty' (did you mean 'priority'?)" in err


def test_missing_interface_is_5(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(tmp_path, GOOD.replace("eth0", "eth9")) == 5
    err = capsys.readouterr().err
    assert ":2:5: error: WARNING - interface eth9 for vrrp_instance VI_1 doesn't exist" in err
    assert "error: Non-existent interface specified in configuration" in err


def test_fatal_alone_is_4(tmp_path: Path) -> None:
    """linkbeat's unknown interface is FATAL and flags a missing interface (BAD_IF): both alone give 4."""
    conf = "linkbeat_interfaces {\n  eth7\n}\n"
    assert _run(tmp_path, conf) == 4


def test_security_violation_is_6(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = GOOD.replace("priority 100", "priority 100\n    notify_master /bin/true")
    assert _run(tmp_path, text) == 6
    assert (
        "SECURITY VIOLATION - scripts are being executed but script_security not enabled."
        in capsys.readouterr().err
    )
    secure = "global_defs {\n  enable_script_security\n  script_user root\n}\n" + text
    assert _run(tmp_path, secure) == 0


def test_logfile(tmp_path: Path) -> None:
    log = tmp_path / "t.log"
    assert _run(tmp_path, GOOD.replace("priority 100", "priorty 100"), f"--config-test={log}") == 5
    assert "Unknown keyword 'priorty'" in log.read_text()


def test_config_show_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    conf = tmp_path / "k.conf"
    conf.write_text(GOOD)
    assert main(["config", "show", "-f", str(conf), "--interfaces", "eth0"]) == 0
    data = json.loads(capsys.readouterr().out)
    inst = data["vrrp"]["instances"][0]
    assert inst["name"] == "VI_1" and inst["state"] == "BACKUP" and inst["version"] == 2
    assert inst["virtual_ipaddress"][0]["address"] == "192.168.200.16/32"
    assert list(data) == ["global_defs", "vrrp", "lvs", "files", "config_id", "announce"]


def test_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["config", "show", "--help"])
    assert "--use-file" in capsys.readouterr().out
