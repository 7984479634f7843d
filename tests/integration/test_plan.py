"""`pykeepalived plan`: prints the operations a config needs, applies them with --apply, then has nothing to do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pykeepalived.lab.topology import Lab
from tests.conftest import require_binary, require_root

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lb1.conf"


def plan(lab: Lab, *extra: str) -> subprocess.CompletedProcess[str]:
    return lab.run("lb", [sys.executable, "-m", "pykeepalived.cli", "plan", "-f", str(EXAMPLE),
                          "--dataplane", "nftables", *extra])


def test_plan_prints_then_applies_then_has_nothing_to_do() -> None:
    require_root()
    with Lab() as lab:
        lab.add_node("lb", forwarding=True)
        first = plan(lab)
        assert first.stdout.splitlines() == [
            "add service TCP 10.0.0.5:80 wlc persistent 50",
            "add dest 192.168.0.12:80 to TCP 10.0.0.5:80 NAT weight 20",
            "add dest 192.168.0.13:80 to TCP 10.0.0.5:80 NAT weight 8",
        ]
        assert plan(lab).stdout == first.stdout  # printing changes nothing
        plan(lab, "--apply")
        again = plan(lab)
        assert again.stdout == ""
        assert "nothing to change" in again.stderr
        lab.run("lb", ["nft", "delete", "table", "ip", "pykeepalived"])


def test_desired_table_needs_no_data_plane() -> None:
    out = subprocess.run([sys.executable, "-m", "pykeepalived.cli", "plan", "-f", str(EXAMPLE), "--desired"],
                         capture_output=True, text=True, check=True).stdout
    assert '"scheduler": "wlc"' in out and '"persistence_timeout": 50' in out


def test_plan_without_the_right_to_read_the_table_says_so_and_fails() -> None:
    """Without CAP_NET_ADMIN the kernel's table cannot be read: no plan "as if it were empty", exit 1."""
    require_root()
    capsh = require_binary("capsh")
    with Lab() as lab:
        lab.add_node("lb", forwarding=True)
        cmd = f"{sys.executable} -m pykeepalived.cli plan -f {EXAMPLE} --dataplane nftables"
        r = lab.run("lb", [capsh, "--drop=cap_net_admin,cap_sys_admin", "--", "-c", cmd], check=False)
        assert r.returncode == 1
        assert "cannot read the nftables table" in r.stderr and "needs root" in r.stderr
        assert r.stdout == ""
