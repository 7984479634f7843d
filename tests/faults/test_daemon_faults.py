"""The whole daemon (supervisor, VRRP child) under faults: a configuration broken on disk while it runs,
and a SIGKILLed VRRP child on the MASTER.

``a`` (150) and ``b`` (100) run ``pykeepalived -n -l -p …`` (VRRPv3, 0.1 s adverts) in their namespaces.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from bench.fault_suite import Daemon, crashes_in, split_conf

from pykeepalived.lab.measure import (
    SLACK,
    VIP,
    Sniffer,
    down_bound,
    elect,
    has_vip,
    node_ip,
    skew,
    takeover,
    wait_for,
)
from pykeepalived.lab.topology import Lab

pytestmark = pytest.mark.root

ADV = 0.1


def daemon(lab: Lab, tmp: Path, name: str, prio: int) -> Daemon:
    return Daemon(lab, name, tmp / f"{name}-daemon", split_conf(prio), dataplane="nftables").start()


def test_broken_file_on_disk_keeps_the_running_config_on_hup_and_a_killed_vrrp_child_respawns_with_it(
        lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    a = daemon(lab, tmp, "a", 150)
    try:
        wait_for(lambda: has_vip(lab, "a"), 15, "a MASTER")
        vrrp = a.child_pid("vrrp")
        # the file breaks (a keyword without its parameter is fatal), then HUP
        a.conf_path.write_text(split_conf(150).replace("priority 150", "priority"))
        assert a.proc is not None
        os.kill(a.proc.pid, signal.SIGHUP)
        wait_for(lambda: "keeping the running configuration" in a.log(), 10, "the reload refused")
        t = time.monotonic()
        while time.monotonic() < t + 1.0:  # the VIP never goes away
            assert has_vip(lab, "a")
            time.sleep(0.05)
        assert a.child_pid("vrrp") == vrrp
        # the VRRP child dies: the supervisor releases its VIPs and respawns it with the running
        # configuration, not the broken file, so the daemon stays up and a is MASTER again
        os.kill(vrrp, signal.SIGKILL)
        new = a.child_pid("vrrp", other_than=vrrp)
        wait_for(lambda: has_vip(lab, "a"), 10, "a MASTER again")
        time.sleep(1.0)
        assert a.alive(), a.log()[-2000:]
        assert a.child_pid("vrrp") == new
        assert "child exited with a configuration error" not in a.log()
        assert crashes_in(a.log(), expected_exits=1) == []
    finally:
        a.stop()


def test_sigkill_of_the_masters_vrrp_child_moves_the_vip_within_the_bound_and_back(lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    a = daemon(lab, tmp, "a", 150)
    b = daemon(lab, tmp, "b", 100)
    sn = Sniffer(lab, "b")
    try:
        elect(lab, "a", "b", 20)
        wait_for(lambda: b.child_pid("vrrp") > 0, 10, "b's VRRP child")
        time.sleep(0.5)
        vrrp = a.child_pid("vrrp")
        t_kill = time.monotonic()
        os.kill(vrrp, signal.SIGKILL)
        tk = takeover(sn, node_ip("a"), node_ip("b"), t_kill, 5)
        bound = down_bound(3, ADV, 100)
        assert tk.seconds <= bound + SLACK, (tk.seconds, bound)
        # the supervisor sent priority 0 on the dead child's behalf, as the child's own stop would have:
        # b took over after Skew_Time, not Master_Down_Interval
        assert tk.last_old.prio == 0, tk
        assert tk.seconds <= skew(3, ADV, 100) + SLACK, (tk.seconds, skew(3, ADV, 100))
        wait_for(lambda: has_vip(lab, "b"), 2, "b holding the VIP")
        # the supervisor released the dead child's VIP and started a new child at once: it preempts
        a.child_pid("vrrp", other_than=vrrp)
        elect(lab, "a", "b", 10)
        assert a.alive() and b.alive()
        assert "Removed 1 VIP(s) left by the dead VRRP child" in a.log()
        assert crashes_in(a.log(), expected_exits=1) == [] and crashes_in(b.log()) == []
        assert has_vip(lab, "a", VIP)
    finally:
        sn.close()
        a.stop()
        b.stop()
