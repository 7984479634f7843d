"""``process_names``, ``process_name`` and ``<kind>_process_name`` (keepalived's set_process_name, prctl
PR_SET_NAME): what ps, top and pgrep show for the supervisor and each child, set at start and changed by a reload
that changes them (a name no longer configured gives the process its own name back; keepalived gives
"keepalived")."""

from __future__ import annotations

import signal
from pathlib import Path

from pykeepalived.lab.measure import wait_for
from pykeepalived.lab.topology import Lab
from tests.conftest import require_root
from tests.integration.test_daemon_options import start_in_namespace, stop_daemon

CONF = """global_defs {{
{names}
}}
vrrp_instance VI_NAMES {{
  state MASTER
  interface kpn0
  virtual_router_id 77
  priority 150
  advert_int 0.1
  version 3
  virtual_ipaddress {{
    10.77.0.5/24
  }}
}}
virtual_server 10.77.0.5 80 {{
  delay_loop 1
  lb_algo rr
  lb_kind NAT
  protocol TCP
  real_server 10.77.0.9 80 {{
    TCP_CHECK {{
      connect_timeout 1
    }}
  }}
}}
"""


def comm(pid: int) -> str:
    return Path(f"/proc/{pid}/comm").read_text().strip()


def test_process_names_at_start_and_after_reloads(tmp_path: Path) -> None:
    require_root()
    with Lab() as lab:
        names = "  process_names\n  process_name lb_parent\n  checker_process_name lb_checks"
        proc = start_in_namespace(lab, tmp_path, CONF.format(names=names), "kpn", "--dataplane", "nftables")
        own = comm(proc.pid)
        log = tmp_path / "daemon.log"

        def pids() -> dict[str, int]:
            return {k: int((tmp_path / f"main_{k}.pid").read_text()) for k in ("vrrp", "checkers")}

        try:
            wait_for(lambda: all((tmp_path / f"main_{k}.pid").exists() for k in ("vrrp", "checkers")), 15,
                     "the children's pid files")
            children = pids()
            want = {proc.pid: "lb_parent", children["vrrp"]: "keepalived_vrrp", children["checkers"]: "lb_checks"}
            wait_for(lambda: {p: comm(p) for p in want} == want, 10, f"the names {want}")
            # process_names after a name: keepalived's keyword order, the later one wins
            (tmp_path / "keepalived.conf").write_text(CONF.format(names="  vrrp_process_name vrrp_b\n  process_names"))
            proc.send_signal(signal.SIGHUP)
            want = {proc.pid: own, children["vrrp"]: "keepalived_vrrp", children["checkers"]: "keepalived_lvs"}
            wait_for(lambda: {p: comm(p) for p in want} == want, 10, f"the names after a reload {want}")
            (tmp_path / "keepalived.conf").write_text(CONF.format(names="  vrrp_process_name vrrp_b"))
            proc.send_signal(signal.SIGHUP)
            want = {proc.pid: own, children["vrrp"]: "vrrp_b", children["checkers"]: own}
            wait_for(lambda: {p: comm(p) for p in want} == want, 10, f"the names after a second reload {want}")
            assert pids() == children
        finally:
            rc = stop_daemon(proc)
        assert rc == 0, log.read_text()[-3000:]
