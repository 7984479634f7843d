"""track_bfd end to end: two pykeepalived daemons (VRRP + BFD children) track a BFD session each to FRR's bfdd
(Debian's frr) on the same LAN; dropping the master's BFD path (nftables in its own namespace) makes its
instance FAULT and the backup takes over in about the BFD detection time + the backup's skew, where losing
the master itself (its port cut) takes 3 x advert_int + skew.  Both are measured in the same lab, from the cut
to the backup's first advert, and printed.

Lab: a 10.9.0.1 (priority 150), b 10.9.0.2 (priority 100), frr 10.9.0.9; VRRP v3 advert_int 1 s (VIP
10.9.0.50), BFD 50 ms x 3 on both sessions.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pykeepalived.lab import bfd_peer as bp
from pykeepalived.lab.measure import Sniffer, down_bound, has_vip, node_ip, skew, takeover, vrrp_conf, wait_for
from pykeepalived.lab.topology import Lab, two_node_lan
from tests.conftest import require_root

pytestmark = [pytest.mark.interop, pytest.mark.root]

FRR_IP = "10.9.0.9"
INTERVAL_MS, MULT = 50, 3
ADVERT = 1.0


def frr_conf() -> str:
    lines = ["bfd"]
    for peer in (node_ip("a"), node_ip("b")):
        lines += [f" peer {peer} local-address {FRR_IP}", f"  receive-interval {INTERVAL_MS}",
                  f"  transmit-interval {INTERVAL_MS}", f"  detect-multiplier {MULT}", " !"]
    return "\n".join([*lines, "!", ""])


def conf(node: str, prio: int) -> str:
    bfd = bp.py_conf(INTERVAL_MS, MULT, name="frr", neighbor=FRR_IP, source=node_ip(node))
    return vrrp_conf(prio=prio, version=3, advert=ADVERT, blocks=bfd, garp_delay=0,
                     instance_extra=["track_bfd {", "    frr", "  }"])


@pytest.fixture
def lab() -> Iterator[Lab]:
    require_root()
    if bp.find_bfdd() is None:
        pytest.skip("FRR's bfdd not installed (apt-get install frr)")
    lab = two_node_lan()
    try:
        lab.add_node("frr")
        lab.connect("frr", "eth0", "lan", [f"{FRR_IP}/24"])
        yield lab
    finally:
        lab.close()


def daemon(lab: Lab, node: str, d: Path, prio: int) -> subprocess.Popen[bytes]:
    d.mkdir(parents=True, exist_ok=True)
    (d / "keepalived.conf").write_text(conf(node, prio))
    out = open(d / "daemon.log", "w")  # noqa: SIM115 - handed to the child
    argv = [sys.executable, "-m", "pykeepalived", "-n", "-l", "-P", "-f", str(d / "keepalived.conf"),
            "-p", str(d / "main.pid"), "-r", str(d / "vrrp.pid"), "-c", str(d / "checkers.pid"),
            "-b", str(d / "bfd.pid")]
    proc = lab.popen(node, argv, stdout=out, stderr=subprocess.STDOUT)
    out.close()
    return proc


def test_a_bfd_session_lost_moves_the_master_in_detection_time_plus_skew_not_three_adverts(
        lab: Lab, tmp_path: Path) -> None:
    frr = bp.FrrBfdd(lab, "frr", frr_conf()).start()
    a = daemon(lab, "a", tmp_path / "a", 150)
    b = daemon(lab, "b", tmp_path / "b", 100)
    sn = Sniffer(lab, "b")
    log_a, log_b = tmp_path / "a" / "daemon.log", tmp_path / "b" / "daemon.log"
    try:
        wait_for(lambda: "Tracked BFD instance frr is UP" in log_a.read_text()
                 and "Tracked BFD instance frr is UP" in log_b.read_text(), 20, "both BFD sessions Up")
        wait_for(lambda: has_vip(lab, "a") and not has_vip(lab, "b"), 15, "a master, b backup")
        time.sleep(3 * ADVERT)  # b hears a; a settled

        # 1. the master's BFD session is cut: FAULT, priority 0, b takes over after its skew
        t_cut = time.monotonic()
        bp.cut(lab, "a", FRR_IP)
        tk_bfd = takeover(sn, node_ip("a"), node_ip("b"), t_cut, 5)
        by_bfd = tk_bfd.first_new.t - t_cut
        wait_for(lambda: has_vip(lab, "b") and not has_vip(lab, "a"), 5, "b holds the VIP")
        assert "VRRP_Instance(VI_1) Tracked BFD instance frr is DOWN" in log_a.read_text()
        assert "Entering FAULT STATE" in log_a.read_text()
        bp.uncut(lab, "a")
        wait_for(lambda: has_vip(lab, "a") and not has_vip(lab, "b"), 15, "a master again (preempt)")
        time.sleep(3 * ADVERT)

        # 2. the master is lost (its port cut): b waits 3 x advert_int + skew
        t_lost = time.monotonic()
        lab.set_port("a", "eth0", False)
        tk_adv = takeover(sn, node_ip("a"), node_ip("b"), t_lost, down_bound(3, ADVERT, 100) + 3)
        by_adverts = tk_adv.first_new.t - t_lost
    finally:
        sn.close()
        for p in (a, b):
            lab.stop(p, grace=5)
        frr.stop()
    detect = MULT * INTERVAL_MS / 1000
    print(f"\ntrack_bfd: cut -> backup's first advert {by_bfd * 1000:.1f} ms (BFD detection {detect * 1000:.0f} ms"
          f" + skew {skew(3, ADVERT, 100) * 1000:.1f} ms = {(detect + skew(3, ADVERT, 100)) * 1000:.1f} ms); "
          f"a's last advert (priority {tk_bfd.last_old.prio}) -> b's first {tk_bfd.seconds * 1000:.1f} ms")
    print(f"adverts:   port cut -> backup's first advert {by_adverts * 1000:.1f} ms "
          f"(3 x advert_int + skew = {down_bound(3, ADVERT, 100) * 1000:.1f} ms); "
          f"BFD {by_adverts / by_bfd:.1f}x faster")
    assert tk_bfd.last_old.prio == 0  # a resigned: the FAULT sent priority 0
    assert by_bfd <= detect + skew(3, ADVERT, 100) + 0.2
    assert by_adverts >= down_bound(3, ADVERT, 100) - ADVERT  # from the cut: the last advert was up to 1 s before
    assert by_bfd * 3 < by_adverts


def test_a_reload_that_adds_the_first_bfd_instance_is_followed_by_vrrp_and_checkers(
        lab: Lab, tmp_path: Path) -> None:
    """A daemon started without BFD, reloaded (HUP) with a config that adds a bfd_instance, track_bfd in its
    VRRP instance and a BFD_CHECK on a real server: the supervisor starts the BFD child, and the VRRP and
    checker children (started before any BFD existed) follow its events: the session's Up, then its loss
    (FAULT, the real server down), then Up again."""
    d = tmp_path / "a"
    d.mkdir()
    vs = ["virtual_server 10.9.0.60 80 {", "  lb_kind NAT", "  protocol TCP",
          f"  real_server {FRR_IP} 80 {{", "    weight 1", "    {check}", "  }", "}"]
    before = vrrp_conf(prio=150, version=3, advert=ADVERT, garp_delay=0) + "\n" + "\n".join(vs).replace(
        "{check}", "")
    after = conf("a", 150) + "\n" + "\n".join(vs).replace("{check}", "BFD_CHECK {\n      name frr\n    }")
    (d / "keepalived.conf").write_text(before)
    out = open(d / "daemon.log", "w")  # noqa: SIM115 - handed to the child
    argv = [sys.executable, "-m", "pykeepalived", "-n", "-l", "-D", "--dataplane", "nftables",
            "-f", str(d / "keepalived.conf"), "-p", str(d / "main.pid"), "-r", str(d / "vrrp.pid"),
            "-c", str(d / "checkers.pid"), "-b", str(d / "bfd.pid")]
    proc = lab.popen("a", argv, stdout=out, stderr=subprocess.STDOUT)
    out.close()
    log = d / "daemon.log"
    frr = bp.FrrBfdd(lab, "frr", frr_conf()).start()
    try:
        wait_for(lambda: has_vip(lab, "a"), 15, "a master")
        assert "Starting BFD child process" not in log.read_text()
        (d / "keepalived.conf").write_text(after)
        proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "Tracked BFD instance frr is UP" in log.read_text()
                 and f"BFD check of [frr] RS([{FRR_IP}]:tcp:80) is UP" in log.read_text(), 20,
                 "both children hear the new session Up")
        bp.cut(lab, "a", FRR_IP)
        wait_for(lambda: "Tracked BFD instance frr is DOWN" in log.read_text()
                 and f"BFD check of [frr] RS([{FRR_IP}]:tcp:80) is DOWN" in log.read_text(), 10,
                 "both children hear it Down")
        wait_for(lambda: not has_vip(lab, "a"), 5, "the instance in FAULT drops the VIP")
        bp.uncut(lab, "a")
        wait_for(lambda: has_vip(lab, "a"), 20, "a master again once the session is Up")
    finally:
        lab.stop(proc, grace=5)
        frr.stop()
    text = log.read_text()
    assert "Starting BFD child process" in text, text
    assert "Entering FAULT STATE" in text, text
    assert "Traceback" not in text, text
