"""Tracking, sync groups and notify ordering with real pykeepalived VRRP processes in namespaces.

* a failing vrrp_script lowers the master's priority and the backup takes over (and, with
  nopreempt, it does not); when the script recovers the master preempts back;
* a tracked interface going down sends the instance to FAULT with a priority-0 advert, so the
  backup takes over after its skew time;
* track_file and vrrp_track_process move the priority too;
* a sync group of two instances (front VIP on eth0, gateway VIP on eth1, as in the seed) always
  moves both, on the seed topology's lb1/lb2;
* notify scripts see every transition, in order, even while an earlier script is still running.

VRRPv3 with advert_int 0.1 keeps each test to a few seconds.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.lab.measure import (
    SLACK,
    Sniffer,
    down_bound,
    elect,
    has_vip,
    masters_entered,
    node,
    node_ip,
    skew,
    takeover,
    vip_holders,
    vrrp_conf,
    wait_for,
)
from pykeepalived.lab.topology import SEED_FRONT_VIP, SEED_GATEWAY_VIP, Lab, seed_topology
from tests.integration.test_vrrp_failover import lan

__all__ = ["lan"]

ADV = 0.1


def script_block(name: str, command: str, weight: int, interval: float = 0.1, fall: int = 1,
                 rise: int = 1) -> str:
    return (f'vrrp_script {name} {{\n  script "{command}"\n  interval {interval}\n  weight {weight}\n'
            f"  fall {fall}\n  rise {rise}\n}}\n")


def fail_file_script(tmp: Path, node_name: str) -> tuple[str, Path]:
    """A check that fails while ``<tmp>/<node>.fail`` exists (no shell: /usr/bin/test's argv)."""
    flag = tmp / f"{node_name}.fail"
    return f"/usr/bin/test ! -e {flag}", flag


def scripted_conf(tmp: Path, name: str, prio: int, weight: int = -60, **kw: object) -> tuple[str, Path]:
    cmd, flag = fail_file_script(tmp, name)
    conf = vrrp_conf(prio=prio, blocks=script_block("chk", cmd, weight),
                     instance_extra=["track_script {", "  chk", "}"], **kw)  # type: ignore[arg-type]
    return conf, flag


# -- vrrp_script ----------------------------------------------------------------------------------

def test_failing_vrrp_script_lowers_master_priority_and_backup_takes_over(lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    conf_a, flag = scripted_conf(tmp, "a", 150)
    a = node(lab, tmp, "a", "py", conf_a).start()
    b = node(lab, tmp, "b", "py", vrrp_conf(prio=100)).start()
    sn = Sniffer(lab, "b")
    try:
        elect(lab, "a", "b", 10)
        wait_for(lambda: "VRRP_Script(chk) succeeded" in a.log(), 3, "first script run")
        t_fail = time.monotonic()
        flag.touch()
        wait_for(lambda: "VRRP_Script(chk) failed (exited with status 1)" in a.log(), 2, "script failure")
        assert "(VI_1) Changing effective priority from 150 to 90" in a.log()
        # a now advertises 90; b (100) discards them and its down timer runs out
        tk = takeover(sn, node_ip("a"), node_ip("b"), t_fail, 3)
        assert tk.last_old.prio == 90
        wait_for(lambda: vip_holders(lab) == ["b"], 3, "b alone holding the VIP")
        assert "(VI_1) received lower priority (90) advert from 10.9.0.1 - discarding" in b.log()
        assert "Master received advert from 10.9.0.2 with higher priority 100, ours 90" in a.log()
        # the script recovers: a is back at 150 and preempts
        flag.unlink()
        wait_for(lambda: "VRRP_Script(chk) succeeded" in a.log().split("failed (exited")[-1], 2, "recovery")
        elect(lab, "a", "b", 3)
        assert "(VI_1) Changing effective priority from 90 to 150" in a.log()
    finally:
        sn.close()
        a.stop()
        b.stop()


def test_failing_vrrp_script_does_not_move_the_master_with_nopreempt(lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    conf_a, flag = scripted_conf(tmp, "a", 150, nopreempt=True)
    a = node(lab, tmp, "a", "py", conf_a).start()
    try:
        wait_for(lambda: has_vip(lab, "a"), 5, "a master")
        b = node(lab, tmp, "b", "py", vrrp_conf(prio=100, nopreempt=True)).start()
        try:
            wait_for(lambda: "Entering BACKUP STATE (init)" in b.log(), 5, "b started")
            flag.touch()
            wait_for(lambda: "Changing effective priority from 150 to 90" in a.log(), 2, "a at 90")
            time.sleep(4 * down_bound(3, ADV, 100))
            assert vip_holders(lab) == ["a"]
            assert masters_entered(b) == 0
        finally:
            b.stop()
    finally:
        a.stop()


def test_unweighted_script_timeout_is_a_failure_and_still_running_runs_are_skipped(
        lan: tuple[Lab, Path]) -> None:
    """A weight-0 script that hangs: killed after its timeout, counted as failed -> FAULT."""
    lab, tmp = lan
    flag = tmp / "hang"
    hang = tmp / "hang.sh"
    hang.write_text(f"#!/bin/sh\n[ -e {flag} ] && exec sleep 30\nexit 0\n")
    hang.chmod(0o755)
    block = (f'vrrp_script hang {{\n  script "{hang}"\n  interval 0.2\n  timeout 0.5\n}}\n')
    a = node(lab, tmp, "a", "py", vrrp_conf(prio=150, blocks=block,
                                            instance_extra=["track_script {", "  hang", "}"])).start()
    try:
        wait_for(lambda: has_vip(lab, "a"), 5, "a master")
        flag.touch()
        wait_for(lambda: "(VI_1) Entering FAULT STATE" in a.log(), 4, "a in FAULT")
        log = a.log()
        assert "VRRP_Script(hang) timed_out" in log
        assert "Track script hang is already running, expect idle - skipping run" in log
        assert not has_vip(lab, "a")
        flag.unlink()
        wait_for(lambda: has_vip(lab, "a"), 5, "a master again")
    finally:
        a.stop()


# -- interfaces -----------------------------------------------------------------------------------

def tracked_interface(lab: Lab, name: str, ifname: str = "trk0") -> None:
    """``ifname`` in node ``name``: one end of a veth pair inside the node (no dummy driver here)."""
    lab.run(name, ["ip", "link", "add", ifname, "type", "veth", "peer", "name", f"{ifname}p"])
    lab.run(name, ["ip", "link", "set", f"{ifname}p", "up"])
    lab.run(name, ["ip", "link", "set", ifname, "up"])


def test_weighted_tracked_interface_lowers_priority_and_the_backup_takes_over(
        lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    tracked_interface(lab, "a", "trk2")
    conf_a = vrrp_conf(prio=150, instance_extra=["track_interface {", "  trk2 weight -60", "}"])
    a = node(lab, tmp, "a", "py", conf_a).start()
    b = node(lab, tmp, "b", "py", vrrp_conf(prio=100)).start()
    try:
        elect(lab, "a", "b", 10)
        lab.run("a", ["ip", "link", "set", "trk2", "down"])
        elect(lab, "b", "a", 3)
        assert "(VI_1) Changing effective priority from 150 to 90" in a.log()
        assert "Entering FAULT STATE" not in a.log()
        lab.run("a", ["ip", "link", "set", "trk2", "up"])
        elect(lab, "a", "b", 3)
    finally:
        a.stop()
        b.stop()


def test_tracked_interface_down_sends_fault_with_priority_zero_adverts(lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    tracked_interface(lab, "a")
    conf_a = vrrp_conf(prio=150, instance_extra=["track_interface {", "  trk0", "}"])
    a = node(lab, tmp, "a", "py", conf_a).start()
    b = node(lab, tmp, "b", "py", vrrp_conf(prio=100)).start()
    sn = Sniffer(lab, "b")
    try:
        elect(lab, "a", "b", 10)
        time.sleep(0.3)
        t_down = time.monotonic()
        lab.run("a", ["ip", "link", "set", "trk0", "down"])
        tk = takeover(sn, node_ip("a"), node_ip("b"), t_down, 3)
        assert tk.last_old.prio == 0
        bound = skew(3, ADV, 100)
        assert bound - 0.005 <= tk.seconds <= bound + SLACK, (tk.seconds, bound)
        wait_for(lambda: vip_holders(lab) == ["b"], 2, "b alone holding the VIP")
        assert "(VI_1) Entering FAULT STATE" in a.log()
        # in FAULT, a sends nothing
        time.sleep(0.5)
        assert not [e for e in sn.adverts(node_ip("a"), tk.first_new.t + 0.05)]
        lab.run("a", ["ip", "link", "set", "trk0", "up"])
        elect(lab, "a", "b", 3)
    finally:
        sn.close()
        a.stop()
        b.stop()


# -- track_file, vrrp_track_process ---------------------------------------------------------------

def test_track_file_value_times_weight_moves_the_master(lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    f = tmp / "prio"
    block = f"track_file tf {{\n  file {f}\n  weight 10\n  init_file 5\n}}\n"
    fifo = tmp / "a.fifo"
    a = node(lab, tmp, "a", "py", vrrp_conf(prio=100, blocks=block, fifo=str(fifo), instance_extra=[
        "notify_priority_changes", "track_file {", "  tf", "}"])).start()
    b = node(lab, tmp, "b", "py", vrrp_conf(prio=120)).start()
    reader = -1
    try:
        elect(lab, "a", "b", 10)  # 100 + 5 × 10 = 150 > 120
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
        assert f.read_text().strip() == "5"
        f.write_text("-3\n")  # 100 - 30 = 70 < 120
        elect(lab, "b", "a", 3)
        assert "(VI_1) Changing effective priority from 150 to 70" in a.log()
        f.write_text("-26\n")  # -260 < -253: FAULT
        wait_for(lambda: "(VI_1) Entering FAULT STATE" in a.log(), 2, "a in FAULT")
        f.write_text("3\n")  # 130 > 120: out of FAULT, and preempting
        elect(lab, "a", "b", 3)
        assert "Changing effective priority from 100 to 130" in a.log()  # FAULT contributed 0
        lines = os.read(reader, 4096).decode().splitlines()
        assert lines[:4] == ['INSTANCE "VI_1" BACKUP 150', 'INSTANCE "VI_1" MASTER 150',
                             'INSTANCE "VI_1" MASTER_PRIORITY 70', 'INSTANCE "VI_1" BACKUP 70'], lines
        assert 'INSTANCE "VI_1" FAULT 100' in lines and lines[-1] == 'INSTANCE "VI_1" MASTER 130', lines
    finally:
        if reader >= 0:
            os.close(reader)
        a.stop()
        b.stop()


def test_track_process_quorum_moves_the_master(lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    name = f"pktrk{os.getpid() % 100000}"
    binary = tmp / name
    shutil.copy("/bin/sleep", binary)
    block = f"vrrp_track_process proc {{\n  process {name}\n  weight 60\n  quorum 1\n}}\n"
    worker = subprocess.Popen([str(binary), "30"])  # running before a starts: a starts with its quorum
    a = node(lab, tmp, "a", "py", vrrp_conf(prio=90, blocks=block,
                                            instance_extra=["track_process {", "  proc", "}"]))
    b = node(lab, tmp, "b", "py", vrrp_conf(prio=120))
    try:
        a.start()
        b.start()
        elect(lab, "a", "b", 10)  # 90 + 60 = 150 > 120
        worker.terminate()
        worker.wait(5)
        elect(lab, "b", "a", 3)
        log = a.log()
        assert "Quorum lost for tracked process proc" in log
        assert "(VI_1) Changing effective priority from 150 to 90" in log
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        a.stop()
        b.stop()


# -- sync group on the seed topology --------------------------------------------------------------

def seed_conf(prio: int, state: str) -> str:
    """The seed's two instances in one sync group, VRRPv3 at 0.1 s (timing is not the point)."""
    def inst(name: str, ifname: str, vrid: int, vip: str) -> str:
        return (f"vrrp_instance {name} {{\n  state {state}\n  interface {ifname}\n"
                f"  virtual_router_id {vrid}\n  priority {prio}\n  advert_int {ADV}\n  version 3\n"
                f"  virtual_ipaddress {{\n    {vip}/24 dev {ifname}\n  }}\n}}\n")
    return ("global_defs {\n  vrrp_garp_master_delay 1\n  vrrp_garp_master_repeat 1\n}\n"
            "vrrp_sync_group VG1 {\n  group {\n    VI_FRONT\n    VI_GATEWAY\n  }\n}\n"
            + inst("VI_FRONT", "eth0", 51, SEED_FRONT_VIP) + inst("VI_GATEWAY", "eth1", 52, SEED_GATEWAY_VIP))


@pytest.fixture
def seed() -> Iterator[tuple[Lab, Path]]:
    from tests.conftest import require_root

    require_root()
    with seed_topology(real_servers=0) as lab, tempfile.TemporaryDirectory(prefix="pkvrrp-") as tmp:
        yield lab, Path(tmp)


def holders(lab: Lab) -> tuple[list[str], list[str]]:
    return (vip_holders(lab, ("lb1", "lb2"), SEED_FRONT_VIP, "eth0"),
            vip_holders(lab, ("lb1", "lb2"), SEED_GATEWAY_VIP, "eth1"))


def test_sync_group_moves_front_and_gateway_vips_together(seed: tuple[Lab, Path]) -> None:
    lab, tmp = seed
    lb1 = node(lab, tmp, "lb1", "py", seed_conf(150, "MASTER")).start()
    lb2 = node(lab, tmp, "lb2", "py", seed_conf(100, "BACKUP")).start()
    try:
        wait_for(lambda: holders(lab) == (["lb1"], ["lb1"]), 10, "lb1 holding both VIPs")
        # the gateway side of lb1 loses its cable: VI_GATEWAY faults, VI_FRONT follows
        lab.set_port("lb1", "eth1", False)
        wait_for(lambda: holders(lab) == (["lb2"], ["lb2"]), 5, "lb2 holding both VIPs")
        log1 = lb1.log()
        assert "VRRP_Group(VG1) Syncing instances to FAULT state" in log1
        assert "(VI_FRONT) Entering FAULT STATE" in log1
        assert "VRRP_Group(VG1) Entering MASTER STATE" in lb2.log()
        lab.set_port("lb1", "eth1", True)
        wait_for(lambda: holders(lab) == (["lb1"], ["lb1"]), 5, "lb1 preempting with both VIPs")
        # lb1's VRRP process crashes: lb2 takes both
        os.kill(lb1.vrrp_pid(), 9)
        lb1.reap()
        for dev, vip in (("eth0", SEED_FRONT_VIP), ("eth1", SEED_GATEWAY_VIP)):
            lab.run("lb1", ["ip", "addr", "del", f"{vip}/24", "dev", dev], check=False)
        wait_for(lambda: holders(lab) == (["lb2"], ["lb2"]), 5, "lb2 holding both VIPs after the crash")
    finally:
        lb1.stop()
        lb2.stop()


# -- notify ordering ------------------------------------------------------------------------------

def test_notify_scripts_run_in_transition_order_even_when_one_is_slow(lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    out = tmp / "notify.log"
    script = tmp / "notify.sh"
    # the MASTER notification takes 0.8 s: FAULT, BACKUP and MASTER follow while it still runs
    script.write_text(f'#!/bin/sh\necho "start $*" >> {out}\n'
                      f'case "$*" in *MASTER*|master*) sleep 0.8;; esac\necho "end $*" >> {out}\n')
    script.chmod(0o755)
    tracked_interface(lab, "a")
    conf = vrrp_conf(prio=150, notify=f"{script} gen", instance_extra=[
        f"notify_master \"{script} master\"", f"notify_backup \"{script} backup\"",
        f"notify_fault \"{script} fault\"", "track_interface {", "  trk0", "}"])
    a = node(lab, tmp, "a", "py", conf).start()
    try:
        wait_for(lambda: "Entering MASTER STATE" in a.log(), 5, "a master")
        lab.run("a", ["ip", "link", "set", "trk0", "down"])
        wait_for(lambda: "Entering FAULT STATE" in a.log(), 2, "a in FAULT")
        lab.run("a", ["ip", "link", "set", "trk0", "up"])
        wait_for(lambda: a.log().count("Entering MASTER STATE") == 2, 3, "a master again")
        wait_for(lambda: out.exists() and out.read_text().count("end ") == 10, 8, "all notify scripts")
        lines = out.read_text().splitlines()
        generic = [ln.split()[-2] for ln in lines if ln.startswith("start gen")]
        assert generic == ["BACKUP", "MASTER", "FAULT", "BACKUP", "MASTER"], lines
        # each notification's scripts start only after the previous one's have ended
        assert lines.index("start fault") > lines.index("end master")
        assert lines.index("start gen INSTANCE VI_1 FAULT 150") > lines.index("end gen INSTANCE VI_1 MASTER 150")
        assert "start gen INSTANCE VI_1 BACKUP 150" in lines
    finally:
        a.stop()


def test_vip_on_only_one_node_during_script_driven_failover(lan: tuple[Lab, Path]) -> None:
    """While the priority moves back and forth, the VIP is never held by both for long."""
    lab, tmp = lan
    conf_a, flag = scripted_conf(tmp, "a", 150)
    a = node(lab, tmp, "a", "py", conf_a).start()
    b = node(lab, tmp, "b", "py", vrrp_conf(prio=100)).start()
    try:
        elect(lab, "a", "b", 10)
        both = 0
        for i in range(6):
            if i % 2 == 0:
                flag.touch()
            else:
                flag.unlink()
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                if len(vip_holders(lab)) == 2:
                    both += 1
                time.sleep(0.02)
        assert both <= 6, both  # at most a transient sample per switch
        elect(lab, "a", "b", 3)
    finally:
        a.stop()
        b.stop()


# -- virtual_routes / virtual_rules ---------------------------------------------------------------

ROUTES = ["virtual_routes {", "  10.77.0.0/16 via 10.9.0.254 dev eth0", "  blackhole 10.78.0.0/16",
          "  10.79.0.0/16 dev eth0 table 100 metric 5", "}",
          "virtual_rules {", "  from 10.9.0.50 table 100 preference 1000",
          "  fwmark 7 table 100 preference 1001", "  to 10.80.0.0/16 iif eth0 table 100 preference 1002",
          "}"]


def routing(lab: Lab, name: str) -> str:
    return "\n".join(lab.run(name, argv, check=False).stdout for argv in (
        ["ip", "route", "show"], ["ip", "route", "show", "table", "100"], ["ip", "rule", "show"]))


def test_virtual_routes_and_rules_follow_the_vips(lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    conf_a, flag = scripted_conf(tmp, "a", 150)
    conf_a = conf_a.replace("  virtual_ipaddress {", "\n".join(f"  {x}" for x in ROUTES) + "\n  virtual_ipaddress {")
    a = node(lab, tmp, "a", "py", conf_a).start()
    b = node(lab, tmp, "b", "py", vrrp_conf(prio=100, instance_extra=ROUTES)).start()
    want = ["10.77.0.0/16 via 10.9.0.254 dev eth0 proto keepalived",
            "blackhole 10.78.0.0/16 proto keepalived",
            "10.79.0.0/16 dev eth0 proto keepalived metric 5",  # scope universe, as keepalived's
            "1000:\tfrom 10.9.0.50 lookup 100",
            "1001:\tfrom all fwmark 0x7 lookup 100",
            "1002:\tfrom all to 10.80.0.0/16 iif eth0 lookup 100"]
    try:
        elect(lab, "a", "b", 10)
        wait_for(lambda: all(w in routing(lab, "a") for w in want), 3, "routes and rules on a")
        assert not any(w in routing(lab, "b") for w in want), routing(lab, "b")
        flag.touch()
        elect(lab, "b", "a", 3)
        wait_for(lambda: all(w in routing(lab, "b") for w in want), 3, "routes and rules on b")
        wait_for(lambda: not any(w in routing(lab, "a") for w in want), 3, "routes and rules gone from a")
    finally:
        a.stop()
        b.stop()
    assert not any(w in routing(lab, "b") for w in want), "stop must remove routes and rules"


# -- script security ------------------------------------------------------------------------------

def test_scripts_owned_by_a_non_root_user_are_refused_under_script_security(lan: tuple[Lab, Path]) -> None:
    """enable_script_security: a vrrp_script and a notify script owned by ``nobody`` never run."""
    lab, tmp = lan
    ran = tmp / "ran"
    bad = tmp / "bad.sh"
    bad.write_text(f"#!/bin/sh\necho \"$*\" >> {ran}\nexit 1\n")
    bad.chmod(0o755)
    os.chown(bad, 65534, 65534)
    block = f'vrrp_script bad {{\n  script "{bad} check"\n  interval 0.1\n}}\n'
    conf = vrrp_conf(prio=150, blocks=block, global_extra=["enable_script_security"],
                     instance_extra=[f'notify_master "{bad} master"', "track_script {", "  bad", "}"])
    a = node(lab, tmp, "a", "py", conf).start()
    try:
        wait_for(lambda: has_vip(lab, "a"), 5, "a master (the refused weight-0 script has no effect)")
        time.sleep(0.5)
        log = a.log()
        assert f"Unsafe permissions found for script '{bad}' - disabling." in log
        assert "Disabling track script bad since it cannot be run" in log
        assert not ran.exists()
    finally:
        a.stop()
