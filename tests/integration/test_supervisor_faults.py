"""The supervisor when children die: exits handled as they happen, respawns from the running configuration.

The daemon runs in a namespace of its own (``-s``), on a veth pair that exists only there; the real server
of its virtual server is an address nobody holds, inside that namespace.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pykeepalived.lab.measure import wait_for
from pykeepalived.lab.topology import Lab
from tests.conftest import require_root
from tests.integration.test_daemon_options import start_in_namespace

VIP = "10.78.0.5"
CONF = f"""global_defs {{
  vrrp_garp_master_delay 1
}}
vrrp_instance VI_SUP {{
  state MASTER
  interface ksup0
  virtual_router_id 78
  priority 150
  advert_int 0.1
  version 3
  virtual_ipaddress {{
    {VIP}/24
  }}
}}
virtual_server {VIP} 80 {{
  delay_loop 1
  lb_algo rr
  protocol TCP
  real_server 10.78.0.9 80 {{
    TCP_CHECK {{
      connect_timeout 1
    }}
  }}
}}
"""


@dataclass
class Daemon:
    lab: Lab
    dir: Path
    proc: subprocess.Popen[bytes]

    def pid(self, kind: str) -> int:
        path = self.dir / f"main_{kind}.pid"
        text = path.read_text().strip() if path.exists() else ""
        return int(text) if text.isdigit() else 0

    def log(self) -> str:
        return (self.dir / "daemon.log").read_text()

    def vip(self) -> bool:
        out = self.lab.run("a", ["ip", "-4", "-o", "addr", "show", "dev", "ksup0"]).stdout
        return f"{VIP}/24" in out


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    require_root()
    with Lab() as lab:
        proc = start_in_namespace(lab, tmp_path, CONF, "ksup", "--dataplane", "nftables")
        d = Daemon(lab, tmp_path, proc)
        try:
            wait_for(d.vip, 10, "the MASTER's VIP")
            wait_for(lambda: d.pid("checkers") > 0, 10, "the checker child")
            yield d
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def test_a_broken_file_is_not_what_a_respawned_child_runs(daemon: Daemon) -> None:
    """The file broken on disk: HUP keeps the running configuration; the VRRP child then killed is
    respawned with the running configuration (keepalived's would re-read the file and the daemon exit)."""
    (daemon.dir / "keepalived.conf").write_text(CONF.replace("priority 150", "priority"))
    daemon.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "Reload aborted" in daemon.log(), 5, "the reload refused")
    assert daemon.vip()
    old = daemon.pid("vrrp")
    subprocess.run(["kill", "-KILL", str(old)], check=True)
    wait_for(lambda: daemon.pid("vrrp") not in (0, old), 10, "the VRRP child respawned")
    wait_for(daemon.vip, 10, "the VIP back with the respawned child")
    assert daemon.proc.poll() is None
    assert "configuration error. Terminating" not in daemon.log()


def test_a_dead_vrrp_child_is_handled_while_the_checker_waits_to_be_restarted(daemon: Daemon) -> None:
    """The checker child dies quickly three times (its restart now waits 2 s); meanwhile the VRRP child is
    killed: its VIPs are released at once, not after the checker's wait."""
    killed: set[int] = set()
    for n in range(3):
        if n:  # wait for the restarted one (after 0 s, then 1 s)
            wait_for(lambda: daemon.pid("checkers") not in killed | {0}, 10, "the checker child restarted")
        pid = daemon.pid("checkers")
        killed.add(pid)
        subprocess.run(["kill", "-KILL", str(pid)], check=True)
    wait_for(lambda: "Restart of Healthcheck process delayed 2 seconds" in daemon.log(), 5,
             "the third quick death delays the checker's restart")
    t0 = time.monotonic()
    subprocess.run(["kill", "-KILL", str(daemon.pid("vrrp"))], check=True)
    wait_for(lambda: not daemon.vip(), 5, "the dead VRRP child's VIP released")
    assert time.monotonic() - t0 < 1.0, "the VIP outlived its VRRP child while the checker was in back-off"
    wait_for(daemon.vip, 15, "the VIP back with the respawned child")
