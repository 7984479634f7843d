"""The daemon started with an operator's keepalived command line (``/etc/default/keepalived``'s DAEMON_ARGS).

The daemon is started from the root namespace with ``-s NS``: everything it does must happen in NS.  The
interface it uses exists only in NS, so a daemon that ignored ``-s`` could not touch the host.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

from pykeepalived.lab.measure import wait_for
from pykeepalived.lab.topology import Lab
from tests.conftest import require_root

VIP = "10.77.0.5"
CONF = f"""global_defs {{
  vrrp_garp_master_delay 1
}}
vrrp_instance VI_OPT {{
  state MASTER
  interface kaopt0
  virtual_router_id 77
  priority 150
  advert_int 0.1
  version 3
  virtual_ipaddress {{
    {VIP}/24
  }}
}}
"""


def _vip_in(lab: Lab) -> bool:
    return f"{VIP}/24" in lab.run("a", ["ip", "-4", "-o", "addr", "show", "dev", "kaopt0"]).stdout


def start_in_namespace(lab: Lab, tmp_path: Path, conf: str, ifname: str, *options: str) -> subprocess.Popen[bytes]:
    """Node ``a`` with a veth pair ``IFNAME0``/``IFNAME1`` that exists only there, and the daemon started from
    the root namespace with ``-s`` into it (so a daemon that ignored ``-s`` could not touch the host);
    its log in ``tmp_path/daemon.log``, its runtime files beside ``tmp_path/main.pid``."""
    lab.add_node("a")
    lab.run("a", ["ip", "link", "add", f"{ifname}0", "type", "veth", "peer", "name", f"{ifname}1"])
    for name in (f"{ifname}0", f"{ifname}1"):
        lab.run("a", ["ip", "link", "set", name, "up"])
    conf_path = tmp_path / "keepalived.conf"
    conf_path.write_text(conf)
    log = open(tmp_path / "daemon.log", "w")  # noqa: SIM115 - handed to the child
    argv = [sys.executable, "-m", "pykeepalived.cli", "-n", "-l", *options, "-s", lab.ns("a"), "-f", str(conf_path),
            "-p", str(tmp_path / "main.pid")]
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc


def stop_daemon(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM and its exit status; a daemon still there after 20 s is killed and the test fails."""
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        raise


def test_daemon_args_of_a_keepalived_host_start_it_in_the_named_namespace(tmp_path: Path) -> None:
    require_root()
    with Lab() as lab:
        proc = start_in_namespace(lab, tmp_path, CONF, "kaopt", "-D", "-S", "0", "-G", "-X", "-x", "-B",
                                  "-u", "022", "-a", "-R")
        try:
            wait_for(lambda: _vip_in(lab), 10, "VIP in the namespace named by -s")
            text = (tmp_path / "daemon.log").read_text()
            assert "SNMP is not supported" not in text and "Starting SNMP subagent" in text
            assert "Entering MASTER STATE" in text
            root = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
            assert VIP not in root
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(15)
        assert rc == 0
        assert not _vip_in(lab)


def test_the_other_daemon_args_of_the_issue_start_it_too(tmp_path: Path) -> None:
    """The rest of the options a keepalived host's DAEMON_ARGS carries: ``-d`` (the configuration dumped to
    the log), ``-m`` (no core size limit), ``-M PATTERN`` (core_pattern set, put back at stop), ``-e``,
    ``--all`` (every child runs, a VRRP-only config notwithstanding), ``-b FILE`` (the BFD child's pid
    file), ``-x -A FILE`` (SNMP via that AgentX socket).  ``-M`` writes the kernel's core_pattern: the
    daemon runs in a private mount namespace where a file of the test's is bound over it, so the host's
    is never written."""
    require_root()
    pattern = tmp_path / "core_pattern"
    pattern.write_text("|/bin/false %p\n")
    bfd_pid = tmp_path / "bfd.pid"
    with Lab() as lab:
        lab.add_node("a")
        lab.run("a", ["ip", "link", "add", "kaopt0", "type", "veth", "peer", "name", "kaopt1"])
        for name in ("kaopt0", "kaopt1"):
            lab.run("a", ["ip", "link", "set", name, "up"])
        conf_path = tmp_path / "keepalived.conf"
        conf_path.write_text(CONF)
        daemon = [sys.executable, "-m", "pykeepalived.cli", "-n", "-l", "-d", "-m", "-Mcore.%p", "-e", "--all",
                  "-b", str(bfd_pid), "-x", "-A", str(tmp_path / "agentx"), "-s", lab.ns("a"),
                  "-f", str(conf_path), "-p", str(tmp_path / "main.pid")]
        script = f"mount --bind {pattern} /proc/sys/kernel/core_pattern && exec \"$@\""
        with open(tmp_path / "daemon.log", "w") as log:
            proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                                     *daemon], stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: _vip_in(lab), 10, "VIP in the namespace named by -s")
            wait_for(bfd_pid.exists, 10, "the BFD child's pid file (-b) with --all")
            text = (tmp_path / "daemon.log").read_text()
            assert "------< Global definitions and configuration (JSON) >------" in text  # -d
            assert '"VI_OPT"' in text
            assert "Starting SNMP subagent" in text  # -x
            assert pattern.read_text() == "core.%p"  # -M, in the daemon's mount namespace only
            limits = Path(f"/proc/{proc.pid}/limits").read_text()
            assert re.search(r"Max core file size\s+unlimited\s+unlimited", limits), limits  # -m
            for kind in ("vrrp", "checkers"):  # --all: the checker child runs without a virtual server
                assert (tmp_path / f"main_{kind}.pid").exists(), kind
            assert "Unexpected argument" not in text and "Unknown option" not in text
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(15)
        assert rc == 0, (tmp_path / "daemon.log").read_text()[-3000:]
        assert pattern.read_text() == "|/bin/false %p"  # put back at stop
        assert not _vip_in(lab)
