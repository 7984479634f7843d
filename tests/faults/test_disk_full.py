"""The whole daemon on a full disk (a 64 KiB tmpfs, filled, in a private mount namespace: the host's file
systems are never touched).

* the pid file's directory full: the daemon refuses to start with keepalived's reason, no traceback, nothing
  left behind;
* the dump directory ($TMPDIR) full: USR1, USR2 and JSON dumps fail with the reason logged, the daemon keeps
  its VIP, no child restarts, no partial file is left.

The directory is looked at through ``/proc/PID/root``, which resolves paths in the daemon's mount namespace.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pykeepalived.lab.measure import wait_for
from pykeepalived.lab.topology import Lab
from pykeepalived.signals import SIGJSON
from tests.conftest import require_root
from tests.integration.test_daemon_options import CONF, VIP, stop_daemon

FILL = ("mount -t tmpfs -o size=64k tmpfs \"$FULL\" && (dd if=/dev/zero of=\"$FULL/filler\" bs=4k 2>/dev/null; "
        "true) && exec \"$@\"")


def start_on_a_full_disk(lab: Lab, tmp: Path, full: Path, pid_file: Path, tmpdir: Path) -> subprocess.Popen[bytes]:
    """The daemon in node ``a`` (a veth pair kaopt0/kaopt1 there), its mount namespace private with ``full``
    a filled 64 KiB tmpfs."""
    lab.add_node("a")
    lab.run("a", ["ip", "link", "add", "kaopt0", "type", "veth", "peer", "name", "kaopt1"])
    for name in ("kaopt0", "kaopt1"):
        lab.run("a", ["ip", "link", "set", name, "up"])
    conf = tmp / "keepalived.conf"
    conf.write_text(CONF)
    full.mkdir()
    daemon = [sys.executable, "-m", "pykeepalived.cli", "-n", "-l", "-s", lab.ns("a"), "-f", str(conf),
              "-p", str(pid_file), "--dataplane", "nftables"]
    env = {**os.environ, "FULL": str(full), "TMPDIR": str(tmpdir)}
    with open(tmp / "daemon.log", "w") as log:
        return subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", FILL, "sh", *daemon],
                                stdout=log, stderr=subprocess.STDOUT, env=env)


def names_in(pid: int, directory: Path) -> list[str]:
    return sorted(os.listdir(f"/proc/{pid}/root{directory}"))


def test_a_full_pid_file_directory_refuses_the_start_with_a_reason(tmp_path: Path) -> None:
    require_root()
    full = tmp_path / "full"
    with Lab() as lab:
        proc = start_on_a_full_disk(lab, tmp_path, full, full / "keepalived.pid", tmp_path)
        try:
            rc = proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            raise
        text = (tmp_path / "daemon.log").read_text()
        assert rc != 0, text
        assert "Unable to write pid file" in text and "No space left on device" in text, text
        assert "Traceback" not in text, text
        assert f"{VIP}/24" not in lab.run("a", ["ip", "-4", "-o", "addr", "show", "dev", "kaopt0"]).stdout


def test_dumps_on_a_full_disk_fail_with_a_reason_and_the_daemon_keeps_running(tmp_path: Path) -> None:
    require_root()
    full = tmp_path / "full"
    with Lab() as lab:
        proc = start_on_a_full_disk(lab, tmp_path, full, tmp_path / "keepalived.pid", full)
        log = tmp_path / "daemon.log"

        def vip() -> bool:
            return f"{VIP}/24" in lab.run("a", ["ip", "-4", "-o", "addr", "show", "dev", "kaopt0"]).stdout

        try:
            wait_for(vip, 15, "the VIP")
            children = {k: (tmp_path / f"keepalived_{k}.pid").read_text().strip() for k in ("vrrp", "checkers")
                        if (tmp_path / f"keepalived_{k}.pid").exists()}
            assert "vrrp" in children  # (a VRRP-only configuration: no checker child)
            for sig in (signal.SIGUSR1, signal.SIGUSR2, SIGJSON) * 3:
                os.kill(proc.pid, sig)
                time.sleep(0.2)
            wait_for(lambda: log.read_text().count("No space left on device") >= 3, 10, "the dumps' failures")
            time.sleep(0.5)
            text = log.read_text()
            assert proc.poll() is None, text
            assert vip()
            assert "Traceback" not in text and "exited with status" not in text, text
            assert names_in(proc.pid, full) == ["filler"]  # no partial or temporary file left
            for kind, pid in children.items():  # no child restarted
                assert (tmp_path / f"keepalived_{kind}.pid").read_text().strip() == pid, kind
        finally:
            rc = stop_daemon(proc)
        assert rc == 0, log.read_text()[-3000:]
        assert not vip()
