"""Children at realtime priority through their start, reloads and stop: ``vrrp_rt_priority`` with keepalived's
default RLIMIT_RTTIME of 10 ms given explicitly, ``checker_rt_priority`` with pykeepalived's default (1 s).

A realtime task that runs its RLIMIT_RTTIME without blocking is SIGKILLed by the kernel.  Before the fix both
children were killed in their start (imports, first netlink dumps), restarted and killed again; then the
checker child after a reload (a turn of its event loop over 10 ms).  keepalived's reload runs at standard
scheduling (reset_process_priorities) and sets the new configuration's priorities afterwards: so do
pykeepalived's children, and they set them first once ready and reset them before they exit.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from pykeepalived.lab.measure import wait_for
from pykeepalived.lab.topology import Lab
from tests.conftest import require_root
from tests.integration.test_daemon_options import start_in_namespace, stop_daemon

CONF = """global_defs {{
  vrrp_rt_priority 20
  vrrp_rlimit_rttime 10000
  checker_rt_priority 20
}}
vrrp_instance VI_RT {{
  state MASTER
  interface krt0
  virtual_router_id 78
  priority 150
  advert_int 0.1
  version 3
  virtual_ipaddress {{
{vips}
  }}
}}
virtual_server 10.78.0.5 80 {{
  delay_loop 1
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 10.78.0.9 80 {{
    weight {weight}
    TCP_CHECK {{
      connect_timeout 1
    }}
  }}
}}
"""


def conf(vips: list[str], weight: int) -> str:
    return CONF.format(vips="\n".join(f"    {v}/24" for v in vips), weight=weight)


def sched_policy(pid: int) -> int:
    """The scheduling policy field of /proc/PID/stat (0 SCHED_OTHER, 2 SCHED_RR)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[38])


def test_realtime_children_survive_a_reload_and_stop_cleanly(tmp_path: Path) -> None:
    require_root()
    with Lab() as lab:
        proc = start_in_namespace(lab, tmp_path, conf(["10.78.0.5"], 1), "krt", "--dataplane", "nftables")
        log = tmp_path / "daemon.log"

        def addrs() -> str:
            return lab.run("a", ["ip", "-4", "-o", "addr", "show", "dev", "krt0"]).stdout

        def pids() -> dict[str, int]:
            return {k: int((tmp_path / f"main_{k}.pid").read_text()) for k in ("vrrp", "checkers")}

        try:
            wait_for(lambda: "10.78.0.5/24" in addrs(), 15, "the VIP")
            wait_for(lambda: all((tmp_path / f"main_{k}.pid").exists() for k in ("vrrp", "checkers")), 10,
                     "the children's pid files")
            first = pids()
            wait_for(lambda: all(sched_policy(p) == 2 for p in first.values()), 10,
                     "SCHED_RR once the children are ready")
            for n in range(3):  # reloads with changes: each child applies a new configuration
                (tmp_path / "keepalived.conf").write_text(conf(["10.78.0.5", f"10.78.0.{10 + n}"], n + 2))
                proc.send_signal(signal.SIGHUP)
                wait_for(lambda n=n: f"10.78.0.{10 + n}/24" in addrs(), 15, f"reload {n}'s VIP")  # type: ignore[misc]
            assert pids() == first, log.read_text()[-3000:]  # no child died and was restarted
            wait_for(lambda: all(sched_policy(p) == 2 for p in first.values()), 10,
                     "realtime priority set again after the reloads")
            assert proc.poll() is None
        finally:
            rc = stop_daemon(proc)
        text = log.read_text()
        assert rc == 0, text[-3000:]
        assert not re.search(r"exited with status", text), text[-3000:]
        assert "10.78.0.5" not in addrs()


LATE_CONF = """global_defs {
  max_auto_priority 3
  min_auto_priority_delay 50000
}
vrrp_instance VI_LATE {
  state MASTER
  interface klt0
  virtual_router_id 79
  priority 150
  advert_int 0.1
  version 3
  virtual_ipaddress {
    10.79.0.5/24
  }
}
"""


def rt_priority(pid: int) -> int:
    """The rt_priority field of /proc/PID/stat."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[37])


def test_a_late_child_raises_its_priority_one_step_a_time_up_to_max_auto_priority(tmp_path: Path) -> None:
    """keepalived's scheduler (lib/scheduler.c): a process whose timers run later than min_auto_priority_delay
    logs it and goes to SCHED_RR 1, then one priority more each time, up to max_auto_priority; a reload puts
    the configured scheduling back.  The VRRP child is made late by stopping it for 0.3 s."""
    require_root()
    with Lab() as lab:
        proc = start_in_namespace(lab, tmp_path, LATE_CONF, "klt")
        log = tmp_path / "daemon.log"
        pid_file = tmp_path / "main_vrrp.pid"
        try:
            wait_for(lambda: "10.79.0.5/24" in lab.run("a", ["ip", "-o", "addr", "show", "dev", "klt0"]).stdout,
                     15, "the VIP")
            wait_for(pid_file.exists, 10, "the VRRP child's pid file")
            wait_for(lambda: "Ready: vrrp" in log.read_text(), 10, "the VRRP child ready")
            pid = int(pid_file.read_text())
            assert sched_policy(pid) == 0
            for want in (1, 2, 3, 3):
                before = log.read_text().count("A thread timer expired")
                os.kill(pid, signal.SIGSTOP)
                time.sleep(0.3)
                os.kill(pid, signal.SIGCONT)
                wait_for(lambda before=before: log.read_text().count("A thread timer expired") > before, 5,
                         "the lateness logged")  # type: ignore[misc]
                wait_for(lambda want=want: sched_policy(pid) == 2 and rt_priority(pid) == want, 5,
                         f"SCHED_RR {want}")  # type: ignore[misc]
            text = log.read_text()
            assert re.search(r"A thread timer expired 0\.[23]\d{5} seconds ago", text), text[-3000:]
            assert [int(p) for p in re.findall(r"Set realtime priority (\d+)", text)] == [1, 2, 3]
            proc.send_signal(signal.SIGHUP)  # a reload: standard scheduling again, as configured
            wait_for(lambda: sched_policy(pid) == 0, 10, "SCHED_OTHER after the reload")
            assert proc.poll() is None
        finally:
            rc = stop_daemon(proc)
        assert rc == 0, log.read_text()[-3000:]
