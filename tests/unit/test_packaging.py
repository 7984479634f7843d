"""Packaging metadata (issue 12): the license as setuptools now wants it (an SPDX expression, ``license-files``,
no license classifier), a LICENSE file, one version source, dependency ranges instead of exact pins,
``python -m pykeepalived``, and the systemd unit's contract with keepalived's (Type=notify, HUP reload,
/etc/default/keepalived's DAEMON_ARGS, conflicting with keepalived.service)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib

import pykeepalived
from tests.conftest import REPO

PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]


def test_license_is_an_spdx_expression_with_its_file() -> None:
    assert PROJECT["license"] == "GPL-2.0-or-later"  # a string: PEP 639 (setuptools >= 77)
    assert PROJECT["license-files"] == ["LICENSE"]
    text = (REPO / "LICENSE").read_text()
    assert "GNU GENERAL PUBLIC LICENSE" in text and "Version 2, June 1991" in text
    assert not any(c.startswith("License ::") for c in PROJECT.get("classifiers", []))  # refused beside it
    (requires,) = [r for r in PYPROJECT["build-system"]["requires"] if r.startswith("setuptools")]
    assert requires == "setuptools>=77"


def test_the_version_is_written_once() -> None:
    assert "version" not in PROJECT and PROJECT["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "pykeepalived.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", pykeepalived.__version__)
    written = [p for p in (REPO / "src").rglob("*.py")
               if re.search(r"^\s*(__version__|VERSION|version)\s*=\s*[\"']\d", p.read_text(), re.M)]
    assert written == [REPO / "src" / "pykeepalived" / "__init__.py"]


def test_dependencies_are_ranges_not_pins() -> None:
    deps = PROJECT["dependencies"] + [d for extra in PROJECT["optional-dependencies"].values() for d in extra]
    for dep in deps:
        assert "==" not in dep and "~=" not in dep, dep
        assert ">=" in dep, f"{dep}: no lower bound"


def test_python_m_pykeepalived_is_the_command() -> None:
    cp = subprocess.run([sys.executable, "-m", "pykeepalived", "-v"], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0
    assert cp.stderr.startswith(f"pykeepalived {pykeepalived.__version__} ")
    assert PROJECT["scripts"]["pykeepalived"] == "pykeepalived.cli:main"


def test_the_systemd_unit_takes_keepalived_s_place() -> None:
    unit = (REPO / "packaging" / "systemd" / "pykeepalived.service").read_text()
    lines = {line.split("=", 1)[0]: line.split("=", 1)[1] for line in unit.splitlines()
             if "=" in line and not line.startswith("#")}
    assert lines["Type"] == "notify"
    assert lines["EnvironmentFile"] == "-/etc/default/keepalived"
    assert lines["ExecStart"].endswith("/pykeepalived -n $DAEMON_ARGS")
    assert lines["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert lines["KillMode"] == "mixed"
    assert lines["Conflicts"] == "keepalived.service"
    assert "#WatchdogSec=" in unit  # documented, opt-in
