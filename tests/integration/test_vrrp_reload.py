"""SIGHUP reload of the VRRP process, two pykeepalived nodes on one LAN.

keepalived's semantics (keepalived's vrrp/vrrp_daemon.c: reload_vrrp_thread(); vrrp/vrrp.c:
clear_diff_vrrp()): unchanged instances keep their state (a MASTER keeps its VIPs through the
reload), removed ones stop (priority 0, VIPs removed, FAULT or DELETED notify), new ones start in
BACKUP, a changed priority applies in place (so the other node may preempt), and a file with fatal
errors keeps the running configuration.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from pykeepalived.lab.measure import Sniffer, elect, has_vip, node, node_ip, vip_holders, wait_for
from pykeepalived.lab.topology import Lab
from tests.integration.test_vrrp_failover import lan

__all__ = ["lan"]

VIP1 = "10.9.0.50"
VIP2 = "10.9.0.60"


def conf(instances: Sequence[tuple[str, int, int, str]], notify: str | None = None,
         broken: bool = False) -> str:
    """Instances as (name, vrid, priority, vip), VRRPv3 0.1 s; ``broken`` adds a fatal error."""
    out = ["global_defs {", "  vrrp_garp_master_delay 1", "  vrrp_garp_master_repeat 1",
           "  script_user root", "}"]
    for name, vrid, prio, vip in instances:
        out += [f"vrrp_instance {name} {{", "  state BACKUP", "  interface eth0",
                f"  virtual_router_id {vrid}", f"  priority {prio}", "  advert_int 0.1", "  version 3"]
        if notify:
            out += [f'  notify "{notify}"', "  notify_deleted"]
        if broken:
            out.append("  priority")
        out += ["  virtual_ipaddress {", f"    {vip}/24", "  }", "}"]
    return "\n".join(out) + "\n"


def test_reload_adds_removes_and_changes_instances_and_refuses_a_broken_file(
        lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    notes = tmp / "notify.log"
    script = tmp / "notify.sh"
    script.write_text(f'#!/bin/sh\necho "$*" >> {notes}\n')
    script.chmod(0o755)
    a = node(lab, tmp, "a", "py", conf([("VI_1", 51, 150, VIP1)], notify=str(script))).start()
    b = node(lab, tmp, "b", "py", conf([("VI_1", 51, 100, VIP1)])).start()
    sn = Sniffer(lab, "b")
    try:
        elect(lab, "a", "b", 10, vip=VIP1)

        # 1. a new instance on both nodes: VI_1 keeps running untouched on a
        b.reload(conf([("VI_1", 51, 100, VIP1), ("VI_2", 52, 100, VIP2)]))
        wait_for(lambda: "Reload finished" in b.log(), 5, "b reloaded")
        a.reload(conf([("VI_1", 51, 150, VIP1), ("VI_2", 52, 150, VIP2)], notify=str(script)))
        t_reload = time.monotonic()
        while time.monotonic() < t_reload + 1.0:  # the MASTER's VIP never goes away
            assert has_vip(lab, "a", VIP1)
            time.sleep(0.02)
        wait_for(lambda: "Reload finished" in a.log(), 5, "a reloaded")
        elect(lab, "a", "b", 5, vip=VIP2)
        log_a = a.log()
        assert "(VI_2) Entering BACKUP STATE (init)" in log_a
        assert log_a.count("(VI_1) Entering MASTER STATE") == 1
        assert log_a.count("(VI_1) removing VIPs.") == 1  # only the start-up clean-up
        assert vip_holders(lab, vip=VIP1) == ["a"]

        # 2. b's VI_1 priority goes to 200: it preempts VI_1, VI_2 stays on a
        b.reload(conf([("VI_1", 51, 200, VIP1), ("VI_2", 52, 100, VIP2)]))
        elect(lab, "b", "a", 5, vip=VIP1)
        assert "(VI_1) Changing effective priority from 100 to 200" in b.log()
        assert vip_holders(lab, vip=VIP2) == ["a"]

        # 3. a drops VI_2: priority 0, VIP removed, DELETED notify; b takes VI_2 over
        t_remove = time.monotonic()
        a.reload(conf([("VI_1", 51, 150, VIP1)], notify=str(script)))
        elect(lab, "b", "a", 5, vip=VIP2)
        zero = [e for e in sn.adverts(node_ip("a"), t_remove) if e.vrid == 52 and e.prio == 0]
        assert zero, "no priority-0 advert for the removed instance"
        wait_for(lambda: "INSTANCE VI_2 DELETED 150" in notes.read_text(), 3, "DELETED notify")
        assert "Reload: 1 instance(s) kept, 1 removed, 0 added" in a.log()

        # 4. a broken file is refused: nothing changes
        a.reload(conf([("VI_1", 51, 250, VIP1)], broken=True))
        wait_for(lambda: "keeping the running configuration" in a.log(), 5, "reload refused")
        time.sleep(0.5)
        assert vip_holders(lab, vip=VIP1) == ["b"]
        assert "Changing effective priority from 150 to 250" not in a.log()
        assert a.proc is not None and a.proc.poll() is None
    finally:
        sn.close()
        a.stop()
        b.stop()


def test_reload_of_a_master_changing_its_vips_keeps_the_common_ones(lan: tuple[Lab, Path]) -> None:
    lab, tmp = lan
    a = node(lab, tmp, "a", "py", conf([("VI_1", 51, 150, VIP1)])).start()
    try:
        wait_for(lambda: has_vip(lab, "a", VIP1), 5, "a master")
        two = conf([("VI_1", 51, 150, VIP1)]).replace(f"    {VIP1}/24", f"    {VIP1}/24\n    {VIP2}/24")
        a.reload(two)
        wait_for(lambda: has_vip(lab, "a", VIP2), 3, "second VIP added")
        assert has_vip(lab, "a", VIP1)
        assert "(VI_1) reload: 0 VIP(s) removed, 1 added" in a.log()
        a.reload(conf([("VI_1", 51, 150, VIP2)]))
        wait_for(lambda: not has_vip(lab, "a", VIP1), 3, "first VIP removed")
        assert has_vip(lab, "a", VIP2)
        assert a.log().count("Entering MASTER STATE") == 1
    finally:
        a.stop()
